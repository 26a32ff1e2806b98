"""contact_sheet.png: one row per finished item, its name and prompt over a strip of small
stick figures (the momug render code), so a whole batch can be checked at a glance.

Very long batches are split into pages (contact_sheet.png, contact_sheet-2.png, ...) so no image
grows past what viewers open comfortably.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from momug.batch.manifest import record_ok, share_mode

TILE = (120, 120)  # width, height of one stick figure
FRAMES = 6  # figures per strip, evenly spread over the motion
LABEL_HEIGHT = 16
ROWS_PER_PAGE = 100


def sheet_size(rows: int, tile: tuple[int, int] = TILE, frames: int = FRAMES) -> tuple[int, int]:
    """(width, height) in pixels of a sheet with this many rows."""
    return frames * tile[0], rows * (LABEL_HEIGHT + tile[1])


def strip(joints: np.ndarray, fps: float, tile: tuple[int, int] = TILE, frames: int = FRAMES) -> np.ndarray:
    """RGB (tile_h, frames * tile_w, 3): the motion at evenly spaced frames, one framing for all."""
    from momug.motion.render import StickFigureRenderer

    renderer = StickFigureRenderer(joints, tile, title=None, fps=fps)
    # At thumbnail size the legend and the clock would cover the figure.
    legend = renderer.ax.get_legend()
    if legend is not None:
        legend.remove()
    renderer.clock.set_visible(False)
    indices = np.round(np.linspace(0, len(joints) - 1, frames)).astype(int)
    return np.concatenate([renderer.draw(int(i)) for i in indices], axis=1)


def _label(text: str, width: int):
    from PIL import Image, ImageDraw, ImageFont

    band = Image.new("RGB", (width, LABEL_HEIGHT), (236, 236, 236))
    draw = ImageDraw.Draw(band)
    font = ImageFont.load_default()
    if draw.textlength(text, font=font) > width - 6:
        while text and draw.textlength(text + " ...", font=font) > width - 6:
            text = text[:-1]
        text += " ..."
    draw.text((3, 2), text, fill=(20, 20, 20), font=font)
    return np.asarray(band)


def _save_png(image, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format="PNG")
        share_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def page_names(pages: int) -> list[str]:
    return ["contact_sheet.png"] + [f"contact_sheet-{k}.png" for k in range(2, pages + 1)]


def write_contact_sheets(folder: str | Path, records: list[dict], tile: tuple[int, int] = TILE,
                         frames: int = FRAMES) -> list[Path]:
    """Sheets for the records marked done (manifest order); returns the files written."""
    from PIL import Image

    from momug.motion.motionfile import load_motion

    folder = Path(folder)
    done = [r for r in records if record_ok(folder, r)]
    for old in folder.glob("contact_sheet*.png"):
        old.unlink(missing_ok=True)  # a sheet of an earlier, longer batch must not linger
    if not done:
        return []
    pages = [done[i:i + ROWS_PER_PAGE] for i in range(0, len(done), ROWS_PER_PAGE)]
    written = []
    for name, page in zip(page_names(len(pages)), pages):
        rows = []
        for record in page:
            motion = load_motion(folder / record["files"]["npz"]["file"])
            width = frames * tile[0]
            rows.append(_label(f"{record['name']}: {record.get('prompt', '')}", width))
            rows.append(strip(motion.joints, motion.fps, tile, frames))
        path = folder / name
        _save_png(Image.fromarray(np.concatenate(rows, axis=0)), path)
        written.append(path)
    return written
