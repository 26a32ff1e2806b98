"""One-off: a single-action streamed prompt restarted afresh every REFRESH seconds (the same prompt,
joined by the seam bridge), speed profile 4 s, seeds 0-3 (docs/training.md, "A sequence's next
step from a fresh start, bridged").
  python docs/results/stream_seam_bridge/refresh.py 2.0 > refresh_2s.txt"""
import sys

from momug.stream.pipeline import StreamPipeline

REFRESH = float(sys.argv[1])


def plan(self, prompt, seconds):
    n = int(round(seconds * self.fps)); k = max(1, int(seconds // REFRESH))
    sizes = [n // k] * k; sizes[-1] += n - sum(sizes)
    return [(prompt.strip(), f) for f in sizes]


StreamPipeline.sequence_plan = plan
sys.path.insert(0, "scripts")
import speed_profile  # noqa: E402

speed_profile.main(["--mode", "stream"])
