"""The parametrised action library.

Each action is a sampler of parameters (`sample(rng) -> params`) and a builder
(`build(body, state, params, rng) -> Clip`). Parameters are plain JSON values; they are the ground
truth the captions are written from and that evaluation reads back (meta.jsonl). Directions are
relative to the body's facing when the action starts: "left" is the body's own left. Builders add
small random variation (speed, amplitude, timing, phase) on top of the parameters, and record the
numbers they settled on (speed in m/s, distances in metres, angles in degrees) in clip.meta.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.ndimage import gaussian_filter1d

from momug.motion import quaternion as Q
from momug.data.synth import rig
from momug.data.synth.clip import (FPS, Clip, State, bend_spine, envelope, forward_vec, left_vec, relaxed_wrist,
                                   set_arm, smoothstep, stance_ankles, standing, turn_head)
from momug.data.synth.gait import Gait, frames_needed, steady_phase, step
from momug.data.synth.rig import SIGN, Body

G = 9.81
OTHER = {"left": "right", "right": "left"}


@dataclass(frozen=True)
class Action:
    name: str
    kind: str  # "locomotion", "turn", "jump", "legs", "arms", "body", "idle"
    sample: Callable[[np.random.Generator], dict]
    build: Callable[[Body, State, dict, np.random.Generator], Clip]


ACTIONS: dict[str, Action] = {}


def _register(name: str, kind: str, sample):
    def wrap(build):
        ACTIONS[name] = Action(name, kind, sample, build)
        return build

    return wrap


def _pick(rng, options, p=None):
    return options[int(rng.choice(len(options), p=p))]


def _secs(rng, lo, hi) -> int:
    return int(round(rng.uniform(lo, hi) * FPS))


def _arm_to(clip: Clip, body: Body, side: str, target: np.ndarray, weight: np.ndarray, pole=None) -> None:
    """Move one arm from hanging relaxed toward `target` (T,3 or 3) by weight (T,) in [0, 1]."""
    T = clip.frames
    rest = relaxed_wrist(body, side, T)
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), (T, 3))
    w = np.asarray(weight, dtype=np.float64)
    # Swing the direction and blend the reach separately, so a hand going from the hip to above
    # the head travels round the side instead of folding the elbow through the shoulder.
    r0, r1 = np.linalg.norm(rest, axis=-1), np.linalg.norm(target, axis=-1)
    d0, d1 = rest / r0[:, None], target / np.maximum(r1, 1e-9)[:, None]
    rot = Q.slerp(Q.identity((T,)), Q.between(d0, d1), w)
    wrist = Q.rotate(rot, d0) * (r0 * (1 - w) + r1 * w)[:, None]
    set_arm(clip, body, side, wrist, pole)


def _to_chest_center(body: Body, side: str, point) -> np.ndarray:
    """A point given relative to the middle of the chest, re-expressed relative to `side`'s shoulder."""
    return np.asarray(point, dtype=np.float64) - body.shoulder_in_chest(side)


# ---------------------------------------------------------------------------------------------
# Locomotion

GAITS = {
    # speed m/s by label, strides per second, stance duty, foot lift, pelvis height factor,
    # forward lean (rad), pelvis bob (m; negative = lowest at mid-stance), arm swing (m)
    "walk": dict(speed={"slow": (0.6, 0.85), "normal": (1.0, 1.3), "fast": (1.5, 1.7)}, stride_hz=(1.0, 1.1),
                 duty=0.56, lift=(0.05, 0.08), height=1.0, lean=0.03, bob=0.015, arm=0.16),
    "jog": dict(speed={"slow": (1.6, 1.9), "normal": (1.9, 2.4)}, stride_hz=(1.25, 1.4), duty=0.42,
                lift=(0.09, 0.12), height=0.985, lean=0.08, bob=-0.025, arm=0.14),
    "run": dict(speed={"normal": (2.6, 3.0), "fast": (3.0, 3.4)}, stride_hz=(1.4, 1.55), duty=0.33,
                lift=(0.13, 0.17), height=0.975, lean=0.14, bob=-0.035, arm=0.2),
    "sneak": dict(speed={"slow": (0.35, 0.6)}, stride_hz=(0.6, 0.75), duty=0.7, lift=(0.05, 0.07),
                  height=0.86, lean=0.3, bob=0.008, arm=0.04),
    "march": dict(speed={"normal": (0.8, 1.15)}, stride_hz=(0.85, 0.95), duty=0.6, lift=(0.2, 0.28),
                  height=0.995, lean=-0.02, bob=0.015, arm=0.32),
    "limp": dict(speed={"slow": (0.4, 0.7)}, stride_hz=(0.65, 0.8), duty=0.66, lift=(0.04, 0.06),
                 height=0.99, lean=0.06, bob=0.02, arm=0.08),
    "skip": dict(speed={"normal": (1.3, 1.8)}, stride_hz=(1.1, 1.25), duty=0.4, lift=(0.18, 0.24),
                 height=0.985, lean=0.04, bob=-0.06, arm=0.28),
    "walk_backward": dict(speed={"slow": (0.5, 0.75), "normal": (0.75, 1.0)}, stride_hz=(0.85, 1.0), duty=0.64,
                          lift=(0.05, 0.07), height=0.99, lean=-0.04, bob=0.012, arm=0.1),
    "sidestep": dict(speed={"slow": (0.35, 0.55), "normal": (0.55, 0.8)}, stride_hz=(0.8, 1.0), duty=0.65,
                     lift=(0.05, 0.07), height=0.985, lean=0.02, bob=0.01, arm=0.03),
}
BENT_ARMS = {"jog", "run", "sneak", "skip"}
# How long a straight gait keeps its cruising speed, between speeding up and slowing down (a
# corpus can ask for longer with `momug data synth --gait-seconds`).
STRAIGHT_HOLD_SECONDS = (1.5, 4.0)


