"""The import rules that keep the layers honest (see the README's layout).

Only adapters touch the outside libraries; the decisions import no adapter; the
sandbox reaches the controller only the way the real things do.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "controller"

# library -> the only modules allowed to import it
ADAPTER_OWNERS = {
    "libtmux": {"controller.sessions"},
    "ghapi": {"controller.github"},
    "httpx2": {"controller.github"},
    "fasttransport": {"controller.github"},
    "git": {"controller.worktrees"},
    "transitions": {"controller.machine"},
    "watchdog": {"controller.watch"},
}
PURE = {
    "controller.machine",
    "controller.record",
    "controller.decide",
    "controller.observation",
    "controller.screens",
}
IO_MODULES = {
    "subprocess",
    "socket",
    "http",
    "urllib",
    "libtmux",
    "ghapi",
    "git",
    "controller.github",
    "controller.sessions",
    "controller.worktrees",
    "controller.store",
    "controller.reconcile",
    "controller.delivery",
}
SANDBOX_MAY_IMPORT = {"controller.sandbox"}
# Run as a file with `python -I -S` before an agent starts: the standard library only.
STANDALONE = {"controller.exec_env", "controller.sandbox.with_parent"}


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def starts(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("module,path", list(modules()), ids=lambda v: str(v))
def test_import_rules(module, path):
    used = imports(path)
    for library, owners in ADAPTER_OWNERS.items():
        offending = [u for u in used if starts(u, library)]
        assert not offending or module in owners, f"{module} imports {library}"
    if module in PURE:
        offending = sorted(u for u in used if any(starts(u, io) for io in IO_MODULES))
        assert not offending, f"{module} must do no I/O but imports {offending}"
    if module in STANDALONE:
        outside = sorted(u for u in used if u.split(".")[0] not in sys.stdlib_module_names)
        assert not outside, f"{module} runs without site-packages but imports {outside}"
    run_as_file = sorted(u for u in used if any(starts(u, m) for m in STANDALONE))
    assert not run_as_file, f"{module} imports {run_as_file}, which runs as a file"
    if starts(module, "controller.sandbox"):
        internal = sorted(
            u
            for u in used
            if starts(u, "controller") and not any(starts(u, ok) for ok in SANDBOX_MAY_IMPORT)
        )
        assert not internal, f"{module} reaches into the controller: {internal}"
