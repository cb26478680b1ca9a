"""How the adapter talks: one connection, conditional requests, retries, pacing, secrecy."""

from __future__ import annotations

import logging
import sys
import threading
import time

import pytest

from controller import github as github_module
from controller.config import GitHubConfig
from controller.github import GitHub, GitHubError, RateLimited, Stopped, resolve_token
from controller.sandbox.forge import Forge
from tests.github.local_server import Answer, LocalServer
from tests.helpers import wait_for

REPO = "acme/widgets"
ISSUES = f"/repos/{REPO}/issues"
TOKEN = "ghp_S3cretTokenValue1234567890abcdefABCD"


def issue(number: int, author: str = "ann", **extra) -> dict:
    return {
        "number": number,
        "title": f"issue {number}",
        "body": "",
        "user": {"login": author},
        "labels": [],
        "state": "open",
        "html_url": f"https://example.invalid/{number}",
        "created_at": "2024-05-01T10:00:00Z",
        "updated_at": "2024-05-01T10:00:00Z",
        **extra,
    }


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server():
    with LocalServer() as server:
        yield server


def client(server: LocalServer, **options) -> GitHub:
    options.setdefault("backoff_s", 0.01)
    return GitHub(server.url, REPO, TOKEN, **options)


def etagged(body, etag: str = '"v1"'):
    """Answers with an ETag and 304 when the client already has it, like GitHub."""

    def answer(seen):
        if seen.headers.get("If-None-Match") == etag:
            return Answer(304, None, {"etag": etag, "x-ratelimit-remaining": "4990"})
        return Answer(200, body, {"etag": etag, "x-ratelimit-remaining": "4990"})

    return answer


def test_one_connection_serves_every_request(server):
    server.routes[("GET", ISSUES)] = Answer(200, [issue(1)])
    with client(server) as github:
        for _ in range(5):
            github.open_issues(authors=["ann"])

    assert len(server.seen) == 5
    assert server.connections == 1


def test_without_keep_alive_each_request_opens_a_connection(server):
    server.routes[("GET", ISSUES)] = Answer(200, [issue(1)])
    with client(server, keep_alive=False) as github:
        for _ in range(3):
            github.open_issues(authors=["ann"])

    assert server.connections == 3


def test_unchanged_list_is_answered_from_cache_without_counting(server):
    server.routes[("GET", ISSUES)] = etagged([issue(1), issue(2)])
    with client(server) as github:
        first = github.open_issues(authors=["ann"])
        second = github.open_issues(authors=["ann"])

    assert first == second and [i.number for i in second] == [1, 2]
    assert [s.headers.get("If-None-Match") for s in server.seen] == [None, '"v1"']
    assert github.stats["requests"] == 2
    assert github.stats["counted"] == 1
    assert github.stats["rate_remaining"] == 4990


def test_every_page_is_conditional_and_its_next_link_is_remembered(server):
    page2 = f"{ISSUES}?page=2"
    first_page = etagged([issue(2)], '"p1"')

    def with_link(seen):
        answer = first_page(seen)
        if answer.status == 200:  # a 304 carries no Link: the remembered one is followed
            answer.headers["link"] = f'<{{base}}{page2}>; rel="next"'
        return answer

    server.routes[("GET", ISSUES)] = with_link
    server.routes[("GET", page2)] = etagged([issue(1)], '"p2"')
    with client(server) as github:
        assert [i.number for i in github.open_issues(authors=["ann"])] == [2, 1]
        assert [i.number for i in github.open_issues(authors=["ann"])] == [2, 1]

    assert [s.target.startswith(ISSUES + "?") for s in server.seen] == [True] * 4
    assert [s.headers.get("If-None-Match") for s in server.seen] == [None, None, '"p1"', '"p2"']
    assert github.stats["counted"] == 2


def test_conditional_off_never_sends_if_none_match(server):
    server.routes[("GET", ISSUES)] = etagged([issue(1)])
    with client(server, conditional=False) as github:
        github.open_issues(authors=["ann"])
        github.open_issues(authors=["ann"])

    assert all("If-None-Match" not in s.headers for s in server.seen)
    assert github.stats["counted"] == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_with_backoff(server, status):
    server.routes[("GET", ISSUES)] = [
        Answer(status, {"message": "boom"}),
        Answer(status, {"message": "boom"}),
        Answer(200, [issue(1)]),
    ]
    sleeps = Sleeps()
    with client(server, sleep=sleeps, backoff_s=1.0) as github:
        assert len(github.open_issues(authors=["ann"])) == 1

    assert len(server.seen) == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_server_errors_give_up_after_max_retries(server):
    server.routes[("GET", ISSUES)] = Answer(500, {"message": "boom"})
    with client(server, max_retries=2) as github:
        with pytest.raises(GitHubError) as caught:
            github.open_issues(authors=["ann"])

    assert len(server.seen) == 3
    assert caught.value.status == 500
    assert f"GET {ISSUES}" in str(caught.value)