def _locomotion_sampler(gait: str, paths=("straight",), directions=("forward",)):
    def sample(rng):
        spec = GAITS[gait]
        p = {"gait": gait, "speed": _pick(rng, list(spec["speed"])), "path": _pick(rng, list(paths)),
             "direction": _pick(rng, list(directions))}
        if p["path"] != "straight":
            p["turn"] = _pick(rng, ["left", "right"])
        if gait == "limp":
            p["hurt"] = _pick(rng, ["left", "right"])
        return p

    return sample


def _locomotion(body: Body, state: State, p: dict, rng) -> Clip:
    spec = GAITS[p["gait"]]
    speed = rng.uniform(*spec["speed"][p["speed"]])
    stride_hz = rng.uniform(*spec["stride_hz"])
    if p["gait"] in ("walk", "walk_backward") and p["speed"] != "normal":
        stride_hz *= 0.88 if p["speed"] == "slow" else 1.2
    period = FPS / stride_hz
    gait = Gait(period=period, duty=spec["duty"], clearance=rng.uniform(*spec["lift"]) * body.scale,
                lead=int(rng.integers(2)))
    if p["gait"] == "limp":
        gait.lead = 0 if p["hurt"] == "right" else 1  # the good leg leads
        gait.offset, gait.second_duty = 0.42, 0.5  # the trailing (hurt) leg bears weight briefly
    # Gentle enough acceleration (about 2.5 m/s^2 in, 3 out) for the steps to keep up.
    ramp_in, ramp_out = max(0.5 * period, speed / 2.5 * FPS), max(0.4 * period, speed / 3.0 * FPS)
    dir_offset = {"forward": 0.0, "backward": np.pi, "left": np.pi / 2, "right": -np.pi / 2}[p["direction"]]
    curvature, radius, arc = 0.0, None, None
    if p["path"] == "straight":
        hold = _secs(rng, *p.get("hold_seconds", STRAIGHT_HOLD_SECONDS))
    else:
        radius = rng.uniform(1.0, 1.8) if p["path"] == "circle" else rng.uniform(1.5, 3.0)
        arc = 2 * np.pi if p["path"] == "circle" else np.radians(rng.uniform(60, 120))
        curvature = SIGN[p["turn"]] / radius  # turning left = yaw increasing (counterclockwise from above)
        hold = max(int(round(radius * arc / speed * FPS - (ramp_in + ramp_out) / 2)), 4)
    n_move = int(round(ramp_in + hold + ramp_out))
    v = speed * envelope(n_move, 0, ramp_in, hold, ramp_out)
    s = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]))]) / FPS
    if arc is not None:
        s *= radius * arc / s[-1]  # finish the curve or circle exactly
    travel = state.heading + dir_offset + curvature * s
    ds = np.diff(s, prepend=0.0)
    xz = state.xz + np.cumsum(np.stack([np.sin(travel) * ds, np.cos(travel) * ds], axis=-1), axis=0)
    facing = travel - dir_offset
    pad = frames_needed(gait)
    T = n_move + pad
    xz = np.concatenate([xz, np.repeat(xz[-1:], pad, axis=0)])
    facing = np.concatenate([facing, np.repeat(facing[-1:], pad)])
    # Cadence follows speed (short quick steps while speeding up and slowing down), so the
    # footholds never fall behind or ahead of the pelvis.
    v_full = np.concatenate([v, np.zeros(pad)])
    stride_len = speed / stride_hz
    rate = np.maximum(v_full / stride_len, 0.6 * stride_hz) / FPS
    phase = np.cumsum(rate)
    phase -= phase[2]
    steps = step(body, xz, facing, gait, phase, stop=n_move - 1)

    clip = standing(body, State(xz[0], float(facing[0])), T, rng, sway=0.0)
    moving = envelope(T, 0, ramp_in, hold, ramp_out + 0.5 * period)
    phi = steps.phase
    lead = "left" if gait.lead == 0 else "right"
    lat = SIGN[lead] * 0.02 * body.scale * np.cos(phi) * moving  # weight over the stance foot
    clip.root[:, [0, 2]] = xz + (left_vec(facing) * lat[:, None])[:, [0, 2]]
    clip.root[:, 1] = body.stand_height * (1 - (1 - spec["height"]) * moving) + spec["bob"] * body.scale * np.cos(2 * phi) * moving
    clip.heading = facing
    pelvis_yaw = SIGN[lead] * 0.07 * np.sin(phi) * moving
    lean = spec["lean"] * moving
    if p["gait"] == "limp":
        lean_side = SIGN[lead] * 0.06 * moving  # lean over the good (lead) leg
        clip.tilt = Q.mul(rig.about([0, 1, 0], pelvis_yaw), Q.mul(rig.about([1, 0, 0], lean * 0.5), rig.about([0, 0, 1], -lean_side)))
    else:
        clip.tilt = Q.mul(rig.about([0, 1, 0], pelvis_yaw), rig.about([1, 0, 0], lean * 0.5))
    bend_spine(clip, [1, 0, 0], lean * 0.5)
    bend_spine(clip, [0, 1, 0], -0.8 * pelvis_yaw)  # shoulders counter-rotate against the hips
    clip.ankles, clip.foot_yaw, clip.toe_up, clip.planted = steps.ankles, steps.foot_yaw, steps.toe_up, steps.planted
    amp = spec["arm"] * body.scale * rng.uniform(0.8, 1.2)
    for side in rig.SIDES:
        swing = (1.0 if side == lead else -1.0) * np.sin(phi) * moving * amp
        s_ = SIGN[side]
        if p["gait"] in BENT_ARMS:
            bent = np.array([0.1 * s_, -0.3, 0.2]) * body.scale
            if p["gait"] == "sneak":
                bent = np.array([0.02 * s_, -0.3, 0.3]) * body.scale
            base = relaxed_wrist(body, side, T) * (1 - moving[:, None]) + bent * moving[:, None]
        else:
            base = relaxed_wrist(body, side, T)
        wrist = base.copy()
        wrist[:, 2] += swing
        wrist[:, 1] += 0.35 * np.abs(swing) if p["gait"] == "march" else 0.15 * np.abs(swing)
        set_arm(clip, body, side, wrist)
    total = float(np.linalg.norm(xz[-1] - xz[0]))
    clip.meta = {"speed_m_s": round(float(speed), 3), "distance_m": round(float(s[-1]), 3),
                 "displacement_m": round(total, 3),
                 "turn_deg": round(float(np.degrees(facing[-1] - facing[0])), 1)}
    if radius is not None:
        clip.meta["radius_m"] = round(float(radius), 3)
    return clip


