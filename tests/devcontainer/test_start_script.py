"""The start script refuses to start agents outside the sandbox it expects."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

START = Path(__file__).resolve().parents[2] / ".devcontainer" / "start-controller.sh"


def _start(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ["PATH"], "CONTROLLER_WORKSPACE": str(tmp_path), **env}
    return subprocess.run(
        ["bash", str(START), *args], capture_output=True, text=True, env=clean, timeout=30
    )


def test_refuses_root_or_a_missing_firewall(tmp_path):
    result = _start(tmp_path, GITHUB_TOKEN="token", CONTROLLER_REPO="owner/name")

    assert result.returncode != 0
    if os.geteuid() == 0:
        assert "refusing to run agents as root" in result.stderr
    else:
        assert "the firewall is not up" in result.stderr
    assert not (tmp_path / "controller.yaml").exists()


def test_detach_without_configuration_starts_nothing(tmp_path):
    result = _start(tmp_path, "--detach")

    assert result.returncode == 0
    assert "not started" in result.stderr and "CONTROLLER_REPO" in result.stderr


def test_unknown_arguments_are_refused(tmp_path):
    result = _start(tmp_path, "--now")

    assert result.returncode != 0
    assert "unknown argument '--now'" in result.stderr
