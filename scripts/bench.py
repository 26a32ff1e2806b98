#!/usr/bin/env python
"""Speed and memory of the whole product, each figure beside a baseline measured in the same run.

    python scripts/bench.py                       # the shipped default model on the best device
    python scripts/bench.py --checkpoint tiny     # plumbing only, seconds
    python scripts/bench.py --json bench.json --skip-server --skip-blender

Rows:
  generate Ns       DDIM with the text prefix's KV cache reused      vs  the same sampler recomputing
                                                                          the whole sequence every step
  DDPM-1000 (est.)  the naive sampler: 1000 full-sequence steps, estimated from the measured cost
                    of the no-cache step (running it would take minutes per motion on a CPU)
  caption           greedy with KV cache, caption vocabulary         vs  recomputing every word over
                                                                          the whole vocabulary; also
                                                                          each change alone, and how
                                                                          often the caption vocabulary
                                                                          changes the caption (--data)
  batch of 8        one batched call                                 vs  8 calls one after another
  server            HTTP round trip (submit, poll, fetch) via `momug serve`  vs  a direct call
  blender keying    22 bones x 600 frames through the add-on's ActionWriter (foreach_set)
                                                                     vs  keyframe_insert in a loop
Peak memory: process RSS (CPU) or torch.cuda.max_memory_allocated (GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def caption_agreement(pipe, data: str, n: int) -> dict | None:
    """Greedy captions of the first n test motions with and without the caption vocabulary."""
    if pipe.model.caption_vocab.numel() == 0 or not (Path(data) / "test.txt").is_file():
        return None
    from momug.data.humanml3d import MotionTextFolder
    from momug.eval.adapters import describer

    folder = MotionTextFolder(data, "test")
    features = [folder.features(i) for i in range(min(n, len(folder)))]
    # One motion per call, as the timed rows caption them.
    ours = describer(pipe, batch_size=1)(features)
    full = describer(pipe, batch_size=1, full_vocabulary=True)(features)
    return {"same": sum(a == b for a, b in zip(ours, full)), "n": len(features)}


def timed(fn, repeats: int = 1):
    """Best wall time of `repeats` calls (after the caller's warm-up)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def machine() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} " \
           f"({torch.get_num_threads()} threads)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_server(checkpoint: str, device: str, seconds: float, steps: int) -> float | None:
    """Round trip of one generate request through a real `momug serve` process."""
    port = free_port()
    config = tempfile.mkdtemp(prefix="momug-bench-")
    env = dict(os.environ, MOMUG_CONFIG=config)
    cmd = [sys.executable, "-m", "momug.cli", "serve", "--port", str(port), "--device", device]
    if checkpoint:
        cmd += ["--checkpoint", checkpoint]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    if json.load(r).get("status") == "ready":
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                return None
            time.sleep(0.5)
        token = (Path(config) / "token").read_text().strip()

        def call(method, path, body=None):
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(base + path, data=data, method=method,
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=600) as r:
                return json.load(r)

        def round_trip():
            job = call("POST", "/generate", {"prompt": "a person walks forward", "seconds": seconds,
                                             "seed": 0, "steps": steps})
            while call("GET", f"/jobs/{job['id']}")["status"] not in ("done", "failed", "cancelled"):
                time.sleep(0.02)
            return call("GET", f"/jobs/{job['id']}/result")

        round_trip()  # warm-up
        return timed(round_trip)[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(config, ignore_errors=True)


def bench_blender() -> dict | None:
    """Keying figures from scripts/bench_keying.py run in a bpy venv (see scripts/test_blender.sh)."""
    venvs = Path(os.environ.get("MOMUG_BPY_VENVS", Path.home() / ".cache/momug/bpy-venvs"))
    for venv in sorted(venvs.glob("bpy-*")):
        py = venv / "bin" / "python"
        if not py.exists():
            continue
        out = subprocess.run([str(py), str(ROOT / "scripts" / "bench_keying.py")], capture_output=True,
                             text=True, cwd=ROOT, timeout=600)
        if out.returncode == 0:
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["blender"] = venv.name
            return result
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="model folder, or 'tiny' (default: shipped model)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps (default 25, the CLI default)")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats per row; the best is kept")
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--skip-blender", action="store_true")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--data", default=str(ROOT / "corpus"),
                        help="HumanML3D-format folder whose test motions check that the caption vocabulary "
                        "leaves captions unchanged (skipped if missing; default: corpus/)")
    parser.add_argument("--agreement-n", type=int, default=32, help="test motions for that check (default 32)")
    args = parser.parse_args()

    import numpy as np
    import torch

    from momug.pipeline import MotionPipeline

    t0 = time.perf_counter()
    pipe = MotionPipeline.load(args.checkpoint, args.device)
    load_s = time.perf_counter() - t0
    model = pipe.model
    rows: list[tuple[str, str, str, str]] = []
    figures: dict = {"machine": machine(), "model": pipe.model_id, "checkpoint": pipe.checkpoint_id,
                     "device": pipe.device, "steps": args.steps, "load_s": load_s}
    prompt = "a person walks forward then waves with the right hand"

    def sample(n_frames, use_cache, steps=args.steps, batch=1):
        return model.sample([prompt] * batch, [n_frames] * batch, list(range(batch)), guidance=2.5,
                            steps=steps, use_cache=use_cache)

    sample(40, True, steps=2)  # warm-up
    for seconds in (2, 5, 10):
        if seconds > pipe.max_seconds:
            continue
        n = int(seconds * pipe.fps)
        fast, _ = timed(lambda: sample(n, True), args.repeats)
        slow, _ = timed(lambda: sample(n, False), args.repeats)
        figures[f"generate_{seconds}s"] = {"cached_s": fast, "no_cache_s": slow}
        rows.append((f"generate {seconds} s ({args.steps} DDIM steps)", f"{fast:.2f} s", f"{slow:.2f} s (no KV cache)",
                     f"{slow / fast:.2f}x"))
        if seconds == 5:
            per_step = slow / args.steps
            figures["ddpm1000_5s_estimated_s"] = per_step * 1000
            rows.append(("generate 5 s, naive DDPM-1000 (est.)", f"{fast:.2f} s", f"{per_step * 1000:.0f} s (estimated)",
                         f"{per_step * 1000 / fast:.0f}x"))

    # The benchmark prompt names two actions: as users get it (pipeline, cleanup) it is made in two
    # steps of half the length, the second continuing the first; beside it the whole prompt at once.
    seq_seconds = min(10.0, pipe.max_seconds)
    split, _ = timed(lambda: pipe.generate([prompt], [seq_seconds], [0], steps=args.steps), args.repeats)
    whole, _ = timed(lambda: pipe.generate([prompt], [seq_seconds], [0], steps=args.steps, split_sequences=False),
                     args.repeats)
    figures[f"sequence_{seq_seconds:g}s"] = {"step_by_step_s": split, "whole_prompt_s": whole,
                                             "steps": [step for step, _ in pipe.sequence_plan(prompt, seq_seconds)]}
    rows.append((f"'A then B', {seq_seconds:g} s as users get it (2 steps, cleanup)", f"{split:.2f} s",
                 f"{whole:.2f} s (whole prompt, one pass, cleanup)", f"{whole / split:.2f}x"))

    cap_seconds = min(10.0, pipe.max_seconds)  # the target: caption 10 s in under 1 s
    clip = pipe.generate([prompt], [cap_seconds], [0], steps=args.steps)[0]
    from momug.motion.features import joints_to_features

    feats = model.normalize(torch.from_numpy(joints_to_features(clip.joints.astype(np.float64)).astype(np.float32)))
    cap_fast, text = timed(lambda: model.describe([feats]), args.repeats)
    cap_full, _ = timed(lambda: model.describe([feats], full_vocabulary=True), args.repeats)
    cap_slow, _ = timed(lambda: model.describe([feats], use_cache=False, full_vocabulary=True), args.repeats)
    vocab = model.caption_vocab.numel()  # 0: the checkpoint decodes over the whole vocabulary
    figures[f"caption_{cap_seconds:g}s"] = {"cached_s": cap_fast, "cached_full_vocabulary_s": cap_full,
                                            "no_cache_full_vocabulary_s": cap_slow, "caption_vocabulary": vocab,
                                            "text": text[0]}
    label = f"caption a {cap_seconds:g} s motion (greedy)"
    rows.append((label, f"{cap_fast:.2f} s", f"{cap_slow:.2f} s (no KV cache, all words)",
                 f"{cap_slow / cap_fast:.2f}x"))
    if vocab:
        rows.append((f"  of which: {vocab}-token caption vocabulary", f"{cap_fast:.2f} s",
                     f"{cap_full:.2f} s (KV cache, all words)", f"{cap_full / cap_fast:.2f}x"))
    agreement = caption_agreement(pipe, args.data, args.agreement_n)
    if agreement is not None:
        figures["caption_vocabulary_agreement"] = agreement
        rows.append(("  captions unchanged by the vocabulary", f"{agreement['same']}/{agreement['n']} test motions",
                     "", ""))

    n5 = int(5 * pipe.fps)
    batched, _ = timed(lambda: sample(n5, True, batch=8), 1)
    one = figures.get("generate_5s", {}).get("cached_s") or timed(lambda: sample(n5, True))[0]
    figures["batch8_5s"] = {"batched_s": batched, "sequential_s": 8 * one,
                            "motions_per_s": 8 / batched}
    rows.append(("8 prompts x 5 s", f"{batched:.2f} s ({8 / batched:.2f} motions/s)",
                 f"{8 * one:.2f} s (one at a time)", f"{8 * one / batched:.2f}x"))

    if not args.skip_server:
        rt = bench_server(args.checkpoint or "", args.device, 5.0, args.steps)
        if rt is not None:
            figures["server_5s_round_trip_s"] = rt
            rows.append(("server round trip, 5 s motion", f"{rt:.2f} s", f"{one:.2f} s (direct call)",
                         f"+{(rt - one) * 1000:.0f} ms"))
    if not args.skip_blender:
        keys = bench_blender()
        if keys is not None:
            figures["blender_keying"] = keys
            rows.append((f"Blender keying 22 bones x 600 frames ({keys['blender']})", f"{keys['fast_ms']:.1f} ms",
                         f"{keys['keyframe_insert_ms']:.0f} ms (keyframe_insert)",
                         f"{keys['keyframe_insert_ms'] / keys['fast_ms']:.0f}x"))

    if torch.cuda.is_available() and pipe.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
        figures["peak_gpu_mib"] = peak
        rows.append(("peak GPU memory", f"{peak:.0f} MiB", "", ""))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["peak_rss_mib"] = rss
    rows.append(("peak process memory (RSS)", f"{rss:.0f} MiB", "", ""))

    print(f"\nMoMug benchmark: {figures['model']} ({figures['checkpoint']}) on {figures['device']}")
    print(f"machine: {figures['machine']}; model load {load_s:.1f} s\n")
    widths = [max(len(r[i]) for r in rows + [("what", "ours", "baseline", "speed-up")]) for i in range(4)]
    header = ("what", "ours", "baseline", "speed-up")
    for r in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
