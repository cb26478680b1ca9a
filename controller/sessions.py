"""The agents' tmux sessions: start, read, type into, stop, on one private socket.

Each agent lives in its own detached tmux session so a person can watch or take over at
any time, and so the agent outlives the controller: a restarted controller adopts the
sessions it finds. The reconciler reads every pane in one `list-panes` call and the
screens it needs in one chained `capture-pane` call, because it does so every second.

This is the only module that imports libtmux. It must never touch a tmux server other
than the configured socket, never match a session by prefix (`worker-1` is not
`worker-12`), never pass a command through a shell string, never let the tmux
server's own environment leak into an agent, and never put an environment value on a
command line: other users see command lines in `ps`, and tmux shows a pane's start
command for as long as the pane lives. An agent's environment travels in a private
file that `exec_env.py` reads, deletes and replaces itself with the agent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import libtmux

from controller.launch import write_atomically

log = logging.getLogger(__name__)

_FIELDS = (
    "session_name",
    "pane_id",
    "pane_dead",
    "pane_dead_status",
    "pane_current_command",
    "pane_pid",
    "pane_width",
    "pane_height",
    "pane_title",
)
# Unit separator: cannot appear in a session name or a pane title we care about.
_SEP = "\x1f"
_CAPTURE_MARK = "\x1f-- end of capture --\x1f"
# tmux refuses client messages above about 16 KiB; long text is sent in pieces.
_CHUNK = 2000
# Runs as the pane's first program: reads the agent's environment file, deletes it, execs.
_EXEC_ENV = Path(__file__).resolve().with_name("exec_env.py")
# All the tmux client that may start the server gets of this process's environment: the
# server keeps that environment as its global one, which `show-environment -g` prints.
_TMUX_VARIABLES = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TMUX_TMPDIR",
)
# How long start() waits for a new pane to take its environment file (a loaded host).
_TAKE_TIMEOUT_S = 20.0
# tmux ends its server with its last session. A client that reaches the socket before
# that server is gone hears one of these: there are no sessions, and a new server can be
# started once the old one has let go of the socket.
_NO_SERVER = (
    "no server running",
    "error connecting",
    "server exited unexpectedly",
    "lost server",
)
# list-panes -a on a server that has no session yet (one starting up, or ending).
_NO_SESSIONS = ("no current target", "no sessions")
# Rows of scrollback read to find where a line wrapped onto the screen's top row began.
_JOIN_HISTORY = 50
# How long start() tries again while a server that is ending holds the socket.
_SERVER_EXIT_WAIT_S = 5.0


class SessionError(Exception):
    """A tmux command failed; the message names the session and tmux's own words."""


@dataclass(frozen=True)
class PaneInfo:
    session: str
    pane_id: str
    dead: bool
    dead_status: int | None
    current_command: str
    title: str
    pid: int | None
    width: int
    height: int


_LIST_FORMAT = _SEP.join(f"#{{{field}}}" for field in _FIELDS)


def _parse_panes(lines: list[str]) -> dict[str, PaneInfo]:
    panes: dict[str, PaneInfo] = {}
    for line in lines:
        values = line.split(_SEP)
        if len(values) != len(_FIELDS):
            continue
        name, pane_id, dead, status, command, pid, width, height, title = values
        panes.setdefault(
            name,
            PaneInfo(
                session=name,
                pane_id=pane_id,
                dead=dead == "1",
                dead_status=_int_or_none(status) if dead == "1" else None,
                current_command=command,
                title=title,
                pid=_int_or_none(pid),
                width=int(width),
                height=int(height),
            ),
        )
    return panes


def _target(name: str) -> str:
    # "=" asks for the exact session name; the ":" makes it a window (and pane) target.
    return f"={name}:"


def _int_or_none(value: str) -> int | None:
    return int(value) if value.strip().lstrip("-").isdigit() else None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def default_env_dir() -> Path:
    """This user's private folder for agents' environment files, outside any checkout."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = runtime if runtime and os.path.isdir(runtime) else tempfile.gettempdir()
    return Path(base) / f"issue-controller-{os.geteuid()}"


def _private_folder(path: Path) -> Path:
    """`path` as a folder only this user can enter; refused when anyone else could."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    found = os.lstat(path)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid() or found.st_mode & 0o077:
        raise SessionError(
            f"{path} holds agents' secrets while they start, so it must be a folder owned "
            "by this user with mode 0700 (not a link); remove it and it is made again"
        )
    return path


def _check_environment(name: str, env: dict[str, str]) -> None:
    for key, value in env.items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise SessionError(
                f"session {name}: the environment variable {key!r} cannot be passed (an "
                "empty name, a name with '=', or a NUL character); check agent.env and "
                "the profile's env"
            )


