"""`momug eval probes`: prompt-following probes (momug.eval.probes) and physical checks
(momug.eval.physics) of the same generated motions, with the data's own motions as ground truth."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from momug.eval import metrics
from momug.eval.physics import physics_report
from momug.eval.probes import run_probes, summarize


def probe_table(generate, seeds: tuple[int, ...] = (0,), fps: float = 20.0, probes=None,
                mode: str = "diffusion") -> dict:
    """Run the probes; returns rows, summary, pass rates per tag, a printable table and the joints.
    mode ('diffusion' or 'stream'): which generation mode's bars the summary holds them to."""
    kept: list[np.ndarray] = []

    def recording(prompts, seconds, seed):
        out = generate(prompts, seconds, seed)
        kept.extend(np.asarray(j) for j in out)
        return out

    rows = run_probes(recording, probes=probes, seeds=seeds, fps=fps)
    return dict(tabulate(rows, mode), joints=kept)


def tabulate(rows: list[dict], mode: str = "diffusion") -> dict:
    """Rows of run_probes (one run or several seeds' runs together) -> summary, pass rates per tag
    and the printable table."""
    by_tag: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        for tag in r["tags"] or ["other"]:
            by_tag[tag].append(r["passed"])
    tags = {t: float(np.mean(v)) for t, v in sorted(by_tag.items())}
    summary = summarize(rows, mode)
    lines = [f"{'Probe group':<12} {'pass rate':>9}", "-" * 22]
    lines += [f"{t:<12} {rate:>9.2f}" for t, rate in tags.items()]
    lines += ["-" * 22, f"{'all':<12} {summary['pass_rate']:>9.2f}",
              f"{'corpus-worded':<12} {summary['pass_rate_corpus_wording']:>9.2f}",
              f"{'held-out':<12} {summary['pass_rate_held_out']:>9.2f}", f"({summary['n']} generations)"]
    lines += _extended_lines(summary)
    return {"rows": rows, "summary": summary, "by_tag": tags, "table": "\n".join(lines)}


def _rate(cell: dict) -> str:
    return f"{cell['pass_rate']:.2f} ({cell['n']})" if cell["n"] else "-"


def _extended_lines(summary: dict) -> list[str]:
    """Per side of each sided group, sequences, speed/height words and issue 20's bars; printed
    below the group table, which stays as it was for the default suite."""
    lines = []
    if summary["by_side"]:
        lines += ["", f"{'Sided group':<12} {'left':>10} {'right':>10}", "-" * 34]
        lines += [f"{t:<12} {_rate(c['left']):>10} {_rate(c['right']):>10}" for t, c in summary["by_side"].items()]
    for label, key, n_key in (("sequences", "pass_rate_sequence", "n_sequence"),
                              ("speed/height", "pass_rate_speed_height", "n_speed_height")):
        if summary[n_key]:
            lines.append(f"{label:<12} {summary[key]:>9.2f} ({summary[n_key]} generations)")
    if summary["targets"]:
        # The bars are set on the extended suite; other suites print where they would stand.
        lines += ["", f"Issue 20's bars ({summary['mode']} mode; set on the extended suite):"]
        lines += [f"  {name:<12} {t['pass_rate']:.2f} vs {t['bar']:.2f} {'met' if t['met'] else 'not met'}"
                  for name, t in summary["targets"].items()]
    return lines


def physics_of(joints_list: list[np.ndarray], fps: float) -> dict[str, dict]:
    reports = [physics_report(j, fps) for j in joints_list]
    return {k: metrics.interval(r[k] for r in reports) for k in reports[0]} if reports else {}


def physics_rows(generated: list[np.ndarray], fps: float, folder=None, limit: int | None = None,
                 seam_period: int | None = None, clean_feet: bool = True) -> dict:
    """Physical checks over the data's clips ('ground_truth'), the generated ones as the model made
    them ('model') and, given the model's seam period (frames per token or latent), the same motions
    after the cleanup (momug.motion.cleanup): seams mended ('model_seams_mended'), then the jitter
    low-passed ('model_smoothed') and planted feet held still too ('model_cleaned', what users get)
    where the pipeline cleans whole clips (clean_feet); for a stream, 'model_smoothed' is what it
    sends (cleanup.replay_streamed: low-passed with a delay, feet left alone)."""
    from momug.motion.cleanup import clean_foot_contacts, mend_seams, replay_streamed, smooth_jitter
    from momug.motion.features import features_to_joints

    rows = {}
    if folder is not None:
        n = len(folder) if limit is None else min(limit, len(folder))
        truth = [features_to_joints(np.asarray(folder.features(i), np.float64)) for i in range(n)]
        rows["ground_truth"] = physics_of(truth, folder.fps)
    rows["model"] = physics_of(generated, fps)
    if seam_period is not None:
        # The passes of cleanup.finish_motion, each applied once and measured on the way.
        mended = [mend_seams(j, seam_period) for j in generated]
        rows["model_seams_mended"] = physics_of(mended, fps)
        if clean_feet:
            smoothed = [smooth_jitter(j, fps) for j in mended]
            rows["model_smoothed"] = physics_of(smoothed, fps)
            rows["model_cleaned"] = physics_of([clean_foot_contacts(j, fps) for j in smoothed], fps)
        else:  # a stream sends frames before a foot's contact has ended
            rows["model_smoothed"] = physics_of([replay_streamed(j, fps, seam_period) for j in generated], fps)
    return rows
