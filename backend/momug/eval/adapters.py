"""Turn a MotionPipeline (diffusion) or StreamPipeline (streaming) into the plain functions the
evaluation protocols call."""

from __future__ import annotations

import numpy as np

from momug.eval.protocol import Describe, Generate


def _streaming(pipe) -> bool:
    return hasattr(pipe, "vae")


def frame_range(pipe) -> tuple[int, int]:
    if _streaming(pipe):
        return int(pipe.min_seconds * pipe.fps), int(pipe.max_seconds * pipe.fps)
    cfg = pipe.model.config
    return int(cfg.min_frames), int(cfg.max_frames)


def seam_period(pipe) -> int:
    """Frames per token (diffusion) or per latent (streaming): where the output can jump."""
    return int(pipe.frames_per_latent) if _streaming(pipe) else int(pipe.model.config.frames_per_token)


def mode(pipe) -> str:
    """'stream' or 'diffusion': which of issue 20's bars the pipeline's probes are held to."""
    return "stream" if _streaming(pipe) else "diffusion"


def cleans_feet(pipe) -> bool:
    """Whether users get the planted-feet cleanup from this pipeline (streaming sends frames before
    a contact has ended, so it mends seams and low-passes but leaves feet alone)."""
    return not _streaming(pipe)


DIFFUSION_EVAL_STEPS = 20    # DDIM steps the evaluations sample with unless told otherwise
# Prompts the streaming mode samples together (twice the rows under guidance): on a CPU a step's
# cost is mostly reading the weights, so rows are nearly free (scripts/bench_stream_batch.py).
STREAM_BATCH = 16


def sampler_steps(pipe, steps: int | None) -> int:
    """The sampler steps an evaluation with this --steps runs: DDIM steps, or for the streaming
    mode flow steps per latent (None: DIFFUSION_EVAL_STEPS, or the checkpoint's own)."""
    if steps is not None:
        return int(steps)
    return int(pipe.model.config.flow_steps) if _streaming(pipe) else DIFFUSION_EVAL_STEPS


def generator(pipe, steps: int | None = None, guidance: float | None = None, batch_size: int = 32,
              progress=None) -> Generate:
    """texts, frames, seeds -> raw (denormalised) feature arrays straight from the model's sampler.
    steps: DDIM steps (None: DIFFUSION_EVAL_STEPS), or for the streaming mode flow steps per latent
    (None: the checkpoint's own); the streaming mode samples STREAM_BATCH motions together
    (StreamPipeline.features_batch). guidance None: the model's own (pipe.guidance)."""
    model = pipe.model
    if _streaming(pipe):
        def generate_streamed(texts: list[str], frames: list[int], seeds: list[int]) -> list[np.ndarray]:
            # Longest first, so each batch's rows are of similar lengths (features_batch makes a
            # batch at its longest row's length and cuts the others).
            order = sorted(range(len(texts)), key=lambda i: -int(frames[i]))
            out: list[np.ndarray | None] = [None] * len(texts)
            for j in range(0, len(order), STREAM_BATCH):
                part = order[j:j + STREAM_BATCH]
                feats = pipe.features_batch([texts[i] for i in part], [int(frames[i]) for i in part],
                                            [seeds[i] for i in part], steps=steps, guidance=guidance)
                for i, f in zip(part, feats):
                    out[i] = np.nan_to_num(f, nan=0.0, posinf=0.0, neginf=0.0)
                if progress is not None:
                    progress(j + len(part), len(texts))
            return out

        return generate_streamed

    steps = sampler_steps(pipe, steps)

    def generate(texts: list[str], frames: list[int], seeds: list[int]) -> list[np.ndarray]:
        out = []
        for i in range(0, len(texts), batch_size):
            feats = model.sample(texts[i:i + batch_size], frames[i:i + batch_size], seeds[i:i + batch_size],
                                 guidance=guidance, steps=steps)
            for f in feats:
                raw = model.denormalize(f.to(model.mean.device)).float().cpu().numpy()
                out.append(np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0))
            if progress is not None:
                progress(len(out), len(texts))
        return out

    return generate


def describer(pipe, batch_size: int = 16, progress=None, **options) -> Describe:
    """Raw feature arrays -> captions, each motion cut to the model's longest input."""
    import torch

    model = pipe.model
    if _streaming(pipe):
        def describe_streamed(features: list[np.ndarray]) -> list[str]:
            out = []
            for i in range(0, len(features), STREAM_BATCH):
                out += pipe.describe_features_batch(features[i:i + STREAM_BATCH])
                if progress is not None:
                    progress(len(out), len(features))
            return out

        return describe_streamed
    limit = int(model.config.max_frames)

    def describe(features: list[np.ndarray]) -> list[str]:
        out = []
        for i in range(0, len(features), batch_size):
            batch = [model.normalize(torch.from_numpy(np.array(f[:limit], np.float32)).to(model.mean.device)).cpu()
                     for f in features[i:i + batch_size]]
            out += model.describe(batch, **options)
            if progress is not None:
                progress(len(out), len(features))
        return out

    return describe


def probe_generator(pipe, steps: int | None = None, guidance: float | None = None, split_sequences: bool = True):
    """The callable momug.eval.probes.run_probes expects: prompts, seconds, seed -> joints, as the
    model made them (no cleanup, so the probes judge the model; the physics report shows the
    cleanup separately). steps and guidance None: as generator(). split_sequences: as users get them (a
    prompt naming actions in order made step by step, MotionPipeline.generate); False: the model
    reads every prompt whole (both modes)."""

    def generate(prompts: list[str], seconds: float, seed: int) -> list[np.ndarray]:
        if _streaming(pipe):
            out = []
            for j in range(0, len(prompts), STREAM_BATCH):
                part = prompts[j:j + STREAM_BATCH]
                out += pipe.joints_batch(part, seconds, [seed] * len(part), steps=steps, guidance=guidance,
                                         split_sequences=split_sequences)
            return out
        motions = pipe.generate(prompts, [seconds] * len(prompts), [seed] * len(prompts), guidance=guidance,
                                steps=sampler_steps(pipe, steps), raw=True,
                                split_sequences=split_sequences)
        return [m.joints for m in motions]

    return generate