@pytest.mark.parametrize("status", [403, 429])
def test_secondary_rate_limit_honours_retry_after(server, status):
    limited = Answer(
        status, {"message": "You have exceeded a secondary rate limit."}, {"retry-after": "3"}
    )
    server.routes[("GET", ISSUES)] = [limited, Answer(200, [issue(1)])]
    sleeps = Sleeps()
    with client(server, sleep=sleeps) as github:
        assert len(github.open_issues(authors=["ann"])) == 1

    assert len(sleeps) == 1 and 3.0 <= sleeps[0] <= 3.1


def test_secondary_rate_limit_without_retry_after_backs_off(server):
    limited = Answer(403, {"message": "You have exceeded a secondary rate limit. Wait."})
    server.routes[("GET", ISSUES)] = [limited, Answer(200, [issue(1)])]
    sleeps = Sleeps()
    with client(server, sleep=sleeps) as github:
        github.open_issues(authors=["ann"])

    assert len(sleeps) == 1


def test_a_long_retry_after_is_handed_back_instead_of_slept(server):
    server.routes[("GET", ISSUES)] = Answer(429, {"message": "slow down"}, {"retry-after": "600"})
    with client(server) as github:
        with pytest.raises(RateLimited) as caught:
            github.open_issues(authors=["ann"])

    assert caught.value.retry_at >= time.time() + 590
    assert len(server.seen) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(server, status):
    server.routes[("GET", ISSUES)] = Answer(status, {"message": "no"})
    with client(server) as github:
        with pytest.raises(GitHubError) as caught:
            github.open_issues(authors=["ann"])

    assert len(server.seen) == 1
    assert caught.value.status == status
    assert not isinstance(caught.value, RateLimited)


def test_primary_rate_limit_exhausted_raises_with_reset_time(server):
    reset = int(time.time()) + 1200
    server.routes[("GET", ISSUES)] = Answer(
        403,
        {"message": "API rate limit exceeded for user."},
        {
            "x-ratelimit-remaining": "0",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-reset": str(reset),
        },
    )
    with client(server) as github:
        with pytest.raises(RateLimited) as caught:
            github.open_issues(authors=["ann"])
        with pytest.raises(RateLimited):
            github.issue(1)

    assert caught.value.retry_at == reset
    assert len(server.seen) == 1


def test_requests_are_spaced_out_when_the_quota_runs_low(server):
    reset = time.time() + 100
    server.routes[("GET", ISSUES)] = Answer(
        200,
        [issue(1)],
        {
            "x-ratelimit-remaining": "50",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-reset": str(int(reset)),
        },
    )
    sleeps = Sleeps()
    with client(server, sleep=sleeps, clock=lambda: reset - 100) as github:
        github.open_issues(authors=["ann"])
        assert sleeps == []
        github.open_issues(authors=["ann"])

    assert sleeps == [pytest.approx(2.0, abs=0.05)]


def test_nearly_exhausted_quota_refuses_before_sending(server):
    reset = int(time.time()) + 300
    server.routes[("GET", ISSUES)] = Answer(
        200,
        [issue(1)],
        {
            "x-ratelimit-remaining": "1",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-reset": str(reset),
        },
    )
    with client(server) as github:
        github.open_issues(authors=["ann"])
        with pytest.raises(RateLimited) as caught:
            github.open_issues(authors=["ann"])

    assert caught.value.retry_at == reset
    assert len(server.seen) == 1


def test_a_hanging_read_is_retried(server):
    server.routes[("GET", ISSUES)] = [Answer(200, [], hang_s=5), Answer(200, [issue(1)])]
    with client(server, timeout=0.3) as github:
        assert len(github.open_issues(authors=["ann"])) == 1

    assert len(server.seen) == 2


def test_a_comment_is_not_sent_twice_after_a_timeout(server):
    path = f"/repos/{REPO}/issues/7/comments"
    server.routes[("POST", path)] = [Answer(201, {"id": 1}, hang_s=5), Answer(201, {"id": 2})]
    with client(server, timeout=0.3) as github:
        with pytest.raises(GitHubError) as caught:
            github.comment(7, "hello")

    assert len(server.seen) == 1
    assert "got no answer" in str(caught.value)


