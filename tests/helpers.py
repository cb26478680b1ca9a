"""Small helpers shared by the tests: waiting on a condition, running git."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T = condition()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
        last = condition()
    return last


def git(cwd: Path | str, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, check=check, capture_output=True, text=True)
    return result.stdout.strip()


def open_pull_request(forge, workdir: Path, author: str, branch: str, title: str, body: str = ""):
    """The number of a pull request `author` opens on `forge` from a new branch of one commit,
    as a person would: cloned into `workdir`, pushed, then opened through the REST API."""
    git(workdir.parent, "clone", "-q", forge.clone_url, str(workdir))
    git(workdir, "switch", "-q", "-c", branch)
    (workdir / "NOTES.md").write_text(f"notes for {title}\n")
    git(workdir, "add", "NOTES.md")
    git(workdir, "commit", "-q", "-m", "notes")
    git(workdir, "push", "-q", "origin", branch)
    request = urllib.request.Request(
        f"{forge.url}/repos/{forge.repo}/pulls",
        method="POST",
        data=json.dumps({"title": title, "head": branch, "base": "main", "body": body}).encode(),
        headers={
            "Authorization": f"token {forge.token(author)}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["number"]
