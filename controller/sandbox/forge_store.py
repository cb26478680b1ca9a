"""The sandbox forge's records: issues, pull requests, comments, statuses and check runs.

Records live as small JSON files under the forge's data directory, one per issue (with
its comments and pull request fields), one per commit's statuses and one per check run,
so a restart finds everything where it was. Every write goes to a temporary file first
and is renamed into place, so a crash never leaves a torn file. This module knows
nothing about HTTP or payload shapes; callers hold `lock` around reads and writes.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def now() -> str:
    """The current time in GitHub's timestamp format."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_json_atomically(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # No fsync: the rename alone keeps files whole when the forge is killed, and a
        # sandbox need not survive a power cut; fsync made filling it a hundred times slower.
        with os.fdopen(handle, "w") as stream:
            json.dump(value, stream, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RuntimeError(
            f"the sandbox forge cannot read its data file {path}: {error}; "
            "fix or remove the file, or start the forge with an empty --dir"
        ) from error


class ForgeStore:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.lock = threading.RLock()
        self.meta: dict[str, Any] = {
            "next_number": 1,
            "next_id": 1000,
            "users": {},
            "labels": {},
            "created_at": now(),
        }
        self.issues: dict[int, dict[str, Any]] = {}
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        # Moves on every save: a cached answer made at an older version is stale.
        self.version = 0
        self._load()

    def _load(self) -> None:
        meta = self.data_dir / "meta.json"
        if meta.exists():
            self.meta.update(_read_json(meta))
        for path in sorted((self.data_dir / "issues").glob("*.json")):
            record = _read_json(path)
            self.issues[record["number"]] = record
        for path in sorted((self.data_dir / "statuses").glob("*.json")):
            self.statuses[path.stem] = _read_json(path)
        for path in sorted((self.data_dir / "check_runs").glob("*.json")):
            run = _read_json(path)
            self.check_runs[run["id"]] = run
        self._advance_counters()
        if self.issues or self.check_runs:
            log.info(
                "loaded %d issues and pull requests, %d check runs from %s",
                len(self.issues),
                len(self.check_runs),
                self.data_dir,
            )

    def _advance_counters(self) -> None:
        ids = [self.meta["next_id"] - 1, *self.check_runs]
        ids += [label["id"] for label in self.meta["labels"].values()]
        ids += [status["id"] for statuses in self.statuses.values() for status in statuses]
        for record in self.issues.values():
            ids += [record["id"], *(comment["id"] for comment in record["comments"])]
        self.meta["next_id"] = max(ids) + 1
        self.meta["next_number"] = max([self.meta["next_number"] - 1, *self.issues]) + 1

    def save_meta(self) -> None:
        self.version += 1
        write_json_atomically(self.data_dir / "meta.json", self.meta)

    def save_issue(self, record: dict[str, Any]) -> None:
        self.issues[record["number"]] = record
        self.version += 1
        write_json_atomically(self.data_dir / "issues" / f"{record['number']}.json", record)

    def save_statuses(self, sha: str) -> None:
        self.version += 1
        write_json_atomically(self.data_dir / "statuses" / f"{sha}.json", self.statuses[sha])

    def save_check_run(self, run: dict[str, Any]) -> None:
        self.check_runs[run["id"]] = run
        self.version += 1
        write_json_atomically(self.data_dir / "check_runs" / f"{run['id']}.json", run)

    def next_id(self) -> int:
        # Not saved here: loading takes the counters past every record on disk.
        value = self.meta["next_id"]
        self.meta["next_id"] = value + 1
        return value

    def user_id(self, login: str, save: bool = True) -> int:
        users = self.meta["users"]
        if login not in users:
            users[login] = 100 + len(users)
            if save:
                self.save_meta()
        return users[login]

    def label(self, name: str) -> dict[str, Any]:
        """The repository's label of that name, created on first use as GitHub does."""
        labels = self.meta["labels"]
        if name not in labels:
            labels[name] = {"id": self.next_id(), "color": "ededed", "description": None}
            self.save_meta()
        return labels[name]

    def new_issue(
        self, author: str, title: str, body: str | None, labels: list[str]
    ) -> dict[str, Any]:
        stamp = now()
        for name in labels:
            self.label(name)
        number = self.meta["next_number"]
        self.meta["next_number"] = number + 1
        record = {
            "number": number,
            "id": self.next_id(),
            "title": title,
            "body": body,
            "state": "open",
            "state_reason": None,
            "author": author,
            "labels": list(dict.fromkeys(labels)),
            "created_at": stamp,
            "updated_at": stamp,
            "closed_at": None,
            "closed_by": None,
            "comments": [],
            "pull": None,
        }
        self.user_id(author)
        self.save_issue(record)
        return record

    def set_state(self, record: dict[str, Any], state: str, reason: str | None, actor: str) -> None:
        """Close or reopen, with the timestamps and reason GitHub keeps."""
        if state == record["state"]:
            if reason and state == "closed":
                record["state_reason"] = reason
            return
        stamp = now()
        record["state"] = state
        record["updated_at"] = stamp
        if state == "closed":
            record["closed_at"] = stamp
            record["closed_by"] = actor
            record["state_reason"] = reason or "completed"
        else:
            record["closed_at"] = None
            record["closed_by"] = None
            record["state_reason"] = "reopened"
