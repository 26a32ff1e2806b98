#!/usr/bin/env python
"""Cost of one training step with the LoRA adapter at every position (adapter_scope "all") against
motion positions only ("motion"), the latter both with every row run whole in one graph
(training_loss(cache_prompt=False), how "motion" trained at first) and with the text-to-motion
prompts run once without autograd and only the motion side with grad (the default for "motion"),
measured side by side; and the last with the adapter grown onto the MLPs (lora_targets with
gate/up/down_proj, recipe part 14). The models are built with the same weights (the MLP layers
start at zero) and their steps interleaved (in a rotating order), so a busy CPU slows all alike.

    OMP_NUM_THREADS=1 python scripts/bench_adapter_scope.py [--base tiny|gemma3-270m] [--steps 6] [--batch 8]

A step is what momug train does: the loss over a batch (70% text-to-motion, 30% motion-to-text,
like the training configs; every row its own caption), backward, AdamW. The heads are fresh: this
measures speed only. The warm-up losses are printed: the two "motion" rows agree to float rounding.

Measured (one thread, batch 8, 120 frames, 10 steps, another training on the other core):
Gemma 3 270M 2.59 s per step for "all", 2.57 s for "motion" with whole rows, 2.27 s with the
prompts cached (a second run 2.68, 2.62, 2.30); tiny model 0.047, 0.048, 0.056 s. With the MLP
row (2026-12-06, 6 steps, two other jobs on the machine): 2.42, 2.37, 2.01 and 2.18 s, the MLP
LoRA 8% over attention-only.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from momug.model.checkpoint import build_model
from momug.model.config import MoMugConfig

PROMPTS = ["a person walks forward slowly", "someone jumps twice", "a person waves with the right hand",
           "the man turns left and then runs",
           "a person walks forward, turns around and walks back to where they started",
           "someone squats down twice and then stands up with both arms raised",
           "a person steps to the left, then to the right, and kicks with the left leg",
           "the person hops on the spot three times and then sits down on the floor"]


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

    attention = ["q_proj", "k_proj", "v_proj", "o_proj"]
    rows = {"all": ("all", False, attention), "motion": ("motion", False, attention),
            "motion, cached prompt": ("motion", True, attention),
            "same + MLP LoRA": ("motion", True, attention + ["gate_proj", "up_proj", "down_proj"])}
    models, optimizers = {}, {}
    for row, (scope, _, targets) in rows.items():
        torch.manual_seed(0)
        fpt = 4 if args.base == "tiny" else 8
        models[row] = build_model(MoMugConfig(base_model=args.base, frames_per_token=fpt, adapter_scope=scope,
                                              lora_targets=targets))
        models[row].train()
        params = [p for p in models[row].parameters() if p.requires_grad]
        optimizers[row] = torch.optim.AdamW(params, lr=1e-5)
    shared = models["all"].trainable_state_dict()
    for row in rows:
        own = models[row].trainable_state_dict()
        models[row].load_trainable_state_dict({k: shared.get(k, v) for k, v in own.items()})
    batch = batch_for(models["all"], args.batch, args.frames, seed=0)

    def step(row: str) -> tuple[float, float]:
        start = time.perf_counter()
        loss = models[row].training_loss(batch, generator=torch.Generator().manual_seed(0),
                                         cache_prompt=rows[row][1])["loss"]
        loss.backward()
        optimizers[row].step()
        optimizers[row].zero_grad(set_to_none=True)
        return time.perf_counter() - start, float(loss.detach())

    times = {row: [] for row in rows}
    warm = {row: step(row)[1] for row in rows}  # warm-up: allocator, first-call overheads
    names = list(rows)
    for i in range(args.steps):
        for row in names[i % len(names):] + names[:i % len(names)]:  # each row runs first, ..., last in turn
            times[row].append(step(row)[0])

    tokens = models["all"].to_tokens(torch.zeros(args.frames, models["all"].config.feature_dim)).shape[0]
    print(f"base {args.base}, batch {args.batch} ({round(0.3 * args.batch) or 1} captions), {args.frames}-frame "
          f"motions ({tokens} motion tokens), {args.steps} timed steps each, torch threads {torch.get_num_threads()}")
    print(f"warm-up losses: " + ", ".join(f"{row} {loss:.7f}" for row, loss in warm.items()))
    print(f"{'adapter_scope':>22} {'median s/step':>14} {'mean s/step':>12} {'min':>8} {'max':>8} {'/ all':>6}")
    base = statistics.median(times["all"])
    for row, ts in times.items():
        print(f"{row:>22} {statistics.median(ts):>14.3f} {statistics.mean(ts):>12.3f} "
              f"{min(ts):>8.3f} {max(ts):>8.3f} {statistics.median(ts) / base:>6.3f}")


if __name__ == "__main__":
    main()