for _name, _paths, _dirs in [
    ("walk", ("straight", "straight", "curve", "circle"), ("forward",)),
    ("jog", ("straight", "straight", "curve", "circle"), ("forward",)),
    ("run", ("straight", "straight", "curve", "circle"), ("forward",)),
    ("sneak", ("straight", "straight", "curve"), ("forward",)),
    ("march", ("straight", "straight", "curve"), ("forward",)),
    ("limp", ("straight",), ("forward",)),
    ("skip", ("straight", "straight", "curve"), ("forward",)),
    ("walk_backward", ("straight",), ("backward",)),
    ("sidestep", ("straight",), ("left", "right")),
]:
    _register(_name, "locomotion", _locomotion_sampler(_name, _paths, _dirs))(_locomotion)


# ---------------------------------------------------------------------------------------------
# Stepping on the spot: turns, spins, marching and jogging in place


def _turn_sampler(rng):
    return {"direction": _pick(rng, ["left", "right"]), "angle": _pick(rng, [90, 90, 180, 135, 45])}


def _spin_sampler(rng):
    return {"direction": _pick(rng, ["left", "right"]), "angle": _pick(rng, [360, 360, 720])}


def _turn_on_spot(body: Body, state: State, p: dict, rng, seconds_per_90=(0.45, 0.7), stride=(0.75, 0.95)) -> Clip:
    angle = np.radians(p["angle"]) * SIGN[p["direction"]]
    n_turn = max(int(round(abs(np.degrees(angle)) / 90 * rng.uniform(*seconds_per_90) * FPS)), 10)
    gait = Gait(period=rng.uniform(*stride) * FPS, duty=0.6, clearance=0.05 * body.scale,
                lead=0 if p["direction"] == "left" else 1)
    pre = _secs(rng, 0.1, 0.3)
    T = pre + n_turn + frames_needed(gait)
    facing = state.heading + angle * smoothstep((np.arange(T) - pre) / n_turn)
    xz = np.repeat(state.xz[None], T, axis=0)
    steps = step(body, xz, facing, gait, steady_phase(T, gait, pre), stop=pre + n_turn)
    clip = standing(body, state, T, rng, sway=0.3)
    clip.heading = facing
    clip.ankles, clip.foot_yaw, clip.toe_up, clip.planted = steps.ankles, steps.foot_yaw, steps.toe_up, steps.planted
    # The head leads the turn a little.
    rate = np.gradient(facing) * FPS
    turn_head(clip, [0, 1, 0], np.clip(rate * 0.12, -0.4, 0.4))
    clip.meta = {"turn_deg": round(float(np.degrees(angle)), 1)}
    return clip


@_register("turn", "turn", _turn_sampler)
def turn(body, state, p, rng):
    return _turn_on_spot(body, state, p, rng)


@_register("spin", "turn", _spin_sampler)
def spin(body, state, p, rng):
    clip = _turn_on_spot(body, state, p, rng, seconds_per_90=(0.28, 0.4), stride=(0.5, 0.6))
    w = envelope(clip.frames, 2, 6, clip.frames - 20, 8)
    for side in rig.SIDES:  # arms lift out a little for balance
        _arm_to(clip, body, side, np.array([0.4 * SIGN[side], -0.3, 0.05]) * body.scale, w * 0.8)
    return clip


def _in_place_sampler(rng):
    return {}


