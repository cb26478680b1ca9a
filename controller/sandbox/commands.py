"""`controller sandbox ...`: the sandbox's own commands (forge, stand-in model, agent).

Each sandbox module adds its subcommands to the `sandbox` group through its own
`register(group)` function, listed here.
"""

from __future__ import annotations

import importlib

SANDBOX_MODULES = (
    "controller.sandbox.forge",  # sandbox serve
    "controller.sandbox.agent",  # sandbox agent (the scripted agent's terminal UI)
    "controller.sandbox.model",  # sandbox model (the stand-in Messages API)
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("sandbox", help="the local forge, stand-in model and agent")
    # Without a subcommand: this group's own help, not the top-level one.
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    group = parser.add_subparsers(dest="sandbox_command", metavar="SANDBOX_COMMAND")
    for name in SANDBOX_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        module.register(group)
