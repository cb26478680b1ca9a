"""The code reads one way: ruff's lint rules and its formatter, 100 columns.

Run as a test so that CI, which runs only the test suite, holds every change to it;
`make lint` runs the same two checks, and `ruff format controller tests` fixes the
formatting.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "check",
    [["check"], ["format", "--check", "--diff"]],
    ids=["lint", "format"],
)
def test_the_code_passes_ruff(check):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *check, "controller", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
