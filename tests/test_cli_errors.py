"""Mistakes a new user makes on the command line: one clear line and exit 2, never a
traceback, and nothing written before the mistake is found."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller import config


def controller(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}
    return subprocess.run([sys.executable, "-m", "controller", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def one_clean_line(result: subprocess.CompletedProcess) -> str:
    """The whole error output, checked to be a single `controller: ...` line."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("controller: "), result.stderr
    return lines[0]


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- the configuration file ------------------------------------------------------------

def test_a_directory_as_the_configuration_is_named_as_such(tmp_path):
    (tmp_path / "conf").mkdir()
    line = one_clean_line(controller(tmp_path, "--config", "conf", "status"))
    assert "conf: is a directory, not a configuration file" in line
    assert "Errno" not in line


def test_a_binary_configuration_is_named_as_such(tmp_path):
    (tmp_path / "c.yaml").write_bytes(b"\xff\xfe\x00binary")
    line = one_clean_line(controller(tmp_path, "--config", "c.yaml", "status"))
    assert "c.yaml: is not UTF-8 text (byte 0xff at offset 0)" in line
    assert "codec" not in line


@pytest.mark.parametrize("key,value,suggested", [
    ("github.timeout_s", "1e9", ["1000000000", "1.0e+9"]),
    ("github.timeout_s", "25E-3", ["0.025", "2.5e-2"]),
    ("policy.max_workers", "1e1", ["10"]),
])
def test_a_number_yaml_reads_as_text_gets_a_hint_that_works(tmp_path, key, value, suggested):
    section, name = key.split(".")
    path = tmp_path / "c.yaml"
    path.write_text(f"{section}:\n  {name}: {value}\n")
    line = one_clean_line(controller(tmp_path, "--config", "c.yaml", "status"))
    assert line.endswith(f"not {value!r} (YAML reads {value} as text: write "
                         f"{' or '.join(suggested)})")
    for spelling in suggested:
        path.write_text(f"{section}:\n  {name}: {spelling}\n")
        assert getattr(getattr(config.load(path), section), name) == float(value)


def test_a_number_in_quotes_is_told_to_lose_them(tmp_path):
    (tmp_path / "c.yaml").write_text("policy:\n  max_workers: '4'\n")
    line = one_clean_line(controller(tmp_path, "--config", "c.yaml", "status"))
    assert line.endswith("not '4' (it is in quotes: write the number without them)")
