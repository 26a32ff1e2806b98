#!/usr/bin/env python
"""How much faster the evaluations' batched streaming sampler and captioner are than one motion at
a time, side by side in one run, and how far apart their results are (they should agree up to
float rounding).

    python scripts/bench_stream_batch.py                      # the shipped streaming default
    python scripts/bench_stream_batch.py --checkpoint tiny --prompts 4 --seconds 1   # plumbing only

Makes --prompts prompts of the probe suite, --seconds each with the checkpoint's own guidance,
first one at a time (StreamPipeline.features), then --batch at a time (features_batch, what
`momug eval` does), and prints motions per minute for both and their ratio; then captions the
motions it made one at a time (describe_features) and --batch at a time (describe_features_batch,
what `momug eval m2t` does), and prints both times and how many captions came out the same.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import machine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="streaming model folder or 'tiny'")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    from momug.eval.probes import default_probes
    from momug.stream.pipeline import StreamPipeline

    pipe = StreamPipeline.load(args.checkpoint, args.device)
    prompts = [p.prompt for p in default_probes()][:args.prompts]
    seeds = list(range(len(prompts)))
    n = int(round(args.seconds * pipe.fps))
    pipe.features(prompts[0], 8, 0)  # warm-up
    start = time.perf_counter()
    alone = [pipe.features(p, n, s) for p, s in zip(prompts, seeds)]
    one_at_a_time = time.perf_counter() - start
    start = time.perf_counter()
    batched = []
    for i in range(0, len(prompts), args.batch):
        batched += pipe.features_batch(prompts[i:i + args.batch], n, seeds[i:i + args.batch])
    together = time.perf_counter() - start
    gap = max(float(np.abs(a - b).max()) for a, b in zip(alone, batched))
    print(f"{len(prompts)} prompts x {args.seconds:g} s, guidance {pipe.guidance:g}, model {pipe.model_id}; "
          f"machine: {machine()}")
    print(f"one at a time:     {one_at_a_time:7.1f} s  ({60 * len(prompts) / one_at_a_time:.1f} motions/min)")
    print(f"{args.batch} at a time:     {together:7.1f} s  ({60 * len(prompts) / together:.1f} motions/min)")
    print(f"speed-up: {one_at_a_time / together:.2f}x; largest feature difference between the two: {gap:.2e}")

    start = time.perf_counter()
    captions_alone = [pipe.describe_features(f) for f in alone]
    one_at_a_time = time.perf_counter() - start
    start = time.perf_counter()
    captions = []
    for i in range(0, len(alone), args.batch):
        captions += pipe.describe_features_batch(alone[i:i + args.batch])
    together = time.perf_counter() - start
    same = sum(a == b for a, b in zip(captions_alone, captions))
    print(f"captions, one at a time: {one_at_a_time:7.1f} s; {args.batch} at a time: {together:7.1f} s; "
          f"speed-up {one_at_a_time / together:.2f}x; the same caption for {same} of {len(captions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
