"""The demo's issues are real: each new test fails on the sample until its fix is applied."""

from __future__ import annotations

import subprocess
import sys

import pytest

from controller.sandbox import issues


def run_tests(root) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "unittest", "-q"], cwd=root, capture_output=True, text=True
    )


def test_sample_passes_as_shipped(tmp_path):
    issues.copy_sample(tmp_path)

    result = run_tests(tmp_path)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("issue", issues.ISSUES, ids=lambda issue: issue.key)
def test_issue_test_fails_before_fix_and_passes_after(tmp_path, issue):
    issues.copy_sample(tmp_path)
    for path, content in issue.tests.items():
        (tmp_path / path).write_text(content)

    assert run_tests(tmp_path).returncode != 0
    assert not issues.fix_applied(issue, tmp_path)

    changed = issues.apply_fix(issue, tmp_path)

    assert set(changed) == {edit.path for edit in issue.edits}
    assert run_tests(tmp_path).returncode == 0
    assert issues.fix_applied(issue, tmp_path)
    assert issues.apply_fix(issue, tmp_path) == []


def test_all_fixes_together_pass(tmp_path):
    issues.copy_sample(tmp_path)
    for issue in issues.ISSUES:
        issues.apply_fix(issue, tmp_path)

    result = run_tests(tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"Ran {6 + sum(len(i.tests) for i in issues.ISSUES)} tests" in result.stderr


def test_issue_text_does_not_give_the_fix_away():
    for issue in issues.ISSUES:
        for edit in issue.edits:
            assert edit.new.strip() not in issue.body
    assert len(issues.ISSUES) >= 5
    assert sum(issue.stalls for issue in issues.ISSUES) >= 1
    assert issues.find(issues.ISSUES[0].title.upper()) is issues.ISSUES[0]
