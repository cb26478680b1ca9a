"""The sandbox forge's REST endpoints: GitHub's paths, rules and status codes.

Each endpoint takes a parsed request and returns a status and a JSON-ready body, or
raises `ApiError` with GitHub's message for that failure. Lists are returned whole as
`Paged` and cut into pages by the HTTP layer, which also owns authentication, rate
limits and ETags. Pull requests follow the bare repository: their head SHA is read from
it on every request, so a push moves them. This module must never write to the HTTP
connection itself, and holds the store's lock for the length of each call.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from controller.sandbox import forge_git
from controller.sandbox.forge_payloads import Renderer
from controller.sandbox.forge_store import ForgeStore, now

log = logging.getLogger(__name__)

DOCS = "https://docs.github.com/rest"
CLOSING_REFERENCE = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+#(\d+)\b", re.IGNORECASE
)
ISSUE_STATE_REASONS = ("completed", "not_planned", "reopened", "duplicate")
STATUS_STATES = ("error", "failure", "pending", "success")
CHECK_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CHECK_CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
        if errors is not None:
            self.body["errors"] = errors
        self.body["status"] = str(status)


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def invalid(resource: str, field_name: str, code: str = "missing_field") -> ApiError:
    return ApiError(
        422, "Validation Failed", [{"resource": resource, "field": field_name, "code": code}]
    )


def custom_invalid(resource: str, message: str) -> ApiError:
    return ApiError(
        422, "Validation Failed", [{"resource": resource, "code": "custom", "message": message}]
    )


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    login: str
    params: dict[str, str] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ApiError(400, "Problems parsing JSON")
        return self.body


@dataclass
class Paged:
    """A whole list; the HTTP layer serves one page of it with Link headers."""

    items: list[Any]
    # When set, the page is wrapped as {"total_count": N, key: [...]} as GitHub does.
    key: str | None = None
    # Renders one item; applied to the served page only, so long lists stay cheap.
    render: Callable[[Any], Any] | None = None


def _normalise_timestamp(text: str, name: str) -> str:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise invalid("Issue", name, "invalid") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _label_names(value: Any) -> list[str]:
    if isinstance(value, dict):
        value = value.get("labels")
    if not isinstance(value, list):
        raise invalid("Label", "labels", "invalid")
    names = []
    for item in value:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name.strip():
            raise invalid("Label", "name", "invalid")
        names.append(name)
    return names


def _sorted(records: list[dict], query: dict[str, str], other_direction: str) -> list[dict]:
    key = query.get("sort", "created")
    if key not in ("created", "updated", "comments", "popularity", "long-running"):
        raise invalid("Issue", "sort", "invalid")
    direction = query.get("direction", "desc" if key == "created" else other_direction)
    if direction not in ("asc", "desc"):
        raise invalid("Issue", "direction", "invalid")
    field_name = {"updated": "updated_at", "comments": "comments"}.get(key, "created_at")

    def sort_key(record: dict) -> tuple:
        value = len(record["comments"]) if field_name == "comments" else record[field_name]
        return (value, record["number"])

    return sorted(records, key=sort_key, reverse=direction == "desc")


class ForgeApi:
    def __init__(
        self,
        store: ForgeStore,
        git_dir: Path,
        owner: str,
        name: str,
        renderer: Renderer,
        on_pull_head: Callable[[str], None] | None = None,
    ):
        self.store = store
        self.git_dir = git_dir
        self.owner = owner
        self.name = name
        self.render = renderer
        self.on_pull_head = on_pull_head
        self.routes: list[tuple[str, re.Pattern, Callable[[Request], tuple[int, Any]]]] = []
        repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        for method, pattern, handler in (
            ("GET", r"/user", self.get_user),
            ("GET", r"/rate_limit", None),
            ("GET", repo, self.get_repo),
            ("GET", repo + r"/issues", self.list_issues),
            ("POST", repo + r"/issues", self.create_issue),
            ("GET", repo + r"/issues/(?P<number>\d+)", self.get_issue),
            ("PATCH", repo + r"/issues/(?P<number>\d+)", self.update_issue),
            ("GET", repo + r"/issues/(?P<number>\d+)/comments", self.list_comments),
            ("POST", repo + r"/issues/(?P<number>\d+)/comments", self.create_comment),
            ("GET", repo + r"/issues/(?P<number>\d+)/labels", self.list_labels),
            ("POST", repo + r"/issues/(?P<number>\d+)/labels", self.add_labels),
            ("PUT", repo + r"/issues/(?P<number>\d+)/labels", self.set_labels),
            (
                "DELETE",
                repo + r"/issues/(?P<number>\d+)/labels/(?P<label>[^/]+)",
                self.remove_label,
            ),
            ("GET", repo + r"/pulls", self.list_pulls),
            ("POST", repo + r"/pulls", self.create_pull),
            ("GET", repo + r"/pulls/(?P<number>\d+)", self.get_pull),
            ("PATCH", repo + r"/pulls/(?P<number>\d+)", self.update_pull),
            ("GET", repo + r"/pulls/(?P<number>\d+)/merge", self.check_merged),
            ("PUT", repo + r"/pulls/(?P<number>\d+)/merge", self.merge_pull),
            ("POST", repo + r"/statuses/(?P<sha>[^/]+)", self.create_status),
            ("GET", repo + r"/commits/(?P<ref>[^/]+)/status", self.combined_status),
            ("GET", repo + r"/commits/(?P<ref>[^/]+)/statuses", self.list_statuses),
            ("POST", repo + r"/check-runs", self.create_check_run),
            ("GET", repo + r"/check-runs/(?P<id>\d+)", self.get_check_run),
            ("PATCH", repo + r"/check-runs/(?P<id>\d+)", self.update_check_run),
            ("GET", repo + r"/commits/(?P<ref>[^/]+)/check-runs", self.list_check_runs),
        ):
            if handler is not None:
                self.routes.append((method, re.compile(pattern + "/?"), handler))

    def dispatch(self, request: Request) -> tuple[int, Any]:
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                request.params = match.groupdict()
                if "owner" in request.params and (
                    request.params["owner"].lower(),
                    request.params["repo"].lower(),
                ) != (self.owner.lower(), self.name.lower()):
                    raise not_found()
                with self.store.lock:
                    return handler(request)
        raise not_found()

    # -- shared helpers -------------------------------------------------------------

    def refresh_pulls(self) -> list[str]:
        """Follow open pull requests to their branches' heads; the heads of open PRs."""
        with self.store.lock:
            open_pulls = [
                record
                for record in self.store.issues.values()
                if record["pull"] and record["state"] == "open"
            ]
            if not open_pulls:
                return []
            heads = forge_git.branch_heads(self.git_dir)
            shas = []
            for record in open_pulls:
                pull = record["pull"]
                head = heads.get(pull["head_ref"])
                base = heads.get(pull["base_ref"])
                changed = False
                if head and head != pull["head_sha"]:
                    log.info("pull request #%d head moved to %s", record["number"], head[:12])
                    pull["head_sha"] = head
                    record["updated_at"] = now()
                    changed = True
                if base and base != pull["base_sha"]:
                    pull["base_sha"] = base
                    changed = True
                if changed:
                    self.store.save_issue(record)
                shas.append(pull["head_sha"])
            return shas

    def _issue(self, request: Request) -> dict[str, Any]:
        record = self.store.issues.get(int(request.params["number"]))
        if record is None:
            raise not_found()
        return record

    def _pull(self, request: Request) -> dict[str, Any]:
        record = self._issue(request)
        if not record["pull"]:
            raise not_found()
        return record

    def repository(self) -> dict[str, Any]:
        open_count = sum(1 for record in self.store.issues.values() if record["state"] == "open")
        created = self.store.meta["created_at"]
        return self.render.repository(
            created, self.store.meta.get("pushed_at", created), open_count
        )

    # -- users and repository -------------------------------------------------------

    def get_user(self, request: Request) -> tuple[int, Any]:
        self.store.user_id(request.login)
        return 200, self.render.private_user(request.login, self.store.meta["created_at"])

    def get_repo(self, request: Request) -> tuple[int, Any]:
        return 200, self.repository()

    # -- issues ---------------------------------------------------------------------

    def list_issues(self, request: Request) -> tuple[int, Any]:
        query = request.query
        state = query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise invalid("Issue", "state", "invalid")
        wanted = [name for name in query.get("labels", "").split(",") if name.strip()]
        since = _normalise_timestamp(query["since"], "since") if "since" in query else None
        self.refresh_pulls()
        records = [
            record
            for record in self.store.issues.values()
            if (state == "all" or record["state"] == state)
            and ("creator" not in query or record["author"] == query["creator"])
            and all(name.strip() in record["labels"] for name in wanted)
            and (since is None or record["updated_at"] >= since)
        ]
        return 200, Paged(_sorted(records, query, "desc"), render=self.render.issue)

    def get_issue(self, request: Request) -> tuple[int, Any]:
        record = self._issue(request)
        if record["pull"]:
            self.refresh_pulls()
        return 200, self.render.issue(record)

    def create_issue(self, request: Request) -> tuple[int, Any]:
        fields = request.fields()
        title = fields.get("title")
        if isinstance(title, int | float) and not isinstance(title, bool):
            title = str(title)
        if not isinstance(title, str) or not title.strip():
            raise invalid("Issue", "title")
        body = fields.get("body")
        if body is not None and not isinstance(body, str):
            raise invalid("Issue", "body", "invalid")
        labels = _label_names(fields.get("labels", []))
        record = self.store.new_issue(request.login, title, body, labels)
        log.info("issue #%d created by %s", record["number"], request.login)
        return 201, self.render.issue(record)

    def update_issue(self, request: Request) -> tuple[int, Any]:
        record = copy.deepcopy(self._issue(request))
        fields = request.fields()
        self._apply_common_updates(record, fields, "Issue")
        if "state_reason" in fields and fields["state_reason"] not in (*ISSUE_STATE_REASONS, None):
            raise invalid("Issue", "state_reason", "invalid")
        if "labels" in fields:
            names = _label_names(fields["labels"])
            for name in names:
                self.store.label(name)
            record["labels"] = list(dict.fromkeys(names))
        if "state" in fields:
            state = fields["state"]
            if state not in ("open", "closed"):
                raise invalid("Issue", "state", "invalid")
            if state == "open" and record["pull"] and record["pull"]["merged"]:
                raise custom_invalid("PullRequest", "Cannot reopen a merged pull request")
            self.store.set_state(record, state, fields.get("state_reason"), request.login)
            if record["pull"]:
                record["state_reason"] = None
            log.info(
                "issue #%d %s by %s",
                record["number"],
                "closed" if state == "closed" else "reopened",
                request.login,
            )
        elif fields.get("state_reason") and record["state"] == "closed":
            record["state_reason"] = fields["state_reason"]
        record["updated_at"] = now()
        self.store.save_issue(record)
        if record["pull"] and record["state"] == "open":
            self.refresh_pulls()
        return 200, self.render.issue(record)

    def _apply_common_updates(self, record: dict, fields: dict, resource: str) -> None:
        if "title" in fields:
            if not isinstance(fields["title"], str) or not fields["title"].strip():
                raise invalid(resource, "title", "invalid")
            record["title"] = fields["title"]
        if "body" in fields:
            if fields["body"] is not None and not isinstance(fields["body"], str):
                raise invalid(resource, "body", "invalid")
            record["body"] = fields["body"]

    def list_comments(self, request: Request) -> tuple[int, Any]:
        record = self._issue(request)
        since = (
            _normalise_timestamp(request.query["since"], "since")
            if "since" in request.query
            else None
        )
        comments = [
            comment
            for comment in record["comments"]
            if since is None or comment["updated_at"] >= since
        ]
        return 200, Paged([self.render.comment(record["number"], comment) for comment in comments])

    def create_comment(self, request: Request) -> tuple[int, Any]:
        record = self._issue(request)
        body = request.fields().get("body")
        if not isinstance(body, str) or not body.strip():
            raise invalid("IssueComment", "body")
        comment = self.add_comment(record, request.login, body)
        return 201, self.render.comment(record["number"], comment)

    def add_comment(self, record: dict, author: str, body: str) -> dict[str, Any]:
        stamp = now()
        self.store.user_id(author)
        comment = {
            "id": self.store.next_id(),
            "author": author,
            "body": body,
            "created_at": stamp,
            "updated_at": stamp,
        }
        record["comments"].append(comment)
        record["updated_at"] = stamp
        self.store.save_issue(record)
        log.info("comment %d added to #%d by %s", comment["id"], record["number"], author)
        return comment

    # -- labels ---------------------------------------------------------------------

    def _labels_response(self, record: dict) -> tuple[int, Any]:
        return 200, [self.render.label(name) for name in record["labels"]]

    def list_labels(self, request: Request) -> tuple[int, Any]:
        record = self._issue(request)
        return 200, Paged(self._labels_response(record)[1])

    def add_labels(self, request: Request, replace: bool = False) -> tuple[int, Any]:
        record = self._issue(request)
        names = _label_names(request.body if request.body is not None else [])
        for name in names:
            self.store.label(name)
        current = [] if replace else record["labels"]
        record["labels"] = list(dict.fromkeys([*current, *names]))
        record["updated_at"] = now()
        self.store.save_issue(record)
        log.info("labels of #%d set to %s by %s", record["number"], record["labels"], request.login)
        return self._labels_response(record)

    def set_labels(self, request: Request) -> tuple[int, Any]:
        return self.add_labels(request, replace=True)

    def remove_label(self, request: Request) -> tuple[int, Any]:
        record = self._issue(request)
        name = unquote(request.params["label"])
        if name not in record["labels"]:
            raise ApiError(404, "Label does not exist")
        record["labels"].remove(name)
        record["updated_at"] = now()
        self.store.save_issue(record)
        log.info("label %s removed from #%d by %s", name, record["number"], request.login)
        return self._labels_response(record)

    # -- pull requests --------------------------------------------------------------

    def _render_pull(self, record: dict, detail: bool = False) -> dict[str, Any]:
        mergeable = None
        pull = record["pull"]
        if detail and record["state"] == "open":
            mergeable = (
                forge_git.merged_tree(self.git_dir, pull["base_sha"], pull["head_sha"]) is not None
            )
        return self.render.pull(record, self.repository(), mergeable, detail)

    def list_pulls(self, request: Request) -> tuple[int, Any]:
        query = request.query
        state = query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise invalid("PullRequest", "state", "invalid")
        head_owner, head_ref = None, None
        if query.get("head"):
            head_owner, _, head_ref = query["head"].rpartition(":")
        self.refresh_pulls()
        records = [
            record
            for record in self.store.issues.values()
            if record["pull"]
            and (state == "all" or record["state"] == state)
            and (
                head_ref is None
                or (
                    record["pull"]["head_ref"] == head_ref
                    and head_owner in ("", record["pull"]["head_owner"])
                )
            )
            and ("base" not in query or record["pull"]["base_ref"] == query["base"])
        ]
        return 200, Paged(_sorted(records, query, "asc"), render=self._render_pull)

    def get_pull(self, request: Request) -> tuple[int, Any]:
        record = self._pull(request)
        self.refresh_pulls()
        return 200, self._render_pull(record, detail=True)

    def _parse_head(self, head: Any) -> str:
        if not isinstance(head, str) or not head:
            raise invalid("PullRequest", "head")
        owner, _, ref = head.rpartition(":")
        if owner and owner.lower() != self.owner.lower():
            raise invalid("PullRequest", "head", "invalid")
        return ref

    def create_pull(self, request: Request) -> tuple[int, Any]:
        fields = request.fields()
        head_ref = self._parse_head(fields.get("head"))
        base_ref = fields.get("base")
        if not isinstance(base_ref, str) or not base_ref:
            raise invalid("PullRequest", "base")
        title = fields.get("title")
        if not isinstance(title, str) or not title.strip():
            raise invalid("PullRequest", "title")
        head_sha = forge_git.resolve_commit(self.git_dir, head_ref)
        if head_sha is None or head_ref.startswith("refs/"):
            raise invalid("PullRequest", "head", "invalid")
        base_sha = forge_git.resolve_commit(self.git_dir, base_ref)
        if base_sha is None:
            raise invalid("PullRequest", "base", "invalid")
        for record in self.store.issues.values():
            pull = record["pull"]
            if (
                pull
                and record["state"] == "open"
                and pull["head_ref"] == head_ref
                and pull["base_ref"] == base_ref
            ):
                raise custom_invalid(
                    "PullRequest", f"A pull request already exists for {self.owner}:{head_ref}."
                )
        if forge_git.is_ancestor(self.git_dir, head_sha, base_sha):
            raise custom_invalid("PullRequest", f"No commits between {base_ref} and {head_ref}")
        record = self.store.new_issue(request.login, title, fields.get("body"), [])
        record["pull"] = {
            "head_ref": head_ref,
            "head_owner": self.owner,
            "head_sha": head_sha,
            "base_ref": base_ref,
            "base_sha": base_sha,
            "merged": False,
            "merged_at": None,
            "merged_by": None,
            "merge_commit_sha": None,
            "draft": bool(fields.get("draft")),
        }
        self.store.save_issue(record)
        log.info(
            "pull request #%d opened by %s from %s into %s",
            record["number"],
            request.login,
            head_ref,
            base_ref,
        )
        if self.on_pull_head:
            self.on_pull_head(head_sha)
        return 201, self._render_pull(record, detail=True)

    def update_pull(self, request: Request) -> tuple[int, Any]:
        record = copy.deepcopy(self._pull(request))
        fields = request.fields()
        self._apply_common_updates(record, fields, "PullRequest")
        if "base" in fields:
            if forge_git.resolve_commit(self.git_dir, str(fields["base"])) is None:
                raise invalid("PullRequest", "base", "invalid")
            record["pull"]["base_ref"] = fields["base"]
        if "state" in fields:
            if fields["state"] not in ("open", "closed"):
                raise invalid("PullRequest", "state", "invalid")
            if fields["state"] == "open" and record["pull"]["merged"]:
                raise custom_invalid("PullRequest", "Cannot reopen a merged pull request")
            self.store.set_state(record, fields["state"], None, request.login)
            record["state_reason"] = None
        record["updated_at"] = now()
        self.store.save_issue(record)
        self.refresh_pulls()
        return 200, self._render_pull(record, detail=True)

    def check_merged(self, request: Request) -> tuple[int, Any]:
        if not self._pull(request)["pull"]["merged"]:
            raise not_found()
        return 204, None

    def merge_pull(self, request: Request) -> tuple[int, Any]:
        record = self._pull(request)
        fields = request.fields()
        self.refresh_pulls()
        pull = record["pull"]
        method = fields.get("merge_method", "merge")
        if method not in ("merge", "squash", "rebase"):
            raise invalid("PullRequest", "merge_method", "invalid")
        if record["state"] != "open":
            raise ApiError(405, "Pull Request is not mergeable")
        if fields.get("sha") and fields["sha"] != pull["head_sha"]:
            raise ApiError(409, "Head branch was modified. Review and try the merge again.")
        if method == "merge":
            title = fields.get("commit_title") or (
                f"Merge pull request #{record['number']} from {self.owner}/{pull['head_ref']}"
            )
            message = fields.get("commit_message") or record["title"]
        else:
            title = fields.get("commit_title") or f"{record['title']} (#{record['number']})"
            message = fields.get("commit_message") or (record["body"] or "")
        identity = (request.login, f"{request.login}@users.noreply.sandbox.invalid")
        sha = forge_git.merge(
            self.git_dir,
            pull["base_ref"],
            pull["head_sha"],
            f"{title}\n\n{message}".strip() + "\n",
            method,
            identity,
        )
        if sha is None:
            raise ApiError(405, "Pull Request is not mergeable")
        stamp = now()
        self.store.set_state(record, "closed", None, request.login)
        record["state_reason"] = None
        pull.update(
            merged=True,
            merged_at=stamp,
            merged_by=request.login,
            merge_commit_sha=sha,
            base_sha=sha,
        )
        self.store.save_issue(record)
        log.info("pull request #%d merged by %s as %s", record["number"], request.login, sha[:12])
        if pull["base_ref"] == self.render.default_branch:
            self._close_referenced(record, request.login)
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}

    def _close_referenced(self, pull_record: dict, actor: str) -> None:
        text = pull_record["body"] or ""
        for number in dict.fromkeys(int(found) for found in CLOSING_REFERENCE.findall(text)):
            issue = self.store.issues.get(number)
            if issue is None or issue["pull"] or issue["state"] == "closed":
                continue
            self.store.set_state(issue, "closed", "completed", actor)
            self.store.save_issue(issue)
            log.info("issue #%d closed by the merge of #%d", number, pull_record["number"])

    # -- commit statuses ------------------------------------------------------------

    def _commit(self, ref: str, create: bool = False) -> str:
        sha = forge_git.resolve_commit(self.git_dir, ref)
        if sha is None:
            if create:
                raise ApiError(422, f"No commit found for SHA: {ref}")
            raise ApiError(404, f"No commit found for SHA: {ref}")
        return sha

    def create_status(self, request: Request) -> tuple[int, Any]:
        sha = self._commit(request.params["sha"], create=True)
        fields = request.fields()
        if fields.get("state") not in STATUS_STATES:
            raise invalid(
                "Status", "state", "missing_field" if "state" not in fields else "invalid"
            )
        stamp = now()
        status = {
            "id": self.store.next_id(),
            "sha": sha,
            "state": fields["state"],
            "context": fields.get("context") or "default",
            "description": fields.get("description"),
            "target_url": fields.get("target_url"),
            "creator": request.login,
            "created_at": stamp,
            "updated_at": stamp,
        }
        self.store.user_id(request.login)
        self.store.statuses.setdefault(sha, []).append(status)
        self.store.save_statuses(sha)
        log.info(
            "status %s=%s set on %s by %s",
            status["context"],
            status["state"],
            sha[:12],
            request.login,
        )
        return 201, self.render.status(status)

    def _latest_statuses(self, sha: str) -> list[dict]:
        latest: dict[str, dict] = {}
        for status in sorted(self.store.statuses.get(sha, []), key=lambda s: -s["id"]):
            latest.setdefault(status["context"], status)
        return list(latest.values())

    def combined_status(self, request: Request) -> tuple[int, Any]:
        sha = self._commit(request.params["ref"])
        statuses = self._latest_statuses(sha)
        states = {status["state"] for status in statuses}
        if states & {"error", "failure"}:
            state = "failure"
        elif not statuses or "pending" in states:
            state = "pending"
        else:
            state = "success"
        url = f"{self.render.repo_url}/commits/{sha}"
        return 200, {
            "state": state,
            "sha": sha,
            "total_count": len(statuses),
            "statuses": [self.render.status(status, simple=True) for status in statuses],
            "repository": self.repository(),
            "commit_url": url,
            "url": f"{url}/status",
        }

    def list_statuses(self, request: Request) -> tuple[int, Any]:
        sha = self._commit(request.params["ref"])
        statuses = sorted(self.store.statuses.get(sha, []), key=lambda s: -s["id"])
        return 200, Paged([self.render.status(status) for status in statuses])

    # -- check runs -----------------------------------------------------------------

    def _render_check_run(self, run: dict) -> dict[str, Any]:
        pulls = [
            record
            for record in self.store.issues.values()
            if record["pull"]
            and record["state"] == "open"
            and record["pull"]["head_sha"] == run["head_sha"]
        ]
        return self.render.check_run(run, pulls)

    def _apply_check_fields(self, run: dict, fields: dict) -> None:
        for name in ("name", "details_url", "external_id", "started_at", "completed_at"):
            if name in fields:
                run[name] = fields[name]
        if "output" in fields:
            output = fields["output"]
            if (
                not isinstance(output, dict)
                or not isinstance(output.get("title"), str)
                or not isinstance(output.get("summary"), str)
            ):
                raise invalid("CheckRun", "output", "invalid")
            run["output"] = {
                "title": output["title"],
                "summary": output["summary"][:65535],
                "text": output.get("text"),
            }
        if "status" in fields:
            if fields["status"] not in CHECK_STATUSES:
                raise invalid("CheckRun", "status", "invalid")
            run["status"] = fields["status"]
        if fields.get("conclusion") is not None:
            if fields["conclusion"] not in CHECK_CONCLUSIONS:
                raise invalid("CheckRun", "conclusion", "invalid")
            run["conclusion"] = fields["conclusion"]
            run["status"] = "completed"
        if run["status"] == "completed":
            if run["conclusion"] is None:
                raise custom_invalid(
                    "CheckRun", "conclusion must be given when status is completed"
                )
            run["completed_at"] = run["completed_at"] or now()

    def create_check_run(self, request: Request) -> tuple[int, Any]:
        fields = request.fields()
        if not isinstance(fields.get("name"), str) or not fields["name"]:
            raise invalid("CheckRun", "name")
        if not isinstance(fields.get("head_sha"), str):
            raise invalid("CheckRun", "head_sha")
        sha = forge_git.resolve_commit(self.git_dir, fields["head_sha"])
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {fields['head_sha']}")
        run = self.new_check_run(fields["name"], sha, request.login)
        self._apply_check_fields(run, {**fields, "head_sha": sha})
        self.store.save_check_run(run)
        log.info(
            "check run %s (%d) created on %s by %s", run["name"], run["id"], sha[:12], request.login
        )
        return 201, self._render_check_run(run)

    def new_check_run(
        self, name: str, sha: str, creator: str, status: str = "queued"
    ) -> dict[str, Any]:
        return {
            "id": self.store.next_id(),
            "name": name,
            "head_sha": sha,
            "status": status,
            "conclusion": None,
            "started_at": now(),
            "completed_at": None,
            "output": {"title": None, "summary": None, "text": None},
            "details_url": None,
            "external_id": "",
            "creator": creator,
        }

    def _check_run(self, request: Request) -> dict[str, Any]:
        run = self.store.check_runs.get(int(request.params["id"]))
        if run is None:
            raise not_found()
        return run

    def get_check_run(self, request: Request) -> tuple[int, Any]:
        return 200, self._render_check_run(self._check_run(request))

    def update_check_run(self, request: Request) -> tuple[int, Any]:
        run = dict(self._check_run(request))
        self._apply_check_fields(run, request.fields())
        self.store.save_check_run(run)
        log.info(
            "check run %s (%d) on %s is %s %s",
            run["name"],
            run["id"],
            run["head_sha"][:12],
            run["status"],
            run["conclusion"] or "",
        )
        return 200, self._render_check_run(run)

    def list_check_runs(self, request: Request) -> tuple[int, Any]:
        sha = self._commit(request.params["ref"])
        query = request.query
        runs = sorted(
            (run for run in self.store.check_runs.values() if run["head_sha"] == sha),
            key=lambda run: -run["id"],
        )
        if query.get("filter", "latest") == "latest":
            latest: dict[str, dict] = {}
            for run in runs:
                latest.setdefault(run["name"], run)
            runs = list(latest.values())
        runs = [
            run
            for run in runs
            if query.get("check_name", run["name"]) == run["name"]
            and query.get("status", run["status"]) == run["status"]
        ]
        return 200, Paged([self._render_check_run(run) for run in runs], key="check_runs")
