"""One probe table from several `momug eval probes --json` runs of the same checkpoint, suite and
guidance with different seeds (e.g. one process per seed, one per core):

    momug eval probes --suite extended --seed 0 --seeds 1 --json a.json &
    momug eval probes --suite extended --seed 1 --seeds 1 --json b.json
    python scripts/merge_probe_runs.py a.json b.json [--json both.json]
"""

from __future__ import annotations

import argparse
import json
import sys

from momug.eval.probe_report import tabulate

# split_sequences: runs that made "A then B" step by step and runs that read it whole do not mix.
SAME = ("checkpoint", "suite", "guidance", "task", "split_sequences")


def merge(runs: list[dict]) -> dict:
    """The runs' rows as one table; refuses runs of different checkpoints, suites, guidance or ways
    of making sequences, and a (prompt, seed) that two runs both made."""
    first = runs[0]
    for run in runs[1:]:
        differ = [k for k in SAME if run.get(k) != first.get(k)]
        if differ:
            raise SystemExit(f"merge_probe_runs: the runs differ in {', '.join(differ)}")
    rows, seen = [], set()
    for run in runs:
        for row in run["rows"]:
            key = (row["prompt"], row["seed"])
            if key in seen:
                raise SystemExit(f"merge_probe_runs: seed {row['seed']} of {row['prompt']!r} is in two runs")
            seen.add(key)
            rows.append(row)
    mode = first.get("summary", {}).get("mode", "diffusion")
    table = tabulate(rows, mode)
    out = {k: first.get(k) for k in SAME + ("model", "data")}
    out.update(seeds=sorted({r["seed"] for r in rows}), summary=table["summary"], by_tag=table["by_tag"], rows=rows)
    return out | {"table": table["table"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="JSON files written by momug eval probes --json")
    parser.add_argument("--json", help="also write the merged table here")
    args = parser.parse_args(argv)
    runs = [json.load(open(path)) for path in args.runs]
    merged = merge(runs)
    print(f"seeds {merged['seeds']}")
    print(merged.pop("table"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(merged, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
