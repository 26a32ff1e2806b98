#!/usr/bin/env python
"""Cost of one training step with the LoRA adapter at every position (adapter_scope "all") against
motion positions only ("motion"), measured side by side: the two models are built with the same
weights and their steps interleaved, so a busy CPU slows both alike.

    OMP_NUM_THREADS=1 python scripts/bench_adapter_scope.py [--base tiny|gemma3-270m] [--steps 6] [--batch 8]

A step is what momug train does: the loss over a batch (70% text-to-motion, 30% motion-to-text,
like the training configs), backward, AdamW. The heads are fresh: this measures speed only.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from momug.model.checkpoint import build_model
from momug.model.config import MoMugConfig

PROMPTS = ["a person walks forward slowly", "someone jumps twice", "a person waves with the right hand",
           "the man turns left and then runs"]


def batch_for(model, size: int, frames: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    n_m2t = max(1, round(0.3 * size))
    items = []
    for i in range(size):
        x = torch.randn(frames, model.config.feature_dim, generator=g)
        items.append({"task": "m2t" if i < n_m2t else "t2m", "text_ids": model.text_ids(PROMPTS[i % len(PROMPTS)]),
                      "motion": model.to_tokens(x), "frame_mask": model.to_tokens(torch.ones_like(x)).bool()})
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="tiny")
    ap.add_argument("--steps", type=int, default=6, help="timed steps per scope (after one warm-up step)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=120, help="motion frames per example")
    args = ap.parse_args()

    models, optimizers = {}, {}
    for scope in ("all", "motion"):
        torch.manual_seed(0)
        fpt = 4 if args.base == "tiny" else 8
        models[scope] = build_model(MoMugConfig(base_model=args.base, frames_per_token=fpt, adapter_scope=scope))
        models[scope].train()
        params = [p for p in models[scope].parameters() if p.requires_grad]
        optimizers[scope] = torch.optim.AdamW(params, lr=1e-5)
    models["motion"].load_trainable_state_dict(models["all"].trainable_state_dict())
    batch = batch_for(models["all"], args.batch, args.frames, seed=0)

    def step(scope: str) -> float:
        start = time.perf_counter()
        loss = models[scope].training_loss(batch, generator=torch.Generator().manual_seed(0))["loss"]
        loss.backward()
        optimizers[scope].step()
        optimizers[scope].zero_grad(set_to_none=True)
        return time.perf_counter() - start

    times = {"all": [], "motion": []}
    for scope in times:
        step(scope)  # warm-up: allocator, first-call overheads
    for i in range(args.steps):
        order = ("all", "motion") if i % 2 == 0 else ("motion", "all")  # neither always runs first
        for scope in order:
            times[scope].append(step(scope))

    tokens = models["all"].to_tokens(torch.zeros(args.frames, models["all"].config.feature_dim)).shape[0]
    print(f"base {args.base}, batch {args.batch} ({round(0.3 * args.batch) or 1} captions), {args.frames}-frame "
          f"motions ({tokens} motion tokens), {args.steps} timed steps each, torch threads {torch.get_num_threads()}")
    print(f"{'adapter_scope':>13} {'median s/step':>14} {'mean s/step':>12} {'min':>8} {'max':>8}")
    for scope, ts in times.items():
        print(f"{scope:>13} {statistics.median(ts):>14.3f} {statistics.mean(ts):>12.3f} "
              f"{min(ts):>8.3f} {max(ts):>8.3f}")
    ratio = statistics.median(times["motion"]) / statistics.median(times["all"])
    print(f"motion / all (medians): {ratio:.3f}")


if __name__ == "__main__":
    main()
