"""Does a style word change the gait the way it changes real people's? `momug eval styles`.

Issue 20's bar for the real-motion model: for walks and runs, "elderly" / "exhausted" / "tired"
must come out slower and with shorter steps than "active" / "youthful", judged automatically, in
at least 85% of pairs. A pair is one slow and one lively style of the same action, generated with
the same seed and length:

    "An elderly person walks forward."  vs  "An energetic person walks forward."

The rule, exactly: a pair passes when the slow style's cruise speed is strictly lower AND its
mean step length is strictly shorter than the lively style's; a motion whose steps cannot be
measured (fewer than two steps) fails its pairs. The same rule is run on the real Bandai-Namco
clips of those styles (every slow clip against every lively clip of the same content and data
set), so the reader can see the rule holds for real people: on the imported corpus 99.1% of the
9,546 real pairs pass it (speed alone 99.3%, steps alone 99.5%). Generated motion is judged as the
model made it, without the seam and feet cleanup (momug.eval.adapters.probe_generator, as the
probes judge it).

Measures (world joints (T, 22, 3), metres, Y up):
- speed: momug.eval.probes.cruise_speed, the pelvis' ground speed once under way (1 s windows, so
  sway, jitter and standing before or after do not count);
- step length: step_length below, the pelvis' ground travel per step, a step being the interval
  between two moments the feet pass each other along the body's facing. Without sliding feet that
  is the distance between successive plants of the two feet; on the 536 real forward walks and
  runs (every style) it is 0.995 of half the plant-to-plant stride of momug.eval.real_motion.gait
  on average (90% of the clips within 3%, all within 6%). That stride finds plants by a toe's
  height and stillness, which misses plants in generated motion whose feet slide or float (a
  default-model run measured a 4.7 m stride); feet passing each other needs no floor and no
  stillness.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

from momug.errors import MomugError
from momug.eval.probes import L_FOOT, PELVIS, R_FOOT, cruise_speed, facing_yaw

ACTIONS = ("walk", "run")
SLOW = ("elderly", "exhausted", "tired")
LIVELY = ("active", "youthful")
# Data set 1 calls the elderly style "old". Its "tired" (data set 2's "exhausted") stays apart,
# since the prompts name both.
ALIASES = {"old": "elderly"}
# The feet count as having passed each other once the front one is this far ahead (m): standing
# with the feet side by side, or a one-frame wobble, never makes a step.
PASS_MARGIN = 0.05
BAR = 0.85  # issue 20


# ----------------------------------------------------------------------------------------------
# Measures


def step_times(joints: np.ndarray) -> list[int]:
    """Frames at which the feet finish passing each other along the body's facing (one per step)."""
    yaw = facing_yaw(joints)
    forward = np.stack([np.sin(yaw), np.cos(yaw)], axis=-1)
    ahead = ((joints[:, L_FOOT] - joints[:, R_FOOT])[:, [0, 2]] * forward).sum(axis=-1)
    times, leading = [], 0
    for t, d in enumerate(ahead):
        now = 1 if d > PASS_MARGIN else -1 if d < -PASS_MARGIN else 0
        if now and now != leading:
            if leading:
                times.append(t)
            leading = now
    return times


def step_length(joints: np.ndarray) -> tuple[float, int]:
    """(mean step length in m, number of steps): the pelvis' ground displacement between successive
    step times. NaN and 0 with fewer than two steps' worth of passings."""
    times = step_times(np.asarray(joints, dtype=np.float64))
    if len(times) < 2:
        return float("nan"), 0
    xz = np.asarray(joints, dtype=np.float64)[times, PELVIS][:, [0, 2]]
    return float(np.linalg.norm(np.diff(xz, axis=0), axis=-1).mean()), len(times) - 1


def measure(joints: np.ndarray, fps: float) -> dict:
    joints = np.asarray(joints, dtype=np.float64)
    step, steps = step_length(joints)
    return {"speed_m_s": cruise_speed(joints, fps), "step_m": step, "steps": steps}


def pair_passes(slow: dict, lively: dict) -> dict:
    """The rule (see the module docstring) on two measure() results."""
    slower = bool(slow["speed_m_s"] < lively["speed_m_s"])
    # NaN compares False: an unmeasurable step fails the pair.
    shorter = bool(slow["step_m"] < lively["step_m"])
    return {"slower": slower, "shorter_steps": shorter, "passed": slower and shorter}


