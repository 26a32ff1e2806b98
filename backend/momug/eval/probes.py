"""Prompt-following probes: prompts (many worded in ways the corpus never uses) paired with an
automatic check of the generated motion's physics.

All checks read world joints (T, 22, 3), metres, Y up, SMPL-22 order. Directions are in the body's
frame at the first frame: forward is where the body faces, left is the body's own left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

PELVIS, L_HIP, R_HIP, L_ANKLE, R_ANKLE, L_FOOT, R_FOOT, HEAD = 0, 1, 2, 7, 8, 10, 11, 15
L_SHOULDER, R_SHOULDER, L_WRIST, R_WRIST = 16, 17, 20, 21
SIDE = {"left": (L_WRIST, L_SHOULDER, L_ANKLE, L_FOOT), "right": (R_WRIST, R_SHOULDER, R_ANKLE, R_FOOT)}
OTHER = {"left": "right", "right": "left"}


def facing_yaw(joints: np.ndarray) -> np.ndarray:
    """Heading angle (T,) about +Y, 0 when facing +Z, positive when turned to the body's left."""
    across = (joints[:, R_HIP] - joints[:, L_HIP]) + (joints[:, R_SHOULDER] - joints[:, L_SHOULDER])
    forward = np.cross([0.0, 1.0, 0.0], across)
    return np.unwrap(np.arctan2(forward[:, 0], forward[:, 2]))


def body_frame_displacement(joints: np.ndarray) -> tuple[float, float]:
    """Root travel (forward, left) in metres, in the body frame of the first frame."""
    yaw0 = facing_yaw(joints[:3]).mean()
    d = joints[-1, PELVIS] - joints[0, PELVIS]
    forward = d[2] * np.cos(yaw0) + d[0] * np.sin(yaw0)
    left = d[0] * np.cos(yaw0) - d[2] * np.sin(yaw0)
    return float(forward), float(left)


def floor_height(joints: np.ndarray) -> float:
    return float(np.percentile(joints[:, [L_FOOT, R_FOOT, L_ANKLE, R_ANKLE], 1].min(axis=1), 5))


@dataclass
class CheckResult:
    passed: bool
    measure: float
    detail: str


def travels(direction: str, min_distance: float = 0.5) -> Callable[[np.ndarray, float], CheckResult]:
    def check(joints, fps):
        fwd, left = body_frame_displacement(joints)
        along = {"forward": fwd, "backward": -fwd, "left": left, "right": -left}[direction]
        across = abs(left) if direction in ("forward", "backward") else abs(fwd)
        ok = along > min_distance and along > across
        return CheckResult(ok, along, f"travelled {along:.2f} m {direction} ({across:.2f} m across)")

    return check


def jumps(min_clearance: float = 0.08) -> Callable:
    def check(joints, fps):
        lowest_foot = joints[:, [L_ANKLE, R_ANKLE, L_FOOT, R_FOOT], 1].min(axis=1)
        clearance = float(lowest_foot.max() - floor_height(joints) - 0.05)  # ankles rest ~5 cm up
        return CheckResult(clearance > min_clearance, clearance, f"both feet left the floor by {clearance:.2f} m")

    return check


def waves(side: str) -> Callable:
    wrist, shoulder, _, _ = SIDE[side]
    other_wrist = SIDE[OTHER[side]][0]

    def check(joints, fps):
        raised = joints[:, wrist, 1] - joints[:, shoulder, 1]
        other = joints[:, other_wrist, 1] - joints[:, shoulder, 1]
        up = raised > 0.05
        lateral = joints[up, wrist] - joints[up, shoulder] if up.sum() > 4 else np.zeros((1, 3))
        swing = float(np.std(lateral[:, 0]) + np.std(lateral[:, 2]))
        ok = up.mean() > 0.25 and np.percentile(raised, 90) > np.percentile(other, 90) + 0.1 and swing > 0.02
        return CheckResult(ok, float(np.percentile(raised, 90)), f"{side} wrist up {up.mean():.0%} of the time, swing {swing:.3f} m")

    return check


def raises_both_arms() -> Callable:
    def check(joints, fps):
        top = np.minimum(joints[:, L_WRIST, 1], joints[:, R_WRIST, 1]) - joints[:, HEAD, 1]
        return CheckResult(bool(top.max() > 0.0), float(top.max()), f"lower wrist reached {top.max():+.2f} m above the head")

    return check


