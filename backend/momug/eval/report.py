"""Plain-text tables in the layout the papers print: one row per method, `mean±ci95` cells."""

from __future__ import annotations

import math

# (key, header, scale): the value shown is the stored value times scale
T2M_COLUMNS = [("top1", "R@1", 1), ("top2", "R@2", 1), ("top3", "R@3", 1), ("fid", "FID", 1),
               ("mm_dist", "MM-Dist", 1), ("diversity", "Diversity", 1), ("multimodality", "MModality", 1)]
M2T_COLUMNS = [("top1", "R@1", 1), ("top2", "R@2", 1), ("top3", "R@3", 1), ("mm_dist", "MM-Dist", 1),
               ("bleu1", "BLEU@1", 100), ("bleu4", "BLEU@4", 100), ("rouge_l", "ROUGE-L", 100),
               ("cider", "CIDEr", 100), ("bertscore_f1", "BERTScore*", 100)]
PHYSICS_COLUMNS = [("foot_skating_m_s", "Skate m/s", 1), ("ground_penetration_m", "Penetr. m", 1),
                   ("jitter_m_s3", "Jitter m/s3", 1), ("bone_length_error_m", "Bone err m", 1),
                   ("largest_step_m", "Max step m", 1)]


def cell(value: dict | float | None, scale: float = 1.0) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        mean, ci = value["mean"] * scale, value.get("ci95", 0.0) * scale
        if not math.isfinite(mean):
            return "-"
        return f"{mean:.3f}±{ci:.3f}" if value.get("n", 1) > 1 else f"{mean:.3f}"
    return f"{value * scale:.3f}"


def table(rows: dict[str, dict], columns: list[tuple[str, str, float]]) -> str:
    """rows: {row name: {metric: interval or number}}; metrics a row lacks print as '-'."""
    head = ["Method"] + [h for _, h, _ in columns]
    body = [[name] + [cell(vals.get(k), s) for k, _, s in columns] for name, vals in rows.items()]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [head] + body]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
