"""The performance benchmark suite: every figure next to its baseline, in one run.

    python -m tests.bench [--quick] [--json FILE]

Figures are medians of several runs on whatever machine runs them, and each baseline
(the naive version of the same work) is measured in the same run, so the ratio holds
on a noisy machine even when the absolute numbers move. `--quick` runs a smaller
version in about a minute (at 1000 issues its baseline reads 100 issues one by one and
scales up); the smaller options exist for the smoke test. It asserts nothing: the
table marks each target met or missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from tests.bench import live, steady

TARGET_STEADY_WALL_S = 0.3
TARGET_STEADY_COUNTED = 2


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--sizes", help="tracked issues per steady pass (default 10,100,1000)")
    parser.add_argument("--agents", type=int, help="live agents for the overhead figure")
    parser.add_argument("--seconds", type=float, help="length of each overhead window")
    parser.add_argument("--transitions", type=int, help="transitions for the growth figure")
    parser.add_argument("--runs", type=int, help="repetitions of each latency")
    return parser.parse_args(argv)


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def table(figures: dict) -> str:
    lines = ["figure                              ours            baseline        target", "-" * 88]
    for size, ours in figures["steady_pass"].items():
        base = figures["steady_pass_baseline"][size]
        target = ""
        if size == "1000":
            ok = ours["wall_s"] < TARGET_STEADY_WALL_S and ours["counted"] <= TARGET_STEADY_COUNTED
            target = f"< 0.3 s, <= 2 counted: {_mark(ok)}"
        lines.append(
            f"steady pass, {size:>4} issues: wall  {ours['wall_s']:>8.3f} s      "
            f"{base['wall_s']:>8.3f} s      {target}"
        )
        lines.append(f"{'':26}cpu   {ours['cpu_s']:>8.3f} s      {base['cpu_s']:>8.3f} s")
        lines.append(f"{'':26}reqs  {ours['requests']:>8d}        {base['requests']:>8d}")
        lines.append(f"{'':26}count {ours['counted']:>8d}        {base['counted']:>8d}")
    for key, label, limit in (
        ("reaction_latency_s", "reaction latency", 5.0),
        ("edit_latency_s", "hand-edit latency", 1.0),
        ("stall_latency_s", "stall latency (threshold 0)", 3.0),
    ):
        value = figures[key]
        lines.append(
            f"{label:<32}{value:>8.2f} s      {'':14}  < {limit:g} s: {_mark(value < limit)}"
        )
    ours, base = figures["overhead_50"], figures["overhead_50_baseline"]
    agents = figures["samples"]["agents"]
    ok = ours["cpu_percent"] < 2.0 and ours["rss_mb"] < 100
    lines.append(
        f"overhead, {agents} agents: cpu   {ours['cpu_percent']:>8.2f} %      "
        f"{base['cpu_percent']:>8.2f} %      < 2 %, < 100 MB: {_mark(ok)}"
    )
    lines.append(f"{'':26}rss   {ours['rss_mb']:>8.1f} MB     {base['rss_mb']:>8.1f} MB")
    lines.append(
        f"{'':26}tmux  {ours['tmux_spawns_per_s']:>8.2f} /s     "
        f"{base['tmux_spawns_per_s']:>8.2f} /s"
    )
    growth = figures["growth"]
    flat = growth["rss_mb_delta"] < 5 and growth["fds_delta"] <= 0
    transitions = figures["samples"]["transitions"]
    lines.append(
        f"growth, {transitions} transitions: rss {growth['rss_mb_delta']:>+7.1f} MB, "
        f"fds {growth['fds_delta']:>+4d}{'':13}flat: {_mark(flat)}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    quick = args.quick
    sizes = [int(s) for s in (args.sizes or "10,100,1000").split(",") if s]
    runs = args.runs or (2 if quick else 5)
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s]{line}", file=sys.stderr, flush=True)

    figures: dict = {"steady_pass": {}, "steady_pass_baseline": {}}
    for size in sizes:
        say(f"  steady pass with {size} tracked issues ...")
        ours, base = steady.measure(
            size,
            passes=3 if quick else 7,
            baseline_passes=1 if quick or size >= 1000 else 3,
            baseline_sample=100 if quick else None,
        )
        figures["steady_pass"][str(size)] = ours
        figures["steady_pass_baseline"][str(size)] = base
    figures.update(
        live.measure(
            reaction_runs=runs,
            edit_runs=runs * 2,
            stall_runs=runs,
            agents=args.agents or (3 if quick else 50),
            seconds=args.seconds or (3 if quick else 60),
            transitions=args.transitions or (40 if quick else 1000),
            say=say,
        )
    )
    figures["elapsed_s"] = round(time.monotonic() - started, 1)
    figures["samples"]["baseline_sampled"] = quick
    print(table(figures))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)
            handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
