"""The streaming default's extended probes with other flow-head sampler settings (a one-off check,
2026-12-06): Euler steps per latent (the model's own 8) and the starting noise's temperature (1).
  python docs/results/stream_flow_sampler/sweep.py --steps 32 --temperature 1 --seed 0 --out FILE.json
"""
import argparse
import functools
import json

from momug.eval import adapters
from momug.eval.probes import extended_probes, run_probes, summarize
from momug.stream.pipeline import StreamPipeline

ap = argparse.ArgumentParser()
ap.add_argument("--checkpoint", default=None)
ap.add_argument("--steps", type=int, default=None)
ap.add_argument("--temperature", type=float, default=1.0)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--tags", default="", help="comma-separated probe tags to keep (default: all)")
ap.add_argument("--out", required=True)
args = ap.parse_args()

pipe = StreamPipeline.load(args.checkpoint, "cpu")
if args.temperature == 1.0:
    # The model's own sampler, batched as `momug eval probes` runs it (same motions, faster).
    generate = adapters.probe_generator(pipe, steps=args.steps)
else:
    pipe.model.stream_latents = functools.partial(pipe.model.stream_latents, temperature=args.temperature)

    def generate(prompts, seconds, seed):
        return [pipe.generate(p, seconds, seed, steps=args.steps, raw=True).joints for p in prompts]


probes = extended_probes()
if args.tags:
    keep = set(args.tags.split(","))
    probes = [p for p in probes if keep & set(p.tags)]
rows = run_probes(generate, probes, seeds=(args.seed,), fps=pipe.fps)
summary = summarize(rows, mode="stream")
json.dump({"checkpoint": pipe.checkpoint_id, "steps": args.steps, "temperature": args.temperature,
           "seed": args.seed, "summary": summary, "rows": rows}, open(args.out, "w"), indent=1, default=str)
print(json.dumps(summary, indent=1, default=str)[:3000])
