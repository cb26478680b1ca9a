"""The forge's endpoints answer like GitHub: paths, payloads, rules and status codes."""

from __future__ import annotations

from tests.forge.client import call, push_branch, repo_path
from tests.helpers import git


def test_tokens_authenticate_as_their_login_and_others_get_401(forge):
    assert call(forge, "GET", "/user", login="bob").body["login"] == "bob"
    for header in ("token ghp_real", "Bearer nope", "sandbox-alice", ""):
        reply = call(forge, "GET", "/user", login=None, headers={"Authorization": header})
        assert reply.status == 401
        assert reply.body["message"] == "Bad credentials"
    bearer = call(
        forge, "GET", "/user", login=None, headers={"Authorization": "Bearer sandbox-carol"}
    )
    assert bearer.body["login"] == "carol"


def test_repository_points_at_the_bare_repository(forge, tmp_path):
    reply = call(forge, "GET", repo_path(forge))
    assert reply.body["full_name"] == "sandbox/sample"
    assert reply.body["default_branch"] == "main"
    assert reply.body["clone_url"] == forge.clone_url
    git(tmp_path, "clone", "-q", reply.body["clone_url"], str(tmp_path / "c"))
    assert (tmp_path / "c" / "README.md").exists()
    assert call(forge, "GET", "/repos/sandbox/other").status == 404


def test_issue_create_get_update_close_and_reopen(forge):
    created = call(
        forge,
        "POST",
        repo_path(forge, "/issues"),
        {"title": "Crash", "body": "it crashes", "labels": ["bug"]},
    )
    assert created.status == 201
    number = created.body["number"]
    assert created.headers["location"].endswith(f"/issues/{number}")
    assert created.body["user"]["login"] == "alice"
    assert [label["name"] for label in created.body["labels"]] == ["bug"]

    closed = call(
        forge,
        "PATCH",
        repo_path(forge, f"/issues/{number}"),
        {"state": "closed", "state_reason": "not_planned"},
    )
    assert closed.body["state"] == "closed"
    assert closed.body["state_reason"] == "not_planned"
    assert closed.body["closed_at"]

    reopened = call(forge, "PATCH", repo_path(forge, f"/issues/{number}"), {"state": "open"})
    assert reopened.body["state_reason"] == "reopened"
    assert reopened.body["closed_at"] is None

    fetched = call(forge, "GET", repo_path(forge, f"/issues/{number}"))
    assert fetched.body["title"] == "Crash" and fetched.body["state"] == "open"


def test_issue_list_filters(forge):
    forge.create_issue("alice", "one", labels=["bug", "agent"])
    forge.create_issue("bob", "two", labels=["agent"])
    third = forge.create_issue("alice", "three")
    forge.close_issue(third["number"])

    def titles(query: str) -> list[str]:
        return [
            issue["title"]
            for issue in call(forge, "GET", repo_path(forge, f"/issues?{query}")).body
        ]

    assert titles("") == ["two", "one"]
    assert titles("state=all&direction=asc") == ["one", "two", "three"]
    assert titles("state=closed") == ["three"]
    assert titles("creator=bob") == ["two"]
    assert titles("labels=agent,bug") == ["one"]
    assert titles("since=2999-01-01T00:00:00Z") == []
    assert titles("state=all&since=2000-01-01T00:00:00Z&sort=updated&direction=asc")[0] == "one"
    assert call(forge, "GET", repo_path(forge, "/issues?state=bogus")).status == 422


