"""The suite's figures, counted while the tests run and written once at the end.

Every test adds what it did (kills survived, faults injected, bad inputs tried) and what
it checked (issues closed, duplicates, lost or torn state files, token sightings). The
conftest writes them to `figures.json` beside this file and prints them, so a run of
`pytest tests/reliability` ends with the numbers the reliability claims rest on.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

PATH = Path(__file__).resolve().parent / "figures.json"


class Figures:
    def __init__(self) -> None:
        self.kills = 0
        self.faults: Counter[str] = Counter()
        self.bad_inputs = 0
        self.closed = 0
        self.duplicates = 0
        self.lost_or_torn = 0
        self.token_sightings = 0
        self.touched = False

    def fault(self, kind: str, count: int = 1) -> None:
        self.touched = True
        self.faults[kind] += count

    def add(self, **counts: int) -> None:
        self.touched = True
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict:
        return {
            "kills": self.kills,
            "faults": dict(sorted(self.faults.items())),
            "bad_inputs": self.bad_inputs,
            "closed": self.closed,
            "duplicates": self.duplicates,
            "lost_or_torn": self.lost_or_torn,
            "token_sightings": self.token_sightings,
        }

    def write(self) -> str:
        text = json.dumps(self.as_dict(), indent=2, sort_keys=False) + "\n"
        PATH.write_text(text, encoding="utf-8")
        return text


FIGURES = Figures()
