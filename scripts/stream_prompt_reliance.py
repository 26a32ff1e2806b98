"""How much the streaming model's next-latent prediction depends on the prompt: the teacher-forced
flow-matching error on validation clips with each clip's own prompt, with another clip's prompt
and with the empty prompt, by position in the motion (same noise and flow times for all three, so
the comparison is paired). If another clip's prompt predicts a latent about as well as its own,
the model is reading the motion so far, not the words, at that position. For a model with a plan
latent (StreamConfig.plan_latent) the plan's own error comes first, and a fourth row reads the next
clip's plan in place of each clip's own: if that hurts the later latents, they follow the plan.
With --sided the clips are ones whose caption names one side (left or right, not both), and a row
reads each caption with its sides swapped ("waves with the right hand" for a left wave): if that
predicts as well as the caption itself, the model is not reading the side word.

    python scripts/stream_prompt_reliance.py [--checkpoint DIR] [--data corpus] [--clips 64] [--seed 0] [--sided]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

# Latent positions (1-based: the first latent is predicted from BOM alone) grouped for the table.
BUCKETS = ((1, 1), (2, 4), (5, 12), (13, 10_000))


@torch.no_grad()
def flow_errors(model, texts: list[list[int]], latents: list[torch.Tensor], seed: int,
                plans: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """Per clip, the flow head's squared velocity error at each target, teacher forced: the plan first
    for a model with a plan latent (its own, or plans[b] read in its place), then each latent (n,)."""
    embeds, attn, motion, bom_at = model.build(texts, latents, plans=plans)
    h, _ = model.hidden(embeds, attn, motion)
    g = torch.Generator().manual_seed(seed)
    out = []
    for b, z in enumerate(latents):
        cond, target, _ = model.row_conditions(h[b], bom_at[b], z)
        out.append(model.flow.errors(target, cond, generator=g).float())
    return out


def by_bucket(errors: list[torch.Tensor], skip: int = 0) -> list[float]:
    """Mean error per latent-position bucket; skip: leading targets that are not latents (a plan)."""
    flat = [(i + 1, float(e)) for err in errors for i, e in enumerate(err[skip:])]
    return [float(np.mean([e for pos, e in flat if lo <= pos <= hi] or [np.nan])) for lo, hi in BUCKETS]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="streaming checkpoint (default: the shipped one)")
    ap.add_argument("--data", default="corpus")
    ap.add_argument("--split", default="val")
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sided", action="store_true", help="clips whose caption names one side, and a row "
                    "with each caption's sides swapped")
    args = ap.parse_args(argv)

    from momug.data.humanml3d import MotionTextFolder
    from momug.data.mirror import mirror_text, names_one_side
    from momug.stream.pipeline import StreamPipeline
    from momug.stream.train_ar import LatentBatches, StreamTrainSettings

    pipe = StreamPipeline.load(args.checkpoint, "cpu")
    model, vae = pipe.model.float().eval(), pipe.vae.float().eval()
    folder = MotionTextFolder(args.data, args.split)
    batches = LatentBatches(folder, vae, model, StreamTrainSettings(), seed=args.seed)
    rng = np.random.default_rng(args.seed)
    texts, latents, swapped_sides = [], [], []
    # Without --sided the same draw as before the option existed, so earlier tables stay comparable.
    order = rng.permutation(len(folder)) if args.sided else \
        rng.choice(len(folder), size=min(args.clips, len(folder)), replace=False)
    for index in order:
        if len(texts) == args.clips:
            break
        feats, text = folder.sample(int(index), rng, StreamTrainSettings().max_frames)
        if args.sided and not names_one_side(text):
            continue
        texts.append(model.text_ids(text))
        swapped_sides.append(model.text_ids(mirror_text(text)))
        latents.append(batches.encode(feats))
    variants = {"own prompt": (texts, None), "another clip's prompt": (texts[1:] + texts[:1], None),
                "empty prompt": ([model.empty_text_ids] * len(texts), None)}
    if args.sided:
        variants["sides swapped"] = (swapped_sides, None)
    k = model.plan_slots
    if k:  # each clip's own prompt with the next clip's plan read in place of its own
        plans = [model.plan_of(z) for z in latents]
        variants["another clip's plan"] = (texts, plans[1:] + plans[:1])
    rows = {}
    for name, (ids, swapped) in variants.items():
        errors = []
        for start in range(0, len(texts), 8):  # batches of 8 keep memory small
            errors += flow_errors(model, ids[start:start + 8], latents[start:start + 8], args.seed + start,
                                  None if swapped is None else swapped[start:start + 8])
        plan = [float(np.mean([float(e[0]) for e in errors]))] if k else []
        rows[name] = plan + by_bucket(errors, k)
    heads = (["plan"] if k else []) + [
        f"latent {lo}" if lo == hi else (f"latents {lo}-{hi}" if hi < 10_000 else f"latents {lo}+")
        for lo, hi in BUCKETS]
    kind = "clips whose caption names one side" if args.sided else "clips"
    print(f"{pipe.model_id} on {args.data} {args.split}, {len(texts)} {kind}: flow error (lower is better)")
    print(f"{'':24}" + "".join(f"{h:>14}" for h in heads))
    for name, vals in rows.items():
        print(f"{name:24}" + "".join(f"{v:14.3f}" for v in vals))
    own = np.array(rows["own prompt"])
    for name, label in (("another clip's prompt", "other / own"), ("another clip's plan", "other plan / own"),
                        ("sides swapped", "swapped / own")):
        if name in rows:
            print(f"{label:24}" + "".join(f"{v:14.2f}" for v in np.array(rows[name]) / own))


if __name__ == "__main__":
    main()
