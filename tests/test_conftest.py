"""The suite's own hooks leave nothing open behind them."""

from __future__ import annotations

import gc
import warnings

from tests.conftest import pytest_report_header


def test_the_report_header_leaves_no_pipe_or_process_behind():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        header = pytest_report_header(None)
        gc.collect()
    assert header.startswith("tmux: ")
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