def _captures(names: list[str], flags: list[str]) -> list[str]:
    """One tmux command chain capturing each of `names`, each screen followed by a mark."""
    args: list[str] = []
    for name in names:
        args += ["capture-pane", *flags, "-t", _target(name), ";"]
        args += ["display-message", "-p", _CAPTURE_MARK, ";"]
    return args[:-1]


def _screens(names: list[str], output: str) -> dict[str, str]:
    """The screens of `names` from the output of `_captures(names, ...)`."""
    blocks = output.split(_CAPTURE_MARK)
    return {
        name: block.removeprefix("\n").rstrip("\n")
        for name, block in zip(names, blocks, strict=False)
    }


def _tmux_environment() -> dict[str, str]:
    return {key: os.environ[key] for key in _TMUX_VARIABLES if key in os.environ}


class Sessions:
    """The sessions on one tmux socket, each running one agent in one pane."""

    def __init__(
        self, socket: str, *, width: int = 200, height: int = 50, env_dir: Path | None = None
    ):
        self.socket = socket
        self.width = width
        self.height = height
        # Shared by every socket of this user; file names say which socket they are for.
        self.env_dir = Path(env_dir) if env_dir is not None else default_env_dir()
        self._server = libtmux.Server(socket_name=socket, config_file=os.devnull)

    def _run(self, *args: str, check: bool = True) -> list[str]:
        result = self._server.cmd(*args)
        if check and result.returncode != 0:
            raise SessionError(
                f"tmux -L {self.socket} {args[0]} failed: {' '.join(result.stderr).strip()}"
            )
        return result.stdout

    def list(self) -> dict[str, PaneInfo]:
        """Every session's first pane, from one tmux call; {} when no server runs."""
        result = self._server.cmd("list-panes", "-a", "-F", _LIST_FORMAT)
        if result.returncode != 0:
            stderr = " ".join(result.stderr)
            if any(words in stderr for words in _NO_SERVER + _NO_SESSIONS):
                return {}
            raise SessionError(f"tmux -L {self.socket} list-panes failed: {stderr}")
        return _parse_panes(result.stdout)

    def observe(self, names: list[str]) -> tuple[dict[str, PaneInfo], dict[str, str]]:
        """Every pane's facts and the screens of `names`, in one tmux launch when it can.

        `names` should be sessions believed to exist (those of the last listing); if one
        has gone, tmux stops the chain and this falls back to a listing plus a capture.
        """
        if not names:
            return self.list(), {}
        listing = ["list-panes", "-a", "-F", _LIST_FORMAT, ";", "display-message", "-p"]
        result = self._server.cmd(*listing, _CAPTURE_MARK, ";", *_captures(names, ["-p"]))
        if result.returncode != 0:
            panes = self.list()
            alive = [name for name in names if name in panes and not panes[name].dead]
            return panes, self.capture_many(alive, listed=panes)
        listed, _, screens = "\n".join(result.stdout).partition(_CAPTURE_MARK)
        return _parse_panes(listed.splitlines()), _screens(names, screens)

    def exists(self, name: str) -> bool:
        return self._server.cmd("has-session", "-t", f"={name}").returncode == 0

    def capture(self, name: str, *, ansi: bool = False, join: bool = False) -> str:
        """The visible screen of the session's pane, without scrollback.

        `join` gives each line the terminal wrapped as one line, as it was printed: what
        is to be masked (a token wrapped at the pane's edge would otherwise be split in
        two, and only its first part recognised) or read as one message.
        """
        flags = ["-p", "-e"] if ansi else ["-p"]
        if join:
            return self._capture_joined(name, flags)
        return "\n".join(self._run("capture-pane", *flags, "-t", _target(name))).rstrip("\n")

    def _capture_joined(self, name: str, flags: list[str]) -> str:
        """The screen with wrapped lines joined, the top one whole where it began above.

        A line that began in the scrollback (a dead pane's last line scrolls the screen
        by one) would start mid-token at the top of the screen, so the part above the
        screen is read too, and the screen starts with the line the top row belongs to.
        """
        target = _target(name)
        (size,) = self._run("display-message", "-p", "-t", target, "#{history_size}")[:1] or [""]
        history = min(_int_or_none(size) or 0, _JOIN_HISTORY)
        if not history:  # with no history, -E -1 would mean the screen's first line
            lines = self._run("capture-pane", *flags, "-J", "-t", target)
        else:
            start = f"-{history}"
            output = self._run(
                *("capture-pane", *flags, "-J", "-S", start, "-E", "-1", "-t", target),
                *(";", "display-message", "-p", _CAPTURE_MARK),
                *(";", "capture-pane", *flags, "-J", "-S", start, "-t", target),
            )
            above, _, whole = "\n".join(output).partition(_CAPTURE_MARK)
            above_lines = above.removesuffix("\n").split("\n")
            lines = whole.removeprefix("\n").split("\n")
            top = len(above_lines)
            if top <= len(lines) and lines[top - 1] != above_lines[-1]:
                top -= 1  # the last line above the screen goes on onto it
            lines = lines[top:]
        # -J also keeps the blanks a program wrote at the end of each line.
        return "\n".join(line.rstrip(" ") for line in lines).rstrip("\n")

    def capture_many(
        self, names: list[str], *, ansi: bool = False, listed: dict[str, PaneInfo] | None = None
    ) -> dict[str, str]:
        """Screens of several sessions from one tmux invocation; gone sessions are left out.

        `listed` is a `list()` the caller has just made; passing it saves a second tmux
        call per poll (a session gone since then costs the one-by-one fallback below).
        """
        known = self.list() if listed is None else listed
        alive = [name for name in names if name in known]
        if not alive:
            return {}
        result = self._server.cmd(*_captures(alive, ["-p", "-e"] if ansi else ["-p"]))
        if result.returncode != 0:
            # A session ended between the listing and the capture: read the rest one by one.
            screens = {}
            for name in alive:
                try:
                    screens[name] = self.capture(name, ansi=ansi)
                except SessionError:
                    continue
            return screens
        return _screens(alive, "\n".join(result.stdout))

    def start(self, name: str, cwd: Path, command: list[str], env: dict[str, str]) -> PaneInfo:
        """Start `command` in a new detached session, or adopt a live one of that name.

        The command gets exactly `env` and nothing of the tmux server's environment. The
        values travel in a file only this user can read, which the pane's first program
        deletes before it becomes the command; this returns once the file is gone. The
        pane stays after the command exits so a dead agent is seen, not mistaken for a
        missing session.
        """
        panes = self.list()
        existing = panes.get(name)
        if existing is not None and not existing.dead:
            log.info("adopted live session %s", name)
            return existing
        if existing is not None:
            self.stop(name)
        if not command:
            raise SessionError(f"session {name}: the agent command is empty; check the profile")
        _check_environment(name, env)

        folder = _private_folder(self.env_dir)
        self._remove_stale_env_files(folder, panes)
        env_file = self._write_env_file(folder, name, env)
        argv = [sys.executable, "-I", "-S", str(_EXEC_ENV), str(env_file), "--", *command]
        try:
            self._new_session(name, cwd, argv)
            self._await_taken(name, env_file)
        finally:
            env_file.unlink(missing_ok=True)
        log.info("started session %s in %s running %s", name, cwd, command[0])

        info = self.list().get(name)
        if info is None:
            raise SessionError(f"session {name}: tmux started it but it is already gone")
        return info

    def _new_session(self, name: str, cwd: Path, argv: list[str]) -> None:
        # Not through libtmux, which hands tmux this process's whole environment: the
        # first session starts the server, and the server would keep it for all to see.
        tmux = shutil.which("tmux")
        if tmux is None:
            raise SessionError("tmux is not installed or not on PATH; install tmux")
        deadline = time.monotonic() + _SERVER_EXIT_WAIT_S
        pause = 0.01
        while True:
            result = self._run_new_session(tmux, name, cwd, argv)
            if result.returncode == 0:
                return
            stderr = result.stderr.strip()
            # The session stopped just before was the server's last: that server is
            # still ending, and this client reached it instead of starting a new one.
            if not any(words in stderr for words in _NO_SERVER) or time.monotonic() > deadline:
                raise SessionError(f"tmux -L {self.socket} new-session failed: {stderr}")
            time.sleep(pause)
            pause = min(pause * 2, 0.2)

    def _run_new_session(
        self, tmux: str, name: str, cwd: Path, argv: list[str]
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                tmux,
                f"-L{self.socket}",
                f"-f{os.devnull}",
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                str(self.width),
                "-y",
                str(self.height),
                "-c",
                str(cwd),
                *argv,
                ";",
                "set-option",
                "-w",
                "-t",
                _target(name),
                "remain-on-exit",
                "on",
                ";",
                "set-option",
                "-w",
                "-t",
                _target(name),
                "window-size",
                "manual",
                ";",
                "set-option",
                "-t",
                _target(name),
                "status",
                "off",
            ],
            env=_tmux_environment(),
            capture_output=True,
            text=True,
            errors="backslashreplace",
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def _write_env_file(self, folder: Path, name: str, env: dict[str, str]) -> Path:
        path = folder / f"{_digest(self.socket)}-{_digest(name)}-{secrets.token_hex(8)}.json"
        # ASCII JSON: newlines, quotes, '=' and undecodable bytes all come back exactly.
        # Not forced to the disk: deleted within moments, it need not survive a crash.
        write_atomically(path, json.dumps(env), durable=False)
        return path

    def _remove_stale_env_files(self, folder: Path, panes: dict[str, PaneInfo]) -> None:
        """Files of this socket no live pane can still take: left by a crash or a kill."""
        socket = _digest(self.socket)
        waiting = {_digest(name) for name, pane in panes.items() if not pane.dead}
        for entry in os.scandir(folder):
            parts = entry.name.lstrip(".").split("-")
            if len(parts) < 3 or parts[0] != socket:
                continue
            # A dot-file is a write a crash interrupted; no other start runs on this socket.
            if entry.name.startswith(".") or parts[1] not in waiting:
                Path(entry.path).unlink(missing_ok=True)
                log.info("removed a leftover agent environment file for socket %s", self.socket)

    def _await_taken(self, name: str, env_file: Path) -> None:
        """Until the pane has taken (and deleted) its file, died, or the wait ran out."""
        deadline = time.monotonic() + _TAKE_TIMEOUT_S
        next_look = time.monotonic() + 0.5
        pause = 0.002
        while env_file.exists():
            now = time.monotonic()
            if now > deadline:
                log.warning(
                    "session %s: the agent did not take its environment within "
                    "%.0fs; the file was deleted, so the agent exits and is started "
                    "again",
                    name,
                    _TAKE_TIMEOUT_S,
                )
                return
            if now >= next_look:
                pane = self.list().get(name)
                if pane is None or pane.dead:
                    return
                next_look = now + 0.5
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def send_text(self, name: str, text: str) -> None:
        """Type `text` literally, in pieces small enough for tmux."""
        for start in range(0, len(text), _CHUNK):
            self._run("send-keys", "-t", _target(name), "-l", "--", text[start : start + _CHUNK])

    def paste_text(self, name: str, text: str) -> None:
        """Paste `text` as one bracketed paste (when the program asked for it)."""
        buffer = f"controller-{name}"
        self._run("set-buffer", "-b", buffer, "--", text[:_CHUNK])
        for start in range(_CHUNK, len(text), _CHUNK):
            self._run("set-buffer", "-a", "-b", buffer, "--", text[start : start + _CHUNK])
        self._run("paste-buffer", "-p", "-d", "-b", buffer, "-t", _target(name))

    def send_keys(self, name: str, *keys: str) -> None:
        """Press tmux keys (Enter, Escape, C-u, ...) one after another in one call."""
        if keys:
            self._run("send-keys", "-t", _target(name), *keys)

    def stop(self, name: str) -> None:
        """Kill the session and the processes in it; nothing when it is already gone."""
        if not self.exists(name):
            return
        result = self._server.cmd("kill-session", "-t", f"={name}")
        # Gone between the two calls (its agent exited, or a person killed it) is fine.
        if result.returncode != 0 and self.exists(name):
            raise SessionError(
                f"tmux -L {self.socket} kill-session failed: {' '.join(result.stderr).strip()}"
            )
        log.info("stopped session %s", name)

    def kill_server(self) -> None:
        self._server.cmd("kill-server")

    def attach_argv(self, name: str) -> list[str]:
        return ["tmux", "-L", self.socket, "attach-session", "-t", f"={name}"]


