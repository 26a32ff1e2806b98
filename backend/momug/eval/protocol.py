"""The evaluation protocols: which clips, captions and lengths are drawn, what is generated, and
which embeddings each metric compares. Models enter as plain functions, so the protocol runs the
same with a real checkpoint, the tiny test model or a stand-in.

Text-to-motion, per repetition (Guo et al.): draw every test clip once with a random caption and
a random window of whole 4-frame steps (at most max_frames); draw the split a second time the same
way as the FID reference. The ground-truth row scores the first draw's motions against its
captions; the model row scores motions generated from the same captions at the same lengths.
MultiModality generates several samples for the first mm_prompts captions.

Motion-to-text: every test clip (its first max_frames frames) is captioned once; caption metrics
compare those with the clip's whole-clip reference captions. R-precision and MM-Dist of captions
are repeated over reshuffled batches; the ground-truth row uses a random reference caption.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from momug.data.humanml3d import MotionTextFolder
from momug.errors import MomugError
from momug.eval import metrics

# generate(texts, frames, seeds) -> raw (unnormalised) feature arrays, one per text
Generate = Callable[[list[str], list[int], list[int]], list[np.ndarray]]
# describe(raw feature arrays) -> one caption each
Describe = Callable[[list[np.ndarray]], list[str]]


@dataclass
class Drawn:
    features: list[np.ndarray]
    texts: list[str]
    tokens: list[str]


def _tokens_of(folder: MotionTextFolder, index: int, text: str) -> str:
    """The HumanML3D word/POS string of a caption (read from the text file, or tagged here)."""
    path = folder.root / "texts" / f"{folder.ids[index]}.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.strip().split("#")
        if parts and parts[0].strip() == text and len(parts) > 1 and parts[1].strip():
            return parts[1].strip()
    from momug.data.synth.tagging import tokens

    return tokens(text)


def clip_indices(folder: MotionTextFolder, limit: int | None) -> list[int]:
    return list(range(len(folder) if limit is None else min(limit, len(folder))))


def draw(folder: MotionTextFolder, indices: list[int], rng: np.random.Generator, max_frames: int = 196,
         unit: int = 4, with_tokens: bool = False) -> Drawn:
    feats, texts, toks = [], [], []
    for i in indices:
        f, text = folder.sample(i, rng, max_frames)
        if len(f) < unit:
            f = np.asarray(folder.features(i)[:max_frames], np.float32)
        n = (len(f) // unit) * unit
        start = int(rng.integers(0, len(f) - n + 1))
        feats.append(f[start:start + n])
        texts.append(text)
        toks.append(_tokens_of(folder, i, text) if with_tokens else "")
    return Drawn(feats, texts, toks)


def _needs_tokens(evaluator) -> bool:
    return bool(getattr(evaluator, "needs_tokens", False))


def ground_truth_matching(evaluator, folder: MotionTextFolder, repeats: int = 20, seed: int = 0,
                          limit: int | None = None, max_frames: int = 196) -> dict[str, dict]:
    """The ground-truth row alone: R-precision, MM-Dist, FID against a second draw, Diversity."""
    indices = clip_indices(folder, limit)
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(repeats):
        ref = draw(folder, indices, rng, max_frames)
        cur = draw(folder, indices, rng, max_frames, with_tokens=_needs_tokens(evaluator))
        ref_m = evaluator.embed_motions(ref.features)
        cur_m = evaluator.embed_motions(cur.features)
        txt = evaluator.embed_texts(cur.texts, cur.tokens)
        run = metrics.matching(txt, cur_m, rng=rng)
        run["fid"] = metrics.fid(ref_m, cur_m)
        run["diversity"] = metrics.diversity(cur_m, rng=rng)
        runs.append(run)
    return metrics.summarize_runs(runs)


def evaluate_t2m(evaluator, generate: Generate, folder: MotionTextFolder, repeats: int = 20, seed: int = 0,
                 limit: int | None = None, mm_prompts: int = 100, mm_samples: int = 10, max_frames: int = 196,
                 frame_range: tuple[int, int] | None = None, log=None) -> dict[str, dict]:
    """{'ground_truth': {metric: interval}, 'model': {metric: interval}}.
    frame_range: the lengths the model can generate; requested lengths are clamped into it."""
    indices = clip_indices(folder, limit)
    rng = np.random.default_rng(seed)
    gt_runs, model_runs = [], []
    lo, hi = frame_range or (1, 10**9)
    for rep in range(repeats):
        ref = draw(folder, indices, rng, max_frames)
        cur = draw(folder, indices, rng, max_frames, with_tokens=_needs_tokens(evaluator))
        ref_m = evaluator.embed_motions(ref.features)
        cur_m = evaluator.embed_motions(cur.features)
        txt = evaluator.embed_texts(cur.texts, cur.tokens)
        frames = [int(np.clip(len(f), lo, hi)) for f in cur.features]
        seeds = [seed * 1_000_003 + rep * len(indices) + i for i in range(len(indices))]
        generated = generate(cur.texts, frames, seeds)
        gen_m = evaluator.embed_motions(generated)

        gt = metrics.matching(txt, cur_m, rng=np.random.default_rng([seed, rep, 1]))
        gt["fid"] = metrics.fid(ref_m, cur_m)
        gt["diversity"] = metrics.diversity(cur_m, rng=np.random.default_rng([seed, rep, 2]))
        run = metrics.matching(txt, gen_m, rng=np.random.default_rng([seed, rep, 1]))
        run["fid"] = metrics.fid(ref_m, gen_m)
        run["diversity"] = metrics.diversity(gen_m, rng=np.random.default_rng([seed, rep, 2]))
        n_mm = min(mm_prompts, len(indices))
        if n_mm > 0 and mm_samples > 1:
            texts = [t for t in cur.texts[:n_mm] for _ in range(mm_samples)]
            lens = [f for f in frames[:n_mm] for _ in range(mm_samples)]
            mm_seeds = [10**9 + seed * 1_000_003 + (rep * n_mm + p) * mm_samples + k
                        for p in range(n_mm) for k in range(mm_samples)]
            groups = evaluator.embed_motions(generate(texts, lens, mm_seeds)).reshape(n_mm, mm_samples, -1)
            run["multimodality"] = metrics.multimodality(groups, rng=np.random.default_rng([seed, rep, 3]))
        gt_runs.append(gt)
        model_runs.append(run)
        if log is not None:
            log(f"repetition {rep + 1}/{repeats}: model top1 {run['top1']:.3f} fid {run['fid']:.3f}")
    return {"ground_truth": metrics.summarize_runs(gt_runs), "model": metrics.summarize_runs(model_runs)}


def whole_clip_references(folder: MotionTextFolder, indices: list[int]) -> tuple[list[int], list[list[str]]]:
    """Clips that have captions for the whole clip, and those captions."""
    kept, refs = [], []
    for i in indices:
        whole = [c.text for c in folder.captions[i] if not c.end > c.start]
        if whole:
            kept.append(i)
            refs.append(whole)
    if not kept:
        raise MomugError("no clip in this split has a caption for the whole clip")
    return kept, refs


def evaluate_m2t(evaluator, describe: Describe, folder: MotionTextFolder, repeats: int = 20, seed: int = 0,
                 limit: int | None = None, max_frames: int = 196, token_vectors=None, log=None) -> dict:
    """{'ground_truth': {...}, 'model': {...}, 'samples': [first few captions with references],
    'captions': {clip id: caption}}."""
    from momug.eval.text_metrics import caption_scores

    indices, refs = whole_clip_references(folder, clip_indices(folder, limit))
    feats = [np.asarray(folder.features(i)[:max_frames], np.float32) for i in indices]
    captions = describe(feats)
    if log is not None:
        log(f"captioned {len(captions)} motions")
    scores = caption_scores(captions, refs, token_vectors)
    motion_m = evaluator.embed_motions(feats)
    tag = _needs_tokens(evaluator)
    from momug.data.synth.tagging import tokens as tag_tokens

    cap_m = evaluator.embed_texts(captions, [tag_tokens(c) for c in captions] if tag else None)
    gt_runs, model_runs = [], []
    rng = np.random.default_rng(seed)
    for rep in range(repeats):
        picked = [rs[int(rng.integers(len(rs)))] for rs in refs]
        ref_m = evaluator.embed_texts(picked, [_tokens_of(folder, i, t) for i, t in zip(indices, picked)]
                                      if tag else None)
        gt_runs.append(metrics.matching(ref_m, motion_m, rng=np.random.default_rng([seed, rep, 1])))
        model_runs.append(metrics.matching(cap_m, motion_m, rng=np.random.default_rng([seed, rep, 1])))
    model = metrics.summarize_runs(model_runs)
    model.update({k: metrics.interval([v]) for k, v in scores.items()})
    samples = [{"id": folder.ids[i], "caption": c, "references": r}
               for i, c, r in list(zip(indices, captions, refs))[:10]]
    return {"ground_truth": metrics.summarize_runs(gt_runs), "model": model, "samples": samples,
            "captions": {folder.ids[i]: c for i, c in zip(indices, captions)}}
