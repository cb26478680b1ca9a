"""Placeholder: subcommands of this area are registered here."""


def register(subparsers) -> None:
    pass
