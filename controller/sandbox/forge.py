"""The sandbox forge: a GitHub-compatible REST server on loopback, for tests and the demo.

The controller, its tests and the scripted agent need a GitHub they can own: one that
starts in a moment, keeps its data in a directory, lets a test act as several people,
fails on request, and runs a CI command like GitHub Actions would. This is that forge;
it serves GitHub's paths and payloads from `http://127.0.0.1:PORT` with a bare git
repository as the repository's origin. It never listens beyond loopback and never
imports the controller's internals: the controller talks to it only over HTTP and git.

`Forge` is the Python handle (tests and the demo); `controller sandbox serve` runs one
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import fcntl
import ipaddress
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from controller.sandbox import forge_git
from controller.sandbox.forge_api import ForgeApi
from controller.sandbox.forge_ci import CiRunner
from controller.sandbox.forge_http import Faults, ForgeServer, RateLimiter
from controller.sandbox.forge_payloads import Renderer
from controller.sandbox.forge_store import ForgeStore, now

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5


class ForgeError(Exception):
    """The forge cannot start as asked; the message says why and what to change."""


def _check_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ForgeError(
            f"the sandbox forge listens on loopback only, not on {host!r}; use --host 127.0.0.1"
        )


class Forge:
    def __init__(
        self,
        dir: Path | str,
        repo: str = "sandbox/sample",
        ci_command: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int = 5000,
    ):
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise ForgeError(f"repository {repo!r} is not OWNER/NAME; use e.g. sandbox/sample")
        _check_loopback(host)
        self.dir = Path(dir).resolve()
        self.repo = repo
        self.owner, self.name = owner, name
        self.ci_command = ci_command
        self.host, self.port = host, port
        self.git_dir = self.dir / "git" / owner / f"{name}.git"
        self.limiter = RateLimiter(rate_limit)
        self.faults = Faults()
        self.stopping = threading.Event()
        self.server: ForgeServer | None = None
        self.api: ForgeApi | None = None
        self.ci: CiRunner | None = None
        self.threads: list[threading.Thread] = []
        self._lock_fd: int | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> Forge:
        self._take_lock()
        try:
            return self._start()
        except BaseException:
            self._release_lock()
            raise

    def _take_lock(self) -> None:
        """One forge per folder: two would each keep their own copy of the issues in
        memory and overwrite each other's files."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / "forge.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 100, 0).decode("utf-8", "replace").strip() or "?"
            os.close(fd)
            raise ForgeError(
                f"{self.dir} is served by another forge (pid {holder}); stop it, or give "
                "this one another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _start(self) -> Forge:
        forge_git.init_bare(self.git_dir)
        store = ForgeStore(self.dir / "data")
        self.server = ForgeServer(
            (self.host, self.port), None, self.limiter, self.faults, self.stopping
        )
        renderer = Renderer(
            self.server.base_url,
            self.owner,
            self.name,
            str(self.git_dir),
            "main",
            store.meta["users"],
            store.meta["labels"],
        )
        self.api = ForgeApi(store, self.git_dir, self.owner, self.name, renderer)
        if self.ci_command:
            self.ci = CiRunner(self.api, self.ci_command, self.git_dir)
            self.api.on_pull_head = self.ci.ensure
        self.server.api = self.api
        self.threads = [
            threading.Thread(
                target=self.server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="forge-http",
                daemon=True,
            ),
            threading.Thread(target=self._poll_refs, name="forge-refs", daemon=True),
        ]
        for thread in self.threads:
            thread.start()
        if self.ci:
            self.ci.resume()
        log.info("forge for %s listening on %s", self.repo, self.url)
        return self

    def stop(self) -> None:
        if self.server is None:
            return
        self.stopping.set()
        self.server.shutdown()
        self.server.drop_connections()
        self.server.server_close()
        if self.ci:
            self.ci.stop()
        for thread in self.threads:
            thread.join(timeout=10)
        self.server = None
        self._release_lock()
        log.info("forge for %s stopped", self.repo)

    def __enter__(self) -> Forge:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _poll_refs(self) -> None:
        """Notice pushes: move pull requests with their branches and start CI on new heads."""
        known: dict[str, str] = {}
        while not self.stopping.wait(POLL_INTERVAL_S):
            try:
                heads = forge_git.branch_heads(self.git_dir)
                if heads != known:
                    with self.api.store.lock:
                        self.api.store.meta["pushed_at"] = now()
                        self.api.store.save_meta()
                    known = heads
                for sha in self.api.refresh_pulls():
                    if self.ci:
                        self.ci.ensure(sha)
            except Exception:
                log.exception("failed to follow the bare repository's branches")

    # -- handles for tests and the demo ----------------------------------------------

    @property
    def url(self) -> str:
        if self.server is None:
            raise ForgeError("the forge is not running; call start() first")
        return self.server.base_url

    @property
    def clone_url(self) -> str:
        return str(self.git_dir)

    @staticmethod
    def token(login: str) -> str:
        return f"sandbox-{login}"

    @property
    def request_count(self) -> int:
        return self.server.requests if self.server else 0

    @property
    def counted_count(self) -> int:
        return self.limiter.counted

    def inject_faults(self, kind: str, count: int = 1, hang_s: float = 30.0) -> None:
        """Make the next `count` API requests fail: 500, 502, secondary, 429 or hang."""
        self.faults.inject(kind, count, hang_s)

    def create_issue(
        self, author: str, title: str, body: str = "", labels: tuple[str, ...] | list[str] = ()
    ) -> dict[str, Any]:
        with self.api.store.lock:
            record = self.api.store.new_issue(author, title, body, list(labels))
            log.info("issue #%d created by %s", record["number"], author)
            return self.api.render.issue(record)

    def close_issue(self, number: int, reason: str = "completed") -> dict[str, Any]:
        return self._set_state(number, "closed", reason)

    def reopen_issue(self, number: int) -> dict[str, Any]:
        return self._set_state(number, "open", None)

    def _set_state(self, number: int, state: str, reason: str | None) -> dict[str, Any]:
        with self.api.store.lock:
            record = self.api.store.issues[number]
            self.api.store.set_state(record, state, reason, self.owner)
            self.api.store.save_issue(record)
            log.info("issue #%d %s", number, "closed" if state == "closed" else "reopened")
            return self.api.render.issue(record)

    def comment(self, number: int, author: str, body: str) -> dict[str, Any]:
        with self.api.store.lock:
            record = self.api.store.issues[number]
            return self.api.render.comment(number, self.api.add_comment(record, author, body))


# -- `controller sandbox serve` ---------------------------------------------------------


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free one) to 65535."""
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"a port is a whole number from 0 to 65535, not {text!r}")
    return int(text)


def register(group) -> None:
    parser = group.add_parser(
        "serve",
        help="run the sandbox forge (GitHub's REST API on loopback)",
        description="Serve a GitHub-compatible REST API for one repository on loopback.",
    )
    parser.add_argument(
        "--port", type=port_number, default=0, help="port to listen on, 0 to 65535 (0: any free)"
    )
    parser.add_argument("--dir", required=True, help="directory for the forge's data and git")
    parser.add_argument("--repo", default="sandbox/sample", help="OWNER/NAME of the repository")
    parser.add_argument(
        "--ci",
        default=None,
        metavar="COMMAND",
        help="shell command run on each pull request head as check run `ci`",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument(
        "--sample",
        metavar="LOGIN",
        default=None,
        help="on first start, push the sample project and file its issues "
        "as LOGIN (the scripted agent knows their fixes)",
    )
    parser.set_defaults(func=serve, long_running=True)


def _seed_sample(forge: Forge, folder: Path, login: str) -> bool:
    """The sample project on `main` and its issues, once per forge folder; True if now."""
    from controller.sandbox import issues as sample

    marker = folder / "sample-loaded"
    if marker.exists():
        return False
    # A first start that failed halfway did some of this: each part is done only once.
    sample.seed_origin(forge.clone_url)
    with forge.api.store.lock:
        filed = {record["title"] for record in forge.api.store.issues.values()}
    for issue in sample.ISSUES:
        if issue.title not in filed:
            forge.create_issue(login, issue.title, issue.body, labels=issue.labels)
    marker.write_text("the sample project and its issues were loaded here\n")
    return True


def serve(args: argparse.Namespace) -> int:
    try:
        forge = Forge(args.dir, repo=args.repo, ci_command=args.ci, host=args.host, port=args.port)
        forge.start()
    except (ForgeError, OSError) as error:
        print(f"controller: cannot start the sandbox forge: {error}", file=sys.stderr)
        return 2
    loaded = False
    if args.sample:
        try:
            loaded = _seed_sample(forge, Path(args.dir), args.sample)
        except (ForgeError, OSError, subprocess.CalledProcessError) as error:
            forge.stop()
            print(f"controller: cannot load the sample project: {error}", file=sys.stderr)
            return 2
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        print(f"forge listening on {forge.url}", flush=True)
        if loaded:
            print(
                f"forge: loaded the sample project and its issues, filed by {args.sample}",
                flush=True,
            )
        while not stop.wait(1.0):
            pass
    finally:
        forge.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