def _in_place(body: Body, state: State, rng, gait: Gait, bob: float, bent_arms: bool, seconds=(2.0, 4.0)) -> Clip:
    n = _secs(rng, *seconds)
    T = n + frames_needed(gait)
    xz = np.repeat(state.xz[None], T, axis=0)
    facing = np.full(T, state.heading)
    steps = step(body, xz, facing, gait, steady_phase(T, gait, 2), stop=n)
    clip = standing(body, state, T, rng, sway=0.0)
    moving = envelope(T, 0, 8, n - 8, gait.period)
    phi = steps.phase
    clip.root[:, 1] += bob * np.cos(2 * phi) * moving
    clip.ankles, clip.foot_yaw, clip.toe_up, clip.planted = steps.ankles, steps.foot_yaw, steps.toe_up, steps.planted
    lead = "left" if gait.lead == 0 else "right"
    for side in rig.SIDES:
        swing = (1.0 if side == lead else -1.0) * np.sin(phi) * moving * 0.2 * body.scale
        base = relaxed_wrist(body, side, T)
        if bent_arms:
            base = base * (1 - moving[:, None]) + np.array([0.1 * SIGN[side], -0.3, 0.2]) * body.scale * moving[:, None]
        wrist = base.copy()
        wrist[:, 2] += swing
        wrist[:, 1] += 0.3 * np.abs(swing)
        set_arm(clip, body, side, wrist)
    return clip


@_register("march_in_place", "legs", _in_place_sampler)
def march_in_place(body, state, p, rng):
    gait = Gait(period=rng.uniform(1.0, 1.2) * FPS, duty=0.6, clearance=rng.uniform(0.2, 0.3) * body.scale,
                lead=int(rng.integers(2)))
    return _in_place(body, state, rng, gait, 0.01 * body.scale, False)


@_register("jog_in_place", "legs", _in_place_sampler)
def jog_in_place(body, state, p, rng):
    gait = Gait(period=rng.uniform(0.7, 0.8) * FPS, duty=0.42, clearance=rng.uniform(0.12, 0.18) * body.scale,
                lead=int(rng.integers(2)))
    return _in_place(body, state, rng, gait, -0.02 * body.scale, True)


# ---------------------------------------------------------------------------------------------
# Jumps and hops


def _flight_profile(T: int, base: float, events: list[tuple[int, float, float]], ramp: float = 8.0):
    """Pelvis height (T,) and airborne fraction (T,) for jumps. events: (takeoff frame, apex
    height above `base` in m, crouch depth in m). Crouch before takeoff and absorb the landing with
    cubic pieces whose end velocities match the ballistic flight, so there are no velocity pops."""
    y = np.full(T, base)
    air = np.full(T, -1.0)
    t = np.arange(T, dtype=np.float64)
    lift = np.zeros(T)
    for takeoff, apex, crouch in events:
        v0 = np.sqrt(2 * G * apex)
        flight = 2 * v0 / G * FPS  # frames
        land = takeoff + flight
        push = v0 * ramp / FPS / 3.0  # a cubic ramp of this height ends at exactly v0
        # Dip down, then push up to takeoff speed; mirror it on landing.
        a = (t >= takeoff - ramp) & (t < takeoff)
        u = (t[a] - (takeoff - ramp)) / ramp
        y[a] = base - crouch * np.sin(np.pi * u) ** 2 + push * u**3
        f = (t >= takeoff) & (t <= land)
        tau = (t[f] - takeoff) / FPS
        y[f] = base + push + v0 * tau - 0.5 * G * tau**2
        lift[f] = v0 * tau - 0.5 * G * tau**2
        air[f] = (t[f] - takeoff) / flight
        b = (t > land) & (t < land + ramp)
        u = (t[b] - land) / ramp
        y[b] = base + push * (1 - u) ** 3 - crouch * np.sin(np.pi * u) ** 2
    return y, air, lift


# Apex of a jump above standing (m, before body scale) for its height word. The first bands
# meet once scaled (the highest small jumps rise as far as the lowest big ones); JUMP_APEX_APART keeps
# the two words a clear step apart and is opt-in (`momug data synth --jump-heights apart`,
# recorded in each jump's parameters as "apex"), so corpora made before it regenerate unchanged.
JUMP_APEX = {"low": (0.15, 0.22), "high": (0.25, 0.35)}
JUMP_APEX_APART = {"low": (0.11, 0.16), "high": (0.36, 0.46)}
JUMP_HEIGHTS = ("overlap", "apart")


def _jump_sampler(rng):
    return {"count": _pick(rng, [1, 1, 2, 3]), "height": _pick(rng, ["low", "high"])}


def _jump_forward_sampler(rng):
    return {"count": _pick(rng, [1, 1, 2]), "height": "low"}


