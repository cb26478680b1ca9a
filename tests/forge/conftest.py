"""The forge fixtures, for every test in this directory."""

from tests.forge_fixture import forge, forge_factory  # noqa: F401
