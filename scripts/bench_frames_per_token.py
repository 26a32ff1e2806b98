#!/usr/bin/env python
"""How many motion frames to fold into one LLM position: cost of a training step and of one
sampling step for frames_per_token in 1, 2, 4, 8, measured side by side on the real base LLM.

    python scripts/bench_frames_per_token.py [--base gemma3-270m|tiny] [--seconds 10] [--batch 8]

The motion heads are freshly initialised: this measures speed only. Quality per setting needs a
training run each (see README: why the default is 8).
"""

from __future__ import annotations

import argparse
import time

import torch

from momug.model.checkpoint import build_model
from momug.model.config import MoMugConfig


def best_of(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="gemma3-270m")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    frames = int(args.seconds * 20)
    print(f"base {args.base}, {frames}-frame motions, training batch {args.batch}, torch threads "
          f"{torch.get_num_threads()}")
    print(f"{'frames/token':>12} {'motion tokens':>14} {'train step':>11} {'sample step':>12}")
    for fpt in (1, 2, 4, 8):
        model = build_model(MoMugConfig(base_model=args.base, frames_per_token=fpt, max_frames=frames))
        x = torch.randn(frames, model.config.feature_dim)
        item = {"task": "t2m", "text_ids": model.text_ids("a person jogs in a circle then waves"),
                "motion": model.to_tokens(x), "frame_mask": model.to_tokens(torch.ones_like(x)).bool()}
        cap = dict(item, task="m2t")
        batch = [cap if i < max(1, args.batch // 3) else item for i in range(args.batch)]
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-5)

        def train_step():
            loss = model.training_loss(batch)["loss"]
            loss.backward()
            opt.step()
            opt.zero_grad()

        train_step()
        t_train = best_of(train_step, args.repeats)
        model.eval()
        model.sample(["a person waves"], [frames], [0], steps=1)
        t_sample = best_of(lambda: model.sample(["a person jogs in a circle then waves"], [frames], [0], steps=4),
                           args.repeats) / 4
        print(f"{fpt:>12} {len(item['motion']):>14} {t_train:>10.2f}s {t_sample:>11.3f}s")
        del model, opt


if __name__ == "__main__":
    main()