def _jumps(body: Body, state: State, p: dict, rng, distance: float = 0.0, one_leg: str | None = None,
           jacks: bool = False) -> Clip:
    count = int(p["count"])
    apex = p.get("apex") or JUMP_APEX[p.get("height", "low")]
    gap = rng.uniform(1.0, 1.2) * FPS
    if jacks:
        apex, gap = (0.07, 0.1), rng.uniform(0.65, 0.75) * FPS
    if one_leg:
        apex, gap = (0.06, 0.1), rng.uniform(0.6, 0.7) * FPS
    lead_in = 10 if not one_leg else 14
    takeoffs = [lead_in + k * gap for k in range(count)]
    heights = [rng.uniform(*apex) * body.scale for _ in range(count)]
    crouch = (0.03 if jacks else 0.04 if one_leg else 0.08) * body.scale
    T = int(takeoffs[-1] + gap + 14)
    base = body.stand_height
    # Push-off and landing ramps as long as the time between flights allows (no overlaps, no pops).
    longest = 2 * np.sqrt(2 * G * max(heights)) / G * FPS
    ramp = float(np.clip(np.floor((gap - longest) / 2), 3, 8))
    y, air, lift = _flight_profile(T, base, [(int(round(tk)), h, crouch) for tk, h in zip(takeoffs, heights)], ramp)
    clip = standing(body, state, T, rng, sway=0.0)
    t = np.arange(T)
    fwd = forward_vec(state.heading)
    # Horizontal travel: each jump moves `distance` forward, smoothly from push-off to landing.
    progress = np.zeros(T)
    for tk in takeoffs:
        progress += smoothstep((t - (tk - 6)) / (2 * np.sqrt(2 * G * max(heights)) / G * FPS + 12))
    xz = state.xz + (fwd[[0, 2]] * distance * progress[:, None])
    clip.root[:, [0, 2]] = xz
    clip.root[:, 1] = y
    tuck = np.where(air >= 0, 0.2 * np.sin(np.pi * np.clip(air, 0, 1)), 0.0)
    # Feet stay on the takeoff spot until takeoff, travel with the body in the air, then stay on
    # the landing spot: only the flight moves them.
    foot_progress = np.zeros(T)
    for tk, h in zip(takeoffs, heights):
        flight = 2 * np.sqrt(2 * G * h) / G * FPS
        foot_progress += smoothstep((t - round(tk)) / flight)
    stance = stance_ankles(body, state.xz + fwd[[0, 2]] * distance * foot_progress[:, None], state.heading)
    ankles = stance.copy()
    ankles[:, :, 1] = body.ankle_height + (lift * (1 - tuck))[:, None]
    if jacks:
        # Feet land wide on odd jumps, together on even ones; arms go up when wide.
        wide = np.zeros(T)
        for k, (tk, h) in enumerate(zip(takeoffs, heights)):
            flight = 2 * np.sqrt(2 * G * h) / G * FPS
            go = smoothstep((t - round(tk)) / flight)
            closing = k % 2 == 1  # counts are even, so the last jump brings the feet together
            wide = np.where(t >= round(tk), go if not closing else 1 - go, wide)
        ankles += left_vec(state.heading) * (0.22 * body.scale * wide)[:, None, None] * np.array([1.0, -1.0])[None, :, None]
        arms = gaussian_filter1d(wide, 2.0, mode="nearest")  # arms sweep a little slower than the feet
        for side in rig.SIDES:
            _arm_to(clip, body, side, np.array([0.3 * SIGN[side], 0.4, 0.0]) * body.scale, arms)
    planted = air < 0
    planted_both = np.stack([planted, planted], axis=-1)
    if one_leg:
        k = 0 if one_leg == "left" else 1  # the lifted foot
        other = 1 - k
        lifted = envelope(T, 2, 8, T - 22, 8)
        ankles[:, k] += (np.array([0.0, 0.28, 0.0]) * body.scale - fwd * 0.12 * body.scale) * lifted[:, None]
        # Stand over the supporting foot.
        shift = (stance[:, other] - xz_to3(xz))[:, [0, 2]] * 0.7 * lifted[:, None]
        clip.root[:, [0, 2]] += shift
        planted_both[:, k] = lifted <= 0
        for side in rig.SIDES:
            _arm_to(clip, body, side, np.array([0.35 * SIGN[side], -0.25, 0.1]) * body.scale, lifted)
    if not jacks and not one_leg:
        arm_up = np.clip(lift / max(heights) * 1.5, 0, 1)
        for side in rig.SIDES:
            _arm_to(clip, body, side, np.array([0.1 * SIGN[side], -0.2, 0.25]) * body.scale, arm_up)
    # The body leans a little into a forward jump.
    clip.tilt = Q.mul(clip.tilt, rig.about([1, 0, 0], 0.15 * np.sin(np.pi * np.clip(progress % 1, 0, 1)) * (distance > 0)))
    clip.ankles = ankles
    clip.planted = planted_both
    clip.meta = {"jump_height_m": round(float(max(heights)), 3), "jump_count": count,
                 "distance_m": round(float(distance * count), 3)}
    return clip


def xz_to3(xz: np.ndarray) -> np.ndarray:
    return np.stack([xz[:, 0], np.zeros(len(xz)), xz[:, 1]], axis=-1)


@_register("jump_in_place", "jump", _jump_sampler)
def jump_in_place(body, state, p, rng):
    return _jumps(body, state, p, rng)


@_register("jump_forward", "jump", _jump_forward_sampler)
def jump_forward(body, state, p, rng):
    return _jumps(body, state, p, rng, distance=rng.uniform(0.4, 0.8) * body.scale)


@_register("hop_one_leg", "jump", lambda rng: {"side": _pick(rng, ["left", "right"]), "count": int(rng.integers(3, 6))})
def hop_one_leg(body, state, p, rng):
    # p["side"] is the leg hopped on; the other one is held up.
    return _jumps(body, state, p, rng, one_leg=OTHER[p["side"]])


@_register("jumping_jacks", "jump", lambda rng: {"count": _pick(rng, [4, 6])})
def jumping_jacks(body, state, p, rng):
    return _jumps(body, state, {"count": p["count"], "height": "low"}, rng, jacks=True)


# ---------------------------------------------------------------------------------------------
# Lowering the body: squats, crouching, sitting down on nothing


