"""The state directory: one YAML file per issue, written atomically, audited in git.

The files belong as much to the person watching as to the controller, so the store
keeps three promises. A write is atomic (temporary file, fsync, rename): a crash leaves
the old file or the new one, never half of each. The controller tells its own writes
apart from a person's by remembering, under `.controller/`, the exact text it last wrote
to each file (recorded before the file is replaced, so a crash or a restart in between
cannot make an own write look like a hand edit). And every transition is one git commit
that touches only that issue's file, built on a private index, so whatever the user has
staged in an enclosing repository stays staged and out of the audit trail.

The store never overwrites or repairs a file it cannot read: every write for that issue
is refused until a person fixes it. It never talks to tmux or the network, and it runs
git only as a subprocess with an argument list.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from controller.faults import crash_point
from controller.machine import STATES, InvalidTransition, is_valid_state, trigger
from controller.processes import pid_alive
from controller.record import (
    FRESH_BUDGETS,
    MAX_BYTES,
    MAX_NUMBER,
    Record,
    RecordError,
    utc_now_iso,
)

log = logging.getLogger(__name__)

SIDECAR_DIR = ".controller"
# Issue numbers are 32-bit (record.MAX_NUMBER): at most ten digits.
_STATE_NAME = re.compile(r"^issue-([1-9][0-9]{0,9})\.yaml$")
_LOOKS_LIKE_STATE = re.compile(r"^issue.*\.(yaml|yml)$", re.IGNORECASE)
# The temporary git index of an audit commit, index.<pid>.<thread>, and git's lock on it.
_INDEX_NAME = re.compile(r"^index\.([0-9]+)\.[0-9]+(\.lock)?$")
_SIDECAR_NAME = re.compile(r"^issue-([1-9][0-9]*)\.json$")
_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]+\.tmp$")
_MESSAGE = re.compile(r"^#(\d+) (\S+) -> (\S+)( \(forced\))?: ?(.*)$")
_NO_SHA = "0" * 40
# Variables that would point git at some other repository or index than the one meant.
_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX")


class StoreError(Exception):
    """A write the store refused; the message says which file and what to do."""


class StoreUnwritable(StoreError):
    """The state directory cannot be written (read-only, full, no permission)."""

    def __init__(self, message: str, error: OSError, folder: Path):
        super().__init__(message)
        # As an OSError has them, so the run loop says what to do about the disk.
        self.errno = error.errno
        self.strerror = error.strerror
        self.filename = str(folder)


class ConcurrentEdit(StoreError):
    """A person changed the file while (or before) the controller wrote it; theirs stays."""


class LockHeld(StoreError):
    """Another controller works on this state directory."""


class LockLost(StoreError):
    """The lock this controller holds is no longer the state directory's lock file: the
    folder was moved, replaced or deleted while it ran."""


class NoStateFile(StoreError):
    """There is no state file for the issue."""


class StateFileExists(StoreError):
    """`create` found a file already there and left it alone."""


class InvalidStateFile(StoreError):
    """The issue's file cannot be read, so nothing is written for that issue."""


class GitError(StoreError):
    """A git command for the audit trail failed."""


@dataclass(frozen=True)
class InvalidFile:
    path: str
    issue: int | None
    error: str


@dataclass(frozen=True)
class HandEdit:
    issue: int
    before: Record | None
    after: Record
    # The file's text as read, so `accept` can tell whether it changed again since.
    text: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True)
class HistoryEntry:
    source: str
    dest: str
    at: str
    reason: str
    forced: bool
    commit: str = ""


_StatKey = tuple[int, int, int, int]
# A file changed again within the file system's timestamp granularity can keep the same
# size, times and inode; a reading that recent is not trusted and is checked again.
_RACY_NS = 2_000_000_000


