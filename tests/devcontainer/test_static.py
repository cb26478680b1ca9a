"""Static checks of the container definition: the rules that keep the sandbox a sandbox.

These run without Docker and without a network. They read the files the way Docker,
sudo and the devcontainer tools would, and fail on anything that would widen what an
agent inside the container can reach or become.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVCONTAINER = ROOT / ".devcontainer"
BIN = Path(sys.executable).parent
FIREWALL = "/usr/local/bin/init-firewall.sh"
CLAUDE_CODE_VERSION = "2.1.197"


def _no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    duplicates = {key for key in keys if keys.count(key) > 1}
    assert not duplicates, f"devcontainer.json repeats keys {sorted(duplicates)}"
    return dict(pairs)


@pytest.fixture(scope="module")
def spec() -> dict:
    # Kept free of comments and trailing commas so that plain JSON reads it exactly.
    text = (DEVCONTAINER / "devcontainer.json").read_text()
    return json.loads(text, object_pairs_hook=_no_duplicate_keys)


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (DEVCONTAINER / "Dockerfile").read_text()


def _mount_fields(mount) -> dict:
    if isinstance(mount, dict):
        return {str(k): str(v) for k, v in mount.items()}
    return dict(part.split("=", 1) for part in mount.split(","))


def _shell_scripts() -> list[Path]:
    return sorted(
        path
        for path in DEVCONTAINER.iterdir()
        if path.is_file() and path.read_text(errors="replace").startswith("#!/usr/bin/env bash")
    )


def test_every_shell_script_passes_shellcheck():
    scripts = _shell_scripts()
    assert {p.name for p in scripts} >= {"init-firewall.sh", "start-controller.sh"}
    result = subprocess.run(
        [str(BIN / "shellcheck"), "--severity=style", *map(str, scripts)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_hadolint():
    result = subprocess.run(
        [str(BIN / "hadolint"), str(DEVCONTAINER / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_hadolint_exception_says_why(dockerfile):
    lines = dockerfile.splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore" in line:
            reason = lines[number - 1].strip()
            assert reason.startswith("#") and "hadolint" not in reason, (
                f"Dockerfile line {number + 1}: an ignored rule needs a reason comment above it"
            )


def test_capabilities_are_only_those_the_firewall_needs(spec):
    assert sorted(spec.get("capAdd", [])) == ["NET_ADMIN", "NET_RAW"]
    assert spec.get("privileged", False) is False
    run_args = " ".join(spec.get("runArgs", []))
    for forbidden in (
        "--privileged",
        "--cap-add",
        "--network",
        "--net=",
        "--net ",
        "host",
        "-v",
        "--volume",
        "--mount",
        "--security-opt",
        "--pid",
        "--userns",
    ):
        assert forbidden not in run_args, f"runArgs must not use {forbidden}"


def test_only_named_volumes_are_mounted(spec):
    mounts = [spec["workspaceMount"], *spec.get("mounts", [])]
    for mount in mounts:
        fields = _mount_fields(mount)
        assert fields.get("type") == "volume", f"{mount} is not a named volume"
        source = fields.get("source", fields.get("src", ""))
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.${}:-]*", source), (
            f"{mount}: the source must be a volume name, not a path"
        )
        for secret in (".ssh", ".gitconfig", ".claude", "docker.sock", "HOME", "home"):
            assert secret not in source, f"{mount} exposes the host's {secret}"


def test_firewall_runs_first_on_every_start(spec):
    # Commands that run when the container is created or updated would run before
    # postStartCommand, and the host-side one runs outside the sandbox altogether.
    for key in (
        "initializeCommand",
        "onCreateCommand",
        "updateContentCommand",
        "postCreateCommand",
    ):
        assert key not in spec, f"{key} would run before the firewall is up"
    start = spec["postStartCommand"]
    assert isinstance(start, str), "an object postStartCommand runs its parts in parallel"
    first, _, rest = start.partition("&&")
    assert shlex.split(first) == ["sudo", FIREWALL], "the firewall must be the first command"
    assert rest.strip(), "the rest may only run once the firewall succeeded"
    assert spec.get("waitFor") == "postStartCommand"


def test_user_init_and_base_image(spec, dockerfile):
    assert spec["init"] is True
    assert spec["remoteUser"] not in ("root", "0")
    # The container's first process holds the operator's settings that the firewall
    # trusts; as root, the agent's user can neither read nor trace it.
    assert spec["containerUser"] == "root"
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0"), "the image must end as a non-root user"

    assert "BASE_IMAGE" in spec["build"]["args"]
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.M)
    assert default, "the Dockerfile needs ARG BASE_IMAGE with a default"
    for image in (default.group(1), spec["build"]["args"]["BASE_IMAGE"]):
        assert re.search(r"@sha256:[0-9a-f]{64}$|:\d+\.\d+\.\d+[\w.-]*$", image), (
            f"{image} is not pinned to a digest or an exact version tag"
        )
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", dockerfile, re.M)


def test_claude_code_is_pinned(spec, dockerfile):
    assert f"ARG CLAUDE_CODE_VERSION={CLAUDE_CODE_VERSION}" in dockerfile
    assert '"@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}"' in dockerfile
    assert spec["build"]["args"]["CLAUDE_CODE_VERSION"] == CLAUDE_CODE_VERSION


def _sudoers_rules() -> list[str]:
    lines = (DEVCONTAINER / "sudoers-firewall").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_sudo_allows_only_the_fixed_firewall_script():
    forbidden = re.compile(r"\*|SETENV|env_keep|!|,|\bALL\s*$")
    never = {
        "sh",
        "bash",
        "zsh",
        "dash",
        "su",
        "apt",
        "apt-get",
        "dpkg",
        "npm",
        "pip",
        "pip3",
        "tee",
        "vi",
        "vim",
        "nano",
        "ed",
        "env",
        "sudoedit",
        "python3",
        "cp",
    }
    rules = [rule for rule in _sudoers_rules() if not rule.startswith("Defaults")]
    assert rules, "the sudoers fragment grants nothing"
    for rule in rules:
        assert not forbidden.search(rule), f"sudoers rule too wide: {rule}"
        match = re.fullmatch(r"(\w+) ALL=\(root\) NOPASSWD: (\S+) \"\"", rule)
        assert match, f"sudoers rule must name one script with no arguments: {rule}"
        assert Path(match.group(2)).name not in never, f"sudo must never allow {rule}"
        assert match.group(2) == FIREWALL
    for rule in _sudoers_rules():
        if rule.startswith("Defaults"):
            assert "env_keep" not in rule and "setenv" not in rule.lower(), rule


def test_sudoers_fragment_is_installed_root_owned_and_checked(dockerfile):
    assert "COPY .devcontainer/sudoers-firewall /etc/sudoers.d/firewall" in dockerfile
    assert "chmod 0440 /etc/sudoers.d/firewall" in dockerfile
    assert "visudo -cf /etc/sudoers.d/firewall" in dockerfile
    assert f"COPY .devcontainer/init-firewall.sh {FIREWALL}" in dockerfile
    assert re.search(rf"chown root:root {re.escape(FIREWALL)}", dockerfile)
    assert "/etc/sudoers " not in dockerfile and ">> /etc/sudoers" not in dockerfile


def test_build_context_lets_in_only_what_the_image_copies(dockerfile):
    ignore = (DEVCONTAINER / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line for line in ignore if line and not line.startswith("#")]
    assert patterns[0] == "*", "the build context must start from nothing"
    allowed = {pattern[1:].rstrip("/") for pattern in patterns[1:]}
    for sources in re.findall(r"^COPY\s+(.+)\s+\S+$", dockerfile, re.M):
        for source in sources.split():
            assert source in allowed, f"COPY {source} is not let into the build context"


def test_firewall_refuses_arguments():
    result = subprocess.run(
        ["bash", str(DEVCONTAINER / "init-firewall.sh"), "--open"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "takes no arguments" in result.stderr
