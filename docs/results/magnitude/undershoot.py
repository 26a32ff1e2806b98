"""How fast and how high the diffusion default moves for plain gait and jump prompts, against the
corpus' own clips with the same caption: 4 s, seeds 0-3, under a few sampler settings.

    python docs/results/magnitude/undershoot.py CHECKPOINT CORPUS > docs/results/magnitude/undershoot.txt

CORPUS: a HumanML3D-format folder (e.g. corpus_focus_merged); its clips (test split first, then
train) with a caption that has the prompt's words after its subject give the reference.
"""

import sys
from pathlib import Path

import numpy as np
import torch

from momug.eval.probes import cruise_speed, pelvis_rise
from momug.model import checkpoint as ckpt
from momug.motion.features import features_to_joints

PROMPTS = ["a person walks straight ahead.", "a person jogs forward.", "a person runs straight ahead.",
           "a person does a big jump.", "a person jumps high."]
SETTINGS = [(2.5, 20, 0.0), (1.0, 20, 0.0), (2.5, 20, 1.0), (2.5, 50, 1.0)]  # guidance, steps, eta


def measure(prompt: str, joints: np.ndarray) -> float:
    return pelvis_rise(joints) if "jump" in prompt else cruise_speed(joints, 20.0)


def corpus_reference(folder: Path, prompt: str, limit: int = 12) -> list[float]:
    out = []
    words = prompt.removeprefix("a person ")  # any subject: the corpus draws it at random
    clips = (folder / "test.txt").read_text().split() + (folder / "train.txt").read_text().split()
    for clip in clips:
        captions = [line.split("#")[0] for line in (folder / "texts" / f"{clip}.txt").read_text().splitlines()]
        if any(c.endswith(" " + words) and "then" not in c for c in captions):
            features = np.load(folder / "new_joint_vecs" / f"{clip}.npy").astype(np.float64)
            out.append(measure(prompt, features_to_joints(features)))
            if len(out) == limit:
                break
    return out


def main() -> None:
    torch.set_num_threads(2)
    model = ckpt.from_pretrained(sys.argv[1]).eval()
    corpus = Path(sys.argv[2])
    print("cruise speed (m/s) for gaits, pelvis rise (m) for jumps; mean of seeds 0-3, 4 s")
    print(f"{'prompt':34s} {'corpus clips':>18s}" + "".join(f"  g{g} {s}st eta{e:g}" for g, s, e in SETTINGS))
    for prompt in PROMPTS:
        ref = corpus_reference(corpus, prompt)
        cells = []
        for guidance, steps, eta in SETTINGS:
            made = model.sample([prompt] * 4, [80] * 4, [0, 1, 2, 3], guidance=guidance, steps=steps, eta=eta)
            values = [measure(prompt, features_to_joints(model.denormalize(m).numpy().astype(np.float64)))
                      for m in made]
            cells.append(np.mean(values))
        reference = f"{np.mean(ref):.2f} ({min(ref):.2f}-{max(ref):.2f}, {len(ref)})" if ref else "none"
        print(f"{prompt:34s} {reference:>18s}" + "".join(f"{c:16.3f}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
