"""Shared pieces for the state tests: a store in a temporary directory, git readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.record import Record
from controller.store import Store
from tests.helpers import git

NOW = 1796313600.0  # 2026-12-03T16:00:00Z


@pytest.fixture
def store(tmp_path) -> Store:
    return Store.open(tmp_path / "state")


def commits(repo: Path) -> list[tuple[str, list[str]]]:
    """(subject, files touched) for every commit, oldest first."""
    out = git(repo, "log", "--reverse", "--format=@@commit@@%s", "--name-only")
    result = []
    for chunk in out.split("@@commit@@")[1:]:
        lines = [line for line in chunk.splitlines() if line.strip()]
        result.append((lines[0], lines[1:]))
    return result


def new_issue(store: Store, issue: int = 7, state: str = "discovered", **fields) -> Record:
    return store.create(Record(issue, state, **fields), "found on GitHub", now=NOW)
