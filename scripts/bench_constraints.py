"""How well the animator tools work with a model: in-betweening, continuing, following a path and
regenerating part of the body (momug.constraints), measured on procedural source motions.

    python scripts/bench_constraints.py [--checkpoint DIR|tiny] [--steps 20] [--seeds 3] [--json OUT]

Prints, per tool: known frames' error (cm, per joint), the largest one-frame step at each key
against the motion's typical (median) step and the change of velocity there (a pop is a kink), a continuation's position and velocity at the join,
the root path's RMS distance before and after the exact projection for straight, curved and
closed paths (and how far facing is from the path's direction), kept joints bit for bit, and
whether the regenerated part does what the prompt says (momug.eval.probes judges).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

from momug import constraints as C
from momug.data.synth import compose
from momug.eval import physics, probes

FPS = 20.0


def source(name: str, seed: int, frames: int, offset=(0.7, 0.0, -1.3)) -> np.ndarray:
    """A procedural motion of one action, moved off the origin (users' motions are anywhere)."""
    rng = np.random.default_rng(seed)
    for _ in range(50):  # clip lengths are random: draw until one is long enough
        motion, _, _ = compose.sample_sequence(rng, [name, name])
        joints = np.asarray(motion.joints, dtype=np.float64)
        if len(joints) >= frames:
            break
    else:
        raise SystemExit(f"no procedural {name} of {frames} frames")
    return (joints[:frames] + np.asarray(offset)).astype(np.float32)


def key_pops(out: np.ndarray, key_frames) -> tuple[float, float]:
    """(largest one-frame step into or out of any key, the motion's typical step)."""
    steps = C.frame_steps(out)
    at = [steps[k - 1] for k in key_frames if k > 0] + [steps[k] for k in key_frames if k < len(steps)]
    return float(max(at)), float(np.median(steps))


def key_kinks(out: np.ndarray, key_frames) -> tuple[float, float]:
    """(largest change of velocity at an inner key, the motion's typical change per frame), in
    metres per frame per frame, the largest over joints. A pop is a kink, not a fast step: a hand
    in mid-swing steps far every frame but its step changes little from one frame to the next."""
    accel = np.linalg.norm(np.diff(out, n=2, axis=0), axis=-1).max(axis=-1)  # at frames 1..T-2
    at = [accel[k - 1] for k in key_frames if 0 < k < len(out) - 1]
    return (float(max(at)) if at else 0.0), float(np.median(accel))


def rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(((a - b) ** 2).sum(-1).mean()))


