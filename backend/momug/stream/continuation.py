"""Continuation rows for the streaming trainer: what a sequence made step by step asks of the model.

At generation time "a person walks forward then waves" is made in two steps (momug.prompt_steps):
the walk under "a person walks forward.", then more latents after it under "a person waves.", with
the walk's latents as history. A model trained only on whole clips under their whole captions has
never seen a prompt that disagrees with its history, and it carries on walking. A continuation row
is that situation taken from the corpus: a clip that does several actions in turn (meta.jsonl's
action spans, from `momug data synth`), cut to end where one of its later actions ends, prompted
with that action's own step of the clip's caption (split by the same momug.prompt_steps), and with
the flow loss only on the latents from that action's start: the history before it is context.
"""

from __future__ import annotations

import numpy as np

from momug.data.humanml3d import MotionTextFolder
from momug.data.steady import ONSET_PREFIX, STEADY_PREFIX
from momug.data.synth.writer import read_meta
from momug.data.weight import original_id
from momug.errors import MomugError
from momug.prompt_steps import split_steps
from momug.stream.vae import DOWNSAMPLE


class ContinuationClips:
    """The clips of a split that do more than one action, with their action spans in frames."""

    def __init__(self, folder: MotionTextFolder):
        root = folder.root
        if not (root / "meta.jsonl").is_file():
            raise MomugError(f"continuation rows need each clip's actions and their frames, and {root} has no "
                             "meta.jsonl (corpora from momug data synth, or merges of them, have it)")
        spans = {m["id"]: [(int(a["start"]), int(a["end"])) for a in m.get("actions") or []]
                 for m in read_meta(root)}
        self.folder = folder
        self.clips: list[tuple[int, list[tuple[int, int]]]] = []
        for index, motion_id in enumerate(folder.ids):
            if motion_id.startswith((STEADY_PREFIX, ONSET_PREFIX)):
                continue  # a window cut from one gait: not on its clip's frames
            source = original_id(motion_id, spans)   # a mirror keeps its clip's frames
            if source is not None and len(spans[source]) > 1:
                self.clips.append((index, spans[source]))
        if not self.clips:
            raise MomugError(f"no clip in this split of {root} does more than one action, so there is nothing to "
                             "make continuation rows from (set [train] continuation_fraction = 0)")

    def __len__(self) -> int:
        return len(self.clips)

    def sample(self, rng: np.random.Generator, max_frames: int) -> tuple[np.ndarray, str, int] | None:
        """(features, the step's prompt, the frame where that step starts), or None when the drawn
        caption does not split into one step per action (the caller makes a plain row instead).
        The window ends where the step ends and holds at most max_frames frames (more only for a
        step longer than that alone), with at least one latent of history before the step."""
        index, spans = self.clips[int(rng.integers(len(self.clips)))]
        captions = self.folder.captions[index]
        steps = split_steps(captions[int(rng.integers(len(captions)))].text)
        if len(steps) != len(spans):
            return None
        k = int(rng.integers(1, len(spans)))
        feats = self.folder.features(index)
        start, end = spans[k][0], min(spans[k][1], len(feats))
        first = max(0, min(end - max_frames, start - DOWNSAMPLE))
        return np.asarray(feats[first:end], dtype=np.float32), steps[k], start - first


__all__ = ["ContinuationClips"]
