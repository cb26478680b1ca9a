"""The forge's CI: a check run named `ci` per pull request head, from a real command."""

from __future__ import annotations

import tempfile

from tests.forge.client import call, push_branch, repo_path
from tests.helpers import wait_for


def ci_runs(forge, ref: str) -> list[dict]:
    reply = call(forge, "GET", repo_path(forge, f"/commits/{ref}/check-runs?filter=all"))
    return [run for run in reply.body["check_runs"] if run["name"] == "ci"]


def completed(forge, sha: str):
    runs = ci_runs(forge, sha)
    return runs if runs and all(run["status"] == "completed" for run in runs) else None


def test_ci_runs_on_open_and_on_each_new_head(forge_factory, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    forge = forge_factory(ci_command="echo checking; test -f ok")
    sha = push_branch(forge, tmp_path, "topic", {"notes.txt": "no ok file\n"})
    opened = call(
        forge, "POST", repo_path(forge, "/pulls"), {"title": "t", "head": "topic", "base": "main"}
    )
    assert opened.status == 201
    first = ci_runs(forge, sha)
    assert len(first) == 1 and first[0]["status"] in ("in_progress", "completed")

    [failed] = wait_for(lambda: completed(forge, sha), message="ci on the first head")
    assert failed["conclusion"] == "failure"
    assert "checking" in failed["output"]["summary"]
    assert failed["pull_requests"][0]["number"] == opened.body["number"]

    fixed = push_branch(forge, tmp_path, "topic", {"ok": "yes\n"})
    [passed] = wait_for(lambda: completed(forge, fixed), message="ci on the moved head")
    assert passed["conclusion"] == "success"
    assert len(ci_runs(forge, sha)) == 1, "a commit is never run twice"
    wait_for(lambda: not list(scratch.iterdir()), message="ci checkouts to be removed")


def test_ci_summary_is_the_tail_of_the_output(forge_factory, tmp_path):
    forge = forge_factory(ci_command="seq 1 100; exit 3")
    sha = push_branch(forge, tmp_path, "long", {"x.txt": "x\n"})
    call(forge, "POST", repo_path(forge, "/pulls"), {"title": "t", "head": "long", "base": "main"})
    [run] = wait_for(lambda: completed(forge, sha), message="ci to finish")
    lines = run["output"]["summary"].splitlines()
    assert lines[-1] == "100" and "1" not in lines and len(lines) == 40
    assert "exit status 3" in run["output"]["title"]


def test_stopping_kills_a_running_ci_and_a_restart_runs_it_again(forge_factory, tmp_path):
    marker = tmp_path / "started"
    forge = forge_factory(tmp_path / "data", ci_command=f"touch {marker}; sleep 60")
    sha = push_branch(forge, tmp_path, "slow", {"x.txt": "x\n"})
    call(forge, "POST", repo_path(forge, "/pulls"), {"title": "t", "head": "slow", "base": "main"})
    wait_for(marker.exists, message="ci command to start")
    forge.stop()
    assert ci_runs_from_disk(tmp_path / "data", sha) == ["in_progress"]

    marker.unlink()
    restarted = forge_factory(tmp_path / "data", ci_command=f"touch {marker}; true")
    [run] = wait_for(lambda: completed(restarted, sha), message="resumed ci")
    assert run["conclusion"] == "success" and marker.exists()


def ci_runs_from_disk(directory, sha: str) -> list[str]:
    import json

    runs = [json.loads(path.read_text()) for path in directory.rglob("check_runs/*.json")]
    return [run["status"] for run in runs if run["head_sha"] == sha]
