"""momug render: stick-figure previews."""

import numpy as np
import pytest
from PIL import Image

from momug.cli import main
from momug.errors import MomugError
from momug.motion import kinematics as K
from momug.motion import quaternion as Q
from momug.motion import render as R
from momug.motion.motionfile import Motion, save_motion
from momug.motion.skeleton import smpl22


def small_motion(T=12, travel=1.0):
    t = np.arange(T) / 20.0
    rot = Q.identity((T, 22))
    rot[:, 16] = Q.from_axis_angle(np.broadcast_to([0.0, 0.0, 1.0], (T, 3)), -1.0 + 0.5 * np.sin(4 * t))
    root = np.stack([np.zeros(T), np.full(T, 0.93), travel * t], axis=-1)
    return Motion(K.forward(smpl22(), rot, root), 20.0, "a person walks forward and waves with the left hand")


def test_gif_and_png_through_the_cli(tmp_path):
    save_motion(tmp_path / "m.npz", small_motion())
    assert main(["render", str(tmp_path / "m.npz"), "-o", str(tmp_path / "p.gif"), "--size", "160x120"]) == 0
    gif = Image.open(tmp_path / "p.gif")
    assert gif.size == (160, 120) and gif.n_frames == 12
    assert main(["render", str(tmp_path / "m.npz"), "-o", str(tmp_path / "sheet.png"), "--size", "100x100"]) == 0
    png = Image.open(tmp_path / "sheet.png")
    assert png.size[0] == 400 and png.size[1] > 200  # 4 x 2 tiles plus the title band
    pixels = np.asarray(png.convert("RGB"))
    assert pixels.std() > 5  # something was drawn


def test_reduced_fps_and_follow_camera(tmp_path):
    motion = small_motion(T=60, travel=3.0)  # travels 9 m: the view follows the body
    out = R.render_motion(motion.joints, tmp_path / "fast.gif", fps=20.0, render_fps=5.0, size=(96, 96))
    gif = Image.open(out)
    assert gif.n_frames == 15
    assert gif.info["duration"] == 200


def test_left_and_right_limbs_have_their_colours(tmp_path):
    renderer = R.StickFigureRenderer(small_motion().joints, size=(200, 200))
    image = renderer.draw(0).astype(int)
    def has(colour):
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        return np.any(np.abs(image - rgb).sum(-1) < 30)
    assert has(R.LEFT_COLOUR) and has(R.RIGHT_COLOUR)


def test_mp4_without_ffmpeg_suggests_gif(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "_ffmpeg_binary", lambda: None)
    with pytest.raises(MomugError, match=r"\.gif"):
        R.render_motion(small_motion().joints, tmp_path / "p.mp4")


@pytest.mark.parametrize("args, message", [
    (["-o", "p.webm"], "render writes .gif, .mp4 or .png"),
    (["-o", "p.gif", "--size", "big"], "--size must look like"),
    (["-o", "p.gif", "--fps", "0"], "--fps must be positive"),
])
def test_render_errors(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    save_motion(tmp_path / "m.npz", small_motion(T=3))
    assert main(["render", "m.npz"] + args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
