"""The adapter's parsing on real GitHub payloads, replayed from a local server.

The payloads were recorded from api.github.com or published by GitHub (fixtures/README.md
says where each comes from); the server replays status, Link, ETag and body as recorded.
"""

from __future__ import annotations

import pytest

from controller.github import (
    CIResult,
    GitHub,
    GitHubError,
    Issue,
    combine_ci,
    issue_from_json,
    pull_from_json,
)
from tests.github.local_server import Answer, LocalServer, fixture

REPO = "octokit-fixture-org/paginate-issues"


@pytest.fixture
def server():
    with LocalServer() as server:
        yield server


def client(server: LocalServer, repo: str = REPO) -> GitHub:
    return GitHub(server.url, repo, "ghp_recordedtoken0000", backoff_s=0.01)


def test_recorded_pages_are_followed_by_link_without_an_extra_page(server):
    server.replay("paginate-issues.json")
    with client(server) as github:
        issues = github.open_issues(authors=["octokit-fixture-user-a"])

    assert [i.number for i in issues] == list(range(13, 0, -1))
    assert [s.path for s in server.seen] == [
        "/repos/octokit-fixture-org/paginate-issues/issues",
        *["/repositories/1000/issues"] * 4,
    ]
    first = server.seen[0].target
    assert "creator=octokit-fixture-user-a" in first and "per_page=100" in first
    assert server.seen[-1].target.endswith("page=5")
    assert github.stats["requests"] == 5


def test_recorded_issue_fields_are_parsed(server):
    server.replay("paginate-issues.json")
    with client(server) as github:
        issue = github.open_issues(authors=["octokit-fixture-user-a"])[0]

    assert issue == Issue(
        number=13,
        title="Test issue 13",
        body="",
        url="https://github.com/octokit-fixture-org/paginate-issues/issues/13",
        author="octokit-fixture-user-a",
        labels=(),
        state="open",
        state_reason=None,
        created_at="2017-10-10T16:00:00Z",
        updated_at="2017-10-10T16:00:00Z",
        closed_at=None,
    )


def test_other_authors_are_left_out_and_the_viewer_is_the_default(server):
    server.replay("paginate-issues.json")
    server.routes[("GET", "/user")] = Answer(200, {"login": "someone-else"})
    with client(server) as github:
        assert github.open_issues() == []
        assert github.open_issues(authors=["someone-else", "nobody"]) == []
        both = github.open_issues(authors=["nobody", "OCTOKIT-fixture-user-a"])

    assert len(both) == 13
    assert "creator=" not in server.seen[-5].target


def test_a_pull_request_in_the_issues_list_is_left_out(server):
    listed = fixture("openapi-examples.json")["issue-items"]
    assert "pull_request" in listed[0]
    server.routes[("GET", "/repos/octocat/Hello-World/issues")] = Answer(200, listed)
    with client(server, "octocat/Hello-World") as github:
        assert github.open_issues(authors=["octocat"]) == []
        assert github.issues_changed_since("2011-01-01T00:00:00Z") == []


def test_published_issue_with_labels_and_state_reason():
    issue = issue_from_json(fixture("openapi-examples.json")["issue"])

    assert (issue.number, issue.author, issue.state) == (1347, "octocat", "open")
    assert issue.labels == ("bug",)
    assert issue.state_reason == "completed"
    assert issue.url == "https://github.com/octocat/Hello-World/issues/1347"


def test_label_filters_are_sent_to_github_and_checked_here(server):
    listed = fixture("openapi-examples.json")["issue-items"]
    issue = {k: v for k, v in listed[0].items() if k != "pull_request"}
    server.routes[("GET", "/repos/octocat/Hello-World/issues")] = Answer(200, [issue])
    with client(server, "octocat/Hello-World") as github:
        assert len(github.open_issues(authors=["octocat"], labels=["Bug"])) == 1
        assert github.open_issues(authors=["octocat"], exclude_labels=["bug"]) == []
        assert github.open_issues(authors=["octocat"], labels=["bug", "ready"]) == []

    assert "labels=Bug" in server.seen[0].target


