"""The controller's only door to GitHub: issues, pull requests, checks, comments and labels.

The reconciler polls GitHub every few seconds for as long as it runs, so what matters here
is cost and calm under failure, not breadth. Requests go through ghapi's synchronous
transport over one kept-alive HTTP client; on top of it this module adds what a poller
needs: conditional requests (a 304 costs nothing against the rate limit), `Link`
pagination without an extra empty page, pacing before the rate limit runs out rather than
after, and retries with backoff for server errors, timeouts and secondary rate limits.
Payloads become small frozen records, so nothing outside this module sees GitHub's JSON.

It never retries a request GitHub refused for a reason that will not go away (4xx), never
re-sends a comment after a timeout (it may have landed), and never lets the token reach
an exception, a log line or a repr.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx2
from ghapi.core import GhSyncTransport

from controller.config import GitHubConfig
from controller.masking import mask

log = logging.getLogger(__name__)

_PER_PAGE = 100
_API_VERSION = "2022-11-28"
# Below this share of the hourly quota, requests are spread evenly over the time left.
_PACE_BELOW = 0.10
# At or below this many requests left, nothing is sent until the quota resets.
_RESERVE = 2
# Longer waits than this are handed back to the caller as RateLimited instead of slept.
_MAX_WAIT_S = 30.0
_BACKOFF_CAP_S = 30.0
_CONNECT_RETRIES = 2

_FAILED_CONCLUSIONS = {
    "failure",
    "error",
    "cancelled",
    "timed_out",
    "action_required",
    "startup_failure",
}
_PASSED_CONCLUSIONS = {"success", "neutral", "skipped"}
_CLOSING_KEYWORD = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+(?P<repo>[\w.-]+/[\w.-]+)?#(?P<number>\d+)\b",
    re.IGNORECASE,
)
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class GitHubError(Exception):
    """A GitHub request that failed for good; the message names method, path and status."""

    def __init__(
        self, message: str, *, method: str = "", path: str = "", status: int | None = None
    ):
        super().__init__(message)
        self.method, self.path, self.status = method, path, status


class Stopped(GitHubError):
    """The controller is stopping and cut a wait before a retry short.

    Not a failure of the request or of the issue it was for: the step is simply not
    done, and the next start does it. Still a GitHubError for callers that only report.
    """


class RateLimited(GitHubError):
    """The rate limit is (nearly) used up; nothing should be sent before `retry_at`."""

    def __init__(self, message: str, *, retry_at: float, **where: Any):
        super().__init__(message, **where)
        self.retry_at = retry_at


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    body: str
    url: str
    author: str
    labels: tuple[str, ...]
    state: str
    state_reason: str | None
    created_at: str
    updated_at: str
    closed_at: str | None
    # GitHub numbers issues and pull requests in one sequence, and its issues endpoint
    # answers for either.
    pull_request: bool = False


@dataclass(frozen=True)
class Comment:
    id: int
    author: str
    body: str
    created_at: str


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    state: str
    merged: bool
    head_ref: str
    head_sha: str
    body: str
    author: str
    # OWNER/NAME the head branch lives in; empty when GitHub no longer knows (deleted fork).
    head_repo: str = ""


@dataclass(frozen=True)
class CIResult:
    status: str
    failed: tuple[tuple[str, str], ...]
    head_sha: str


def resolve_token(env: Any = os.environ) -> str | None:
    """The token from GITHUB_TOKEN, GH_TOKEN or `gh auth token`, in that order; else None."""
    for name in ("GITHUB_TOKEN", "GH_TOKEN"):
        value = (env.get(name) or "").strip()
        if value:
            return value

    gh = shutil.which("gh", path=env.get("PATH"))
    if gh is None:
        return None
    try:
        done = subprocess.run(
            [gh, "auth", "token"],
            capture_output=True,
            text=True,
            timeout=5,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        log.warning("gh auth token did not answer; no token from gh")
        return None
    token = done.stdout.strip()
    return token if done.returncode == 0 and token else None


def issue_from_json(data: dict) -> Issue:
    return Issue(
        number=data["number"],
        title=data.get("title") or "",
        body=data.get("body") or "",
        url=data.get("html_url") or "",
        author=(data.get("user") or {}).get("login") or "",
        labels=tuple(
            label["name"] if isinstance(label, dict) else str(label)
            for label in data.get("labels") or ()
        ),
        state=data.get("state") or "open",
        state_reason=data.get("state_reason"),
        created_at=data.get("created_at") or "",
        updated_at=data.get("updated_at") or "",
        closed_at=data.get("closed_at"),
        pull_request="pull_request" in data,
    )


def comment_from_json(data: dict) -> Comment:
    return Comment(
        id=data["id"],
        author=(data.get("user") or {}).get("login") or "",
        body=data.get("body") or "",
        created_at=data.get("created_at") or "",
    )


def pull_from_json(data: dict) -> PullRequest:
    head = data.get("head") or {}
    return PullRequest(
        number=data["number"],
        url=data.get("html_url") or "",
        state=data.get("state") or "open",
        # The list endpoint has no `merged`; merged_at is set exactly when it was merged.
        merged=bool(data.get("merged") or data.get("merged_at")),
        head_ref=head.get("ref") or "",
        head_sha=head.get("sha") or "",
        body=data.get("body") or "",
        author=(data.get("user") or {}).get("login") or "",
        head_repo=(head.get("repo") or {}).get("full_name") or "",
    )


def combine_ci(
    head_sha: str,
    combined_status: dict,
    check_runs: Iterable[dict],
    *,
    no_checks: str = "wait",
    grace_passed: bool = False,
) -> CIResult:
    """One verdict from the commit statuses and the check runs of one commit."""
    failed: list[tuple[str, str]] = []
    pending = False
    seen = 0

    for status in combined_status.get("statuses") or ():
        seen += 1
        state = status.get("state")
        if state in ("failure", "error"):
            failed.append((status.get("context") or "status", status.get("description") or ""))
        elif state != "success":
            pending = True

    for run in check_runs:
        seen += 1
        conclusion = run.get("conclusion")
        if run.get("status") != "completed":
            pending = True
        elif conclusion in _FAILED_CONCLUSIONS:
            failed.append((run.get("name") or "check", _check_summary(run, conclusion)))
        elif conclusion not in _PASSED_CONCLUSIONS:
            pending = True

    if failed:
        return CIResult("failure", tuple(failed), head_sha)
    if seen == 0:
        passed = no_checks == "success" and grace_passed
        return CIResult("success" if passed else "pending", (), head_sha)
    return CIResult("pending" if pending else "success", (), head_sha)


def _check_summary(run: dict, conclusion: str) -> str:
    output = run.get("output") or {}
    parts = [part.strip() for part in (output.get("title"), output.get("summary")) if part]
    return ": ".join(parts) if parts else conclusion


def closing_numbers(text: str, repo: str) -> set[int]:
    """Issue numbers of this repository that `text` closes with GitHub's keywords."""
    numbers = set()
    for match in _CLOSING_KEYWORD.finditer(text or ""):
        other = match.group("repo")
        if other is None or other.lower() == repo.lower():
            numbers.add(int(match.group("number")))
    return numbers


