"""Pytest fixtures that run a sandbox forge: import them into a test module or conftest.

    from tests.forge_fixture import forge, forge_factory  # noqa: F401

`forge` is a started forge on a free loopback port with its data in the test's
temporary directory; `forge_factory` starts more (for example with a CI command, or a
second forge on the same directory after a restart). All are stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from controller.sandbox.forge import Forge


@pytest.fixture
def forge_factory(tmp_path) -> Iterator[Callable[..., Forge]]:
    started: list[Forge] = []

    def start(directory=None, **options) -> Forge:
        instance = Forge(directory or tmp_path / "forge", **options).start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture
def forge(forge_factory) -> Forge:
    return forge_factory()
