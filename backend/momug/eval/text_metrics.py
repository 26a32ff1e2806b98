"""Caption metrics for motion-to-text: BLEU-1/4, ROUGE-L, CIDEr-D and a BERTScore-style F1.

Every function takes hypotheses (one string each) and references (a list of strings for each
hypothesis). Text is lower-cased and split into words (letters, digits, apostrophes).

BLEU       corpus level (Papineni et al.): clipped n-gram precisions summed over the corpus,
           geometric mean up to N, brevity penalty against the closest reference length; 0 when
           some precision is 0 (no smoothing).
ROUGE-L    per caption: LCS-based precision and recall (best over references), F with beta 1.2,
           averaged over captions (as in the COCO caption toolkit).
CIDEr-D    (Vedantam et al.): tf-idf n-gram vectors (n = 1..4, document frequency over the
           reference sets), clipped cosine similarity with a Gaussian length penalty (sigma 6),
           averaged over n and references, times 10.
BERTScore  greedy cosine matching of contextual token vectors, best F1 over references, no idf
           weighting, no baseline rescaling. The token vectors come from the shipped MiniLM
           sentence encoder, NOT from roberta-large as in the BERTScore paper, so values are not
           comparable with published BERTScores.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _check(hyps: list[str], refs: list[list[str]]) -> None:
    if len(hyps) != len(refs) or not hyps:
        raise ValueError("need one non-empty reference list per hypothesis")
    if any(not r for r in refs):
        raise ValueError("every hypothesis needs at least one reference")


# ----------------------------------------------------------------------------- BLEU
def bleu(hyps: list[str], refs: list[list[str]], max_n: int = 4) -> dict[str, float]:
    """{'bleu1': .., ..., f'bleu{max_n}': ..} at corpus level."""
    _check(hyps, refs)
    matched, total = np.zeros(max_n), np.zeros(max_n)
    hyp_len = ref_len = 0
    for hyp, rs in zip(hyps, refs):
        h = words(hyp)
        r_words = [words(r) for r in rs]
        hyp_len += len(h)
        ref_len += min((abs(len(r) - len(h)), len(r)) for r in r_words)[1]
        for n in range(1, max_n + 1):
            counts = ngrams(h, n)
            best = Counter()
            for r in r_words:
                best |= ngrams(r, n)  # per-n-gram maximum count over references
            matched[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            total[n - 1] += max(len(h) - n + 1, 0)
    brevity = 1.0 if hyp_len > ref_len else (math.exp(1 - ref_len / hyp_len) if hyp_len else 0.0)
    out = {}
    for n in range(1, max_n + 1):
        p = matched[:n] / np.maximum(total[:n], 1)
        out[f"bleu{n}"] = float(brevity * math.exp(np.log(p).mean())) if (p > 0).all() else 0.0
    return out


# ----------------------------------------------------------------------------- ROUGE-L
def lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(hyps: list[str], refs: list[list[str]], beta: float = 1.2) -> float:
    _check(hyps, refs)
    scores = []
    for hyp, rs in zip(hyps, refs):
        h = words(hyp)
        precision = recall = 0.0
        for r in rs:
            r = words(r)
            common = lcs(h, r)
            precision = max(precision, common / len(h) if h else 0.0)
            recall = max(recall, common / len(r) if r else 0.0)
        if precision > 0 and recall > 0:
            scores.append((1 + beta**2) * precision * recall / (recall + beta**2 * precision))
        else:
            scores.append(0.0)
    return float(np.mean(scores))


# ----------------------------------------------------------------------------- CIDEr-D
def _tfidf(tokens: list[str], doc_freq: Counter, log_docs: float, max_n: int):
    vecs, norms = [], []
    for n in range(1, max_n + 1):
        vec = {g: c * (log_docs - math.log(max(1.0, doc_freq[g]))) for g, c in ngrams(tokens, n).items()}
        vecs.append(vec)
        norms.append(math.sqrt(sum(v * v for v in vec.values())))
    return vecs, norms


def cider_d(hyps: list[str], refs: list[list[str]], max_n: int = 4, sigma: float = 6.0) -> float:
    _check(hyps, refs)
    ref_words = [[words(r) for r in rs] for rs in refs]
    doc_freq: Counter = Counter()
    for rs in ref_words:
        seen = set()
        for r in rs:
            for n in range(1, max_n + 1):
                seen.update(ngrams(r, n))
        doc_freq.update(seen)
    log_docs = math.log(len(refs))
    scores = []
    for hyp, rs in zip(hyps, ref_words):
        h = words(hyp)
        hv, hn = _tfidf(h, doc_freq, log_docs, max_n)
        total = np.zeros(max_n)
        for r in rs:
            rv, rn = _tfidf(r, doc_freq, log_docs, max_n)
            penalty = math.exp(-((len(h) - len(r)) ** 2) / (2 * sigma**2))
            for n in range(max_n):
                if hn[n] == 0 or rn[n] == 0:
                    continue
                dot = sum(min(v, rv[n].get(g, 0.0)) * rv[n].get(g, 0.0) for g, v in hv[n].items())
                total[n] += dot / (hn[n] * rn[n]) * penalty
        scores.append(10.0 * total.mean() / len(rs))
    return float(np.mean(scores))


# ----------------------------------------------------------------------------- BERTScore
def greedy_match(h: np.ndarray, r: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall, F1 of greedy cosine matching between token vectors h (n, d) and r (m, d)."""
    if len(h) == 0 or len(r) == 0:
        return 0.0, 0.0, 0.0
    h = h / np.linalg.norm(h, axis=1, keepdims=True).clip(1e-12)
    r = r / np.linalg.norm(r, axis=1, keepdims=True).clip(1e-12)
    sim = h @ r.T
    p, rec = float(sim.max(1).mean()), float(sim.max(0).mean())
    return p, rec, (2 * p * rec / (p + rec) if p + rec > 0 else 0.0)


def bert_score(hyps: list[str], refs: list[list[str]], token_vectors) -> dict[str, float]:
    """token_vectors(list[str]) -> list of (n_i, d) arrays (e.g. SentenceEncoder.token_vectors).
    Per hypothesis the reference with the best F1 counts; returns corpus means."""
    _check(hyps, refs)
    texts = sorted(set(hyps) | {r for rs in refs for r in rs})
    table = dict(zip(texts, token_vectors(texts)))
    rows = []
    for hyp, rs in zip(hyps, refs):
        rows.append(max((greedy_match(table[hyp], table[r]) for r in rs), key=lambda s: s[2]))
    p, r, f = np.mean(rows, axis=0)
    return {"bertscore_p": float(p), "bertscore_r": float(r), "bertscore_f1": float(f)}


def caption_scores(hyps: list[str], refs: list[list[str]], token_vectors=None) -> dict[str, float]:
    """All caption metrics at once (BERTScore only when token_vectors is given)."""
    b = bleu(hyps, refs)
    out = {"bleu1": b["bleu1"], "bleu4": b["bleu4"], "rouge_l": rouge_l(hyps, refs), "cider": cider_d(hyps, refs)}
    if token_vectors is not None:
        out.update(bert_score(hyps, refs, token_vectors))
    return out