def circle(radius: float, turns: float, frames: int) -> np.ndarray:
    a = np.linspace(0.0, 2 * math.pi * turns, frames)
    return np.stack([radius * np.sin(a), radius * (1 - np.cos(a))], 1) * np.array([-1.0, 1.0]) + np.array([0.0, 0.0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=None, help="model folder (default: the shipped model); tiny for plumbing")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="write the figures here as JSON too")
    args = ap.parse_args()

    from momug.pipeline import MotionPipeline

    pipe = MotionPipeline.load(args.checkpoint, args.device)
    seeds = list(range(args.seeds))
    results: dict[str, list] = {}
    t0 = time.time()

    def run(prompt, constraints, seed, details=None):
        print(f"  [{time.time() - t0:6.0f} s] {prompt!r} seed {seed}", file=sys.stderr, flush=True)
        return pipe.generate([prompt], [constraints.frames / FPS], [seed], steps=args.steps,
                             constraints=[constraints], details=details)[0].joints.astype(np.float64)

    # In-betweening: a walk's poses at its first, middle and last frame (and every 20 frames).
    rows = []
    for seed in seeds:
        walk = source("walk", 10 + seed, 100)
        for label, frames in (("3 keys", [0, 50, 99]), ("keys every 20", [0, 20, 40, 60, 80, 99])):
            c = C.build(100, FPS, 200, keys=(np.array(frames), walk[frames]))
            details: list = []
            out = run("a person walks forward", c, seed, details)
            sampled = details[0]["sampled"]
            err = np.linalg.norm(out[frames] - walk[frames], axis=-1).max() * 100
            # How far the exact projection had to move the sampled motion (after the guided sampling).
            miss = np.linalg.norm(out - sampled, axis=-1).max() * 100
            pop, typical = key_pops(out, frames)
            own, _ = key_pops(walk.astype(np.float64), frames)
            kink, typical_kink = key_kinks(out, frames)
            own_kink, _ = key_kinks(walk.astype(np.float64), frames)
            rows.append({"case": label, "seed": seed, "key_error_cm": float(err), "projection_shift_cm": float(miss),
                         "source_step_at_keys_m": own, "foot_skating_mps": physics.foot_skating(out, FPS),
                         "largest_key_step_m": pop, "typical_step_m": typical,
                         "largest_key_kink_m": kink, "typical_kink_m": typical_kink, "source_kink_at_keys_m": own_kink,
                         "largest_step_elsewhere_m": float(C.frame_steps(out).max())})
    results["inbetween"] = rows

    # Continue: the walk's first 60 frames, carried on by a new prompt.
    rows = []
    for seed in seeds:
        walk = source("walk", 20 + seed, 60)
        for prompt in ("a person walks forward", "a person waves with the right hand"):
            c = C.build(80, FPS, 200, start=walk)
            out = run(prompt, c, seed)
            v_given = (walk[-1] - walk[-2]) * FPS
            v_made = (out[0] - walk[-1]) * FPS
            v_next = (out[1] - out[0]) * FPS
            rows.append({"case": prompt, "seed": seed,
                         "join_step_m": float(np.linalg.norm(out[0] - walk[-1], axis=-1).max()),
                         "given_last_step_m": float(np.linalg.norm(walk[-1] - walk[-2], axis=-1).max()),
                         "join_velocity_error_mps": float(np.linalg.norm(v_made - v_given, axis=-1).mean()),
                         "next_velocity_error_mps": float(np.linalg.norm(v_next - v_given, axis=-1).mean()),
                         "given_speed_mps": float(np.linalg.norm(v_given, axis=-1).mean()),
                         "typical_step_m": float(np.median(C.frame_steps(out)))})
    results["continue"] = rows

    # End at a pose: the in-betweening of a start (continue) and an end pose.
    rows = []
    for seed in seeds:
        walk = source("walk", 30 + seed, 110)
        c = C.build(60, FPS, 200, start=walk[:30], end=walk[90:])
        out = run("a person walks forward", c, seed)
        pop, typical = key_pops(out, [len(out) - 1])
        rows.append({"seed": seed, "end_error_cm": float(np.linalg.norm(out[-1] - walk[90], axis=-1).max() * 100),
                     "largest_end_step_m": pop, "typical_step_m": typical,
                     "join_step_m": float(np.linalg.norm(out[0] - walk[29], axis=-1).max()),
                     "end_velocity_error_mps": float(np.linalg.norm((out[-1] - out[-2]) - (walk[91] - walk[90]),
                                                                    axis=-1).mean() * FPS),
                     "join_velocity_error_mps": float(np.linalg.norm((out[0] - walk[29]) - (walk[29] - walk[28]),
                                                                     axis=-1).mean() * FPS)})
    results["start_and_end"] = rows

    # Paths: straight, curved (a quarter circle) and closed (a full circle), walked.
    paths = {
        "straight 3 m / 4 s": np.stack([np.linspace(0, 0.6, 80), np.linspace(0, 2.94, 80)], 1),
        "curved (quarter circle r 2 m) / 4 s": circle(2.0, 0.25, 80),
        "closed (circle r 1.2 m) / 7 s": circle(1.2, 1.0, 140),
    }
    rows = []
    for seed in seeds:
        for label, path in paths.items():
            c = C.build(None, FPS, 200, path=path + np.array([0.5, -0.4]))
            details = []
            out = run("a person walks forward", c, seed, details)
            sampled = details[0]["unguided"][c.lead:c.lead + c.frames]
            facing = probes.facing_yaw(out)
            tangent = np.gradient(c.path, axis=0)
            heading = np.arctan2(tangent[:, 0], tangent[:, 1])
            off = np.degrees(np.abs((facing - heading + np.pi) % (2 * np.pi) - np.pi))
            # The model's own last prediction (before the pull) against the path, as velocities:
            # positions integrate its velocity errors into a drift that says little per frame.
            v_model = np.diff(sampled[:, 0, [0, 2]], axis=0) * FPS
            v_path = np.diff(c.path, axis=0) * FPS
            rows.append({"case": label, "seed": seed,
                         "model_velocity_error_mps": float(np.linalg.norm(v_model - v_path, axis=1).mean()),
                         "path_speed_mps": float(np.linalg.norm(v_path, axis=1).mean()),
                         "rms_final_m": rms(out[:, 0, [0, 2]], c.path),
                         "facing_vs_path_deg_median": float(np.median(off)),
                         "foot_skating_mps": physics.foot_skating(out, FPS),
                         "typical_step_m": float(np.median(C.frame_steps(out)))})
    results["path"] = rows

    # Body-part editing: keep a walk's lower body, regenerate the rest from the prompt.
    edits = [("lower", "a person walks forward while waving the right hand", probes.waves("right")),
             ("lower", "a person walks forward while waving the left hand", probes.waves("left")),
             ("lower", "a person waves with the right hand", probes.waves("right")),
             ("lower", "a person waves with the left hand", probes.waves("left")),
             ("lower", "a person raises both arms", probes.raises_both_arms()),
             ("right_arm", "a person waves with the left hand", probes.waves("left"))]
    rows = []
    for seed in seeds:
        walk = source("walk", 40 + seed, 100)
        for keep, prompt, judge in edits:
            c = C.build(None, FPS, 200, edit=walk, keep=keep)
            out = run(prompt, c, seed).astype(np.float32)
            kept = list(c.keep) + [0]
            verdict = judge(out.astype(np.float64), FPS)
            before = judge(walk.astype(np.float64), FPS)
            rows.append({"case": f"keep {keep}: {prompt}", "seed": seed,
                         "kept_bit_for_bit": bool(np.array_equal(out[:, kept], walk[:, kept])),
                         "probe_passed": bool(verdict.passed), "probe_detail": verdict.detail,
                         "source_passed": bool(before.passed)})
    results["edit"] = rows
    plain = [pipe.generate(["a person walks forward"], [5.0], [seed], steps=args.steps)[0].joints for seed in seeds]
    results["unconstrained_walk_foot_skating_mps"] = float(np.mean([physics.foot_skating(j, FPS) for j in plain]))
    results["seconds"] = round(time.time() - t0, 1)
    results["settings"] = {"checkpoint": pipe.model_id, "checkpoint_id": pipe.checkpoint_id, "steps": args.steps,
                           "seeds": len(seeds)}

    report(results)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)
    return 0


