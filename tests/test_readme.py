"""The README shows generated facts; these tests keep its copies true."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import yaml

from controller import config, machine
from controller.commands_run import INIT_TEMPLATE

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def block(language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", README, re.S)
    assert match, f"no ```{language} block in the README"
    return match.group(1)


def test_the_state_diagram_is_the_one_the_machine_generates():
    assert block("mermaid").strip() == machine.mermaid().strip()


def test_the_configuration_shown_is_what_init_writes_and_equals_the_defaults():
    shown = block("yaml(?=\n# controller)")
    assert shown == INIT_TEMPLATE.format(repo='""')
    assert config.from_mapping(yaml.safe_load(shown), "README") == config.from_mapping({}, "x")


def test_init_writes_a_file_that_loads_to_the_defaults(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "controller", "init"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    written = config.load(tmp_path / "controller.yaml", required=True)
    expected = config.from_mapping({}, "x", base_dir=tmp_path)
    assert written == expected
    assert (tmp_path / "state" / ".git").exists() or (tmp_path / "state").is_dir()
    again = subprocess.run(
        [sys.executable, "-m", "controller", "init"], cwd=tmp_path, capture_output=True, text=True
    )
    assert again.returncode == 0 and "left as it is" in again.stdout


def test_the_configuration_shown_names_every_key():
    shown = INIT_TEMPLATE.format(repo='""')
    for name in (f.name for f in dataclasses.fields(config.Config) if f.name != "base_dir"):
        assert re.search(rf"^(# )?{name}:", shown, re.M), f"{name} is not in the template"
        section = getattr(config.Config(), name)
        if dataclasses.is_dataclass(section):
            for key in dataclasses.fields(section):
                assert re.search(rf"^  {key.name}:", shown, re.M), f"{name}.{key.name} missing"