def goes_down(min_drop: float) -> Callable:
    def check(joints, fps):
        pelvis = joints[:, PELVIS, 1]
        drop = float(np.percentile(pelvis, 95) - pelvis.min())
        return CheckResult(drop > min_drop, drop, f"pelvis dropped {drop:.2f} m")

    return check


def turns(direction: str, min_degrees: float = 60.0, max_travel: float = 1.0) -> Callable:
    def check(joints, fps):
        yaw = facing_yaw(joints)
        turned = float(np.degrees(yaw[-3:].mean() - yaw[:3].mean()))
        signed = turned if direction == "left" else -turned
        travel = float(np.linalg.norm((joints[-1, PELVIS] - joints[0, PELVIS])[[0, 2]]))
        ok = signed > min_degrees and travel < max_travel
        return CheckResult(ok, signed, f"turned {turned:+.0f} deg (+ is left), travelled {travel:.2f} m")

    return check


def spins(min_degrees: float = 270.0) -> Callable:
    def check(joints, fps):
        yaw = facing_yaw(joints)
        total = float(np.degrees(abs(yaw[-3:].mean() - yaw[:3].mean())))
        return CheckResult(total > min_degrees, total, f"turned {total:.0f} deg in all")

    return check


def kicks(side: str) -> Callable:
    ankle = SIDE[side][2]
    other = SIDE[OTHER[side]][2]

    def check(joints, fps):
        floor = floor_height(joints)
        lift = float(joints[:, ankle, 1].max() - floor)
        lift_other = float(joints[:, other, 1].max() - floor)
        return CheckResult(lift > 0.3 and lift > lift_other + 0.1, lift, f"{side} ankle up {lift:.2f} m, other {lift_other:.2f} m")

    return check


def moves_at_speed(min_speed: float, max_speed: float = np.inf) -> Callable:
    def check(joints, fps):
        path = np.linalg.norm(np.diff(joints[:, PELVIS][:, [0, 2]], axis=0), axis=-1).sum()
        speed = float(path * fps / max(len(joints) - 1, 1))
        return CheckResult(min_speed <= speed <= max_speed, speed, f"mean ground speed {speed:.2f} m/s")

    return check


def stays_put(max_travel: float = 0.5) -> Callable:
    def check(joints, fps):
        travel = float(np.linalg.norm((joints[:, PELVIS] - joints[0, PELVIS])[:, [0, 2]], axis=-1).max())
        return CheckResult(travel < max_travel, travel, f"root strayed at most {travel:.2f} m")

    return check


def claps() -> Callable:
    def check(joints, fps):
        gap = np.linalg.norm(joints[:, L_WRIST] - joints[:, R_WRIST], axis=-1)
        close = gap < 0.15
        touches = int(np.sum(close[1:] & ~close[:-1]) + close[0])
        return CheckResult(touches >= 2, float(gap.min()), f"hands met {touches} times (closest {gap.min():.2f} m)")

    return check


# Words and phrases of the held-out probe wordings: no training caption of any corpus momug makes
# (procedural or imported) may use them, or the held-out pass rate would measure recall.
HELD_OUT_PHRASES = (
    "stroll", "amble", "retreat", "shuffle", "sprint", "leap", "greet", "applaud", "twirl", "idly", "invisible",
    "on the spot", "boots", "rotates to", "hello with a", "imaginary", "as fast as", "off the ground", "figure",
    "lowers themselves", "knees deeply", "comes back up", "left-handed", "greets",
)


@dataclass
class Probe:
    prompt: str
    check: Callable[[np.ndarray, float], CheckResult]
    seconds: float = 4.0
    held_out: bool = True  # worded in a way the corpus captions never use
    tags: list[str] = field(default_factory=list)


