"""Choosing the pull request for an issue and reading closing keywords: no I/O."""

from __future__ import annotations

import pytest

from controller.github import GitHub, GitHubError, PullRequest, closing_numbers

REPO = "acme/widgets"


def pull(number, head_ref="other", state="open", merged=False, body="", head_repo=REPO):
    return PullRequest(
        number, f"u/{number}", state, merged, head_ref, f"sha{number}", body, "ann", head_repo
    )


@pytest.fixture
def github():
    with GitHub("http://127.0.0.1:9", REPO, None) as github:
        yield github


def test_branch_match_prefers_open_then_merged_then_closed(github):
    closed = pull(1, "fix/7", "closed")
    merged = pull(2, "fix/7", "closed", merged=True)
    reopened = pull(3, "fix/7", "open")

    assert github.pull_for_issue(7, "fix/7", [closed]) == closed
    assert github.pull_for_issue(7, "fix/7", [closed, merged]) == merged
    assert github.pull_for_issue(7, "fix/7", [closed, merged, reopened]) == reopened


def test_branch_from_a_fork_with_the_same_name_is_not_ours(github):
    fork = pull(1, "fix/7", head_repo="stranger/widgets")

    assert github.pull_for_issue(7, "fix/7", [fork]) is None
    assert github.pull_for_issue(7, "fix/7", [pull(2, "fix/7", head_repo="")]).number == 2


def test_closing_keyword_match_skips_abandoned_pulls(github):
    abandoned = pull(1, body="Fixes #7", state="closed")
    open_one = pull(2, body="resolved: #7")
    other_issue = pull(3, body="Closes #70")

    assert github.pull_for_issue(7, "fix/7", [abandoned, other_issue]) is None
    assert github.pull_for_issue(7, "fix/7", [abandoned, open_one, other_issue]) == open_one
    assert github.pull_for_issue(7, "fix/7", [open_one, pull(4, "fix/7")]).number == 4


@pytest.mark.parametrize(
    "text, numbers",
    [
        ("Closes #4", {4}),
        ("this fixes #4 and RESOLVES #5", {4, 5}),
        ("close acme/widgets#6, fix other/repo#7", {6}),
        ("see #4; closing #5 later; prefix#6", set()),
        ("Fixed #12.", {12}),
    ],
)
def test_closing_numbers(text, numbers):
    assert closing_numbers(text, REPO) == numbers


def test_a_bad_created_since_says_what_is_accepted(github):
    with pytest.raises(GitHubError, match="YYYY-MM-DD|2024-05-01"):
        github.open_issues(authors=["ann"], created_since="yesterday")


def test_a_repo_without_owner_is_refused():
    with pytest.raises(GitHubError, match="OWNER/NAME"):
        GitHub("http://127.0.0.1:9", "widgets", None)