def test_comments_and_labels(forge):
    number = forge.create_issue("alice", "talk")["number"]
    posted = call(
        forge,
        "POST",
        repo_path(forge, f"/issues/{number}/comments"),
        {"body": "hello"},
        login="bob",
    )
    assert posted.status == 201 and posted.body["user"]["login"] == "bob"
    listed = call(forge, "GET", repo_path(forge, f"/issues/{number}/comments"))
    assert [comment["body"] for comment in listed.body] == ["hello"]
    assert call(forge, "GET", repo_path(forge, f"/issues/{number}")).body["comments"] == 1
    assert (
        call(
            forge, "GET", repo_path(forge, f"/issues/{number}/comments?since=2999-01-01T00:00:00Z")
        ).body
        == []
    )

    added = call(
        forge,
        "POST",
        repo_path(forge, f"/issues/{number}/labels"),
        {"labels": ["agent: working", "bug"]},
    )
    assert [label["name"] for label in added.body] == ["agent: working", "bug"]
    removed = call(forge, "DELETE", repo_path(forge, f"/issues/{number}/labels/agent%3A%20working"))
    assert [label["name"] for label in removed.body] == ["bug"]
    missing = call(forge, "DELETE", repo_path(forge, f"/issues/{number}/labels/nope"))
    assert missing.status == 404


def test_bad_input_gets_githubs_errors(forge):
    assert call(forge, "GET", repo_path(forge, "/issues/99")).status == 404
    assert call(forge, "GET", "/no/such/route").body["message"] == "Not Found"
    missing_title = call(forge, "POST", repo_path(forge, "/issues"), {"body": "x"})
    assert missing_title.status == 422
    assert missing_title.body["message"] == "Validation Failed"
    assert missing_title.body["errors"][0]["field"] == "title"
    malformed = call(forge, "POST", repo_path(forge, "/issues"), raw=b'{"title": ')
    assert malformed.status == 400
    assert malformed.body["message"] == "Problems parsing JSON"
    not_object = call(forge, "POST", repo_path(forge, "/issues"), raw=b"[1, 2]")
    assert not_object.status == 400
    number = forge.create_issue("alice", "talk")["number"]
    empty_comment = call(
        forge, "POST", repo_path(forge, f"/issues/{number}/comments"), {"body": ""}
    )
    assert empty_comment.status == 422
    assert call(forge, "GET", "/user").status == 200


def test_pull_request_lifecycle_and_merge_closes_the_issue(forge, tmp_path):
    issue = forge.create_issue("alice", "add feature")["number"]
    missing = call(
        forge,
        "POST",
        repo_path(forge, "/pulls"),
        {"title": "x", "head": "no-such-branch", "base": "main"},
    )
    assert missing.status == 422

    sha = push_branch(forge, tmp_path, "fix/issue-1", {"feature.txt": "on\n"})
    opened = call(
        forge,
        "POST",
        repo_path(forge, "/pulls"),
        {
            "title": "Add feature",
            "head": "sandbox:fix/issue-1",
            "base": "main",
            "body": f"Adds it.\n\nCloses #{issue}",
        },
    )
    assert opened.status == 201
    number = opened.body["number"]
    assert number == issue + 1, "issues and pull requests share one counter"
    assert opened.body["head"]["sha"] == sha and opened.body["head"]["ref"] == "fix/issue-1"
    again = call(
        forge,
        "POST",
        repo_path(forge, "/pulls"),
        {"title": "again", "head": "fix/issue-1", "base": "main"},
    )
    assert again.status == 422

    listed = call(forge, "GET", repo_path(forge, "/pulls?head=sandbox:fix/issue-1&state=all"))
    assert [pull["number"] for pull in listed.body] == [number]
    assert call(forge, "GET", repo_path(forge, "/pulls?head=sandbox:other")).body == []
    in_issues = call(forge, "GET", repo_path(forge, "/issues")).body
    assert [item["number"] for item in in_issues if "pull_request" in item] == [number]

    moved = push_branch(forge, tmp_path, "fix/issue-1", {"feature.txt": "on!\n"})
    fetched = call(forge, "GET", repo_path(forge, f"/pulls/{number}"))
    assert fetched.body["head"]["sha"] == moved
    assert fetched.body["mergeable"] is True

    stale = call(forge, "PUT", repo_path(forge, f"/pulls/{number}/merge"), {"sha": sha})
    assert stale.status == 409
    merged = call(
        forge,
        "PUT",
        repo_path(forge, f"/pulls/{number}/merge"),
        {"merge_method": "squash"},
        login="sandbox",
    )
    assert merged.status == 200 and merged.body["merged"] is True
    assert git(tmp_path, f"--git-dir={forge.clone_url}", "rev-parse", "main") == merged.body["sha"]
    after = call(forge, "GET", repo_path(forge, f"/pulls/{number}")).body
    assert after["merged"] is True and after["state"] == "closed" and after["merged_at"]
    closed = call(forge, "GET", repo_path(forge, f"/issues/{issue}")).body
    assert closed["state"] == "closed" and closed["state_reason"] == "completed"
    assert call(forge, "PUT", repo_path(forge, f"/pulls/{number}/merge")).status == 405


