"""momug eval probes, with the model's own guidance ramp applied: the eval command resolves 'the
model's own' to config.guidance (a constant), so map that scale back to None inside the model."""
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