def test_writes_send_what_github_expects(server):
    base = f"/repos/{REPO}/issues/7"
    server.routes[("POST", f"{base}/comments")] = Answer(201, {"id": 1})
    server.routes[("POST", f"{base}/labels")] = Answer(200, [])
    server.routes[("DELETE", f"{base}/labels/needs%20info")] = Answer(200, [])
    with client(server) as github:
        github.comment(7, "hello")
        github.add_label(7, "agent")
        github.remove_label(7, "needs info")
        github.remove_label(7, "absent")  # 404: already gone is fine

    assert [(s.method, s.path) for s in server.seen][:3] == [
        ("POST", f"{base}/comments"),
        ("POST", f"{base}/labels"),
        ("DELETE", f"{base}/labels/needs%20info"),
    ]
    assert server.seen[0].body == b'{"body":"hello"}'
    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_token_never_appears_in_errors_or_logs(server, caplog):
    echo = Answer(401, {"message": f"Bad credentials {TOKEN}"})
    server.routes[("GET", ISSUES)] = echo
    server.routes[("GET", f"/repos/{REPO}/issues/1")] = Answer(500, {"message": "boom"})
    caplog.set_level(logging.DEBUG)
    errors = []
    with client(server, max_retries=1) as github:
        for call in (lambda: github.open_issues(authors=["ann"]), lambda: github.issue(1)):
            with pytest.raises(GitHubError) as caught:
                call()
            errors.append(caught.value)
        errors.append(github)

    for thing in errors:
        assert TOKEN not in str(thing) and TOKEN not in repr(thing)
    assert TOKEN not in caplog.text
    assert "retried GET" in caplog.text
    assert "set GITHUB_TOKEN or GH_TOKEN" in str(errors[0])


def test_unreachable_server_says_what_to_check():
    with GitHub("http://127.0.0.1:9", REPO, TOKEN, max_retries=1, backoff_s=0.01) as github:
        with pytest.raises(GitHubError) as caught:
            github.issue(1)

    assert "got no answer" in str(caught.value) and "127.0.0.1:9" in str(caught.value)
    assert "check github.api_url" in str(caught.value)


def test_a_refused_connection_is_tried_three_times_not_five():
    sleeps = []
    with GitHub("http://127.0.0.1:9", REPO, TOKEN, sleep=sleeps.append) as github:
        with pytest.raises(GitHubError) as caught:
            github.issue(1)
    assert len(sleeps) == 2 and "after 3 attempt(s)" in str(caught.value)


def _waiting_to_retry(thread: threading.Thread) -> bool:
    """Whether `thread` is inside the adapter's wait before a retry."""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "_wait" and code.co_filename == github_module.__file__:
            return True
        frame = frame.f_back
    return False


def test_a_stopping_controller_cuts_a_running_wait_before_a_retry_short(tmp_path):
    with Forge(tmp_path / "forge", repo=REPO) as forge:
        forge.create_issue("ann", "one")
        forge.inject_faults("502", 1)
        before = forge.request_count
        # A backoff of minutes, capped at half a minute: only the interrupt ends it early.
        github = GitHub(forge.url, REPO, forge.token("ann"), backoff_s=600)
        waits, outcome = [], []
        real_wait = github._sleep
        github._sleep = lambda seconds: waits.append(seconds) or real_wait(seconds)

        def call():
            try:
                outcome.append(github.issue(1))
            except GitHubError as error:
                outcome.append(error)

        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        try:
            wait_for(
                lambda: _waiting_to_retry(worker),
                timeout=10,
                message="the call waiting to retry after the 502",
            )
            github.interrupt()  # from another thread than the one waiting
            wait_for(
                lambda: not worker.is_alive(), timeout=5, message="the call ending once interrupted"
            )
        finally:
            github.interrupt()
            worker.join(timeout=60)
            github.close()
        requests = forge.request_count - before

    assert len(waits) == 1 and waits[0] >= 15, waits  # far longer than the 5 s allowed
    (error,) = outcome
    # Its own kind, so that the reconciler does not count it as the issue's failure.
    assert isinstance(error, Stopped) and isinstance(error, GitHubError), error
    assert "stopped while waiting to retry" in str(error)
    assert requests == 1  # the failed one; no retry after the interrupt


def test_viewer_is_asked_once(server):
    server.routes[("GET", "/user")] = Answer(200, {"login": "ann"})
    with client(server) as github:
        assert github.viewer() == "ann"
        assert github.viewer() == "ann"

    assert len(server.seen) == 1


def test_from_config_uses_the_environment_token(server, monkeypatch):
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    server.routes[("GET", "/user")] = Answer(200, {"login": "ann"})
    config = GitHubConfig(api_url=server.url + "/", repo=REPO, timeout_s=3)
    with GitHub.from_config(config) as github:
        github.viewer()

    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    with pytest.raises(GitHubError, match="github.repo is not set"):
        GitHub.from_config(GitHubConfig())


def test_resolve_token_order(tmp_path):
    gh = tmp_path / "gh"
    gh.write_text("#!/bin/sh\n[ \"$1 $2\" = 'auth token' ] && echo from-gh\n")
    gh.chmod(0o755)
    path = str(tmp_path)

    assert resolve_token({"GITHUB_TOKEN": "a", "GH_TOKEN": "b", "PATH": path}) == "a"
    assert resolve_token({"GITHUB_TOKEN": " ", "GH_TOKEN": "b", "PATH": path}) == "b"
    assert resolve_token({"PATH": path}) == "from-gh"
    assert resolve_token({"PATH": str(tmp_path / "empty")}) is None
    gh.write_text("#!/bin/sh\nexit 1\n")
    assert resolve_token({"PATH": path}) is None
