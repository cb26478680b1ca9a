"""The demo's issue set: real small bugs and missing features of the sample project.

Each entry is what a person would file (title and body) plus the change that fixes it:
exact text replacements in the sample's modules and a new test that fails before the
change and passes after it. The scripted agent looks an issue up here by its title and
applies the change in its worktree, so the demo does real edits, commits and merges.

The issue text must never carry the fix: only the title and body reach the forge and
the agent's prompt. This module has no I/O beyond reading and writing the files of the
worktree it is given, and imports nothing from the controller.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_DIR = Path(__file__).with_name("sample")


@dataclass(frozen=True)
class Edit:
    """Replace `old` with `new` in the file at `path` (relative to the project root)."""

    path: str
    old: str
    new: str


@dataclass(frozen=True)
class SampleIssue:
    key: str
    title: str
    body: str
    edits: tuple[Edit, ...]
    # New test files, path -> content; each fails before the edits and passes after.
    tests: dict[str, str] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    # The scripted agent goes idle after committing, without pushing, so the
    # controller's nudge has something to do.
    stalls: bool = False

    def paths(self) -> list[str]:
        return sorted({edit.path for edit in self.edits} | set(self.tests))


ISSUES: tuple[SampleIssue, ...] = (
    SampleIssue(
        key="slug-dashes",
        title="slugify leaves repeated dashes in slugs",
        body=(
            '`slugify("Hello,  World!")` returns `hello---world` instead of `hello-world`.\n\n'
            "Runs of punctuation and spaces should become a single dash."
        ),
        labels=("bug",),
        edits=(
            Edit(
                "textkit/slug.py",
                'return re.sub(r"[^a-z0-9]", "-", lowered).strip("-")',
                'return re.sub(r"[^a-z0-9]+", "-", lowered).strip("-")',
            ),
        ),
        tests={
            "tests/test_slug_dashes.py": (
                "import unittest\n\nfrom textkit.slug import slugify\n\n\n"
                "class SlugDashesTest(unittest.TestCase):\n"
                "    def test_runs_of_separators_become_one_dash(self):\n"
                '        self.assertEqual(slugify("Hello,  World!"), "hello-world")\n'
            ),
        },
    ),
    SampleIssue(
        key="word-count-spaces",
        title="word_count counts extra words when text has double spaces",
        body=(
            '`word_count("one  two")` gives 3, and words separated by a tab count as '
            "one.\n\nAny run of whitespace should separate two words."
        ),
        labels=("bug",),
        stalls=True,
        edits=(
            Edit("textkit/counting.py", 'return len(text.split(" "))', "return len(text.split())"),
        ),
        tests={
            "tests/test_word_count_spaces.py": (
                "import unittest\n\nfrom textkit.counting import word_count\n\n\n"
                "class WordCountSpacesTest(unittest.TestCase):\n"
                "    def test_any_whitespace_separates_words(self):\n"
                '        self.assertEqual(word_count("one  two"), 2)\n'
                '        self.assertEqual(word_count("one\\ttwo\\n"), 2)\n'
            ),
        },
    ),
    SampleIssue(
        key="median-even",
        title="median of an even number of values is wrong",
        body=(
            "`median([1, 2, 3, 4])` returns 3. For an even count it should be the mean "
            "of the two middle values, 2.5."
        ),
        labels=("bug",),
        edits=(
            Edit(
                "textkit/stats.py",
                "    return ordered[len(ordered) // 2]\n",
                "    middle = len(ordered) // 2\n"
                "    if len(ordered) % 2 == 0:\n"
                "        return (ordered[middle - 1] + ordered[middle]) / 2\n"
                "    return ordered[middle]\n",
            ),
        ),
        tests={
            "tests/test_median_even.py": (
                "import unittest\n\nfrom textkit.stats import median\n\n\n"
                "class MedianEvenTest(unittest.TestCase):\n"
                "    def test_even_count_averages_the_middle_pair(self):\n"
                "        self.assertEqual(median([4, 1, 3, 2]), 2.5)\n"
            ),
        },
    ),
    SampleIssue(
        key="clamp-high",
        title="clamp returns the lower bound for values above the range",
        body="`clamp(15, 0, 10)` returns 0; it should return 10.",
        labels=("bug",),
        edits=(
            Edit(
                "textkit/clamp.py",
                "    if value > high:\n        return low\n",
                "    if value > high:\n        return high\n",
            ),
        ),
        tests={
            "tests/test_clamp_high.py": (
                "import unittest\n\nfrom textkit.clamp import clamp\n\n\n"
                "class ClampHighTest(unittest.TestCase):\n"
                "    def test_values_above_the_range_give_the_upper_bound(self):\n"
                "        self.assertEqual(clamp(15, 0, 10), 10)\n"
            ),
        },
    ),
    SampleIssue(
        key="duration-hours",
        title="format_duration should show hours",
        body=(
            "`format_duration(3725)` gives `62m 5s`. Durations of an hour or more should "
            "read `1h 2m 5s`."
        ),
        labels=("enhancement",),
        edits=(
            Edit(
                "textkit/duration.py",
                "    minutes, rest = divmod(seconds, 60)\n    if minutes:\n",
                "    minutes, rest = divmod(seconds, 60)\n"
                "    hours, minutes = divmod(minutes, 60)\n"
                "    if hours:\n"
                '        return f"{hours}h {minutes}m {rest}s"\n'
                "    if minutes:\n",
            ),
        ),
        tests={
            "tests/test_duration_hours.py": (
                "import unittest\n\nfrom textkit.duration import format_duration\n\n\n"
                "class DurationHoursTest(unittest.TestCase):\n"
                "    def test_an_hour_or_more_shows_hours(self):\n"
                '        self.assertEqual(format_duration(3725), "1h 2m 5s")\n'
            ),
        },
    ),
    SampleIssue(
        key="roman-subtractive",
        title="to_roman writes 4 as IIII",
        body=(
            "Roman numerals use subtractive forms: 4 is IV, 9 is IX, 40 is XL, 90 is XC, "
            "400 is CD and 900 is CM. `to_roman(1994)` should be `MCMXCIV`."
        ),
        labels=("bug",),
        edits=(
            Edit(
                "textkit/roman.py",
                'NUMERALS = [(1000, "M"), (500, "D"), (100, "C"), (50, "L"), (10, "X"), '
                '(5, "V"), (1, "I")]\n',
                "NUMERALS = [\n"
                '    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),\n'
                '    (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),\n'
                "]\n",
            ),
        ),
        tests={
            "tests/test_roman_subtractive.py": (
                "import unittest\n\nfrom textkit.roman import to_roman\n\n\n"
                "class RomanSubtractiveTest(unittest.TestCase):\n"
                "    def test_subtractive_forms(self):\n"
                '        self.assertEqual(to_roman(4), "IV")\n'
                '        self.assertEqual(to_roman(1994), "MCMXCIV")\n'
            ),
        },
    ),
)


def find(title: str) -> SampleIssue | None:
    """The sample issue filed under `title`, if any."""
    wanted = title.strip().lower()
    return next((issue for issue in ISSUES if issue.title.lower() == wanted), None)


def fix_applied(issue: SampleIssue, root: Path) -> bool:
    """Whether `root` already holds the fix (every edit made, every test written)."""
    for edit in issue.edits:
        target = root / edit.path
        if not target.exists() or edit.new not in target.read_text():
            return False
    return all((root / path).exists() for path in issue.tests)


def apply_fix(issue: SampleIssue, root: Path) -> list[str]:
    """Make the fix in the project at `root`; returns the paths it changed.

    Safe to repeat: an edit already made or a test already written is left alone.
    Raises LookupError when a file no longer reads as the fix expects.
    """
    changed = []
    for edit in issue.edits:
        target = root / edit.path
        text = target.read_text()
        if edit.new in text:
            continue
        if edit.old not in text:
            raise LookupError(
                f"{target}: the code the fix for {issue.title!r} changes is not there; "
                "the file was edited by hand or the sample project changed"
            )
        _write(target, text.replace(edit.old, edit.new, 1))
        changed.append(edit.path)
    for path, content in issue.tests.items():
        target = root / path
        if not target.exists():
            _write(target, content)
            changed.append(path)
    return changed


def seed_origin(clone_url: str | Path) -> None:
    """Push the sample project to a forge repository as its `main` branch.

    A `main` that already holds exactly the sample project is left as it is.
    """
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    identity = ("-c", "user.name=Sandbox", "-c", "user.email=sandbox@example.invalid")
    folder = tempfile.mkdtemp(prefix="sample-seed-")
    try:
        seed = Path(folder) / "seed"
        subprocess.run(
            ["git", "clone", "-q", str(clone_url), str(seed)],
            check=True,
            capture_output=True,
            env=env,
        )
        copy_sample(seed)
        changed = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=seed,
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout
        if not changed:
            return
        for args in (
            ("add", "-A"),
            (*identity, "commit", "-q", "-m", "Sample project: textkit"),
            ("push", "-q", "origin", "HEAD:main"),
        ):
            subprocess.run(["git", *args], cwd=seed, check=True, capture_output=True, env=env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def copy_sample(destination: Path) -> None:
    """Copy the sample project's files (without caches) into `destination`."""
    shutil.copytree(
        SAMPLE_DIR,
        destination,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"),
    )


def _write(target: Path, text: str) -> None:
    # Write beside the file and rename, so an interrupted agent never leaves half a file.
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text)
    partial.replace(target)