def _lower(body: Body, state: State, rng, depth: float, back: float, lean: float, down: int, hold: int, up: int,
           reps: int = 1, arms_forward: float = 0.0) -> Clip:
    pre = _secs(rng, 0.1, 0.3)
    cycle = down + hold + up
    T = pre + reps * cycle + _secs(rng, 0.3, 0.6)
    clip = standing(body, state, T, rng, sway=0.3)
    w = np.zeros(T)
    for r in range(reps):
        w = np.maximum(w, envelope(T, pre + r * cycle, down, hold, up))
    fwd = forward_vec(state.heading)
    clip.root[:, 1] -= depth * w
    clip.root[:, [0, 2]] -= (fwd * back)[[0, 2]] * w[:, None]
    clip.tilt = Q.mul(clip.tilt, rig.about([1, 0, 0], lean * 0.6 * w))
    bend_spine(clip, [1, 0, 0], lean * 0.4 * w)
    turn_head(clip, [1, 0, 0], -lean * 0.5 * w)  # keep looking ahead
    if arms_forward > 0:
        for side in rig.SIDES:
            _arm_to(clip, body, side, np.array([0.05 * SIGN[side], -0.08, 0.48]) * body.scale, w * arms_forward)
    clip.meta = {"depth_m": round(float(depth), 3), "reps": reps}
    return clip


@_register("squat", "body", lambda rng: {"count": _pick(rng, [1, 1, 2, 3])})
def squat(body, state, p, rng):
    return _lower(body, state, rng, depth=rng.uniform(0.3, 0.42) * body.scale, back=0.1 * body.scale, lean=0.45,
                  down=_secs(rng, 0.6, 0.9), hold=_secs(rng, 0.1, 0.4), up=_secs(rng, 0.6, 0.9), reps=p["count"],
                  arms_forward=1.0)


@_register("crouch", "body", lambda rng: {})
def crouch(body, state, p, rng):
    return _lower(body, state, rng, depth=rng.uniform(0.38, 0.48) * body.scale, back=0.08 * body.scale, lean=0.55,
                  down=_secs(rng, 0.6, 1.0), hold=_secs(rng, 1.0, 2.0), up=_secs(rng, 0.7, 1.0), arms_forward=0.5)


@_register("sit", "body", lambda rng: {})
def sit(body, state, p, rng):
    return _lower(body, state, rng, depth=rng.uniform(0.4, 0.48) * body.scale, back=0.2 * body.scale, lean=0.35,
                  down=_secs(rng, 0.9, 1.3), hold=_secs(rng, 1.0, 2.5), up=_secs(rng, 0.9, 1.3), arms_forward=0.8)


# ---------------------------------------------------------------------------------------------
# Legs: kicks, balancing on one leg


@_register("kick", "legs", lambda rng: {"side": _pick(rng, ["left", "right"]), "count": _pick(rng, [1, 1, 2])})
def kick(body, state, p, rng):
    k = 0 if p["side"] == "left" else 1
    cycle = _secs(rng, 1.1, 1.4)
    pre = _secs(rng, 0.3, 0.5)
    T = pre + cycle * p["count"] + _secs(rng, 0.3, 0.5)
    clip = standing(body, state, T, rng, sway=0.0)
    fwd = forward_vec(state.heading)
    stance = stance_ankles(body, state.xz, state.heading)
    t = np.arange(T, dtype=np.float64)
    shift = envelope(T, pre - 6, 6, cycle * p["count"], 6)  # weight onto the support leg
    height = rng.uniform(0.45, 0.65) * body.scale
    reach = rng.uniform(0.45, 0.6) * body.scale
    lift = np.zeros(T)
    ext = np.zeros(T)
    for c in range(p["count"]):
        u = (t - pre - c * cycle) / cycle
        inside = (u >= 0) & (u <= 1)
        # Wind back (0-0.35), snap forward and up (0.35-0.55), bring the foot back down (0.55-1).
        back = np.where(inside, np.sin(np.pi * np.clip(u / 0.45, 0, 1)) * (u < 0.45), 0.0)
        snap = np.where(inside, np.sin(np.pi * np.clip((u - 0.3) / 0.55, 0, 1)), 0.0)
        lift += 0.12 * back + snap
        ext += -0.35 * back + snap
    ankle = stance[k] + fwd * (reach * ext)[:, None]
    ankle = ankle + np.array([0.0, 1.0, 0.0]) * (height * np.clip(lift, 0, None))[:, None] * (1 + 0.0 * t[:, None])
    clip.ankles[:, k] = ankle
    clip.toe_up[:, k] = -0.4 * np.clip(ext, 0, 1)  # point the toes into the kick
    clip.planted[:, k] = lift <= 1e-6
    other = 1 - k
    clip.root[:, [0, 2]] += ((stance[other] - np.array([state.xz[0], 0, state.xz[1]])) * 0.6)[[0, 2]] * shift[:, None]
    clip.tilt = Q.mul(clip.tilt, rig.about([1, 0, 0], -0.2 * np.clip(ext, 0, 1)))
    for side in rig.SIDES:
        _arm_to(clip, body, side, np.array([0.38 * SIGN[side], -0.25, 0.12]) * body.scale, shift * 0.8)
    clip.meta = {"kick_height_m": round(float(height), 3)}
    return clip


