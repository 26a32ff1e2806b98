"""`momug generate --mode stream` with the tiny streaming model: the motion file, the JSON lines
written (and flushed) chunk by chunk, and clear errors."""

import json

import numpy as np
import pytest

from momug.cli import main
from momug.motion.bvh import read_bvh
from momug.motion.motionfile import Motion, load_motion
from momug.stream.pipeline import StreamPipeline

TINY = ["--checkpoint", "tiny", "--device", "cpu"]


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_stream_mode_writes_the_motion_and_one_json_line_per_chunk(tmp_path):
    npz, jsonl = tmp_path / "walk.npz", tmp_path / "out" / "walk.jsonl"
    args = ["generate", "a person walks forward", "--mode", "stream", "--seconds", "2", "--seed", "3"]
    assert main(args + TINY + ["-o", str(npz), "--stream-to", str(jsonl)]) == 0
    lines = read_lines(jsonl)
    assert [e["event"] for e in lines[:1] + lines[-1:]] == ["start", "done"]
    assert {e["event"] for e in lines[1:-1]} == {"frames"}
    assert lines[0]["frames"] == 40 and lines[0]["fps"] == 20.0 and lines[0]["seed"] == 3
    assert lines[0]["model_id"] == "tiny" and lines[-1]["frames"] == 40
    frames = lines[1:-1]
    # One chunk per latent (4 frames) from the third on, each holding back the 8 frames the
    # streamed cleanup may still move (cleanup.STREAM_SMOOTH_DELAY); the last latent sends them.
    assert [f["count"] for f in frames] == [4] * 7 + [12]
    assert [f["start"] for f in frames] == list(range(0, 29, 4))
    joints = np.concatenate([np.asarray(f["joints"]) for f in frames])
    rotations = np.concatenate([np.asarray(f["rotations"]) for f in frames])

    motion = load_motion(npz)
    assert motion.prompt == "a person walks forward" and motion.fps == 20.0
    np.testing.assert_allclose(joints, motion.joints, atol=1e-6)
    np.testing.assert_allclose(rotations, motion.rotations, atol=1e-6)
    # The file is what the model makes for this seed, with IK over the whole motion.
    expected = np.concatenate(list(StreamPipeline.load("tiny", device="cpu").stream(
        "a person walks forward", 2.0, seed=3)))
    np.testing.assert_allclose(motion.joints, expected, atol=1e-6)
    whole = Motion(joints=expected, fps=20.0).with_rotations()
    np.testing.assert_allclose(motion.rotations, whole.rotations, atol=2e-6)

    bvh = tmp_path / "walk.bvh"
    assert main(args + TINY + ["-o", str(bvh)]) == 0
    assert read_bvh(bvh).rotations.shape[:2] == (40, 22)


def test_each_line_is_on_disk_before_the_next_chunk_is_made(tmp_path, monkeypatch):
    """A pipeline tailing the file sees every chunk the moment it exists, not at the end."""
    jsonl = tmp_path / "live.jsonl"
    seen = []
    real_stream = StreamPipeline.stream

    def watched(self, *args, **kwargs):
        for chunk in real_stream(self, *args, **kwargs):
            seen.append(len(jsonl.read_text().splitlines()) if jsonl.exists() else 0)
            yield chunk

    monkeypatch.setattr(StreamPipeline, "stream", watched)
    assert main(["generate", "a person jumps", "--mode", "stream", "--seconds", "1",
                 "--stream-to", str(jsonl)] + TINY) == 0
    # Before chunk k is made, the start line and the k-1 earlier chunks are already readable
    # (5 latents, chunks from the third on: 3 chunks).
    assert seen == list(range(1, 4))
    assert len(read_lines(jsonl)) == 5


def test_stream_to_stdout_carries_only_json(tmp_path, capsys):
    npz = tmp_path / "x.npz"
    assert main(["generate", "a person waves", "--mode", "stream", "--seconds", "1", "--stream-to", "-",
                 "-o", str(npz)] + TINY) == 0
    out, err = capsys.readouterr()
    events = [json.loads(line)["event"] for line in out.splitlines()]
    assert events == ["start"] + ["frames"] * 3 + ["done"]
    assert f"wrote {npz}" in err and npz.exists()


def test_a_failure_mid_stream_ends_the_lines_with_an_error(tmp_path, monkeypatch, capsys):
    from momug.errors import MomugError

    real_stream = StreamPipeline.stream

    def failing(self, *args, **kwargs):
        for i, chunk in enumerate(real_stream(self, *args, **kwargs)):
            if i == 2:
                raise MomugError("the model produced NaN values; try another seed")
            yield chunk

    monkeypatch.setattr(StreamPipeline, "stream", failing)
    npz, jsonl = tmp_path / "x.npz", tmp_path / "x.jsonl"
    assert main(["generate", "a person waves", "--mode", "stream", "--seconds", "2", "-o", str(npz),
                 "--stream-to", str(jsonl)] + TINY) == 2
    assert "NaN values" in capsys.readouterr().err
    lines = read_lines(jsonl)
    assert [e["event"] for e in lines] == ["start", "frames", "frames", "error"]
    assert "NaN values" in lines[-1]["detail"] and not npz.exists()