def test_recorded_combined_status_with_a_failure(server):
    server.replay("combined-status.json")
    sha = "0000000000000000000000000000000000000001"
    server.routes[("GET", f"/repos/octokit-fixture-org/create-status/commits/{sha}/check-runs")] = (
        Answer(200, {"total_count": 0, "check_runs": []})
    )
    with client(server, "octokit-fixture-org/create-status") as github:
        result = github.ci(sha)

    assert result == CIResult("failure", (("example/1", "create-status failure test"),), sha)


def test_published_check_runs_and_statuses():
    examples = fixture("openapi-examples.json")
    runs = examples["check-run-paginated"]["check_runs"]
    combined = examples["combined-commit-status"]

    assert combine_ci("abc", {"statuses": []}, runs).status == "success"  # neutral passes
    assert combine_ci("abc", combined, []).status == "success"
    assert combine_ci("abc", combined, runs).status == "success"


def test_recorded_check_runs_queued_failed_passed():
    queued, failed, passed, neutral = fixture("webhook-check-runs.json")
    none = {"statuses": []}

    assert combine_ci("s", none, [queued]).status == "pending"
    assert combine_ci("s", none, [passed, neutral]).status == "success"
    result = combine_ci("s", none, [passed, failed, queued])
    assert result.status == "failure"
    assert result.failed == (("Octocoders-linter", "failure"),)
    titled = dict(neutral, conclusion="timed_out")
    assert combine_ci("s", none, [titled]).failed == (("randscape", "Report: It's all good."),)


def test_published_pull_request_list(server):
    pulls = fixture("openapi-examples.json")["pull-request-simple-items"]
    server.routes[("GET", "/repos/octocat/Hello-World/pulls")] = Answer(200, pulls)
    with client(server, "octocat/Hello-World") as github:
        (pull,) = github.pulls()
        assert github.pull_for_issue(1, "new-topic", [pull]) == pull
        assert github.pull_for_issue(1, "other-branch", [pull]) is None

    assert (pull.number, pull.state, pull.merged) == (1347, "open", True)
    assert (pull.head_ref, pull.author) == ("new-topic", "octocat")
    assert pull.head_sha == "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    assert pull.head_repo == "octocat/Hello-World"
    assert "state=all" in server.seen[0].target


def test_published_pull_request_merged_flag_comes_from_merged_at():
    (pull,) = fixture("openapi-examples.json")["pull-request-simple-items"]

    assert pull_from_json(dict(pull, merged_at=None)).merged is False


def test_published_comments_filtered_by_author(server):
    comments = fixture("openapi-examples.json")["issue-comment-items"]
    path = "/repos/octocat/Hello-World/issues/1347/comments"
    server.routes[("GET", path)] = Answer(200, comments)
    with client(server, "octocat/Hello-World") as github:
        (comment,) = github.comments(1347, since_iso="2011-04-14T00:00:00Z")
        assert github.comments(1347, authors=["someone-else"]) == []

    assert (comment.id, comment.author, comment.body) == (1, "octocat", "Me too")
    assert "since=2011-04-14T00%3A00%3A00Z" in server.seen[0].target


def test_recorded_repository(server):
    server.replay("repository.json")
    with client(server, "octokit-fixture-org/hello-world") as github:
        repository = github.repository()

    assert repository["full_name"] == "octokit-fixture-org/hello-world"
    assert repository["default_branch"] == "master"
    assert repository["clone_url"].endswith("/hello-world.git")


def test_recorded_validation_error_is_not_retried_and_says_where(server):
    server.replay("error-422.json")
    with client(server, "octokit-fixture-org/errors") as github:
        with pytest.raises(GitHubError) as caught:
            github._request("POST", "/repos/octokit-fixture-org/errors/labels", body={})

    assert caught.value.status == 422
    assert "POST /repos/octokit-fixture-org/errors/labels" in str(caught.value)
    assert "Validation Failed" in str(caught.value)
    assert len(server.seen) == 1


def test_recorded_add_label_answer(server):
    server.replay("add-labels.json")
    with client(server, "octokit-fixture-org/add-labels-to-issue") as github:
        github.add_label(1, "Foo")

    assert server.seen[0].body == b'{"labels":["Foo"]}'