@_register("balance", "legs", lambda rng: {"side": _pick(rng, ["left", "right"])})
def balance(body, state, p, rng):
    """Stand on p['side'] leg; the other foot is lifted, arms out for balance."""
    lifted = 1 if p["side"] == "left" else 0
    T = _secs(rng, 2.5, 5.0)
    clip = standing(body, state, T, rng, sway=1.5)
    stance = stance_ankles(body, state.xz, state.heading)
    w = envelope(T, 4, 10, T - 28, 10)
    clip.root[:, [0, 2]] += ((stance[1 - lifted] - np.array([state.xz[0], 0, state.xz[1]])) * 0.8)[[0, 2]] * w[:, None]
    where = _pick(rng, ["front", "back"])
    fwd = forward_vec(state.heading)
    up = rng.uniform(0.25, 0.4) * body.scale
    offset = np.array([0.0, up, 0.0]) + fwd * (0.15 if where == "front" else -0.15) * body.scale
    clip.ankles[:, lifted] += offset * w[:, None]
    clip.planted[:, lifted] = w <= 0
    for side in rig.SIDES:
        _arm_to(clip, body, side, np.array([0.48 * SIGN[side], -0.05, 0.05]) * body.scale, w)
    clip.meta = {"lifted_foot": "left" if lifted == 0 else "right", "lifted_where": where}
    return clip


# ---------------------------------------------------------------------------------------------
# Arms


def _arm_action(body, state, rng, seconds=(2.0, 3.5)):
    T = _secs(rng, *seconds)
    clip = standing(body, state, T, rng, sway=0.8)
    rise, fall = _secs(rng, 0.35, 0.6), _secs(rng, 0.35, 0.6)
    w = envelope(T, 2, rise, T - rise - fall - 6, fall)
    return clip, w, T


def _sides(p) -> list[str]:
    return ["left", "right"] if p["side"] == "both" else [p["side"]]


@_register("wave", "arms", lambda rng: {"side": _pick(rng, ["left", "right", "right", "both"])})
def wave(body, state, p, rng):
    clip, w, T = _arm_action(body, state, rng, (2.0, 4.0))
    hz = rng.uniform(1.5, 2.5)
    t = np.arange(T) / FPS
    osc = np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi))
    for side in _sides(p):
        s = SIGN[side]
        up = np.array([0.3 * s, 0.3, 0.12]) * body.scale
        target = np.broadcast_to(up, (T, 3)).copy()
        target[:, 0] += 0.13 * body.scale * osc * s
        _arm_to(clip, body, side, target, w, pole=np.broadcast_to([s, -1.0, -0.3], (T, 3)))
    return clip


@_register("raise_arms", "arms", lambda rng: {"side": _pick(rng, ["both", "both", "left", "right"])})
def raise_arms(body, state, p, rng):
    clip, w, T = _arm_action(body, state, rng, (2.0, 3.5))
    for side in _sides(p):
        _arm_to(clip, body, side, np.array([0.12 * SIGN[side], 0.47, 0.04]) * body.scale, w,
                pole=np.broadcast_to([SIGN[side], 0.0, -0.3], (T, 3)))
    return clip


@_register("clap", "arms", lambda rng: {"count": int(rng.integers(3, 7))})
def clap(body, state, p, rng):
    hz = rng.uniform(2.0, 3.0)
    T = int(round((p["count"] / hz + 1.2) * FPS))
    clip = standing(body, state, T, rng, sway=0.5)
    w = envelope(T, 2, 8, T - 20, 8)
    t = np.arange(T) / FPS
    start = 10 / FPS
    cycles = np.clip((t - start) * hz, 0, p["count"])
    # The gap opens and closes once per clap; it is closed at whole cycles.
    gap = 0.02 + 0.26 * np.sin(np.pi * cycles) ** 2
    gap = np.where(t < start, 0.28, gap) * body.scale
    for side in rig.SIDES:
        center = np.stack([SIGN[side] * gap / 2, np.full(T, 0.18 * body.scale), np.full(T, 0.35 * body.scale)], -1)
        _arm_to(clip, body, side, _to_chest_center(body, side, center), w)
    return clip


@_register("point", "arms", lambda rng: {"side": _pick(rng, ["left", "right", "right"]),
                                          "direction": _pick(rng, ["forward", "forward", "side", "up"])})
def point(body, state, p, rng):
    clip, w, T = _arm_action(body, state, rng, (2.0, 3.5))
    s = SIGN[p["side"]]
    d = {"forward": [0.05 * s, 0.1, 1.0], "side": [s, 0.1, 0.2], "up": [0.3 * s, 1.0, 0.4]}[p["direction"]]
    target = np.asarray(d) / np.linalg.norm(d) * body.arm * 0.97
    _arm_to(clip, body, p["side"], target, w)
    if p["direction"] == "side":
        turn_head(clip, [0, 1, 0], 0.5 * s * w)
    return clip


@_register("punch", "arms", lambda rng: {"side": _pick(rng, ["left", "right", "both"]), "count": int(rng.integers(2, 5))})
def punch(body, state, p, rng):
    gap = _secs(rng, 0.4, 0.6)
    pre = 10
    T = pre + gap * p["count"] + 12
    clip = standing(body, state, T, rng, sway=0.3)
    guard_w = envelope(T, 2, 8, T - 20, 8)
    t = np.arange(T, dtype=np.float64)
    sides = _sides(p)
    ext = {s: np.zeros(T) for s in rig.SIDES}
    for k in range(p["count"]):
        side = sides[k % len(sides)]
        u = (t - pre - k * gap) / gap
        ext[side] = np.maximum(ext[side], np.sin(np.pi * np.clip(u, 0, 1)) ** 2 * (u >= 0) * (u <= 1))
    twist = np.zeros(T)
    for side in rig.SIDES:
        s = SIGN[side]
        guard = _to_chest_center(body, side, np.array([0.09 * s, 0.05, 0.22]) * body.scale)
        strike = _to_chest_center(body, side, np.array([0.03 * s, 0.02, 0.6]) * body.scale)
        target = guard * (1 - ext[side][:, None]) + strike * ext[side][:, None]
        _arm_to(clip, body, side, target, guard_w)
        twist += -s * 0.25 * ext[side]  # the punching shoulder comes forward
    bend_spine(clip, [0, 1, 0], twist)
    return clip