@pytest.mark.parametrize("extra, words", [
    (["--mode", "stream", "--seconds", "30", "-o", "x.npz"], "between 1 and 10"),
    (["--mode", "stream", "--steps", "500", "-o", "x.npz"], "flow steps"),
    (["--mode", "stream", "--guidance", "-1", "-o", "x.npz"], "guidance must be between 0 and"),
    (["--mode", "stream", "--guidance", "nan", "-o", "x.npz"], "guidance must be between 0 and"),
    (["--mode", "stream"], "--stream-to"),
    (["--mode", "stream", "-o", "x.txt"], "must end in .npz or .bvh"),
    (["--stream-to", "x.jsonl", "-o", "x.npz"], "needs --mode stream"),
    (["-o", "x.npz", "--mode", "stream", "--prompts", "p.txt"], "either a prompt"),
    (["--mode", "stream", "--no-foot-cleanup", "-o", "x.npz"], "for diffusion mode"),
])
def test_bad_stream_requests_are_one_line_errors(tmp_path, monkeypatch, capsys, extra, words):
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "a person waves"] + extra + TINY) == 2
    assert words in capsys.readouterr().err
    assert not list(tmp_path.iterdir())   # nothing written, not even an empty .jsonl


def test_stream_mode_takes_one_prompt_and_names_a_missing_default_model(tmp_path, monkeypatch, capsys):
    from momug.stream import checkpoint as sckpt

    (tmp_path / "p.txt").write_text("a person waves\n")
    assert main(["generate", "--prompts", str(tmp_path / "p.txt"), "--mode", "stream", "-o", str(tmp_path)]) == 2
    assert "one prompt" in capsys.readouterr().err
    monkeypatch.setattr(sckpt, "default_stream_checkpoint", lambda: tmp_path / "not_shipped")
    assert main(["generate", "a person waves", "--mode", "stream", "-o", str(tmp_path / "x.npz")]) == 2
    assert "default streaming model is not installed" in capsys.readouterr().err


def test_diffusion_stays_the_default_mode(tmp_path):
    npz = tmp_path / "d.npz"
    assert main(["generate", "a person waves", "--seconds", "2", "--steps", "2", "-o", str(npz)] + TINY) == 0
    assert load_motion(npz).rotations is not None


def test_guidance_reaches_the_streaming_model_and_defaults_to_its_own(tmp_path, monkeypatch):
    """--guidance W is the scale the stream is made with; left out, the checkpoint's own (the
    diffusion mode's 2.5 default does not apply)."""
    asked = []
    real_latents = StreamPipeline._latents

    def spy(self, *args, **kwargs):
        asked.append(kwargs.get("guidance"))
        return real_latents(self, *args, **kwargs)

    monkeypatch.setattr(StreamPipeline, "_latents", spy)
    jsonl = tmp_path / "g.jsonl"
    base = ["generate", "a person waves", "--mode", "stream", "--seconds", "1", "--seed", "2"] + TINY
    assert main(base + ["--guidance", "3", "--stream-to", str(jsonl), "-o", str(tmp_path / "g.npz")]) == 0
    assert read_lines(jsonl)[0]["guidance"] == 3.0
    assert main(base + ["--stream-to", str(jsonl)]) == 0
    assert read_lines(jsonl)[0]["guidance"] is None
    assert asked == [3.0, None]
    # The file is what the pipeline makes with that scale.
    pipe = StreamPipeline.load("tiny", device="cpu")
    expected = np.concatenate(list(pipe.stream("a person waves", 1.0, seed=2, guidance=3.0)))
    np.testing.assert_allclose(load_motion(tmp_path / "g.npz").joints, expected, atol=1e-6)


def test_a_sequence_streams_step_by_step_and_the_start_event_says_so(tmp_path):
    jsonl = tmp_path / "s.jsonl"
    base = ["generate", "a person walks forward then waves", "--mode", "stream", "--seconds", "2",
            "--stream-to", str(jsonl)] + TINY
    assert main(base) == 0
    assert read_lines(jsonl)[0]["made_from"] == ["a person walks forward", "a person waves"]
    assert main(base + ["--whole-prompt"]) == 0
    assert read_lines(jsonl)[0]["made_from"] == ["a person walks forward then waves"]
