"""The adapter against the sandbox forge: discovery, pull requests, CI, faults and writes."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from controller.github import GitHub, GitHubError
from controller.sandbox.forge import Forge
from tests.helpers import git

REPO = "sandbox/sample"


@pytest.fixture
def forge(tmp_path):
    with Forge(tmp_path / "forge", repo=REPO) as forge:
        yield forge


def as_user(forge: Forge, login: str, **options) -> GitHub:
    options.setdefault("backoff_s", 0.01)
    return GitHub(forge.url, REPO, forge.token(login), **options)


def call(forge: Forge, login: str, method: str, path: str, body: dict | None = None):
    """Another party using the forge's API directly, not through the adapter under test."""
    request = urllib.request.Request(
        forge.url + path,
        method=method,
        data=json.dumps(body).encode() if body else None,
        headers={
            "Authorization": f"token {forge.token(login)}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def push_branch(forge: Forge, tmp_path, branch: str) -> str:
    work = tmp_path / f"work-{branch.replace('/', '-')}"
    git(tmp_path, "clone", "-q", forge.clone_url, str(work))
    git(work, "checkout", "-q", "-b", branch)
    (work / "change.txt").write_text(branch + "\n")
    git(work, "add", "change.txt")
    git(work, "commit", "-q", "-m", f"work on {branch}")
    git(work, "push", "-q", "origin", branch)
    return git(work, "rev-parse", "HEAD").strip()


def open_pull(forge, tmp_path, branch: str, body: str = "", login: str = "ann") -> dict:
    push_branch(forge, tmp_path, branch)
    return call(
        forge,
        login,
        "POST",
        f"/repos/{REPO}/pulls",
        {"title": f"work on {branch}", "head": branch, "base": "main", "body": body},
    )


def test_eligible_issues_leave_out_other_authors_pulls_and_labels(forge, tmp_path):
    mine = forge.create_issue("ann", "mine")
    forge.create_issue("bob", "someone else's")
    labelled = forge.create_issue("ann", "ready one", labels=["ready"])
    forge.create_issue("ann", "ready but blocked", labels=["ready", "blocked"])
    closed = forge.create_issue("ann", "closed")
    forge.close_issue(closed["number"])
    open_pull(forge, tmp_path, "fix/issue-1", "Closes #1")

    with as_user(forge, "ann") as github:
        everything = github.open_issues(authors=None)
        ready = github.open_issues(authors=["ann"], labels=["ready"], exclude_labels=["blocked"])
        both = github.open_issues(authors=["ann", "bob"])
        later = github.open_issues(authors=["ann"], created_since="2999-01-01")
        today = github.open_issues(authors=["ann"], created_since="today")

    assert [i.number for i in everything] == [4, 3, 1]
    assert [i.number for i in ready] == [labelled["number"]]
    assert [i.number for i in both] == [4, 3, 2, 1]
    assert later == []
    assert len(today) == 3
    assert everything[-1].title == mine["title"] and everything[-1].author == "ann"


def test_a_steady_second_pass_is_all_304s(forge):
    for n in range(5):
        forge.create_issue("ann", f"issue {n}")

    with as_user(forge, "ann") as github:
        first = github.open_issues(authors=["ann"])
        counted = forge.counted_count
        second = github.open_issues(authors=["ann"])

        assert second == first
        assert forge.counted_count == counted
        assert github.stats["counted"] == 1 and github.stats["requests"] == 2

        forge.create_issue("ann", "a new one")
        assert len(github.open_issues(authors=["ann"])) == 6


def test_more_than_a_hundred_issues_are_paged_without_an_empty_page(forge):
    for n in range(205):
        forge.create_issue("ann", f"issue {n}")

    with as_user(forge, "ann") as github:
        issues = github.open_issues(authors=["ann"])
        assert github.stats["requests"] == 3
        github.open_issues(authors=["ann"])

    assert [i.number for i in issues] == list(range(205, 0, -1))
    assert github.stats["requests"] == 6 and github.stats["counted"] == 3


def test_one_issue_closed_reopened_and_changed_since(forge):
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
    forge.create_issue("ann", "one")
    forge.create_issue("ann", "two")

    with as_user(forge, "ann") as github:
        assert github.issue(1).state == "open"
        forge.close_issue(1, "not_planned")
        closed = github.issue(1)
        changed = github.issues_changed_since(before)
        forge.reopen_issue(1)
        reopened = github.issue(1)

    assert (closed.state, closed.state_reason) == ("closed", "not_planned")
    assert closed.closed_at
    assert {i.number for i in changed} == {1, 2}
    assert reopened.state == "open"


def test_comments_since_and_by_author(forge):
    forge.create_issue("ann", "talk")
    forge.comment(1, "ann", "first")
    forge.comment(1, "bob", "second")

    with as_user(forge, "ann") as github:
        github.comment(1, "from the controller")
        everything = github.comments(1)
        anns = github.comments(1, authors=["ann"])
        later = github.comments(1, since_iso="2999-01-01T00:00:00Z")

    assert [c.body for c in everything] == ["first", "second", "from the controller"]
    assert [c.body for c in anns] == ["first", "from the controller"]
    assert later == []


def test_labels_are_added_and_removed(forge):
    forge.create_issue("ann", "label me")

    with as_user(forge, "ann") as github:
        github.add_label(1, "agent working")
        assert github.issue(1).labels == ("agent working",)
        github.remove_label(1, "agent working")
        github.remove_label(1, "never there")
        assert github.issue(1).labels == ()


def test_pull_for_issue_by_branch_then_by_closing_keyword(forge, tmp_path):
    for n in range(3):
        forge.create_issue("ann", f"issue {n}")
    by_branch = open_pull(forge, tmp_path, "fix/issue-1-a")
    by_keyword = open_pull(forge, tmp_path, "someone-elses-branch", "This FIXES #2.")

    with as_user(forge, "ann") as github:
        pulls = github.pulls()
        first = github.pull_for_issue(1, "fix/issue-1-a")
        second = github.pull_for_issue(2, "fix/issue-2-a", pulls)
        third = github.pull_for_issue(3, "fix/issue-3-a", pulls)

    assert (first.number, first.state, first.merged) == (by_branch["number"], "open", False)
    assert first.head_sha == by_branch["head"]["sha"]
    assert second.number == by_keyword["number"]
    assert third is None


def test_merged_pull_is_found_and_closes_its_issue(forge, tmp_path):
    forge.create_issue("ann", "fix me")
    pull = open_pull(forge, tmp_path, "fix/issue-1-x", "Closes #1")
    call(forge, "ann", "PUT", f"/repos/{REPO}/pulls/{pull['number']}/merge", {})

    with as_user(forge, "ann") as github:
        found = github.pull_for_issue(1, "fix/issue-1-x")
        issue = github.issue(1)

    assert (found.state, found.merged) == ("closed", True)
    assert issue.state == "closed"


def test_ci_from_statuses_and_check_runs(forge, tmp_path):
    sha = push_branch(forge, tmp_path, "fix/ci")

    with as_user(forge, "ann") as github:
        assert github.ci(sha).status == "pending"
        assert github.ci(sha, no_checks="success", head_since=time.time()).status == "pending"
        assert (
            github.ci(sha, no_checks="success", grace_s=0, head_since=time.time()).status
            == "success"
        )

        call(
            forge,
            "ci",
            "POST",
            f"/repos/{REPO}/statuses/{sha}",
            {"state": "pending", "context": "lint"},
        )
        run = call(
            forge,
            "ci",
            "POST",
            f"/repos/{REPO}/check-runs",
            {"name": "tests", "head_sha": sha, "status": "in_progress"},
        )
        assert github.ci(sha).status == "pending"

        call(
            forge,
            "ci",
            "POST",
            f"/repos/{REPO}/statuses/{sha}",
            {"state": "success", "context": "lint"},
        )
        call(
            forge,
            "ci",
            "PATCH",
            f"/repos/{REPO}/check-runs/{run['id']}",
            {"status": "completed", "conclusion": "success"},
        )
        assert github.ci(sha).status == "success"

        call(
            forge,
            "ci",
            "PATCH",
            f"/repos/{REPO}/check-runs/{run['id']}",
            {
                "conclusion": "failure",
                "output": {"title": "2 tests failed", "summary": "test_a, test_b"},
            },
        )
        call(
            forge,
            "ci",
            "POST",
            f"/repos/{REPO}/statuses/{sha}",
            {"state": "error", "context": "lint", "description": "lint crashed"},
        )
        failed = github.ci(sha)

    assert failed.status == "failure"
    assert set(failed.failed) == {
        ("tests", "2 tests failed: test_a, test_b"),
        ("lint", "lint crashed"),
    }
    assert failed.head_sha == sha


@pytest.mark.parametrize("kind", ["500", "502", "secondary", "429"])
def test_injected_faults_are_retried(forge, kind):
    forge.create_issue("ann", "survive")
    forge.inject_faults(kind, 2)

    with as_user(forge, "ann") as github:
        issues = github.open_issues(authors=["ann"])

    assert [i.number for i in issues] == [1]
    assert github.stats["requests"] == 3


def test_a_hang_past_the_timeout_is_retried(forge):
    forge.create_issue("ann", "survive")
    forge.inject_faults("hang", 1, hang_s=5)

    with as_user(forge, "ann", timeout=0.5) as github:
        issues = github.open_issues(authors=["ann"])

    assert [i.number for i in issues] == [1]


def test_a_bad_token_is_refused_once_with_a_hint(forge):
    with GitHub(forge.url, REPO, "not-a-sandbox-token") as github:
        with pytest.raises(GitHubError) as caught:
            github.viewer()

    assert caught.value.status == 401
    assert forge.request_count == 1
    assert "not-a-sandbox-token" not in str(caught.value)


def test_repository_describes_the_forge_repo(forge):
    with as_user(forge, "ann") as github:
        repository = github.repository()

    assert repository["full_name"] == REPO
    assert repository["default_branch"] == "main"
    assert repository["clone_url"] == forge.clone_url