def default_probes() -> list[Probe]:
    """Each behaviour appears with a corpus-style wording and unseen paraphrases."""
    P = Probe
    return [
        P("a person walks forward.", travels("forward"), held_out=False, tags=["direction"]),
        P("someone strolls ahead", travels("forward"), tags=["direction"]),
        P("a man ambles straight on at an easy pace", travels("forward"), tags=["direction"]),
        P("a person walks backwards.", travels("backward"), held_out=False, tags=["direction"]),
        P("someone retreats by stepping back", travels("backward", 0.4), tags=["direction"]),
        P("a person sidesteps to the left.", travels("left", 0.3), held_out=False, tags=["direction"]),
        P("someone shuffles sideways toward their left", travels("left", 0.3), tags=["direction"]),
        P("a person sidesteps to the right.", travels("right", 0.3), held_out=False, tags=["direction"]),
        P("someone shuffles sideways toward their right", travels("right", 0.3), tags=["direction"]),
        P("a person runs forward.", moves_at_speed(1.8), held_out=False, tags=["speed"]),
        P("someone sprints ahead as fast as they can", moves_at_speed(1.8), tags=["speed"]),
        P("a person jumps in place.", jumps(), held_out=False, tags=["jump"]),
        P("hops on the spot", jumps(), tags=["jump"]),
        P("the figure leaps up off the ground", jumps(), tags=["jump"]),
        P("a person waves with their right hand.", waves("right"), held_out=False, tags=["hand"]),
        P("someone greets people by waving the right arm", waves("right"), tags=["hand"]),
        P("a person waves with their left hand.", waves("left"), held_out=False, tags=["hand"]),
        P("someone says hello with a left-handed wave", waves("left"), tags=["hand"]),
        P("a person raises both arms.", raises_both_arms(), held_out=False, tags=["arms"]),
        P("someone lifts both hands up above the head", raises_both_arms(), tags=["arms"]),
        P("a person squats down.", goes_down(0.25), held_out=False, tags=["squat"]),
        P("someone bends the knees deeply and comes back up", goes_down(0.25), tags=["squat"]),
        P("a person sits down.", goes_down(0.3), held_out=False, tags=["squat"]),
        P("someone lowers themselves onto an invisible chair", goes_down(0.3), tags=["squat"]),
        P("a person turns left.", turns("left"), held_out=False, tags=["turn"]),
        P("someone rotates to face their left", turns("left"), tags=["turn"]),
        P("a person turns right.", turns("right"), held_out=False, tags=["turn"]),
        P("someone rotates to face their right", turns("right"), tags=["turn"]),
        P("a person spins around.", spins(), held_out=False, tags=["turn"]),
        P("someone twirls a full circle", spins(), tags=["turn"]),
        P("a person kicks with the right leg.", kicks("right"), held_out=False, tags=["leg"]),
        P("someone boots an imaginary ball with the right foot", kicks("right"), tags=["leg"]),
        # Both sides, as for hands and sidesteps, so a model that always kicks one leg passes half.
        P("a person kicks with the left leg.", kicks("left"), held_out=False, tags=["leg"]),
        P("someone boots an imaginary ball with the left foot", kicks("left"), tags=["leg"]),
        P("a person claps their hands.", claps(), held_out=False, tags=["hands"]),
        P("someone applauds", claps(), tags=["hands"]),
        P("a person stands still.", stays_put(0.3), held_out=False, tags=["idle"]),
        P("someone waits idly without going anywhere", stays_put(0.3), tags=["idle"]),
    ]


def run_probes(generate: Callable[[list[str], float, int], list[np.ndarray]], probes: list[Probe] | None = None,
               seeds: tuple[int, ...] = (0,), fps: float = 20.0) -> list[dict]:
    """generate(prompts, seconds, seed) -> joints per prompt. One row per probe and seed."""
    probes = probes if probes is not None else default_probes()
    rows = []
    by_length: dict[float, list[Probe]] = {}
    for p in probes:
        by_length.setdefault(p.seconds, []).append(p)
    for seed in seeds:
        for seconds, group in by_length.items():
            motions = generate([p.prompt for p in group], seconds, seed)
            for probe, joints in zip(group, motions):
                result = probe.check(np.asarray(joints, dtype=np.float64), fps)
                rows.append({"prompt": probe.prompt, "seed": seed, "held_out": probe.held_out, "tags": probe.tags,
                             "passed": bool(result.passed), "measure": result.measure, "detail": result.detail})
    return rows


def summarize(rows: list[dict]) -> dict[str, float]:
    def rate(sel):
        return float(np.mean([r["passed"] for r in sel])) if sel else float("nan")

    return {
        "pass_rate": rate(rows),
        "pass_rate_held_out": rate([r for r in rows if r["held_out"]]),
        "pass_rate_corpus_wording": rate([r for r in rows if not r["held_out"]]),
        "n": len(rows),
    }