def test_pull_update_closes_without_merging(forge, tmp_path):
    push_branch(forge, tmp_path, "topic", {"a.txt": "a\n"})
    number = call(
        forge, "POST", repo_path(forge, "/pulls"), {"title": "t", "head": "topic", "base": "main"}
    ).body["number"]
    patched = call(
        forge,
        "PATCH",
        repo_path(forge, f"/pulls/{number}"),
        {"state": "closed", "title": "renamed"},
    )
    assert patched.body["state"] == "closed" and patched.body["merged"] is False
    assert patched.body["title"] == "renamed"
    assert call(forge, "GET", repo_path(forge, "/pulls")).body == []


def test_statuses_combine_per_context(forge):
    sha = git(forge.clone_url, f"--git-dir={forge.clone_url}", "rev-parse", "main")
    assert call(forge, "GET", repo_path(forge, f"/commits/{sha}/status")).body["state"] == "pending"
    for context, state in (("lint", "pending"), ("lint", "success"), ("tests", "success")):
        reply = call(
            forge,
            "POST",
            repo_path(forge, f"/statuses/{sha}"),
            {"state": state, "context": context, "description": state},
        )
        assert reply.status == 201
    combined = call(forge, "GET", repo_path(forge, "/commits/main/status")).body
    assert combined["state"] == "success" and combined["total_count"] == 2
    call(
        forge,
        "POST",
        repo_path(forge, f"/statuses/{sha}"),
        {"state": "failure", "context": "tests"},
    )
    assert call(forge, "GET", repo_path(forge, f"/commits/{sha}/status")).body["state"] == "failure"
    assert call(forge, "POST", repo_path(forge, f"/statuses/{sha}"), {"state": "odd"}).status == 422
    assert (
        call(forge, "POST", repo_path(forge, "/statuses/" + "0" * 40), {"state": "success"}).status
        == 422
    )


def test_check_runs_create_update_and_list(forge):
    sha = git(forge.clone_url, f"--git-dir={forge.clone_url}", "rev-parse", "main")
    created = call(
        forge,
        "POST",
        repo_path(forge, "/check-runs"),
        {"name": "build", "head_sha": sha, "status": "in_progress"},
    )
    assert created.status == 201 and created.body["status"] == "in_progress"
    run_id = created.body["id"]
    done = call(
        forge,
        "PATCH",
        repo_path(forge, f"/check-runs/{run_id}"),
        {"conclusion": "failure", "output": {"title": "broken", "summary": "2 tests failed"}},
    )
    assert done.body["status"] == "completed" and done.body["completed_at"]
    listed = call(forge, "GET", repo_path(forge, "/commits/main/check-runs")).body
    assert listed["total_count"] == 1
    assert listed["check_runs"][0]["output"]["summary"] == "2 tests failed"
    assert call(forge, "PATCH", repo_path(forge, "/check-runs/424242"), {}).status == 404
    assert call(forge, "POST", repo_path(forge, "/check-runs"), {"head_sha": sha}).status == 422
