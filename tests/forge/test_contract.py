"""The forge's bodies validate against GitHub's published OpenAPI models.

The models are githubkit's, generated from GitHub's own description of its REST API, so
a field the forge forgets or mistypes fails here rather than in a client on real GitHub.
"""

from __future__ import annotations

import pytest

from tests.forge.client import call, push_branch, repo_path
from tests.helpers import git, wait_for

models = pytest.importorskip("githubkit_schemas.latest.models")


def test_bodies_validate_against_githubs_models(forge_factory, tmp_path):
    forge = forge_factory(ci_command="true")
    issue = call(
        forge, "POST", repo_path(forge, "/issues"), {"title": "t", "body": "b", "labels": ["bug"]}
    ).body
    models.Issue.model_validate(issue)
    comment = call(
        forge, "POST", repo_path(forge, f"/issues/{issue['number']}/comments"), {"body": "hi"}
    ).body
    models.IssueComment.model_validate(comment)
    for item in call(forge, "GET", repo_path(forge, f"/issues/{issue['number']}/comments")).body:
        models.IssueComment.model_validate(item)
    models.PrivateUser.model_validate(call(forge, "GET", "/user").body)
    models.FullRepository.model_validate(call(forge, "GET", repo_path(forge)).body)
    models.RateLimitOverview.model_validate(call(forge, "GET", "/rate_limit").body)
    for label in call(
        forge, "POST", repo_path(forge, f"/issues/{issue['number']}/labels"), {"labels": ["x"]}
    ).body:
        models.IssuePropLabelsItemsOneof1.model_validate(label)

    sha = push_branch(forge, tmp_path, "topic", {"a.txt": "a\n"})
    pull = call(
        forge,
        "POST",
        repo_path(forge, "/pulls"),
        {"title": "p", "head": "topic", "base": "main", "body": f"Fixes #{issue['number']}"},
    ).body
    models.PullRequest.model_validate(pull)
    models.PullRequest.model_validate(
        call(forge, "GET", repo_path(forge, f"/pulls/{pull['number']}")).body
    )
    for item in call(forge, "GET", repo_path(forge, "/pulls?state=all")).body:
        models.PullRequestSimple.model_validate(item)
    for item in call(forge, "GET", repo_path(forge, "/issues?state=all")).body:
        models.Issue.model_validate(item)

    wait_for(
        lambda: call(forge, "GET", repo_path(forge, f"/commits/{sha}/check-runs")).body[
            "check_runs"
        ],
        message="a ci check run",
    )
    runs = call(forge, "GET", repo_path(forge, f"/commits/{sha}/check-runs")).body
    for run in runs["check_runs"]:
        models.CheckRun.model_validate(run)
    status = call(
        forge, "POST", repo_path(forge, f"/statuses/{sha}"), {"state": "success", "context": "lint"}
    ).body
    models.Status.model_validate(status)
    models.CombinedCommitStatus.model_validate(
        call(forge, "GET", repo_path(forge, f"/commits/{sha}/status")).body
    )

    merge = call(forge, "PUT", repo_path(forge, f"/pulls/{pull['number']}/merge")).body
    models.PullRequestMergeResult.model_validate(merge)
    models.PullRequest.model_validate(
        call(forge, "GET", repo_path(forge, f"/pulls/{pull['number']}")).body
    )
    assert git(tmp_path, f"--git-dir={forge.clone_url}", "rev-parse", "main") == merge["sha"]


def test_errors_validate_against_githubs_basic_error(forge):
    for reply in (
        call(forge, "GET", repo_path(forge, "/issues/404")),
        call(forge, "GET", "/user", login=None),
    ):
        models.BasicError.model_validate(reply.body)
    invalid = call(forge, "POST", repo_path(forge, "/issues"), {})
    models.ValidationError.model_validate(invalid.body)