def summarize(rows: list[dict]) -> dict:
    """Pass rates overall, per action and per style pair; the speed and step halves alone too."""
    def cell(sel, key="passed"):
        return {"pass_rate": float(np.mean([r[key] for r in sel])) if sel else None, "n": len(sel)}

    by_pair = defaultdict(list)
    for r in rows:
        by_pair[f"{r['action']}: {r['slow']} vs {r['lively']}"].append(r)
    out = {**cell(rows), "speed_only": cell(rows, "slower")["pass_rate"],
           "steps_only": cell(rows, "shorter_steps")["pass_rate"],
           "by_action": {a: cell([r for r in rows if r["action"] == a]) for a in ACTIONS
                         if any(r["action"] == a for r in rows)},
           "by_pair": {k: cell(v) for k, v in sorted(by_pair.items())}}
    if out["pass_rate"] is not None:
        out["bar"] = {"pass_rate": out["pass_rate"], "bar": BAR, "met": out["pass_rate"] >= BAR}
    return out


def style_means(measured: dict[tuple[str, str], list[dict]]) -> dict:
    """{(action, style): [measure()]} -> {"action/style": mean speed, mean step, n}."""
    return {f"{a}/{s}": {"n": len(m), "speed_m_s": float(np.mean([x["speed_m_s"] for x in m])),
                         "step_m": float(np.nanmean([x["step_m"] for x in m]))
                         if any(np.isfinite(x["step_m"]) for x in m) else None}
            for (a, s), m in sorted(measured.items())}


# ----------------------------------------------------------------------------------------------
# The model


def style_prompt(action: str, style: str, wording: str = "corpus") -> str:
    """The prompt for an action in a style. corpus: a subject the Bandai captions use for the style,
    the one with the style's own word where there is one ("An exhausted person", but "An
    energetic person" for active, which no caption says); heldout: the importer's held-out subject
    ("An aged individual"), which no training caption uses. The verb is the captions' first."""
    from momug.data.bandai import CONTENTS, STYLES

    verb = CONTENTS[action][3][0]
    _, subjects, _, heldout_subject, _ = STYLES[style]
    if wording == "corpus":
        subject = next((s for s in subjects if style in s.split()), subjects[0])
    elif wording == "heldout":
        subject = heldout_subject
    else:
        raise MomugError(f"unknown wording '{wording}': corpus or heldout")
    text = f"{subject} {verb}."
    return text[0].upper() + text[1:]


def style_pairs(wording: str = "corpus") -> list[dict]:
    """Every (action, slow style, lively style) with its two prompts; held-out wordings name a style
    family once (tired and exhausted share one), so repeated prompt pairs are dropped."""
    seen, out = set(), []
    for action in ACTIONS:
        for slow in SLOW:
            for lively in LIVELY:
                prompts = (style_prompt(action, slow, wording), style_prompt(action, lively, wording))
                if prompts not in seen:
                    seen.add(prompts)
                    out.append({"action": action, "slow": slow, "lively": lively,
                                "slow_prompt": prompts[0], "lively_prompt": prompts[1]})
    return out


def judge_model(generate: Callable[[list[str], float, int], list[np.ndarray]], seeds: tuple[int, ...],
                seconds: float, fps: float, wording: str = "corpus") -> dict:
    """generate(prompts, seconds, seed) -> joints per prompt (momug.eval.adapters.probe_generator).
    Each style's prompt is generated once per seed and used in all its pairs of that seed."""
    pairs = style_pairs(wording)
    prompts = sorted({p[k] for p in pairs for k in ("slow_prompt", "lively_prompt")})
    styles = {(p["action"], p[side]): p[f"{side}_prompt"] for p in pairs for side in ("slow", "lively")}
    rows, measured = [], defaultdict(list)
    for seed in seeds:
        made = dict(zip(prompts, generate(prompts, seconds, seed)))
        got = {p: measure(made[p], fps) for p in prompts}
        for p in pairs:
            slow, lively = got[p["slow_prompt"]], got[p["lively_prompt"]]
            rows.append({**p, "seed": seed, "slow_measure": slow, "lively_measure": lively,
                         **pair_passes(slow, lively)})
        for key, prompt in styles.items():
            measured[key].append(got[prompt])
    return {"wording": wording, "seconds": seconds, "seeds": list(seeds), "rows": rows,
            "summary": summarize(rows), "styles": style_means(measured)}


# ----------------------------------------------------------------------------------------------
# The real data