def session_name(config, number: int) -> str:
    return config.tmux.session_template.format(number=number)


def sessions_for(config) -> Sessions:
    return Sessions(config.tmux.socket, width=config.tmux.width, height=config.tmux.height)


def _live_session(config, number: int) -> tuple[Sessions, str]:
    name = session_name(config, number)
    sessions = sessions_for(config)
    if not sessions.exists(name):
        raise SessionError(
            f"no session {name} on tmux socket {config.tmux.socket}; `controller status` "
            "shows which issues have a running agent"
        )
    return sessions, name


def peek(config, number: int) -> str:
    """The current screen of issue `number`'s agent, for `controller peek N`."""
    sessions, name = _live_session(config, number)
    return sessions.capture(name, join=True)


def attach(config, number: int) -> int:
    """Replace this process with `tmux attach` to issue `number`'s session."""
    sessions, name = _live_session(config, number)
    # tmux needs a terminal to draw in; without one it says only "not a terminal".
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise SessionError(
            "attach needs a terminal on its input and output, and this is not one; run "
            f"`controller attach {number}` in a terminal, or print the agent's screen with "
            f"`controller peek {number}`"
        )
    argv = sessions.attach_argv(name)
    os.execvp(argv[0], argv)
    return 0  # not reached: execvp replaces the process


__all__ = ["Sessions", "PaneInfo", "SessionError", "peek", "attach", "session_name"]