def _created_floor(created_since: str) -> str:
    """The first UTC instant (ISO, Z) of the day given as YYYY-MM-DD or `today`, local time."""
    if not created_since:
        return ""
    if created_since == "today":
        day = date.today()
    else:
        try:
            day = date.fromisoformat(created_since)
        except ValueError:
            raise GitHubError(
                f"github.created_since must be a date like 2024-05-01 or 'today', "
                f"not {created_since!r}"
            ) from None
    local_midnight = datetime(day.year, day.month, day.day).astimezone()
    return local_midnight.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Cached:
    etag: str
    body: Any
    next_url: str | None


class GitHub:
    """One repository on one GitHub (or a compatible forge), through one kept-alive client."""

    def __init__(
        self,
        api_url: str,
        repo: str,
        token: str | None,
        *,
        timeout: float = 20.0,
        conditional: bool = True,
        max_retries: int = 4,
        keep_alive: bool = True,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        if repo.count("/") != 1:
            raise GitHubError(f"github.repo must look like OWNER/NAME, not {repo!r}")
        self.api_url = api_url.rstrip("/")
        self.repo = repo
        self.conditional = conditional
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._token = token or ""
        self._interrupted = threading.Event()
        self._sleep, self._clock = (sleep if sleep is not None else self._wait), clock
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": _API_VERSION}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # Only ghapi's transport is needed: building GhApi's whole endpoint table costs
        # about half a second, and every path here is written out anyway.
        self._transport = GhSyncTransport(timeout=timeout, base_headers=headers)
        # Retries are decided here, once, for every kind of failure.
        self._transport.retries = 0
        if keep_alive:
            # ghapi opens a new client (a new connection) per request unless given one.
            self._transport.client = httpx2.Client(timeout=timeout, follow_redirects=True)
        self._cache: dict[str, _Cached] = {}
        self._viewer: str | None = None
        self._requests = 0
        self._counted = 0
        self._rate_remaining: int | None = None
        self._rate_limit: int | None = None
        self._rate_reset: float | None = None

    @classmethod
    def from_config(cls, cfg: GitHubConfig, token: str | None = None) -> GitHub:
        if not cfg.repo:
            raise GitHubError(
                "github.repo is not set; set it to OWNER/NAME in the configuration file"
            )
        return cls(
            cfg.api_url,
            cfg.repo,
            token if token is not None else resolve_token(),
            timeout=cfg.timeout_s,
        )

    def interrupt(self) -> None:
        """Cut short any wait before a retry: the controller is stopping."""
        self._interrupted.set()

    def _wait(self, seconds: float) -> None:
        if self._interrupted.wait(seconds):
            raise Stopped("stopped while waiting to retry a GitHub request")

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GitHub({self.api_url!r}, {self.repo!r})"

    @property
    def stats(self) -> dict:
        return {
            "requests": self._requests,
            "counted": self._counted,
            "rate_remaining": self._rate_remaining,
            "rate_reset": self._rate_reset,
        }

    # -- reads ---------------------------------------------------------------------------

    def viewer(self) -> str:
        if self._viewer is None:
            self._viewer = self._get("/user", cache=False)["login"]
        return self._viewer

    def repository(self) -> dict:
        return self._get(f"/repos/{self.repo}")

    def open_issues(
        self,
        *,
        authors: list[str] | None = None,
        labels: Iterable[str] = (),
        exclude_labels: Iterable[str] = (),
        created_since: str = "",
    ) -> list[Issue]:
        """Open issues (not pull requests) the controller may work on, newest first."""
        wanted_authors = {a.lower() for a in authors} if authors else {self.viewer().lower()}
        labels, excluded = tuple(labels), {name.lower() for name in exclude_labels}
        floor = _created_floor(created_since)
        params: dict[str, Any] = {"state": "open", "sort": "created", "direction": "desc"}
        if len(wanted_authors) == 1:
            params["creator"] = next(iter(authors or [self.viewer()]))
        if labels:
            params["labels"] = ",".join(labels)

        def older_than_floor(page: list[dict]) -> bool:
            return bool(floor and page and (page[-1].get("created_at") or "") < floor)

        issues = []
        for data in self._paged(f"/repos/{self.repo}/issues", params, stop=older_than_floor):
            if "pull_request" in data:
                continue
            issue = issue_from_json(data)
            have = {name.lower() for name in issue.labels}
            if issue.author.lower() not in wanted_authors:
                continue
            if not all(name.lower() in have for name in labels) or have & excluded:
                continue
            if floor and issue.created_at < floor:
                continue
            issues.append(issue)
        return issues

    def issue(self, number: int) -> Issue:
        return issue_from_json(self._get(f"/repos/{self.repo}/issues/{number}"))

    def issues_changed_since(self, since_iso: str) -> list[Issue]:
        """Issues (open or closed, no pull requests) updated at or after `since_iso`."""
        params = {"state": "all", "since": since_iso, "sort": "updated", "direction": "desc"}
        pages = self._paged(f"/repos/{self.repo}/issues", params)
        return [issue_from_json(data) for data in pages if "pull_request" not in data]

    def comments(
        self, number: int, since_iso: str | None = None, authors: list[str] | None = None
    ) -> list[Comment]:
        params = {"since": since_iso} if since_iso else {}
        pages = self._paged(f"/repos/{self.repo}/issues/{number}/comments", params)
        comments = [comment_from_json(data) for data in pages]
        if authors:
            wanted = {a.lower() for a in authors}
            comments = [c for c in comments if c.author.lower() in wanted]
        return comments

    def pulls(self) -> list[PullRequest]:
        params = {"state": "all", "sort": "created", "direction": "desc"}
        return [pull_from_json(data) for data in self._paged(f"/repos/{self.repo}/pulls", params)]

    def pull_for_issue(
        self, number: int, branch: str, pulls: list[PullRequest] | None = None
    ) -> PullRequest | None:
        """The pull request to adopt for issue `number`: from `branch`, else one closing it.

        From the branch, any state counts (open first, then merged, then closed). From
        another branch, only open or merged pull requests whose body closes the issue do.
        """
        if pulls is None:
            pulls = self.pulls()

        def preference(pull: PullRequest) -> tuple[int, int]:
            rank = 0 if pull.state == "open" else 1 if pull.merged else 2
            return rank, -pull.number

        own = [p for p in pulls if p.head_ref == branch and p.head_repo in ("", self.repo)]
        if own:
            return min(own, key=preference)
        closing = [
            p
            for p in pulls
            if (p.state == "open" or p.merged) and number in closing_numbers(p.body, self.repo)
        ]
        return min(closing, key=preference) if closing else None

    def ci(
        self,
        head_sha: str,
        *,
        no_checks: str = "wait",
        grace_s: float = 120.0,
        head_since: float | None = None,
    ) -> CIResult:
        """Statuses and check runs of `head_sha` as pending, success or failure.

        With no checks at all, `no_checks="success"` passes once `grace_s` has gone by since
        `head_since` (an epoch time); an unknown `head_since` counts as long ago.
        """
        combined = self._get(f"/repos/{self.repo}/commits/{head_sha}/status")
        runs = []
        params = {"filter": "latest"}
        for page in self._pages(f"/repos/{self.repo}/commits/{head_sha}/check-runs", params):
            runs.extend(page.get("check_runs") or ())
        grace_passed = head_since is None or self._clock() - head_since >= grace_s
        return combine_ci(head_sha, combined, runs, no_checks=no_checks, grace_passed=grace_passed)

    # -- writes --------------------------------------------------------------------------

    def comment(self, number: int, body: str) -> None:
        self._request("POST", f"/repos/{self.repo}/issues/{number}/comments", body={"body": body})
        log.info("commented on #%d", number)

    def add_label(self, number: int, name: str) -> None:
        path = f"/repos/{self.repo}/issues/{number}/labels"
        self._request("POST", path, body={"labels": [name]})
        log.info("labelled #%d with %s", number, name)

    def remove_label(self, number: int, name: str) -> None:
        path = f"/repos/{self.repo}/issues/{number}/labels/{quote(name, safe='')}"
        try:
            self._request("DELETE", path)
        except GitHubError as error:
            if error.status != 404:
                raise
            return
        log.info("removed label %s from #%d", name, number)

    # -- transport -----------------------------------------------------------------------

    def _get(self, path: str, params: dict | None = None, *, cache: bool = True) -> Any:
        return self._request("GET", path, params=params, cache=cache)[0]

    def _paged(self, path: str, params: dict, stop: Callable[[list], bool] | None = None):
        for page in self._pages(path, params):
            yield from page
            if stop is not None and stop(page):
                return

    def _pages(self, path: str, params: dict):
        """Each page of a list, following `Link: rel=next` until there is none."""
        url: str | None = path
        query: dict | None = {**params, "per_page": _PER_PAGE}
        while url is not None:
            body, url = self._request("GET", url, params=query, cache=True)
            query = None  # the next link carries the whole query
            yield body

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        body: Any = None,
        cache: bool = False,
    ) -> tuple[Any, str | None]:
        url = path if path.startswith(("http://", "https://")) else self.api_url + path
        key = url + ("?" + urlencode(sorted(params.items())) if params else "")
        where = {"method": method, "path": urlsplit(key).path}
        cached = self._cache.get(key) if cache and self.conditional else None
        headers = {"If-None-Match": cached.etag} if cached else {}

        attempt = 0
        while True:
            self._pace(where)
            try:
                response = self._transport.request(
                    method, url, headers=headers, params=params, json=body, raw=True
                )
            except httpx2.HTTPStatusError as error:
                response = error.response
            except httpx2.TransportError as error:
                self._requests += 1
                self._counted += 1
                # A comment may have landed before the timeout; sending it again could
                # post it twice. Only a refused connection is safe to repeat.
                refused = isinstance(error, httpx2.ConnectError)
                retryable = method != "POST" or refused
                # Nothing listening is rarely fixed within seconds: fewer tries, and the
                # next poll tries again anyway.
                limit = min(self.max_retries, _CONNECT_RETRIES) if refused else self.max_retries
                if retryable and attempt < limit:
                    delay = self._backoff(attempt)
                    log.debug(
                        "retried %s %s in %.1fs after %s",
                        method,
                        where["path"],
                        delay,
                        type(error).__name__,
                    )
                    self._sleep(delay)
                    attempt += 1
                    continue
                advice = (
                    "nothing answers there: check github.api_url and the network"
                    if refused
                    else "check that the server is reachable or raise github.timeout_s"
                )
                raise GitHubError(
                    f"GitHub {method} {where['path']} at {self.api_url} got no answer "
                    f"({type(error).__name__}) after {attempt + 1} attempt(s); {advice}",
                    **where,
                ) from None

            self._requests += 1
            self._note_rate(response)
            status = response.status_code
            if status == 304 and cached is not None:
                return cached.body, cached.next_url
            self._counted += 1

            if 200 <= status < 300:
                data = response.json() if response.content else None
                next_url = self._next_link(response)
                etag = response.headers.get("etag")
                if cache and self.conditional and etag:
                    self._cache[key] = _Cached(etag, data, next_url)
                return data, next_url

            delay = self._retry_delay(response, attempt, where)
            if delay is None:
                raise self._error(response, where)
            log.debug(
                "retried %s %s in %.1fs after status %d", method, where["path"], delay, status
            )
            self._sleep(delay)
            attempt += 1

    def _next_link(self, response: Any) -> str | None:
        match = _LINK_NEXT.search(response.headers.get("link") or "")
        return match.group(1) if match else None

    def _note_rate(self, response: Any) -> None:
        headers = response.headers
        try:
            if "x-ratelimit-remaining" in headers:
                self._rate_remaining = int(headers["x-ratelimit-remaining"])
            if "x-ratelimit-limit" in headers:
                self._rate_limit = int(headers["x-ratelimit-limit"])
            if "x-ratelimit-reset" in headers:
                self._rate_reset = float(headers["x-ratelimit-reset"])
        except ValueError:
            log.debug("ignored malformed rate limit headers from %s", self.api_url)

    def _pace(self, where: dict) -> None:
        """Wait, or refuse, when the quota left would not last until it resets."""
        remaining, reset = self._rate_remaining, self._rate_reset
        if remaining is None or reset is None:
            return
        now = self._clock()
        left_s = reset - now
        if left_s <= 0:
            return
        if remaining <= _RESERVE:
            raise RateLimited(
                f"GitHub rate limit nearly used up ({remaining} left) before {where['method']} "
                f"{where['path']}; it resets in {left_s:.0f}s, so wait until then",
                retry_at=reset,
                **where,
            )
        limit = self._rate_limit or 5000
        if remaining >= limit * _PACE_BELOW:
            return
        interval = left_s / remaining
        if interval > _MAX_WAIT_S:
            raise RateLimited(
                f"GitHub rate limit low ({remaining} left, resets in {left_s:.0f}s); "
                f"{where['method']} {where['path']} deferred",
                retry_at=now + interval,
                **where,
            )
        log.info(
            "paced %s %s by %.1fs: %d requests left",
            where["method"],
            where["path"],
            interval,
            remaining,
        )
        self._sleep(interval)

    def _retry_delay(self, response: Any, attempt: int, where: dict) -> float | None:
        """Seconds to wait before trying again, or None when this failure is final."""
        status = response.status_code
        retry_after = _seconds(response.headers.get("retry-after"))
        message = _message(response).lower()
        secondary = status in (403, 429) and (
            retry_after is not None or "secondary rate limit" in message or status == 429
        )
        primary = (
            status in (403, 429)
            and not secondary
            and response.headers.get("x-ratelimit-remaining") == "0"
        )
        if primary:
            reset = self._rate_reset or self._clock() + 60
            raise RateLimited(
                f"GitHub rate limit used up at {where['method']} {where['path']}; "
                f"it resets in {max(0.0, reset - self._clock()):.0f}s, so wait until then",
                retry_at=reset,
                **where,
            )
        if not (status >= 500 or secondary):
            return None
        if attempt >= self.max_retries:
            if secondary:
                wait = retry_after if retry_after is not None else self._backoff(attempt)
                raise RateLimited(
                    f"GitHub secondary rate limit at {where['method']} {where['path']} "
                    f"after {attempt + 1} attempt(s); slow down and retry later",
                    retry_at=self._clock() + wait,
                    **where,
                )
            return None
        if retry_after is not None:
            if retry_after > _MAX_WAIT_S:
                raise RateLimited(
                    f"GitHub asked to wait {retry_after:.0f}s at {where['method']} "
                    f"{where['path']}; retry after that",
                    retry_at=self._clock() + retry_after,
                    **where,
                )
            return retry_after + random.uniform(0, min(1.0, self.backoff_s))
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        base = min(_BACKOFF_CAP_S, self.backoff_s * 2**attempt)
        return random.uniform(base / 2, base)

    def _error(self, response: Any, where: dict) -> GitHubError:
        status = response.status_code
        message = self._redact(_message(response)) or response.reason_phrase
        hint = {
            401: "the token was refused; set GITHUB_TOKEN or GH_TOKEN to a valid token",
            403: "the token lacks a permission for this; see the token scopes in the docs",
            404: f"check github.repo ({self.repo}) and that the token can see it",
            422: "GitHub rejected the request's content",
        }.get(status, "GitHub failed; try again later")
        return GitHubError(
            f"GitHub {where['method']} {where['path']} failed with {status} ({message}): {hint}",
            status=status,
            **where,
        )

    def _redact(self, text: str) -> str:
        return mask(text, [self._token])


def _message(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    return str(data.get("message") or "") if isinstance(data, dict) else ""


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
