"""`controller sandbox serve` as an operator runs it: prints its URL, stops on a signal."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.forge.client import call


class Remote:
    """Enough of `Forge` for the test client, pointing at a forge in another process."""

    repo = "team/app"

    def __init__(self, url: str):
        self.url = url

    @staticmethod
    def token(login: str) -> str:
        return f"sandbox-{login}"


@contextlib.contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`controller sandbox serve ARGS` and the URL its first line gives."""
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", "sandbox", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"forge listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, f"unexpected first line {line!r}"
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_its_url_and_exits_cleanly_on_a_signal(tmp_path, sig):
    with serving("--dir", str(tmp_path / "forge"), "--repo", "team/app", "--ci", "true") as (
        process,
        url,
    ):
        remote = Remote(url)
        assert call(remote, "GET", "/repos/team/app").body["full_name"] == "team/app"
        assert (tmp_path / "forge" / "git" / "team" / "app.git" / "HEAD").exists()

        process.send_signal(sig)
        assert process.wait(timeout=15) == 0
        assert "Traceback" not in process.stderr.read()


def test_serve_refuses_a_non_loopback_host(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "controller",
            "sandbox",
            "serve",
            "--dir",
            str(tmp_path),
            "--host",
            "0.0.0.0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr and "--host 127.0.0.1" in result.stderr


def test_serve_with_sample_loads_the_project_and_its_issues_once(tmp_path):
    from controller.sandbox.issues import ISSUES

    def serve_once() -> list[dict]:
        with serving("--dir", str(tmp_path / "forge"), "--sample", "alice") as (process, url):
            remote = Remote(url)
            remote.repo = "sandbox/sample"
            issues = call(remote, "GET", "/repos/sandbox/sample/issues?per_page=100").body
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
            return issues

    first = serve_once()
    assert sorted(i["title"] for i in first) == sorted(i.title for i in ISSUES)
    assert {i["user"]["login"] for i in first} == {"alice"}
    files = subprocess.run(
        [
            "git",
            "--git-dir",
            str(tmp_path / "forge" / "git" / "sandbox" / "sample.git"),
            "ls-tree",
            "-r",
            "--name-only",
            "main",
        ],
        capture_output=True,
        text=True,
    ).stdout
    assert "textkit/slug.py" in files.splitlines(), files
    assert len(serve_once()) == len(ISSUES)  # a second start files nothing again


def test_serve_with_sample_finishes_a_first_start_that_failed_halfway(tmp_path):
    from controller.sandbox.forge import Forge
    from controller.sandbox.issues import ISSUES, seed_origin

    def history() -> list[str]:
        return subprocess.run(
            [
                "git",
                "--git-dir",
                str(tmp_path / "forge" / "git" / "sandbox" / "sample.git"),
                "log",
                "--format=%s",
                "main",
            ],
            capture_output=True,
            text=True,
        ).stdout.splitlines()

    # The project pushed and one issue filed, then the first start died before the rest.
    with Forge(tmp_path / "forge", repo="sandbox/sample") as forge:
        seed_origin(forge.clone_url)
        forge.create_issue("alice", ISSUES[0].title, ISSUES[0].body)
    pushed = history()
    assert pushed[0] == "Sample project: textkit"

    with serving("--dir", str(tmp_path / "forge"), "--sample", "alice") as (process, url):
        remote = Remote(url)
        remote.repo = "sandbox/sample"
        issues = call(remote, "GET", "/repos/sandbox/sample/issues?per_page=100").body
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, process.stderr.read()
    assert sorted(i["title"] for i in issues) == sorted(i.title for i in ISSUES)
    assert history() == pushed


def test_a_second_forge_on_the_same_folder_is_refused(tmp_path):
    folder = tmp_path / "forge"
    with serving("--dir", str(folder), "--repo", "team/app") as (first, _url):
        second = subprocess.run(
            [sys.executable, "-m", "controller", "sandbox", "serve", "--port", "0"]
            + ["--dir", str(folder), "--repo", "team/app"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2, second.stderr
        assert second.stderr == (
            f"controller: cannot start the sandbox forge: {folder} is served by another "
            f"forge (pid {first.pid}); stop it, or give this one another folder\n"
        )
        assert first.poll() is None
    # Once the first has stopped, the folder can be served again.
    with serving("--dir", str(folder), "--repo", "team/app") as (again, url):
        assert call(Remote(url), "GET", "/repos/team/app").status == 200