def _mean(rows, key):
    return float(np.mean([r[key] for r in rows]))


def report(r: dict) -> None:
    # The id tells which weights a folder name stood for (results from before it carry none).
    ident = r["settings"].get("checkpoint_id")
    print(f"model {r['settings']['checkpoint']}" + (f" (checkpoint id {ident})" if ident else "")
          + f", {r['settings']['steps']} DDIM steps, "
          f"{r['settings']['seeds']} seeds, {r['seconds']} s")
    print("\nIn-betweening (walk poses as keys; prompt 'a person walks forward'):")
    for case in sorted({x["case"] for x in r["inbetween"]}):
        rows = [x for x in r["inbetween"] if x["case"] == case]
        print(f"  {case}: known frames max error {max(x['key_error_cm'] for x in rows):.4f} cm "
              f"(the exact projection moved the sampled motion by at most {_mean(rows, 'projection_shift_cm'):.1f} cm); "
              f"largest step at a key {_mean(rows, 'largest_key_step_m') * 100:.1f} cm vs the motion's typical (median) "
              f"step {_mean(rows, 'typical_step_m') * 100:.1f} cm (worst ratio "
              f"{max(x['largest_key_step_m'] / x['typical_step_m'] for x in rows):.2f}), the source walk's own "
              f"largest step at those frames {_mean(rows, 'source_step_at_keys_m') * 100:.1f} cm, the largest step "
              f"anywhere {_mean(rows, 'largest_step_elsewhere_m') * 100:.1f} cm; change of velocity at an inner "
              f"key {_mean(rows, 'largest_key_kink_m') * 100:.1f} cm/frame^2 vs the motion's typical "
              f"{_mean(rows, 'typical_kink_m') * 100:.1f} (the source walk's at those frames "
              f"{_mean(rows, 'source_kink_at_keys_m') * 100:.1f}); foot skating "
              f"{_mean(rows, 'foot_skating_mps'):.2f} m/s")
    print("\nContinue (60 walk frames, then the prompt):")
    for case in sorted({x["case"] for x in r["continue"]}):
        rows = [x for x in r["continue"] if x["case"] == case]
        print(f"  {case!r}: first new frame moves {_mean(rows, 'join_step_m') * 100:.1f} cm "
              f"(the given last step {_mean(rows, 'given_last_step_m') * 100:.1f} cm); velocity at the join off by "
              f"{_mean(rows, 'join_velocity_error_mps'):.2f} m/s, one frame later {_mean(rows, 'next_velocity_error_mps'):.2f} m/s "
              f"(joints move {_mean(rows, 'given_speed_mps'):.2f} m/s on average there)")
    rows = r["start_and_end"]
    print(f"\nStart + end pose (3 s between two walk pieces): end pose error "
          f"{max(x['end_error_cm'] for x in rows):.4f} cm; step into it {_mean(rows, 'largest_end_step_m') * 100:.1f} cm "
          f"vs typical {_mean(rows, 'typical_step_m') * 100:.1f} cm; velocity into it off by "
          f"{_mean(rows, 'end_velocity_error_mps'):.2f} m/s; join step {_mean(rows, 'join_step_m') * 100:.1f} cm, "
          f"velocity at the join off by {_mean(rows, 'join_velocity_error_mps'):.2f} m/s")
    print("\nPaths (prompt 'a person walks forward'):")
    for case in sorted({x["case"] for x in r["path"]}):
        rows = [x for x in r["path"] if x["case"] == case]
        print(f"  {case}: root RMS from the path {max(x['rms_final_m'] for x in rows) * 100:.4f} cm; the model's own "
              f"last prediction moves {_mean(rows, 'model_velocity_error_mps'):.2f} m/s off the path's velocity "
              f"(path speed {_mean(rows, 'path_speed_mps'):.2f} m/s); facing "
              f"{_mean(rows, 'facing_vs_path_deg_median'):.0f} deg (median) from the path's direction; foot skating "
              f"{_mean(rows, 'foot_skating_mps'):.2f} m/s")
    print(f"\n(an unconstrained 'a person walks forward': foot skating {r['unconstrained_walk_foot_skating_mps']:.2f} m/s)")
    print("\nBody-part editing (a walk's joints kept, the rest regenerated):")
    for case in sorted({x["case"] for x in r["edit"]}):
        rows = [x for x in r["edit"] if x["case"] == case]
        print(f"  {case}: kept joints bit for bit {all(x['kept_bit_for_bit'] for x in rows)}; probe passes "
              f"{sum(x['probe_passed'] for x in rows)}/{len(rows)} (the source walk: "
              f"{sum(x['source_passed'] for x in rows)}/{len(rows)})")


if __name__ == "__main__":
    raise SystemExit(main())
