"""A plain HTTP client for the forge tests: one call, status, headers and parsed body."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def call(
    forge,
    method: str,
    path: str,
    body: Any = None,
    login: str | None = "alice",
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    timeout: float = 10.0,
) -> Reply:
    parts = urlsplit(forge.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    sent = dict(headers or {})
    if login:
        sent["Authorization"] = f"token {forge.token(login)}"
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    if data is not None:
        sent["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        payload = response.read()
        return Reply(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            json.loads(payload) if payload else None,
        )
    finally:
        connection.close()


def repo_path(forge, suffix: str = "") -> str:
    return f"/repos/{forge.repo}{suffix}"


def push_branch(forge, workdir, branch: str, files: dict[str, str], message: str = "change") -> str:
    """Commit `files` on `branch` (from main or the branch) and push it to the forge."""
    from tests.helpers import git

    clone = workdir / f"clone-{branch.replace('/', '-')}"
    if not clone.exists():
        git(workdir, "clone", "-q", forge.clone_url, str(clone))
        remote_branches = git(clone, "branch", "-r")
        start = f"origin/{branch}" if f"origin/{branch}" in remote_branches else "origin/main"
        git(clone, "checkout", "-q", "-b", branch, start)
    for name, text in files.items():
        (clone / name).write_text(text)
        git(clone, "add", name)
    git(clone, "commit", "-q", "-m", message)
    git(clone, "push", "-q", "origin", f"HEAD:refs/heads/{branch}", "--force")
    return git(clone, "rev-parse", "HEAD")
