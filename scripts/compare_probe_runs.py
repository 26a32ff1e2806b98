#!/usr/bin/env python
"""Two checkpoints' probe runs side by side, generation by generation: the probes make the same
(prompt, seed) pairs for both, so what tells them apart is the pairs one passes and the other
fails. Prints each group's pass counts, those discordant pairs, and an exact two-sided sign test
(McNemar's) of whether B passes more or fewer than A beyond what chance reshuffles.

    python scripts/compare_probe_runs.py A/probes_extended_4seeds.json B/probes_extended_4seeds.json
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import sys


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of wins against losses under an even chance."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(0, min(wins, losses) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def keyed(path: str) -> tuple[dict, dict]:
    run = json.loads(open(path, encoding="utf-8").read())
    return run, {(row["prompt"], row["seed"]): row for row in run["rows"]}


def compare(a_path: str, b_path: str) -> str:
    a_run, a = keyed(a_path)
    b_run, b = keyed(b_path)
    # split_sequences is missing (None) from runs written before it was recorded.
    ways = {a_run.get("split_sequences"), b_run.get("split_sequences")} - {None}
    if a_run.get("suite") != b_run.get("suite") or len(ways) > 1:
        raise SystemExit("compare_probe_runs: the runs differ in suite or in how sequences were made")
    shared = sorted(set(a) & set(b))
    if not shared:
        raise SystemExit("compare_probe_runs: the runs share no (prompt, seed) pair")
    groups = collections.defaultdict(lambda: [0, 0, 0, 0, 0])  # n, a passes, b passes, b only, a only
    for key in shared:
        ra, rb = a[key], b[key]
        for name in ["all", *ra["tags"], "held-out" if ra["held_out"] else "corpus-worded"]:
            g = groups[name]
            g[0] += 1
            g[1] += ra["passed"]
            g[2] += rb["passed"]
            g[3] += rb["passed"] and not ra["passed"]
            g[4] += ra["passed"] and not rb["passed"]
    lines = [f"A: {a_run.get('checkpoint')}  ({a_path})", f"B: {b_run.get('checkpoint')}  ({b_path})",
             f"{len(shared)} generations made by both", "",
             f"{'group':<14} {'A passes':>10} {'B passes':>10} {'B only':>7} {'A only':>7} {'p':>6}"]
    order = ["all", "corpus-worded", "held-out"] + sorted(k for k in groups if k not in ("all", "corpus-worded", "held-out"))
    for name in order:
        n, pa, pb, b_only, a_only = groups[name]
        lines.append(f"{name:<14} {pa:>4}/{n:<5} {pb:>4}/{n:<5} {b_only:>7} {a_only:>7} {sign_test(b_only, a_only):>6.2f}")
    lines += ["", "p: exact two-sided sign test on the discordant pairs (B only against A only); it treats",
              "every generation as independent, which generations of one prompt are not quite."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="probe run (momug eval probes --json, or a merged one)")
    parser.add_argument("b", help="the other checkpoint's run of the same suite and seeds")
    args = parser.parse_args()
    print(compare(args.a, args.b))
    return 0


if __name__ == "__main__":
    sys.exit(main())
