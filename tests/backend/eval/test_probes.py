import numpy as np
import pytest

from momug.eval import physics, probes
from momug.motion import kinematics as K
from momug.motion import quaternion as Q
from momug.motion.skeleton import smpl22

T = 80


def pose_motion(root=None, yaw=None, joint_rotations=None):
    sk = smpl22()
    rot = Q.identity((T, 22))
    if yaw is not None:
        rot[:, 0] = Q.yaw(yaw)
    for name, q in (joint_rotations or {}).items():
        rot[:, sk.index(name)] = q
    if root is None:
        root = np.tile([0.0, 0.95, 0.0], (T, 1))
    return K.forward(sk, rot, root)


def glide(dx, dz, yaw0=0.0):
    s = np.linspace(0, 1, T)[:, None]
    return pose_motion(np.array([0.0, 0.95, 0.0]) + s * [dx, 0.0, dz], yaw=np.full(T, yaw0))


@pytest.mark.parametrize("direction,dx,dz", [("forward", 0, 2), ("backward", 0, -2), ("left", 1, 0), ("right", -1, 0)])
def test_direction_is_read_in_the_body_frame(direction, dx, dz):
    assert probes.travels(direction)(glide(dx, dz), 20).passed
    # The same world displacement means something else for a body turned 90 deg to its left.
    turned = glide(dz, -dx, yaw0=np.pi / 2)
    assert probes.travels(direction)(turned, 20).passed
    assert not probes.travels(direction)(glide(-dx, -dz), 20).passed


def raised_arm(side, wave=True):
    t = np.arange(T) / 20
    sign = 1 if side == "left" else -1
    lift = Q.from_axis_angle(np.broadcast_to([0, 0, 1.0], (T, 3)), np.full(T, sign * 1.2))
    swing = Q.from_axis_angle(np.broadcast_to([0, 1.0, 0], (T, 3)), 0.6 * np.sin(8 * t) * wave)
    return pose_motion(joint_rotations={f"{side}_shoulder": Q.mul(lift, swing)})


@pytest.mark.parametrize("side", ["left", "right"])
def test_wave_names_the_hand(side):
    motion = raised_arm(side)
    assert probes.waves(side)(motion, 20).passed
    assert not probes.waves("right" if side == "left" else "left")(motion, 20).passed
    assert not probes.waves(side)(raised_arm(side, wave=False), 20).passed  # raised but still


def test_turn_direction_and_spin():
    left = pose_motion(yaw=np.linspace(0, np.pi / 2, T))
    assert probes.turns("left")(left, 20).passed and not probes.turns("right")(left, 20).passed
    assert probes.spins()(pose_motion(yaw=np.linspace(0, -2 * np.pi, T)), 20).passed
    assert not probes.spins()(left, 20).passed


def test_jump_and_squat():
    h = 0.95 + 0.3 * np.clip(np.sin(np.linspace(0, np.pi, T)), 0, None)
    jump = pose_motion(root=np.stack([np.zeros(T), h, np.zeros(T)], -1))
    assert probes.jumps()(jump, 20).passed
    assert not probes.jumps()(pose_motion(), 20).passed
    low = pose_motion(root=np.stack([np.zeros(T), 0.95 - 0.4 * np.sin(np.linspace(0, np.pi, T)), np.zeros(T)], -1))
    assert probes.goes_down(0.25)(low, 20).passed and not probes.goes_down(0.25)(pose_motion(), 20).passed


def test_physics_report_on_a_clean_and_a_sliding_motion():
    still = pose_motion(root=np.tile([0.0, 0.92, 0.0], (T, 1)))  # toes exactly on the floor
    clean = physics.physics_report(still)
    assert clean["foot_skating_m_s"] == 0.0 and clean["ground_penetration_m"] == 0.0
    assert clean["bone_length_error_m"] < 1e-9 and clean["jitter_m_s3"] < 1e-9 and clean["largest_step_m"] == 0.0
    slide = pose_motion(root=np.stack([np.zeros(T), np.full(T, 0.95 - 0.1), np.linspace(0, 2, T)], -1))
    report = physics.physics_report(slide)
    assert report["foot_skating_m_s"] > 0.4  # 2 m in 4 s and report["ground_penetration_m"] > 0.0
    popped = still.copy()
    popped[10:, 7] += [0.3, 0.0, 0.4]  # the left ankle jumps half a metre between frames 9 and 10
    assert physics.physics_report(popped)["largest_step_m"] == pytest.approx(0.5)


def test_run_probes_and_summary():
    def generate(prompts, seconds, seed):
        return [glide(0, 2) for _ in prompts]

    rows = probes.run_probes(generate, [probes.Probe("someone strolls ahead", probes.travels("forward")),
                                        probes.Probe("a person walks backwards.", probes.travels("backward"), held_out=False)])
    summary = probes.summarize(rows)
    assert summary["pass_rate"] == 0.5 and summary["pass_rate_held_out"] == 1.0 and summary["pass_rate_corpus_wording"] == 0.0


@pytest.mark.parametrize("side", ["left", "right"])
def test_kick_names_the_leg(side):
    lift = Q.from_axis_angle(np.broadcast_to([1.0, 0, 0], (T, 3)), -1.4 * np.sin(np.linspace(0, np.pi, T)))
    kick = pose_motion(joint_rotations={f"{side}_hip": lift})
    other = "right" if side == "left" else "left"
    assert probes.kicks(side)(kick, 20).passed and not probes.kicks(other)(kick, 20).passed
    assert not probes.kicks(side)(pose_motion(), 20).passed


def test_sided_probes_ask_for_each_side_equally():
    """A model that ignores the side word passes half of each group's sided probes, never all."""
    import re
    from collections import Counter

    asked = Counter()
    for p in probes.default_probes():
        for side in ("left", "right"):
            if re.search(rf"\b{side}\b", p.prompt):
                asked[(p.tags[0], p.held_out, side)] += 1
    assert asked[("leg", False, "left")] == 1 and asked[("hand", True, "right")] == 1
    for (tag, held_out, side), n in asked.items():
        other = "right" if side == "left" else "left"
        assert asked[(tag, held_out, other)] == n, (tag, held_out, side)
