"""The sandbox forge's JSON bodies, shaped like api.github.com's.

Clients written against GitHub read these bodies, so every object carries the fields
GitHub's published schema marks as required, with GitHub's names and timestamp format;
a contract test validates them against that schema. This module only renders records
the store keeps: it never changes them, never runs git and never sees HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Renderer:
    base_url: str
    owner: str
    name: str
    clone_url: str
    default_branch: str
    user_ids: dict[str, int]
    labels: dict[str, dict[str, Any]]

    @property
    def repo_url(self) -> str:
        return f"{self.base_url}/repos/{self.owner}/{self.name}"

    @property
    def repo_html_url(self) -> str:
        return f"{self.base_url}/{self.owner}/{self.name}"

    def user(self, login: str | None) -> dict[str, Any] | None:
        if login is None:
            return None
        url = f"{self.base_url}/users/{login}"
        user_id = self.user_ids.get(login, 0)
        return {
            "login": login,
            "id": user_id,
            "node_id": f"U_sandbox{user_id}",
            "avatar_url": f"{self.base_url}/avatars/{login}",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self.base_url}/{login}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": "Bot" if login.endswith("[bot]") else "User",
            "site_admin": False,
            "user_view_type": "public",
        }

    def private_user(self, login: str, created_at: str) -> dict[str, Any]:
        payload = self.user(login) or {}
        payload.update(
            name=login,
            company=None,
            blog="",
            location=None,
            email=None,
            hireable=None,
            bio=None,
            twitter_username=None,
            public_repos=1,
            public_gists=0,
            followers=0,
            following=0,
            created_at=created_at,
            updated_at=created_at,
            private_gists=0,
            total_private_repos=0,
            owned_private_repos=0,
            disk_usage=0,
            collaborators=0,
            two_factor_authentication=False,
            user_view_type="private",
        )
        return payload

    def repository(self, created_at: str, pushed_at: str, open_issues: int) -> dict[str, Any]:
        """Every field of GitHub's full repository object; a superset of the shorter ones."""
        url = self.repo_url
        links = {
            "archive_url": "{archive_format}{/ref}",
            "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}",
            "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}",
            "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}",
            "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}",
            "contributors_url": "/contributors",
            "deployments_url": "/deployments",
            "downloads_url": "/downloads",
            "events_url": "/events",
            "forks_url": "/forks",
            "git_commits_url": "/git/commits{/sha}",
            "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}",
            "hooks_url": "/hooks",
            "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}",
            "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}",
            "labels_url": "/labels{/name}",
            "languages_url": "/languages",
            "merges_url": "/merges",
            "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}",
            "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}",
            "stargazers_url": "/stargazers",
            "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers",
            "subscription_url": "/subscription",
            "tags_url": "/tags",
            "teams_url": "/teams",
            "trees_url": "/git/trees{/sha}",
        }
        payload: dict[str, Any] = {
            key: url + ("/" if value.startswith("{a") else "") + value
            for key, value in links.items()
        }
        payload.update(
            id=1,
            node_id="R_sandbox1",
            name=self.name,
            full_name=f"{self.owner}/{self.name}",
            owner=self.user(self.owner),
            private=False,
            html_url=self.repo_html_url,
            description="A repository in the sandbox forge",
            fork=False,
            url=url,
            git_url=self.clone_url,
            ssh_url=self.clone_url,
            clone_url=self.clone_url,
            svn_url=self.repo_html_url,
            mirror_url=None,
            homepage=None,
            language=None,
            forks_count=0,
            forks=0,
            stargazers_count=0,
            watchers_count=0,
            watchers=0,
            size=0,
            default_branch=self.default_branch,
            open_issues_count=open_issues,
            open_issues=open_issues,
            is_template=False,
            topics=[],
            has_issues=True,
            has_projects=False,
            has_wiki=False,
            has_pages=False,
            has_downloads=False,
            has_discussions=False,
            archived=False,
            disabled=False,
            visibility="public",
            pushed_at=pushed_at,
            created_at=created_at,
            updated_at=pushed_at,
            permissions={
                "admin": True,
                "maintain": True,
                "push": True,
                "triage": True,
                "pull": True,
            },
            allow_rebase_merge=True,
            allow_squash_merge=True,
            allow_merge_commit=True,
            allow_auto_merge=False,
            delete_branch_on_merge=False,
            allow_forking=True,
            web_commit_signoff_required=False,
            subscribers_count=0,
            network_count=0,
            license=None,
        )
        return payload

    def label(self, name: str) -> dict[str, Any]:
        label = self.labels.get(name, {"id": 0, "color": "ededed", "description": None})
        return {
            "id": label["id"],
            "node_id": f"LA_sandbox{label['id']}",
            "url": f"{self.repo_url}/labels/{name}",
            "name": name,
            "color": label["color"],
            "default": False,
            "description": label["description"],
        }

    def association(self, login: str) -> str:
        return "OWNER" if login == self.owner else "CONTRIBUTOR"

    def issue(self, record: dict[str, Any]) -> dict[str, Any]:
        number = record["number"]
        url = f"{self.repo_url}/issues/{number}"
        kind = "pull" if record["pull"] else "issues"
        payload: dict[str, Any] = {
            "id": record["id"],
            "node_id": f"I_sandbox{record['id']}",
            "url": url,
            "repository_url": self.repo_url,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{self.repo_html_url}/{kind}/{number}",
            "number": number,
            "state": record["state"],
            "state_reason": record["state_reason"],
            "title": record["title"],
            "body": record["body"],
            "user": self.user(record["author"]),
            "labels": [self.label(name) for name in record["labels"]],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": len(record["comments"]),
            "closed_at": record["closed_at"],
            "created_at": record["created_at"],
            "updated_at": record["updated_at"],
            "closed_by": self.user(record["closed_by"]),
            "author_association": self.association(record["author"]),
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": None,
        }
        if record["pull"]:
            pull_url = f"{self.repo_url}/pulls/{number}"
            html = f"{self.repo_html_url}/pull/{number}"
            payload["draft"] = record["pull"]["draft"]
            payload["pull_request"] = {
                "url": pull_url,
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": record["pull"]["merged_at"],
            }
        return payload

    def comment(self, number: int, comment: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": comment["id"],
            "node_id": f"IC_sandbox{comment['id']}",
            "url": f"{self.repo_url}/issues/comments/{comment['id']}",
            "html_url": f"{self.repo_html_url}/issues/{number}#issuecomment-{comment['id']}",
            "body": comment["body"],
            "user": self.user(comment["author"]),
            "created_at": comment["created_at"],
            "updated_at": comment["updated_at"],
            "issue_url": f"{self.repo_url}/issues/{number}",
            "author_association": self.association(comment["author"]),
            "performed_via_github_app": None,
        }

    def pull(
        self,
        record: dict[str, Any],
        repository: dict[str, Any],
        mergeable: bool | None = None,
        detail: bool = False,
    ) -> dict[str, Any]:
        """A pull request; `detail` adds the fields only the single-PR endpoint has."""
        pull = record["pull"]
        number = record["number"]
        url = f"{self.repo_url}/pulls/{number}"
        html = f"{self.repo_html_url}/pull/{number}"
        issue_url = f"{self.repo_url}/issues/{number}"
        head_owner = pull["head_owner"]
        payload: dict[str, Any] = {
            "url": url,
            "id": record["id"],
            "node_id": f"PR_sandbox{record['id']}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_url,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{self.repo_url}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": f"{self.repo_url}/statuses/{pull['head_sha']}",
            "number": number,
            "state": record["state"],
            "locked": False,
            "title": record["title"],
            "user": self.user(record["author"]),
            "body": record["body"],
            "labels": [self.label(name) for name in record["labels"]],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": record["created_at"],
            "updated_at": record["updated_at"],
            "closed_at": record["closed_at"],
            "merged_at": pull["merged_at"],
            "merge_commit_sha": pull["merge_commit_sha"],
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": {
                "label": f"{head_owner}:{pull['head_ref']}",
                "ref": pull["head_ref"],
                "sha": pull["head_sha"],
                "user": self.user(head_owner),
                "repo": repository,
            },
            "base": {
                "label": f"{self.owner}:{pull['base_ref']}",
                "ref": pull["base_ref"],
                "sha": pull["base_sha"],
                "user": self.user(self.owner),
                "repo": repository,
            },
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": issue_url},
                "comments": {"href": f"{issue_url}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{self.repo_url}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{self.repo_url}/statuses/{pull['head_sha']}"},
            },
            "author_association": self.association(record["author"]),
            "auto_merge": None,
            "draft": pull["draft"],
        }
        if detail:
            merged = pull["merged"]
            if merged or record["state"] == "closed":
                state = "unknown"
            else:
                state = {True: "clean", False: "dirty", None: "unknown"}[mergeable]
            payload.update(
                merged=merged,
                mergeable=None if merged else mergeable,
                rebaseable=mergeable,
                mergeable_state=state,
                merged_by=self.user(pull["merged_by"]),
                comments=len(record["comments"]),
                review_comments=0,
                maintainer_can_modify=False,
                commits=1,
                additions=0,
                deletions=0,
                changed_files=0,
            )
        return payload

    def status(self, status: dict[str, Any], simple: bool = False) -> dict[str, Any]:
        payload = {
            "url": f"{self.repo_url}/statuses/{status['sha']}",
            "avatar_url": f"{self.base_url}/avatars/{status['creator']}",
            "id": status["id"],
            "node_id": f"SC_sandbox{status['id']}",
            "state": status["state"],
            "description": status["description"],
            "target_url": status["target_url"],
            "context": status["context"],
            "created_at": status["created_at"],
            "updated_at": status["updated_at"],
        }
        if not simple:
            payload["creator"] = self.user(status["creator"])
        return payload

    def check_run(self, run: dict[str, Any], pulls: list[dict[str, Any]]) -> dict[str, Any]:
        url = f"{self.repo_url}/check-runs/{run['id']}"
        minimal_repo = {"id": 1, "url": self.repo_url, "name": self.name}
        return {
            "id": run["id"],
            "head_sha": run["head_sha"],
            "node_id": f"CR_sandbox{run['id']}",
            "external_id": run["external_id"],
            "url": url,
            "html_url": f"{self.repo_html_url}/runs/{run['id']}",
            "details_url": run["details_url"],
            "status": run["status"],
            "conclusion": run["conclusion"],
            "started_at": run["started_at"],
            "completed_at": run["completed_at"],
            "output": {
                **run["output"],
                "annotations_count": 0,
                "annotations_url": f"{url}/annotations",
            },
            "name": run["name"],
            "check_suite": {"id": 1},
            "app": None,
            "pull_requests": [
                {
                    "id": record["id"],
                    "number": record["number"],
                    "url": f"{self.repo_url}/pulls/{record['number']}",
                    "head": {
                        "ref": record["pull"]["head_ref"],
                        "sha": record["pull"]["head_sha"],
                        "repo": minimal_repo,
                    },
                    "base": {
                        "ref": record["pull"]["base_ref"],
                        "sha": record["pull"]["base_sha"],
                        "repo": minimal_repo,
                    },
                }
                for record in pulls
            ],
        }
