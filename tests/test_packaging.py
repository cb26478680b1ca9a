"""What `pip install .` puts on a machine: the code, the profiles and the prompts.

The tests and the demo run from the checkout, where everything is at hand; a user runs
an installed copy, which has only what the wheel carried. So a wheel is built here the
way pip builds one (offline, with the setuptools of this environment) and installed
into a fresh virtual environment, and the installed copy is run from a folder outside
the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a build reads: the same set the devcontainer's image copies in.
SOURCES = ("pyproject.toml", "README.md", "controller", "prompts")
PROMPTS = sorted(path.name for path in (ROOT / "prompts").glob("*.md"))
PROFILES = sorted(path.name for path in (ROOT / "controller" / "profiles").glob("*.yaml"))

# Run by the installed copy's Python: where it found the prompts, and one rendered.
PROBE = """
import json, sys
import controller
from controller.config import Config, ConfigError
from controller.prompts import render
try:
    path = Config().prompts_path
except ConfigError as error:
    print(json.dumps({"error": str(error)}))
    sys.exit()
text = render(path, "issue-solver", number=4711, title="t", url="u", branch="b",
              repository="o/n", body="body", comments="(none)", failed_checks="", pr="")
print(json.dumps({"package": controller.__file__, "prompts": str(path), "text": text}))
"""


def _run(argv: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(arg) for arg in argv], capture_output=True, text=True, timeout=120, **kwargs
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """The wheel pip builds from a copy of the sources, and what the build printed."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")

    # Verbose, so that the build backend's own warnings are printed too.
    result = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--verbose",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            ".",
            "-w",
            out,
        ],
        cwd=source,
    )

    (wheel,) = out.glob("issue_controller-*.whl")
    yield wheel, result.stdout + result.stderr
    shutil.rmtree(source)
    shutil.rmtree(out)


@pytest.fixture
def installed(build, tmp_path) -> Iterator[Path]:
    """The Python of a fresh virtual environment that has the wheel installed.

    Its dependencies come from this environment's site-packages, appended to its path
    after its own: the installed copy of the controller is found first, and nothing is
    downloaded.
    """
    wheel, _ = build
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            "--quiet",
            wheel,
        ]
    )

    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "dependencies-of-the-test.pth").write_text("\n".join(sorted(ours)) + "\n")
    yield python
    shutil.rmtree(venv)


def _probe(python: Path, cwd: Path) -> dict:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "PYTHONNOUSERSITE": "1"}
    return json.loads(_run([python, "-c", PROBE], cwd=cwd, env=env).stdout)


def test_the_wheel_holds_every_prompt_and_profile(build):
    wheel, _ = build

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        for prompt in PROMPTS:
            found = [name for name in names if name.endswith(f"/prompts/{prompt}")]
            assert len(found) == 1, f"{prompt} is not in {wheel.name}, or is there twice"
            shipped = archive.read(found[0]).decode("utf-8")
            assert shipped == (ROOT / "prompts" / prompt).read_text(encoding="utf-8")
        for profile in PROFILES:
            assert f"controller/profiles/{profile}" in names, f"{profile} is not in the wheel"

    assert PROMPTS and "issue-solver.md" in PROMPTS
    assert {"claude-code.yaml", "generic.yaml", "scripted.yaml"} <= set(PROFILES)


def test_the_build_raises_no_setuptools_deprecation(build):
    _, printed = build

    assert "DeprecationWarning" not in printed, printed


def test_an_installed_copy_renders_its_shipped_prompts_outside_the_checkout(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    venv = installed.parent.parent

    found = _probe(installed, elsewhere)

    assert "error" not in found, found["error"]
    assert Path(found["package"]).is_relative_to(venv), "the checkout was imported instead"
    prompts = Path(found["prompts"])
    assert prompts.is_relative_to(venv) and not prompts.is_relative_to(ROOT)
    assert sorted(path.name for path in prompts.glob("*.md")) == PROMPTS
    assert "4711" in found["text"]


def test_an_install_without_its_prompts_says_where_it_looked_and_what_to_do(installed, tmp_path):
    venv = installed.parent.parent
    shutil.rmtree(venv / "share" / "issue-controller" / "prompts")

    found = _probe(installed, tmp_path)

    assert "prompts_dir" in found["error"]
    assert str(venv / "share" / "issue-controller" / "prompts") in found["error"]