def real_reference(data, splits: list[str] | None = None, fps: float = 20.0) -> dict:
    """The rule on an imported corpus' real walks and runs forward of the slow and lively styles:
    every slow clip against every lively clip of the same content (walk or run, not dash) and
    data set. splits: the split files to take clips from (default: every real clip)."""
    from momug.data.humanml3d import read_split
    from momug.eval.real_motion import read_real_meta

    root = Path(data)
    meta = read_real_meta(root)
    ids = set(meta) if not splits else {i for s in splits for i in read_split(root, s) if i in meta}
    clips: dict[tuple, dict[str, list]] = defaultdict(lambda: {"slow": [], "lively": []})
    measured = defaultdict(list)
    for clip_id in sorted(ids):
        row = meta[clip_id]
        action = row.get("content", row["kind"])
        style = ALIASES.get(row.get("style"), row.get("style"))
        if action not in ACTIONS or row.get("direction", "forward") != "forward" or style not in SLOW + LIVELY:
            continue
        path = root / "new_joints" / f"{clip_id}.npy"
        if not path.is_file():
            raise MomugError(f"{path} is missing: the corpus is incomplete")
        m = measure(np.load(path), fps)
        side = "slow" if style in SLOW else "lively"
        clips[(action, row.get("dataset"))][side].append((style, m))
        measured[(action, style)].append(m)
    if not measured:
        raise MomugError(f"{root} has no real walks or runs forward in the styles {', '.join(SLOW + LIVELY)}")
    rows = []
    for (action, _), group in sorted(clips.items(), key=lambda kv: str(kv[0])):
        for slow_style, slow in group["slow"]:
            for lively_style, lively in group["lively"]:
                rows.append({"action": action, "slow": slow_style, "lively": lively_style,
                             **pair_passes(slow, lively)})
    return {"data": str(root), "splits": splits or "all", "clips": sum(len(m) for m in measured.values()),
            "summary": summarize(rows), "styles": style_means(measured)}


# ----------------------------------------------------------------------------------------------
# Printing


def _fmt(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.2f}"


def _rate(cell: dict) -> str:
    return "-" if cell["pass_rate"] is None else f"{cell['pass_rate']:.0%} ({cell['n']})"


def pair_table(rows: list[dict]) -> str:
    """One line per generated pair: each side's speed and step, and the verdict."""
    lines = ["| action | slow | lively | seed | speed m/s slow / lively | step m slow / lively | pass |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        s, v = r["slow_measure"], r["lively_measure"]
        verdict = "yes" if r["passed"] else "no (" + ", ".join(
            w for w, ok in (("not slower", r["slower"]), ("steps not shorter", r["shorter_steps"])) if not ok) + ")"
        lines.append(f"| {r['action']} | {r['slow']} | {r['lively']} | {r['seed']} | {_fmt(s['speed_m_s'])} / "
                     f"{_fmt(v['speed_m_s'])} | {_fmt(s['step_m'])} / {_fmt(v['step_m'])} | {verdict} |")
    return "\n".join(lines)


def against_real(model_styles: dict, real_styles: dict) -> list[str]:
    """Each style's mean speed and step, the model's against the real clips': the pair rule says
    which way a style goes, this says how far (a slow walk that barely moves passes the rule)."""
    lines = ["model against real, per style (speed m/s, step m):"]
    for key, m in model_styles.items():
        r = real_styles.get(key)
        if r is not None:
            lines.append(f"  {key}: speed {_fmt(m['speed_m_s'])} vs {_fmt(r['speed_m_s'])}, "
                         f"step {_fmt(m['step_m'])} vs {_fmt(r['step_m'])}")
    return lines


def summary_lines(summary: dict, styles: dict) -> list[str]:
    lines = [f"pass rate {_rate(summary)}; speed alone {_fmt(summary['speed_only'])}, "
             f"steps alone {_fmt(summary['steps_only'])}"]
    lines += [f"  {a}: {_rate(c)}" for a, c in summary["by_action"].items()]
    lines += [f"  {k}: {_rate(c)}" for k, c in summary["by_pair"].items()]
    if "bar" in summary:
        lines.append(f"issue 20's bar: {summary['pass_rate']:.2f} vs {BAR:.2f} "
                     f"{'met' if summary['bar']['met'] else 'not met'}")
    lines.append("mean per style (speed m/s, step m, n):")
    lines += [f"  {k}: {_fmt(m['speed_m_s'])}, {_fmt(m['step_m'])}, {m['n']}" for k, m in styles.items()]
    return lines
