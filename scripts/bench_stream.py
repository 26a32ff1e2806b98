#!/usr/bin/env python
"""Streaming mode speed beside the diffusion mode, measured in one run.

    python scripts/bench_stream.py                          # the shipped default models
    python scripts/bench_stream.py --stream-checkpoint tiny --checkpoint tiny   # plumbing only

Rows, for a 10 s motion (200 frames at 20 fps) of "a person walks forward then waves with the right
hand", with the longest wait between two chunks (the "as sent" rows stream it as two steps, and the
seam waits for the second step's bridge):
  stream, KV cache        frames per second of wall time and time to the first frame (first 4
                          frames): the model and the VAE decoder alone
  stream, no KV cache     the naive loop: the whole sequence rerun for every latent
  stream, unguided, as sent
                          StreamPipeline.stream without guidance: KV cache, joints recovered and
                          the streamed cleanup (a frame goes out once 8 more are made)
  stream, guided, as sent the same with classifier-free guidance (--guidance, default the
                          checkpoint's own: what clients get): prompt and empty prompt as a batch
                          of two
  diffusion (DDIM)        every frame arrives at the end, so time to first frame = total time
and the memory each model adds, loaded in the server's order (diffusion first, streaming beside it):
process RSS on a CPU, allocated GPU memory on a GPU.
Target from the issue: at least 30 frames/s (real time) on a 2-core CPU with the default models.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import machine  # noqa: E402


def timed(chunks, n_frames: int) -> dict:
    """Wall time to the first chunk the generator yields and to its end, for n_frames of motion, and
    the longest wait between two chunks after the first (a sequence's seam waits for its bridge)."""
    start = last = time.perf_counter()
    first, longest = None, 0.0
    for _ in chunks:
        now = time.perf_counter()
        if first is None:
            first = now - start
        else:
            longest = max(longest, now - last)
        last = now
    total = time.perf_counter() - start
    return {"first_frame_s": first, "total_s": total, "frames_per_s": n_frames / total, "longest_wait_s": longest}


def stream_run(pipe, prompt: str, seconds: float, use_cache: bool) -> dict:
    """The model and the VAE decoder alone: the same decoding work as StreamPipeline.stream."""
    import torch

    n_frames = int(round(seconds * pipe.fps))
    n_latents = -(-n_frames // pipe.frames_per_latent)

    def decoded():
        latents = []
        for z in pipe.model.stream_latents(prompt, max_latents=n_latents, min_latents=n_latents,
                                           generator=torch.Generator().manual_seed(0), use_cache=use_cache,
                                           total=n_latents):
            latents.append(z)
            with torch.no_grad():
                yield pipe.vae.decode(torch.stack(latents)[None])

    return timed(decoded(), n_frames)


def sent_run(pipe, prompt: str, seconds: float, guidance: float = 1.0) -> dict:
    """What a client gets (StreamPipeline.stream)."""
    return timed(pipe.stream(prompt, seconds, seed=0, guidance=guidance), int(round(seconds * pipe.fps)))


def table_row(label: str, run: dict) -> tuple[str, str, str, str, str]:
    wait = f"{run['longest_wait_s'] * 1000:.0f} ms" if "longest_wait_s" in run else "-"
    return (label, f"{run['frames_per_s']:.1f}", f"{run['first_frame_s'] * 1000:.0f} ms", wait, f"{run['total_s']:.2f} s")


def memory_mib(device) -> float | None:
    """Memory in use now: allocated GPU memory on CUDA, else the process's resident set (Linux)."""
    import torch

    if str(device).startswith("cuda"):
        return torch.cuda.memory_allocated() / 2**20
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmRSS:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stream-checkpoint", default=None, help="streaming model folder or 'tiny'")
    parser.add_argument("--checkpoint", default=None, help="diffusion model folder or 'tiny'")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps for the diffusion row (CLI default)")
    parser.add_argument("--guidance", type=float, default=None,
                        help="scale for the guided streaming row (default: the checkpoint's own)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    from momug.pipeline import MotionPipeline, pick_device
    from momug.stream.pipeline import StreamPipeline

    prompt = "a person walks forward then waves with the right hand"
    device = pick_device(args.device)  # resolved first, so all three readings measure the same memory
    before = memory_mib(device)
    diffusion = MotionPipeline.load(args.checkpoint, device)
    with_diffusion = memory_mib(device)
    stream = StreamPipeline.load(args.stream_checkpoint, device)
    with_both = memory_mib(device)
    if args.guidance is None:
        args.guidance = stream.guidance
    stream_run(stream, prompt, 1.0, True)  # warm-up
    cached = stream_run(stream, prompt, args.seconds, True)
    naive = stream_run(stream, prompt, args.seconds, False)
    sent_run(stream, prompt, 1.0)  # warm-up of the cleanup's first use (scipy's filter design)
    sent = sent_run(stream, prompt, args.seconds)
    guided = sent_run(stream, prompt, args.seconds, args.guidance)
    n = int(round(args.seconds * diffusion.fps))
    diffusion.model.sample([prompt], [40], [0], steps=2)  # warm-up
    start = time.perf_counter()
    diffusion.model.sample([prompt], [n], [0], steps=args.steps)
    ddim = time.perf_counter() - start
    figures = {"machine": machine(), "seconds": args.seconds, "stream_model": stream.model_id,
               "diffusion_model": diffusion.model_id, "stream_cached": cached, "stream_no_cache": naive,
               "stream_sent": sent, "stream_guided_sent": dict(guided, guidance=args.guidance),
               "diffusion": {"first_frame_s": ddim, "total_s": ddim, "frames_per_s": n / ddim,
                             "steps": args.steps},
               "memory_mib": {"before": before, "with_diffusion": with_diffusion, "with_both": with_both}}
    print(f"\nStreaming vs diffusion, {args.seconds:g} s of motion ({n} frames); machine: {figures['machine']}\n")
    rows = [("mode", "frames/s", "first frame", "longest wait", "total"),
            table_row("stream (KV cache)", cached),
            table_row("stream (no KV cache)", naive),
            table_row("stream, unguided, as sent", sent),
            table_row(f"stream, guidance {args.guidance:g}, as sent", guided),
            table_row(f"diffusion ({args.steps} DDIM steps)", figures["diffusion"])]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if None not in (before, with_diffusion, with_both):
        print(f"\nmemory: diffusion model +{with_diffusion - before:.0f} MiB, streaming model beside it "
              f"+{with_both - with_diffusion:.0f} MiB ({with_both:.0f} MiB in all)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
