"""The sandbox forge's CI: one check run named `ci` per pull request head.

This stands in for GitHub Actions so the controller's wait-for-checks path can be tried
without GitHub: when a pull request is opened or its head moves, the operator's command
runs in a fresh checkout of that commit and its result becomes the check run's
conclusion. A commit is never run twice (the check runs themselves are the record, so
this holds across restarts), and no command outlives the forge: stopping kills them.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

from controller.sandbox import forge_git
from controller.sandbox.forge_api import ForgeApi
from controller.sandbox.forge_store import now

log = logging.getLogger(__name__)

CHECK_NAME = "ci"
SUMMARY_LINES = 40
CI_TIMEOUT_S = 1800.0


class CiRunner:
    def __init__(self, api: ForgeApi, command: str, git_dir: Path):
        self.api = api
        self.command = command
        self.git_dir = git_dir
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.processes: dict[int, subprocess.Popen] = {}
        self.threads: list[threading.Thread] = []

    def ensure(self, sha: str) -> None:
        """Start a run for this commit unless one exists already."""
        store = self.api.store
        with store.lock:
            if self.stopping.is_set() or any(
                run["name"] == CHECK_NAME and run["head_sha"] == sha
                for run in store.check_runs.values()
            ):
                return
            run = self.api.new_check_run(CHECK_NAME, sha, "sandbox-ci", status="in_progress")
            run["output"] = {"title": "ci is running", "summary": f"`{self.command}`", "text": None}
            store.save_check_run(run)
        log.info("ci check run %d started on %s", run["id"], sha[:12])
        self._start(run["id"], sha)

    def resume(self) -> None:
        """Run again what a previous forge left unfinished when it stopped."""
        with self.api.store.lock:
            unfinished = [
                (run["id"], run["head_sha"])
                for run in self.api.store.check_runs.values()
                if run["name"] == CHECK_NAME
                and run["status"] != "completed"
                and run["creator"] == "sandbox-ci"
            ]
        for run_id, sha in unfinished:
            log.info("ci check run %d on %s resumed after a restart", run_id, sha[:12])
            self._start(run_id, sha)

    def _start(self, run_id: int, sha: str) -> None:
        thread = threading.Thread(
            target=self._run, args=(run_id, sha), name=f"forge-ci-{run_id}", daemon=True
        )
        with self.lock:
            self.threads.append(thread)
        thread.start()

    def _run(self, run_id: int, sha: str) -> None:
        workdir = Path(tempfile.mkdtemp(prefix="forge-ci-"))
        try:
            checkout = workdir / "checkout"
            forge_git.checkout(self.git_dir, sha, checkout)
            output, returncode = self._execute(run_id, sha, checkout)
            if self.stopping.is_set():
                return
            lines = output.splitlines()[-SUMMARY_LINES:]
            tail = "\n".join(lines)
            conclusion = "success" if returncode == 0 else "failure"
            title = "ci passed" if returncode == 0 else f"ci failed (exit status {returncode})"
            self._complete(run_id, conclusion, title, tail or "(no output)")
        except Exception as error:
            log.exception("ci check run %d on %s could not run", run_id, sha[:12])
            if not self.stopping.is_set():
                self._complete(run_id, "failure", "ci could not run", str(error))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _execute(self, run_id: int, sha: str, checkout: Path) -> tuple[str, int]:
        environment = dict(os.environ, CI="true", GITHUB_SHA=sha)
        process = subprocess.Popen(
            ["sh", "-c", self.command],
            cwd=checkout,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        with self.lock:
            self.processes[run_id] = process
        try:
            output, _ = process.communicate(timeout=CI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            output, _ = process.communicate()
            output += f"\n(ci timed out after {CI_TIMEOUT_S:.0f} s)".encode()
        finally:
            with self.lock:
                self.processes.pop(run_id, None)
        return output.decode(errors="replace"), process.returncode

    def _complete(self, run_id: int, conclusion: str, title: str, summary: str) -> None:
        store = self.api.store
        with store.lock:
            run = dict(store.check_runs[run_id])
            run.update(
                status="completed",
                conclusion=conclusion,
                completed_at=now(),
                output={"title": title, "summary": summary[-65535:], "text": None},
            )
            store.save_check_run(run)
        log.info("ci check run %d on %s finished: %s", run_id, run["head_sha"][:12], conclusion)

    def stop(self) -> None:
        """Kill running commands; their check runs stay in progress and resume next start."""
        self.stopping.set()
        with self.lock:
            processes = list(self.processes.values())
            threads = list(self.threads)
        for process in processes:
            _kill_group(process)
        for thread in threads:
            thread.join(timeout=10)


def _kill_group(process: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue
