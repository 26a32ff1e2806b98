"""Loss curves from a metrics.jsonl file, drawn with matplotlib's non-interactive backend."""

from __future__ import annotations

import json
from pathlib import Path


def read_metrics(path: str | Path) -> list[dict]:
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted run
    return rows


DIFFUSION_PANELS = (("loss", "total loss"), ("diffusion", "diffusion loss (text -> motion)"),
                    ("lm", "caption loss (motion -> text)"), ("text", "general text loss (language kept)"))


def plot_metrics(metrics_path: str | Path, out_path: str | Path, panels=DIFFUSION_PANELS) -> Path:
    """One log-scale panel per (metric key, title), train as a line and validation as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics_path)
    # A panel only for what this run logged (older runs and text-free runs have no "text" loss).
    panels = [p for p in panels if any(p[0] in r for r in rows)] or list(panels[:1])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.6), squeeze=False)
    axes = axes[0]
    for ax, (key, title) in zip(axes, panels):
        for split, style in (("train", "-"), ("val", "o-"), ("val_ema", "s--")):
            pts = [(r["step"], r[key]) for r in rows if r.get("split") == split and key in r]
            if pts:
                ax.plot(*zip(*pts), style, label=split, markersize=3)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(out_path)
    return out_path
