"""Does the streaming model keep a gait going when its history is already mid-gait? Steady windows
of a corpus (S<id>: a straight gait cut to its cruise, moving from the first frame to the last) give
HISTORY latents of true motion; the model then streams SECONDS more under the window's own caption
(guided, seeded), and the pelvis's ground speed is printed per half second of the continuation.
A model that has learned "a gait lasts about 3 s" slows to a stop soon after the history ends,
whatever the history's speed.

    python scripts/stream_gait_continuation.py [--checkpoint DIR] [--data corpus_focus_merged]
        [--split train_mirrored_steady] [--clips 12] [--history 8] [--seconds 4] [--guidance G]
"""

from __future__ import annotations

import argparse

import numpy as np

from momug.motion.travel import root_ground_speed

HALF_SECOND = 10   # frames at 20 fps


def speed_bins(joints: np.ndarray, fps: float, start: int, bins: int, frames: int = HALF_SECOND) -> list[float]:
    """Mean pelvis ground speed (m/s) of `bins` consecutive spans of `frames` frames from frame `start`,
    joints (T, J, 3) with Y up; a span past the motion's end is NaN."""
    speed = root_ground_speed(joints, fps)
    out = []
    for k in range(bins):
        span = speed[start + k * frames:start + (k + 1) * frames]
        out.append(float(span.mean()) if len(span) else float("nan"))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="streaming checkpoint (default: the shipped one)")
    ap.add_argument("--data", default="corpus_focus_merged")
    ap.add_argument("--split", default="train_mirrored_steady", help="an ids file that lists steady windows")
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--history", type=int, default=8, help="latents of true motion given (4 frames each)")
    ap.add_argument("--seconds", type=float, default=4.0, help="length of the continuation")
    ap.add_argument("--guidance", type=float, default=None, help="default: the checkpoint's own")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    from momug.data.humanml3d import MotionTextFolder
    from momug.data.mirror import MIRROR_PREFIX
    from momug.data.steady import STEADY_PREFIX
    from momug.errors import MomugError
    from momug.motion.features import features_to_joints
    from momug.stream.pipeline import StreamPipeline
    from momug.stream.train_ar import LatentBatches, StreamTrainSettings

    pipe = StreamPipeline.load(args.checkpoint, "cpu")
    guidance = pipe.guidance if args.guidance is None else args.guidance
    folder = MotionTextFolder(args.data, args.split)
    batches = LatentBatches(folder, pipe.vae, pipe.model, StreamTrainSettings(), seed=args.seed)
    history_frames = args.history * pipe.frames_per_latent
    windows = [i for i, m in enumerate(folder.ids)
               if m.startswith(STEADY_PREFIX) and not m.startswith(STEADY_PREFIX + MIRROR_PREFIX)
               and len(folder.features(i)) >= history_frames]
    if not windows:
        raise MomugError(f"{args.data}/{args.split} lists no steady window of {history_frames} frames or more "
                         "(momug data steady)")
    rng = np.random.default_rng(args.seed)
    new_latents = pipe.latents_for(int(round(args.seconds * pipe.fps)))
    bins = int(args.seconds * 2)
    rows = []
    print(f"{pipe.model_id}, guidance {guidance:g}: {args.history} latents of a steady window, then "
          f"{args.seconds:g} s streamed under its caption; pelvis speed (m/s) per 0.5 s")
    for index in rng.choice(windows, size=min(args.clips, len(windows)), replace=False):
        feats = np.asarray(folder.features(int(index))[:history_frames], dtype=np.float32)
        text = folder.captions[int(index)][0].text
        history = batches.encode(feats)
        generator = torch.Generator().manual_seed(args.seed)
        made = list(pipe.model.stream_latents(text, max_latents=new_latents, min_latents=new_latents,
                                              guidance=guidance, generator=generator, history=history))
        joints = features_to_joints(pipe._decode(list(history) + made).astype(np.float64))
        before = speed_bins(joints, pipe.fps, 0, 1, history_frames - 1)[0]
        after = speed_bins(joints, pipe.fps, history_frames - 1, bins)
        rows.append([before, *after])
        print(f"{text[:44]:44} history {before:4.2f} | " + " ".join(f"{v:3.1f}" for v in after), flush=True)
    mean = np.nanmean(np.array(rows), axis=0)
    print(f"{'mean':44} history {mean[0]:4.2f} | " + " ".join(f"{v:3.1f}" for v in mean[1:]))
    print(f"share of the continuation's last half second still moving (> 0.3 m/s): "
          f"{np.mean([r[-1] > 0.3 for r in rows]):.0%} of {len(rows)} clips")


if __name__ == "__main__":
    main()
