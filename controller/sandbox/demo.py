"""`controller demo`: the whole job on one machine, with nothing configured.

It starts the sandbox forge (whose CI runs the sample project's tests), seeds its
repository with the sample project, files a few issues, writes a configuration file,
and runs `controller run` as a separate process against all of it, the way a person
would. It watches the state files (a public format) until every issue is closed,
printing a status table, then stops the controller and prints a summary.

Like the rest of the sandbox it talks to the controller only through files, HTTP,
git and tmux, never through its internals. Everything it makes stays under one
folder for inspection.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from controller.sandbox import issues as sample_issues

SOCKET = "controller-demo"
AUTHOR = "demo"
REPOSITORY = "demo/textkit"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    return result.stdout.strip()


def _claude_binary() -> str:
    local = PROJECT_ROOT / ".tools" / "node_modules" / ".bin" / "claude"
    if local.exists():
        return str(local)
    found = shutil.which("claude")
    if found:
        return found
    raise SystemExit("demo: the Claude Code CLI is not installed; run "
                     "`scripts/bootstrap --with-claude` (installs it under .tools/)")


def _tmux_busy(socket: str) -> bool:
    result = subprocess.run(["tmux", "-L", socket, "list-sessions"], capture_output=True,
                            text=True)
    return result.returncode == 0 and bool(result.stdout.strip())


def _config(root: Path, forge_url: str, agent: str, model_url: str | None) -> dict:
    agent_section: dict = {
        "env": {"GITHUB_API_URL": forge_url, "GITHUB_REPOSITORY": REPOSITORY},
        "pass_github_token": True,
    }
    if agent == "claude":
        agent_section.update(
            profile="claude-code",
            command=shlex.join([_claude_binary(), "--dangerously-skip-permissions"]),
        )
        agent_section["env"].update(ANTHROPIC_BASE_URL=model_url or "",
                                    ANTHROPIC_API_KEY="sk-ant-api03-sandbox-demo-key-0000000000")
    else:
        agent_section["env"]["SCRIPTED_AGENT_THINK_S"] = "2.5"
        agent_section.update(profile="scripted",
                             command=shlex.join([sys.executable, "-m", "controller.sandbox.agent"]))
    return {
        "github": {"api_url": forge_url, "repo": REPOSITORY, "authors": [AUTHOR],
                   "poll_interval_s": 1},
        "repo": {"path": str(root / "repo"), "worktree_dir": str(root / "worktrees")},
        "tmux": {"socket": SOCKET, "poll_interval_s": 0.5},
        "agent": agent_section,
        "policy": {"max_workers": 3, "stall_after_s": 3, "settle_s": 0.4,
                   "retry_backoff_s": 2, "retry_backoff_max_s": 20},
        "state_dir": str(root / "state"),
    }


def read_states(state_dir: Path) -> dict[int, dict]:
    """Every readable state file, as plain data (a torn or invalid one is skipped)."""
    found = {}
    for path in sorted(state_dir.glob("issue-*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and isinstance(data.get("issue"), int):
            found[data["issue"]] = data
    return found


def _table(states: dict[int, dict]) -> str:
    lines = [f"  {'issue':<6} {'state':<10} {'pr':<5} {'ci':<8} {'nudges':<6} title"]
    for number, data in sorted(states.items()):
        pr = f"#{data['pr']}" if data.get("pr") else "-"
        lines.append(f"  #{number:<5} {data.get('state', '?'):<10} {pr:<5} "
                     f"{data.get('ci') or '-':<8} {data.get('nudges', 0):<6} "
                     f"{(data.get('title') or '')[:60]}")
    return "\n".join(lines)


def main(issues: int = 3, agent: str = "scripted", directory: str | None = None,
         timeout: float = 600.0, keep: bool = False) -> int:
    from controller.sandbox.forge import Forge

    if not 1 <= issues <= len(sample_issues.ISSUES):
        print(f"demo: --issues must be between 1 and {len(sample_issues.ISSUES)}",
              file=sys.stderr)
        return 2
    root = Path(directory or tempfile.mkdtemp(prefix="controller-demo-")).resolve()
    if root.exists() and not root.is_dir():
        print(f"demo: {root} is a file, not a folder; give an empty or new folder with --dir",
              file=sys.stderr)
        return 2
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"demo: cannot make the folder {root}: {error.strerror}; give an empty or new "
              "folder with --dir", file=sys.stderr)
        return 2
    if any(root.iterdir()):
        print(f"demo: {root} is not empty; give an empty or new folder with --dir",
              file=sys.stderr)
        return 2
    if _tmux_busy(SOCKET):
        print(f"demo: another demo is running on tmux socket {SOCKET!r}; stop it with "
              f"`tmux -L {SOCKET} kill-server`", file=sys.stderr)
        return 2
    print(f"demo: everything goes under {root}")

    # The forge runs in this process; its request log belongs in a file, not the table.
    logging.getLogger("controller.sandbox").setLevel(logging.WARNING)
    started = time.monotonic()
    forge = Forge(root / "forge", repo=REPOSITORY,
                  ci_command=f"{shlex.quote(sys.executable)} -m unittest -q")
    model = None
    controller = None
    try:
        forge.start()
        sample_issues.seed_origin(forge.clone_url)
        filed = []
        for sample in sample_issues.ISSUES[:issues]:
            created = forge.create_issue(AUTHOR, sample.title, sample.body, labels=sample.labels)
            filed.append(created["number"] if isinstance(created, dict) else created)
        print(f"demo: forge at {forge.url}, {len(filed)} issues filed: "
              + ", ".join(f"#{n}" for n in filed))

        if agent == "claude":
            from controller.sandbox.model import ModelServer

            model = ModelServer(port=0)
            model.start()
            print(f"demo: stand-in model at {model.url}")
        config_path = root / "controller.yaml"
        config_path.write_text(yaml.safe_dump(
            _config(root, forge.url, agent, model.url if model else None), sort_keys=False))

        log_path = root / "controller.log"
        env = {**os.environ, "GITHUB_TOKEN": forge.token(AUTHOR), "PYTHONUNBUFFERED": "1"}
        env.pop("GH_TOKEN", None)
        with open(log_path, "ab") as log_file:
            controller = subprocess.Popen(
                [sys.executable, "-m", "controller", "--config", str(config_path), "run"],
                cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        print(f"demo: controller running (pid {controller.pid}); log: {log_path}")
        print(f"demo: watch an agent with `tmux -L {SOCKET} attach -t worker-{filed[0]}`\n")

        state_dir = root / "state"
        shown = None
        deadline = time.monotonic() + timeout
        while True:
            states = read_states(state_dir)
            table = _table(states)
            if table != shown and states:
                print(f"[{time.monotonic() - started:5.1f}s]\n{table}\n", flush=True)
                shown = table
            if len(states) >= len(filed) and all(
                    states.get(n, {}).get("state") == "closed" for n in filed):
                break
            if controller.poll() is not None:
                print(f"demo: the controller exited with status {controller.returncode}; "
                      f"see {log_path}", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(f"demo: not finished after {timeout:.0f}s; see {log_path}",
                      file=sys.stderr)
                return 1
            time.sleep(0.5)

        elapsed = time.monotonic() - started
        print(f"demo: all {len(filed)} issues closed in {elapsed:.0f}s\n")
        for number in filed:
            history = _git(state_dir, "log", "--reverse", "--format=%s", "--",
                           f"issue-{number}.yaml").splitlines()
            print(f"  #{number}: " + " | ".join(line.split(": ", 1)[0] for line in history))
        print(f"\ndemo: state files and their git history: {state_dir}")
        print(f"demo: audit trail of one issue: git -C {state_dir} log -- issue-{filed[0]}.yaml")
        return 0
    finally:
        if controller is not None and controller.poll() is None:
            controller.send_signal(signal.SIGTERM)
            try:
                controller.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(controller.pid, signal.SIGKILL)
                controller.wait()
        if not keep:
            subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)
        if model is not None:
            model.stop()
        forge.stop()
