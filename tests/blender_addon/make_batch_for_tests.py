"""Run by the main environment's Python (not bpy) for test_batch_export.py:

    python make_batch_for_tests.py PROMPTS OUT

A batch folder written by the real batch runner (momug.batch.runner: .npz, .bvh, manifest), with
motions from the procedural corpus instead of the tiny untrained model. The corpus motion is
projected onto the SMPL-22 skeleton, so its joints are exactly what its rotations pose: then every
export (BVH, glTF, FBX) can be held to the .npz joints themselves. The tiny model's noise has
stretching bones that no skeleton file can reproduce.
"""

import sys

from momug.batch.runner import BatchSettings, run_batch
from momug.data.synth.writer import make_motion
from momug.motion import kinematics
from momug.motion.motionfile import Motion
from momug.motion.skeleton import smpl22


class CorpusMotions:
    """Stands in for MotionPipeline: corpus motion number `seed`, cut to the asked length."""

    fps = 20.0

    def validate_request(self, prompt, seconds, steps, guidance):
        pass

    def generate(self, prompts, seconds, seeds, guidance=2.5, steps=20, progress=None, should_stop=None,
                 clean_feet=True):
        # Corpus motions are clean already: clean_feet is taken, as MotionPipeline takes it, and has
        # nothing to do.
        motions = []
        for prompt, secs, seed in zip(prompts, seconds, seeds):
            joints = make_motion(0, seed)[0].joints[: int(round(secs * self.fps))]
            rotations, root = kinematics.inverse(smpl22(), joints)
            rigid = kinematics.forward(smpl22(), rotations, root)
            motions.append(Motion(rigid, self.fps, prompt, rotations, root))
        return motions


if __name__ == "__main__":
    settings = BatchSettings(checkpoint="tiny", seconds=2.0, seed=1, steps=2, contact_sheet=False)
    result = run_batch(sys.argv[1], sys.argv[2], settings, load_pipeline=lambda c, d: CorpusMotions(),
                       progress=False)
    sys.exit(1 if result.failed or result.line_errors else 0)
