"""momug eval probes with the onset latent (the one sampled at guidance 1 by a checkpoint whose onset_guidance is 1)
started from colder noise: FlowHead.sample_guided at scale 1.0 gets temperature ONSET_T.
    python probes_onset_temp.py ONSET_T -- <momug eval probes args>"""
import sys
from momug.stream import flow_head
T = float(sys.argv[1])
real = flow_head.FlowHead.sample_guided
def sample_guided(self, cond, uncond, guidance, steps=8, generator=None, temperature=1.0):
    return real(self, cond, uncond, guidance, steps=steps, generator=generator,
                temperature=T if guidance == 1.0 else temperature)
flow_head.FlowHead.sample_guided = sample_guided
from momug.cli import main
sys.exit(main(sys.argv[3:]))
