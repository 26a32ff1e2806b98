"""Text-to-motion metrics on evaluator embeddings, as in Guo et al. (2022).

R-precision   fraction of captions whose own motion ranks in the top k among the 32 motions of its
              batch (by Euclidean distance between text and motion embeddings)
MM-Dist       mean distance between a caption's embedding and its motion's
FID           Frechet distance between two sets of motion embeddings (Gaussian fits)
Diversity     mean distance between two random disjoint draws of 300 motions
MultiModality mean distance between pairs of motions generated for the same caption
Each is computed once per repetition; `interval` gives the mean and the 95% interval over them.

Also the caption metrics' entry point for motion-to-text (see momug.eval.text_metrics).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from momug.errors import MomugError


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix (N, M) between the rows of a (N, D) and b (M, D)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    sq = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(sq, 0.0, None))


def top_k_hits(dist: np.ndarray, top_k: int = 3) -> np.ndarray:
    """dist (B, B), row i's match is column i. Returns (top_k,) counts of rows whose match ranks
    within the first 1..top_k columns (ties broken by column order)."""
    rank = (np.argsort(dist, axis=1, kind="stable") == np.arange(len(dist))[:, None]).argmax(axis=1)
    return np.array([(rank < k).sum() for k in range(1, top_k + 1)], dtype=np.float64)


def matching(texts: np.ndarray, motions: np.ndarray, batch_size: int = 32, top_k: int = 3,
             rng: np.random.Generator | None = None) -> dict[str, float]:
    """R-precision top-1..top_k and MM-Dist over shuffled batches of batch_size matched pairs.
    As in the reference protocol, an incomplete last batch is left out (unless it is the only one)."""
    n = len(texts)
    if n != len(motions) or n == 0:
        raise MomugError("matching needs the same, non-zero number of texts and motions")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    size = min(batch_size, n)
    hits, used, dist_sum = np.zeros(top_k), 0, 0.0
    for start in range(0, n - size + 1, size):
        idx = order[start:start + size]
        dist = distances(texts[idx], motions[idx])
        hits += top_k_hits(dist, top_k)
        dist_sum += float(np.trace(dist))
        used += size
    out = {f"top{k + 1}": float(hits[k] / used) for k in range(top_k)}
    out["mm_dist"] = dist_sum / used
    return out


def gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64)
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet(mu1, cov1, mu2, cov2, eps: float = 1e-6) -> float:
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-singular products are handled below
        root = linalg.sqrtm(cov1 @ cov2)
        if not np.isfinite(root).all():  # singular product: nudge both covariances
            offset = np.eye(len(cov1)) * eps
            root = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    root = np.real(root)
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(root))


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two embedding sets (each needs at least 2 rows)."""
    if len(a) < 2 or len(b) < 2:
        raise MomugError("FID needs at least two motions per set")
    return max(0.0, frechet(*gaussian(a), *gaussian(b)))


def diversity(x: np.ndarray, pairs: int = 300, rng: np.random.Generator | None = None) -> float:
    """Mean distance between x[i] and x[j] over `pairs` random (i, j); fewer when x has fewer rows."""
    rng = rng if rng is not None else np.random.default_rng(0)
    n = len(x)
    pairs = min(pairs, n)
    first = rng.choice(n, pairs, replace=False)
    second = rng.choice(n, pairs, replace=False)
    return float(np.linalg.norm(np.asarray(x)[first] - np.asarray(x)[second], axis=1).mean())


def multimodality(groups: np.ndarray, pairs: int = 10, rng: np.random.Generator | None = None) -> float:
    """groups (P, S, D): S generated motions per caption. Mean distance over `pairs` random sample
    pairs per caption."""
    rng = rng if rng is not None else np.random.default_rng(0)
    groups = np.asarray(groups)
    S = groups.shape[1]
    if S < 2:
        raise MomugError("MultiModality needs at least two samples per caption")
    pairs = min(pairs, S)
    first = rng.choice(S, pairs, replace=False)
    second = rng.choice(S, pairs, replace=False)
    return float(np.linalg.norm(groups[:, first] - groups[:, second], axis=2).mean())


def interval(values) -> dict:
    """Mean and half-width of the 95% interval (1.96 standard deviations of the values over sqrt(n),
    as the reference evaluation scripts compute it)."""
    v = np.asarray(list(values), dtype=np.float64)
    ci = 1.96 * v.std() / np.sqrt(len(v)) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "ci95": float(ci), "n": int(len(v))}


def summarize_runs(runs: list[dict[str, float]]) -> dict[str, dict]:
    """[{metric: value} per repetition] -> {metric: interval}."""
    keys = [k for k in runs[0] if all(k in r for r in runs)] if runs else []
    return {k: interval(r[k] for r in runs) for k in keys}
