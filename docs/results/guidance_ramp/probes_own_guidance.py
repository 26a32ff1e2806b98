"""momug eval probes with a checkpoint's own guidance ramp (config.json "guidance_start") applied.

The ramp option existed only at commit f318da1 (removed after these runs; docs/training.md, "The
guidance scale through the sampler"). There, make a copy with a ramp and run the probes:

    git checkout f318da1
    python scripts/export_checkpoint.py backend/momug/checkpoints/default /tmp/ramp_5_1.5 --guidance 1.5 --guidance-start 5
    python docs/results/guidance_ramp/probes_own_guidance.py eval probes --checkpoint /tmp/ramp_5_1.5 \
        --data corpus --suite extended --seeds 1 --seed 0 --json seed0.json

The eval command turns "the model's own scale" into config.guidance, a constant, before sampling;
this wrapper maps that scale back to None inside the model so the ramp applies."""
import sys
from momug.model.momug import MoMugModel
orig = MoMugModel.sample
def sample(self, prompts, n_frames, seeds, guidance=None, **kw):
    if guidance is not None and self.config.guidance_start is not None and float(guidance) == self.config.guidance:
        guidance = None
    return orig(self, prompts, n_frames, seeds, guidance=guidance, **kw)
MoMugModel.sample = sample
from momug.cli import main
sys.exit(main(sys.argv[1:]))