@_register("throw", "arms", lambda rng: {"side": _pick(rng, ["right", "right", "left"])})
def throw(body, state, p, rng):
    T = _secs(rng, 2.0, 2.8)
    clip = standing(body, state, T, rng, sway=0.3)
    s = SIGN[p["side"]]
    t = np.arange(T, dtype=np.float64)
    wind_end, release = 14 + _secs(rng, 0.2, 0.4), 0
    release = wind_end + 5
    wind = smoothstep((t - 4) / (wind_end - 4))
    snap = smoothstep((t - wind_end) / (release - wind_end))
    back = smoothstep((t - release - 4) / 12)
    cocked = np.array([0.25 * s, 0.25, -0.2]) * body.scale
    thrown = np.array([-0.05 * s, 0.05, 0.48]) * body.scale
    rest = relaxed_wrist(body, p["side"], T)
    target = rest * (1 - wind[:, None]) + cocked * wind[:, None]
    target = target * (1 - snap[:, None]) + thrown * snap[:, None]
    target = target * (1 - back[:, None]) + rest * back[:, None]
    set_arm(clip, body, p["side"], target)
    bend_spine(clip, [0, 1, 0], -s * 0.4 * wind * (1 - snap) + s * 0.3 * snap * (1 - back))
    bend_spine(clip, [1, 0, 0], 0.25 * snap * (1 - back))
    return clip


@_register("arm_circles", "arms", lambda rng: {"direction": _pick(rng, ["forward", "backward"])})
def arm_circles(body, state, p, rng):
    clip, w, T = _arm_action(body, state, rng, (2.5, 4.0))
    t = np.arange(T) / FPS
    hz = rng.uniform(1.0, 1.8) * (1 if p["direction"] == "forward" else -1)
    ang = 2 * np.pi * hz * t
    r = 0.12 * body.scale
    for side in rig.SIDES:
        s = SIGN[side]
        target = np.stack([np.full(T, 0.47 * s * body.scale), r * np.cos(ang), r * np.sin(ang)], -1)
        _arm_to(clip, body, side, target, w)
    return clip


# ---------------------------------------------------------------------------------------------
# Whole body: bows, stretches, idling, looking around


@_register("bow", "body", lambda rng: {"depth": _pick(rng, ["slight", "deep"])})
def bow(body, state, p, rng):
    T = _secs(rng, 2.0, 3.0)
    clip = standing(body, state, T, rng, sway=0.2)
    angle = rng.uniform(0.35, 0.5) if p["depth"] == "slight" else rng.uniform(0.7, 0.95)
    w = envelope(T, 3, _secs(rng, 0.5, 0.8), _secs(rng, 0.3, 0.8), _secs(rng, 0.5, 0.8))
    clip.tilt = Q.mul(clip.tilt, rig.about([1, 0, 0], angle * 0.45 * w))
    bend_spine(clip, [1, 0, 0], angle * 0.55 * w)
    clip.root[:, [0, 2]] -= (forward_vec(state.heading) * 0.05 * angle)[[0, 2]] * w[:, None]  # hips back
    turn_head(clip, [1, 0, 0], 0.2 * w)
    clip.meta = {"bow_deg": round(float(np.degrees(angle)), 1)}
    return clip


@_register("stretch", "body", lambda rng: {"style": _pick(rng, ["overhead", "side_bend"])})
def stretch(body, state, p, rng):
    clip, w, T = _arm_action(body, state, rng, (2.5, 4.5))
    for side in rig.SIDES:
        _arm_to(clip, body, side, np.array([0.1 * SIGN[side], 0.48, 0.0]) * body.scale, w,
                pole=np.broadcast_to([SIGN[side], 0.0, -0.3], (T, 3)))
    t = np.arange(T) / FPS
    if p["style"] == "side_bend":
        first = _pick(rng, [-1.0, 1.0])
        bend = first * 0.35 * np.sin(2 * np.pi * rng.uniform(0.3, 0.45) * t) * w
        bend_spine(clip, [0, 0, 1], bend)
    else:
        bend_spine(clip, [1, 0, 0], -0.12 * w)  # a slight arch back
    return clip


@_register("idle", "idle", lambda rng: {})
def idle(body, state, p, rng):
    T = _secs(rng, 2.0, 4.0)
    clip = standing(body, state, T, rng, sway=1.5)
    t = np.arange(T) / FPS
    turn_head(clip, [0, 1, 0], 0.15 * np.sin(2 * np.pi * rng.uniform(0.1, 0.25) * t + rng.uniform(0, 6)))
    return clip


@_register("look_around", "idle", lambda rng: {"first": _pick(rng, ["left", "right"])})
def look_around(body, state, p, rng):
    T = _secs(rng, 2.5, 4.0)
    clip = standing(body, state, T, rng, sway=0.6)
    t = np.arange(T, dtype=np.float64)
    s = SIGN[p["first"]]
    yaw = s * 0.9 * np.sin(2 * np.pi * t / (T - 6)) * envelope(T, 0, 6, T - 12, 6)
    turn_head(clip, [0, 1, 0], yaw)
    bend_spine(clip, [0, 1, 0], 0.4 * yaw)
    return clip