def _stat_key(st: os.stat_result) -> _StatKey | None:
    if time.time_ns() - st.st_mtime_ns < _RACY_NS:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Store:
    def __init__(self, state_dir: Path | str):
        self.state_dir = Path(state_dir)
        self.sidecar_dir = self.state_dir / SIDECAR_DIR
        self._parsed: dict[int, tuple[_StatKey | None, Record | InvalidFile]] = {}
        self._own: dict[int, tuple[_StatKey | None, bool]] = {}
        # Deleted files found not worth restoring, by the stat of their sidecar.
        self._unrestorable: dict[int, _StatKey] = {}
        # Why the last restore of each file failed, so a lasting cause is logged once.
        self._restore_failed: dict[int, str] = {}
        self._git_root: Path | None = None
        self._ready = False
        self._has_identity: bool | None = None
        self._thread_lock = threading.RLock()
        self._held_lock: int | None = None  # the descriptor of the lock while it is held

    @classmethod
    def open(cls, state_dir: Path | str) -> Store:
        store = cls(state_dir)
        store.prepare()
        return store

    def path(self, issue: int) -> Path:
        return self.state_dir / f"issue-{issue}.yaml"

    # -- setting up -----------------------------------------------------------------

    def prepare(self) -> None:
        """Create the directory and its git repository if needed; finish interrupted writes."""
        if self._ready:
            return
        try:
            self._prepare()
        except OSError as error:
            self._ready = False
            raise StoreUnwritable(
                f"{self.state_dir}: cannot be written ({error.strerror}: {error.filename}); "
                "the controller needs a writable state directory: fix its permissions, free "
                "space or mount it read-write, then start again",
                error,
                self.state_dir,
            ) from None

    def check_writable(self) -> None:
        """Raise StoreUnwritable unless a file can be written in the state directory now.

        Called before each pass acts, so nothing is started (an agent, a worktree) whose
        record could not be written: a folder turned read-only or a full disk stops the
        pass before its first side effect, not after it.
        """
        self.prepare()
        for folder in (self.state_dir, self.sidecar_dir):
            try:
                fd, probe = tempfile.mkstemp(
                    dir=folder, prefix=f".probe.{os.getpid()}.", suffix=".tmp"
                )
                try:
                    os.write(fd, b"probe\n")
                finally:
                    os.close(fd)
                    os.unlink(probe)
            except OSError as error:
                if error.errno == errno.ENOENT:
                    self.check_lock()  # moved away since the lock was checked: say that
                raise StoreUnwritable(
                    f"{folder}: cannot be written ({error.strerror})", error, folder
                ) from None

    def _prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.sidecar_dir.mkdir(exist_ok=True)
        ignore = self.sidecar_dir / ".gitignore"
        if not ignore.exists():
            # Keeps the controller's own bookkeeping out of any enclosing repository too.
            ignore.write_text("*\n", encoding="utf-8")
        # Two controllers started at once on a new directory must not both run git init
        # (one would fail on git's config lock); the second finds the first's repository.
        with open(self.sidecar_dir / "init.lock", "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            root = self._find_git_root()
            if root is not None and self._ignored_by(root):
                log.info(
                    "%s ignores the state files; the audit trail gets its own repository", root
                )
                root = None
            if root is None:
                self._git("init", "-q", str(self.state_dir.resolve()), cwd=self.state_dir)
                log.info("initialised an audit repository in %s", self.state_dir)
                root = self.state_dir.resolve()
        self._git_root = root
        self._ready = True
        with self._write_lock():
            self._clean_temp_files()
            self._recover()

    def _find_git_root(self) -> Path | None:
        if not self.state_dir.is_dir():
            return None
        result = self._git("rev-parse", "--show-toplevel", cwd=self.state_dir, check=False)
        if result.returncode != 0 or not result.stdout.strip():
            return None
        return Path(result.stdout.strip()).resolve()

    def _ignored_by(self, root: Path) -> bool:
        """Whether the enclosing repository `root` ignores this directory's state files.

        Such a repository (a project that keeps its own checkout free of state) is not
        meant to hold the audit trail: commits there would land on whatever branch is
        checked out, and switching branches would take the state files along. One that
        already tracks state files holds the audit trail whatever its ignore rules say
        now (they were committed before a rule was added, or added with -f): a
        repository of their own would split the history and leave the files modified
        in the enclosing one.
        """
        if root == self.state_dir.resolve():
            return False
        tracked = self._git("ls-files", "-z", "--", "issue-*.yaml", cwd=self.state_dir, check=False)
        # Paths are relative to the state directory; deeper files are not state files.
        if tracked.returncode == 0 and any(
            _STATE_NAME.match(name) for name in tracked.stdout.split("\0")
        ):
            return False
        probe = str(self.path(1).resolve())
        result = self._git(
            "check-ignore", "-q", "--no-index", probe, cwd=self.state_dir, check=False
        )
        return result.returncode == 0

    def _clean_temp_files(self) -> None:
        for folder in (self.state_dir, self.sidecar_dir):
            for entry in os.scandir(folder):
                match = _TEMP_NAME.match(entry.name) or _INDEX_NAME.match(entry.name)
                if match and not pid_alive(int(match.group(1))):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                    log.info("removed %s, left by an interrupted write", entry.path)

    def _recover(self) -> None:
        """Finish writes a crash interrupted between the file and the commit."""
        for entry in os.scandir(self.sidecar_dir):
            match = re.match(r"^issue-([1-9][0-9]*)\.json$", entry.name)
            if match:
                self._finish_pending(int(match.group(1)))

    def _finish_pending(self, issue: int) -> None:
        """Make the audit commit of a write whose commit failed or was cut short."""
        side = self._read_sidecar(issue)
        if side.get("pending") is None:
            return
        text = _read_text_or_none(self.path(issue))
        if text == side["pending"]:
            if side.get("message") and not self._committed(issue, text):
                self._git_commit(issue, text, side["message"], side.get("at"))
                log.info("recorded the interrupted audit commit for #%d", issue)
            self._save_sidecar(issue, content=text)
        else:
            self._save_sidecar(issue, content=side.get("content"))

    # -- reading --------------------------------------------------------------------

    def misnamed(self) -> list[str]:
        """Files that look meant as state files but whose names are not read as one."""
        try:
            names = os.listdir(self.state_dir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for name in sorted(names):
            if _LOOKS_LIKE_STATE.match(name) and not _STATE_NAME.match(name):
                number = re.search(r"[0-9]+", name)
                hint = (
                    f"rename it issue-{int(number.group())}.yaml"
                    if number and 0 < int(number.group()) <= MAX_NUMBER
                    else f"a state file is issue-N.yaml, N from 1 to {MAX_NUMBER}"
                )
                found.append(
                    f"{self.state_dir / name}: not read, as its name is not issue-N.yaml; {hint}"
                )
        return found

    def load_all(self) -> dict[int, Record | InvalidFile]:
        """Every state file, parsed again only when its size, times or inode changed."""
        found: dict[int, Record | InvalidFile] = {}
        try:
            entries = list(os.scandir(self.state_dir))
        except FileNotFoundError:
            return found
        for entry in entries:
            match = _STATE_NAME.match(entry.name)
            if match:
                found[int(match.group(1))] = self._load_entry(int(match.group(1)), entry.path)
        for issue in set(self._parsed) - set(found):
            del self._parsed[issue]
        return dict(sorted(found.items()))

    def load(self, issue: int) -> Record | InvalidFile | None:
        path = self.path(issue)
        if not os.path.lexists(path):
            self._parsed.pop(issue, None)
            return None
        return self._load_entry(issue, str(path))

    def _load_entry(self, issue: int, path: str) -> Record | InvalidFile:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return InvalidFile(path, issue, f"{path}: disappeared while it was being read")
        key = _stat_key(st)
        cached = self._parsed.get(issue)
        if key is not None and cached and cached[0] == key:
            return cached[1]
        result = self._parse_file(issue, path, st)
        self._parsed[issue] = (key, result)
        return result

    def _parse_file(self, issue: int, path: str, st: os.stat_result) -> Record | InvalidFile:
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(path)
            return InvalidFile(
                path,
                issue,
                f"{path}: is a symbolic link to {target}; a state file must be "
                "a regular file in the state directory",
            )
        if not stat.S_ISREG(st.st_mode):
            return InvalidFile(path, issue, f"{path}: is not a regular file")
        if st.st_size > MAX_BYTES:
            return InvalidFile(
                path,
                issue,
                f"{path}: is {st.st_size} bytes, more than the {MAX_BYTES} a "
                "state file may be; shorten it",
            )
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            return InvalidFile(path, issue, f"{path}: is not UTF-8 text ({error.reason})")
        except OSError as error:
            return InvalidFile(path, issue, f"{path}: cannot be read: {error.strerror}")
        try:
            record = Record.from_yaml(text, path)
        except RecordError as error:
            return InvalidFile(path, issue, str(error))
        if record.issue != issue:
            return InvalidFile(
                path,
                issue,
                f"{path}: says issue: {record.issue} but its name is for issue "
                f"{issue}; rename the file or correct the number",
            )
        return record

    def hand_edits(self) -> list[HandEdit]:
        """Valid files whose text is not what the controller last wrote there."""
        edits = []
        for issue, loaded in self.load_all().items():
            if not isinstance(loaded, Record):
                continue
            path = self.path(issue)
            try:
                key = _stat_key(os.lstat(path))
            except FileNotFoundError:
                continue
            cached = self._own.get(issue)
            if key is not None and cached and cached[0] == key and cached[1]:
                continue
            text = _read_text_or_none(path)
            if text is None:
                continue
            own = self._is_own(issue, text)
            self._own[issue] = (key, own)
            if own:
                continue
            # Parse what was read just now, not the cached reading above: a person may
            # have saved the file between the two reads.
            try:
                after = Record.from_yaml(text, str(path))
            except RecordError:
                continue  # reported as an invalid file by load_all on the next pass
            if after.issue != issue:
                continue
            edits.append(HandEdit(issue, self._before(issue), after, text))
        return edits

    def _is_own(self, issue: int, text: str) -> bool:
        side = self._read_sidecar(issue)
        return text in (side.get("content"), side.get("pending"))

    def _before(self, issue: int) -> Record | None:
        side = self._read_sidecar(issue)
        text = side.get("content")
        if text is None:
            text = self._committed_text(issue)
        if text is None:
            return None
        try:
            return Record.from_yaml(text, str(self.path(issue)))
        except RecordError:
            return None

    def restore_deleted(self, *, dry_run: bool = False) -> dict[int, Record]:
        """Put back state files deleted while their issues were still being worked.

        The controller's last write of each file is kept beside the state directory; a
        file that is gone gets that text back, so its issue resumes where it was instead
        of starting over around a live agent. Nothing is restored for an issue whose
        last state was `closed` (a person starting over): it gets a new file when it is
        next discovered. Returns the records put back (with `dry_run`, that would be).
        """
        try:
            sides = {
                int(m.group(1)) for m in map(_SIDECAR_NAME.match, os.listdir(self.sidecar_dir)) if m
            }
            present = {
                int(m.group(1)) for m in map(_STATE_NAME.match, os.listdir(self.state_dir)) if m
            }
        except FileNotFoundError:
            return {}
        restored = {}
        for issue in sorted(sides - present):
            try:
                record = self._restore(issue, dry_run)
            except (StoreError, OSError) as error:
                # One file that cannot be put back (recreated by a person meanwhile, a
                # full disk) must not stop the pass for every other issue; it is tried
                # again on the next one.
                message = str(error)
                if self._restore_failed.get(issue) != message:
                    self._restore_failed[issue] = message
                    log.warning("#%d deleted state file not restored: %s", issue, message)
                continue
            self._restore_failed.pop(issue, None)
            if record is not None:
                restored[issue] = record
        for issue in present & self._restore_failed.keys():
            del self._restore_failed[issue]
        return restored

    def _restore(self, issue: int, dry_run: bool) -> Record | None:
        side = self._sidecar_path(issue)
        try:
            key = _stat_key(os.stat(side))
        except FileNotFoundError:
            return None
        if key is not None and self._unrestorable.get(issue) == key:
            return None
        if dry_run:
            found = self._restorable(issue, key)
            return found[0] if found else None
        with self._write_lock():
            found = self._restorable(issue, key)
            if found is None:
                return None
            record, text = found
            # The very text last written or accepted: a person's comments included.
            _atomic_write(self.path(issue), text, None)
            self._remember(issue, record)
            return record

    def _restorable(self, issue: int, key: _StatKey | None) -> tuple[Record, str] | None:
        path = self.path(issue)
        if os.path.lexists(path):
            return None
        text = self._read_sidecar(issue).get("content")
        try:
            record = Record.from_yaml(text, str(path)) if isinstance(text, str) else None
        except RecordError:
            record = None
        if record is None or record.issue != issue or record.state == "closed":
            if key is not None:
                self._unrestorable[issue] = key
            return None
        return record, text

    # -- writing --------------------------------------------------------------------

    def create(self, record: Record, reason: str, *, now: float | None = None) -> Record:
        issue = record.issue
        with self._write_lock():
            path = self.path(issue)
            if os.path.lexists(path):
                raise StateFileExists(f"{path}: already exists; it was left as it is")
            stamp = utc_now_iso(now)
            new = record.replace(since=stamp, reason=reason, forced=False, updated=stamp)
            message = f"#{issue} new -> {new.state}: {_one_line(reason)}"
            return self._write(issue, new, None, message, now)

    def transition(
        self, issue: int, dest: str, reason: str, *, now: float | None = None, **fields
    ) -> Record:
        _refuse_state_field(fields)
        _check_dest(dest)
        with self._write_lock():
            current, raw = self._current(issue, require_own=True)
            trigger(current.state, dest)
            stamp = utc_now_iso(now)
            new = current.replace(**fields).replace(
                state=dest, since=stamp, reason=reason, forced=False, updated=stamp
            )
            message = f"#{issue} {current.state} -> {dest}: {_one_line(reason)}"
            record = self._write(issue, new, raw, message, now)
        log.debug("#%d moved %s -> %s: %s", issue, current.state, dest, _one_line(reason))
        return record

    def force(
        self, issue: int, dest: str, reason: str = "forced by hand", *, now: float | None = None
    ) -> Record:
        """Any valid state from any state; the person asked for it, so their edits stay."""
        _check_dest(dest)
        with self._write_lock():
            current, raw = self._current(issue, require_own=False)
            stamp = utc_now_iso(now)
            new = current.replace(
                state=dest,
                since=stamp,
                reason=reason,
                forced=True,
                updated=stamp,
                **FRESH_BUDGETS,
            )
            message = f"#{issue} {current.state} -> {dest} (forced): {_one_line(reason)}"
            record = self._write(issue, new, raw, message, now)
        log.info("#%d forced %s -> %s: %s", issue, current.state, dest, _one_line(reason))
        return record

    def update(
        self, issue: int, *, note: str | None = None, now: float | None = None, **fields
    ) -> Record:
        """Change fields other than the state; with a `note`, also an audit commit."""
        _refuse_state_field(fields)
        with self._write_lock():
            current, raw = self._current(issue, require_own=True)
            new = current.replace(**fields).replace(updated=utc_now_iso(now))
            message = f"#{issue} {current.state}: {_one_line(note)}" if note else None
            return self._write(issue, new, raw, message, now)

    def accept(self, edit: HandEdit, *, now: float | None = None) -> Record:
        """Record a person's edit: a changed state becomes a forced transition."""
        issue = edit.issue
        with self._write_lock():
            path = self.path(issue)
            raw = _read_bytes_or_none(path)
            if raw is None or raw.decode("utf-8", errors="replace") != edit.text:
                raise ConcurrentEdit(
                    f"{path}: changed again since it was read; it will be read on the next pass"
                )
            before, after = edit.before, edit.after
            if before is not None and before.state == after.state:
                message = f"#{issue} {after.state}: edited by hand"
                self._record_as_is(issue, edit.text, message, now)
                log.info("#%d accepted a hand edit of %s", issue, path)
                return after
            new = self.as_accepted(edit, now=now)
            source = before.state if before is not None else "new"
            message = f"#{issue} {source} -> {after.state} (forced): {_one_line(new.reason)}"
            record = self._write(issue, new, raw, message, now)
        log.info("#%d forced %s -> %s by a hand edit", issue, source, after.state)
        return record

    @staticmethod
    def as_accepted(edit: HandEdit, *, now: float | None = None) -> Record:
        """The record `accept` makes of `edit`, without writing it (what a dry run shows)."""
        before, after = edit.before, edit.after
        if before is not None and before.state == after.state:
            return after
        own_reason = after.reason and (before is None or after.reason != before.reason)
        stamp = utc_now_iso(now)
        # Budgets the person left as they were start afresh; ones they wrote stay.
        fresh = {
            name: value
            for name, value in FRESH_BUDGETS.items()
            if before is not None and getattr(after, name) == getattr(before, name)
        }
        return after.replace(
            since=stamp,
            reason=after.reason if own_reason else "forced by hand",
            forced=True,
            updated=stamp,
            **fresh,
        )

    def _current(self, issue: int, *, require_own: bool) -> tuple[Record, bytes]:
        path = self.path(issue)
        loaded = self.load(issue)
        if loaded is None:
            raise NoStateFile(
                f"{path}: no state file for #{issue}; the controller creates one when it "
                "picks the issue up"
            )
        if isinstance(loaded, InvalidFile):
            raise InvalidStateFile(
                f"{loaded.error} (the controller leaves #{issue} alone until the file is fixed)"
            )
        raw = _read_bytes_or_none(path)
        if raw is None:
            raise NoStateFile(f"{path}: disappeared while it was being read")
        if require_own and not self._is_own(issue, raw.decode("utf-8")):
            raise ConcurrentEdit(
                f"{path}: was edited by hand since the controller last wrote it; the edit is "
                "recorded on the next pass, then the controller continues from it"
            )
        try:
            current = Record.from_yaml(raw.decode("utf-8"), str(path))
        except (RecordError, UnicodeDecodeError) as error:
            raise ConcurrentEdit(f"{path}: changed while it was being read: {error}") from None
        return current, raw

    def _write(
        self,
        issue: int,
        record: Record,
        expected: bytes | None,
        message: str | None,
        now: float | None,
    ) -> Record:
        path = self.path(issue)
        text = record.to_yaml()
        # A commit that failed earlier in this process (a locked or full audit
        # repository) is made first, so the trail keeps every transition in order.
        self._finish_pending(issue)
        previous = self._read_sidecar(issue).get("content")
        at = int(now) if now is not None else None
        # Remembered before the file changes, so a crash right after cannot pass our own
        # write off as a person's.
        self._save_sidecar(issue, content=previous, pending=text, message=message, at=at)
        try:
            _atomic_write(path, text, expected)
        except BaseException:
            self._save_sidecar(issue, content=previous)
            raise
        crash_point("before-commit")
        if message:
            self._git_commit(issue, text, message, at)
        self._save_sidecar(issue, content=text)
        self._remember(issue, record)
        return record

    def _record_as_is(self, issue: int, text: str, message: str, now: float | None) -> None:
        at = int(now) if now is not None else None
        previous = self._read_sidecar(issue).get("content")
        self._save_sidecar(issue, content=previous, pending=text, message=message, at=at)
        self._git_commit(issue, text, message, at)
        self._save_sidecar(issue, content=text)
        self._own.pop(issue, None)

    def _remember(self, issue: int, record: Record) -> None:
        try:
            key = _stat_key(os.lstat(self.path(issue)))
        except FileNotFoundError:  # deleted just after the write: restored next pass
            self._parsed.pop(issue, None)
            self._own.pop(issue, None)
            return
        self._parsed[issue] = (key, record)
        self._own[issue] = (key, True)

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Serialises writers (the running controller and `controller force`)."""
        self.prepare()
        with self._thread_lock:
            fd = os.open(self.sidecar_dir / "write.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    # -- the controller's memory of its own writes ----------------------------------

    def _sidecar_path(self, issue: int) -> Path:
        return self.sidecar_dir / f"issue-{issue}.json"

    def _read_sidecar(self, issue: int) -> dict:
        try:
            data = json.loads(self._sidecar_path(issue).read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except (OSError, ValueError):
            log.warning("#%d: ignored an unreadable %s", issue, self._sidecar_path(issue))
            return {}
        return data if isinstance(data, dict) else {}

    def _save_sidecar(
        self,
        issue: int,
        *,
        content: str | None,
        pending: str | None = None,
        message: str | None = None,
        at: int | None = None,
    ) -> None:
        data = {"content": content, "pending": pending, "message": message, "at": at}
        _atomic_write(self._sidecar_path(issue), json.dumps(data), None, check=False)

    # -- git --------------------------------------------------------------------------

    def _git(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        clean = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
        clean.update(env or {})
        # A session of its own: Ctrl-C in a terminal or a service manager's stop signals
        # the controller's whole process group, and a git killed by it would fail the
        # very write that the controller promises to finish before it stops.
        result = subprocess.run(
            ["git", *args],
            cwd=cwd or self._git_root,
            env=clean,
            input=input,
            capture_output=True,
            text=True,
            start_new_session=True,
        )
        if check and result.returncode != 0:
            raise GitError(
                f"git {args[0]} failed in {cwd or self._git_root}: {result.stderr.strip()}"
            )
        return result

    def _relative(self, issue: int) -> str:
        assert self._git_root is not None
        return self.path(issue).resolve().relative_to(self._git_root).as_posix()

    def _committed_text(self, issue: int) -> str | None:
        root = self._git_root or self._find_git_root()
        if root is None:
            return None
        self._git_root = root
        rel = self._relative(issue)
        result = self._git("show", f"HEAD:{rel}", check=False)
        return result.stdout if result.returncode == 0 else None

    def _committed(self, issue: int, text: str) -> bool:
        return self._committed_text(issue) == text

    def _git_commit(self, issue: int, text: str, message: str, at: int | None) -> None:
        """One commit on HEAD that changes exactly this file, and nothing the user staged."""
        rel = self._relative(issue)
        index = (self.sidecar_dir / f"index.{os.getpid()}.{threading.get_ident()}").resolve()
        env = {"GIT_INDEX_FILE": str(index)}
        if at is not None:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{at} +0000"
        # The index is this thread's alone and one commit runs at a time, so a lock on it
        # is a leftover: of a git killed with the controller (whose pid came round
        # again), or of one whose folder was moved while it ran. Left, it would fail
        # every commit of this thread from now on.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{index}.lock")
        if self._has_identity is None:
            found = self._git("var", "GIT_COMMITTER_IDENT", check=False)
            self._has_identity = found.returncode == 0
        if not self._has_identity:
            env.update(
                GIT_AUTHOR_NAME="controller",
                GIT_AUTHOR_EMAIL="controller@localhost",
                GIT_COMMITTER_NAME="controller",
                GIT_COMMITTER_EMAIL="controller@localhost",
            )
        try:
            for _attempt in range(5):
                if self._commit_once(rel, text, message, env):
                    return
            raise GitError(
                f"{self._git_root}: HEAD kept moving; the audit commit for "
                f"#{issue} was not recorded, it will be retried"
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                index.unlink()

    def _commit_once(self, rel: str, text: str, message: str, env: dict[str, str]) -> bool:
        head = self._git("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
        parent = head.stdout.strip() if head.returncode == 0 else None
        blob = self._git("hash-object", "-w", "--stdin", input=text).stdout.strip()
        old = None
        if parent:
            found = self._git("rev-parse", "-q", "--verify", f"{parent}:{rel}", check=False)
            old = found.stdout.strip() if found.returncode == 0 else None
        if old == blob:
            return True
        if parent:
            self._git("read-tree", parent, env=env)
        else:
            self._git("read-tree", "--empty", env=env)
        self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}", env=env)
        tree = self._git("write-tree", env=env).stdout.strip()
        parents = ["-p", parent] if parent else []
        commit = self._git(
            "commit-tree", "--no-gpg-sign", tree, *parents, "-m", message, env=env
        ).stdout.strip()
        moved = self._git(
            "update-ref",
            "-m",
            f"audit: {message}",
            "HEAD",
            commit,
            parent or _NO_SHA,
            check=False,
        )
        if moved.returncode != 0:
            return False
        self._sync_user_index(rel, old, blob)
        return True

    def _sync_user_index(self, rel: str, old: str | None, blob: str) -> None:
        # Without this the user's index would still hold the old version, and `git status`
        # would show the audit commit undone as a staged change.
        entry = self._git("ls-files", "-s", "--", rel, check=False).stdout.split()
        if entry and entry[1] != old:
            return
        result = self._git(
            "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}", check=False
        )
        if result.returncode != 0:
            log.debug("left the index alone for %s: %s", rel, result.stderr.strip())

    def history(self, issue: int) -> list[HistoryEntry]:
        """The transitions of one issue, oldest first, read from the audit commits."""
        root = self._git_root or self._find_git_root()
        if root is None:
            return []
        self._git_root = root
        # The file's own name, not where it points: a state file that is a symbolic link
        # (an invalid one, which status reports) still has its history read.
        file = self.state_dir.resolve() / self.path(issue).name
        rel = file.relative_to(root).as_posix()
        result = self._git(
            "log", "--follow", "--format=%H%x1f%at%x1f%s%x1e", "--", rel, check=False
        )
        if result.returncode != 0:
            return []
        entries = []
        for chunk in result.stdout.split("\x1e"):
            parts = chunk.strip("\n").split("\x1f")
            if len(parts) != 3:
                continue
            commit, at, subject = parts
            match = _MESSAGE.match(subject)
            if not match or int(match.group(1)) != issue:
                continue
            entries.append(
                HistoryEntry(
                    source=match.group(2),
                    dest=match.group(3),
                    at=utc_now_iso(int(at)),
                    reason=match.group(5),
                    forced=bool(match.group(4)),
                    commit=commit,
                )
            )
        return entries[::-1]

    # -- the single-controller lock ---------------------------------------------------

    @contextlib.contextmanager
    def lock(self, wait: bool = False) -> Iterator[None]:
        """Held by the running controller for as long as it runs."""
        self.sidecar_dir.mkdir(parents=True, exist_ok=True)
        path = self.sidecar_dir / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", errors="replace").split()
                pid, since = (holder + ["?", "?"])[:2]
                # Only the fact: each command adds what to do about it (stop, --wait).
                raise LockHeld(
                    f"{self.state_dir}: held by another controller (pid {pid}, running since "
                    f"{since})"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {utc_now_iso()}\n".encode(), 0)
            self._held_lock = fd
            try:
                yield
            finally:
                self._held_lock = None
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)

    def check_lock(self) -> None:
        """Raise LockLost unless the lock held is still the state directory's lock file.

        The lock is a file inside the state directory, so it goes wherever the folder
        goes: moved away, deleted or replaced, the folder at `state_dir` is no longer the
        one this controller locked, and a second controller may lock a new one there.
        Each pass checks first, so only the controller whose lock is at the path acts.
        Nothing when no lock is held (a dry run, a test).
        """
        if self._held_lock is None:
            return
        held = os.fstat(self._held_lock)
        try:
            found = os.stat(self.sidecar_dir / "lock")
        except FileNotFoundError:
            found = None
        if found is not None and (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino):
            return
        raise LockLost(
            f"{self.state_dir}: not the folder this controller locked when it started (it was "
            "moved, replaced or deleted meanwhile); nothing is done until it is moved back, "
            "or stop this controller and start it again to work on the folder there now"
        )


def _refuse_state_field(fields: dict) -> None:
    if "state" in fields:
        raise TypeError("the state changes only through transition() or force()")


def _check_dest(dest: str) -> None:
    if not is_valid_state(dest):
        raise InvalidTransition(f"unknown state {dest!r}; valid states: {', '.join(STATES)}")


def _read_bytes_or_none(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None


def _read_text_or_none(path: Path) -> str | None:
    raw = _read_bytes_or_none(path)
    if raw is None:
        return None
    return raw.decode("utf-8", errors="replace")


def _atomic_write(path: Path, text: str, expected: bytes | None, *, check: bool = True) -> None:
    """Write through a temporary file and a rename; with `check`, only over `expected`.

    `expected=None` with `check` means the file must not exist yet.
    """
    folder = path.parent
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if check and expected is None:
            # link() refuses to replace an existing file, unlike rename().
            os.link(temp, path)
            os.unlink(temp)
        else:
            if check and _read_bytes_or_none(path) != expected:
                raise ConcurrentEdit(
                    f"{path}: changed while the controller was writing it; the change was "
                    "kept and will be read on the next pass"
                )
            os.replace(temp, path)
    except FileExistsError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise StateFileExists(f"{path}: already exists; it was left as it is") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


__all__ = [
    "ConcurrentEdit",
    "GitError",
    "HandEdit",
    "HistoryEntry",
    "InvalidFile",
    "InvalidStateFile",
    "InvalidTransition",
    "LockHeld",
    "LockLost",
    "NoStateFile",
    "StateFileExists",
    "Store",
    "StoreError",
    "StoreUnwritable",
]
