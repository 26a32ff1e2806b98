"""Continuation rows (momug.stream.continuation, [train] continuation_fraction): a clip of several
actions cut to end with one of its later actions, prompted with that action's step of the caption,
and the flow loss counted from the step's first latent only."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from momug.data.humanml3d import MotionTextFolder  # noqa: E402
from momug.data.mirror import write_mirrors  # noqa: E402
from momug.data.steady import write_steady_windows  # noqa: E402
from momug.data.synth.writer import read_meta, write_corpus  # noqa: E402
from momug.errors import MomugError  # noqa: E402
from momug.prompt_steps import split_steps  # noqa: E402
from momug.stream import checkpoint as sckpt  # noqa: E402
from momug.stream.ar_model import StreamConfig  # noqa: E402
from momug.stream.continuation import ContinuationClips  # noqa: E402
from momug.stream.vae import DOWNSAMPLE  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("continuation") / "corpus"
    write_corpus(root, 40, seed=3, workers=1, progress=False)
    write_mirrors(root, "train", progress=False)
    write_steady_windows(root, "train_mirrored")
    return root


def test_only_clips_of_several_actions_mirrors_included_windows_left_out(corpus):
    folder = MotionTextFolder(corpus, "train_mirrored_steady")
    clips = ContinuationClips(folder)
    meta = {m["id"]: m for m in read_meta(corpus)}
    several = {i for i, m in meta.items() if len(m["actions"]) > 1}
    listed = {folder.ids[index] for index, _ in clips.clips}
    assert listed, "the tiny corpus should hold some sequences"
    assert not any(i.startswith("S") for i in listed)
    assert {i.removeprefix("M") for i in listed} <= several
    assert any(i.startswith("M") for i in listed)
    for index, spans in clips.clips:
        source = meta[folder.ids[index].removeprefix("M")]
        assert spans == [(a["start"], a["end"]) for a in source["actions"]]


def test_a_sample_is_a_later_step_of_its_caption_cut_where_that_step_ends(corpus):
    folder = MotionTextFolder(corpus, "train")
    clips = ContinuationClips(folder)
    rng = np.random.default_rng(0)
    made = 0
    for _ in range(60):
        got = clips.sample(rng, max_frames=200)
        if got is None:
            continue
        made += 1
        feats, text, step_frame = got
        # Which clip and step: the only (clip, k) whose window ends at the step's end and matches.
        matches = []
        for index, spans in clips.clips:
            full = folder.features(index)
            for k in range(1, len(spans)):
                start, end = spans[k][0], min(spans[k][1], len(full))  # features: one frame short
                first = start - step_frame
                if first >= 0 and end - first == len(feats) and np.array_equal(full[first:end], feats):
                    steps = [split_steps(c.text) for c in folder.captions[index]]
                    matches.append(any(len(s) == len(spans) and s[k] == text for s in steps))
        assert matches and all(matches)
        assert step_frame >= DOWNSAMPLE  # at least one latent of history
    assert made >= 30


def test_the_window_keeps_to_max_frames_and_its_step(corpus):
    folder = MotionTextFolder(corpus, "train")
    clips = ContinuationClips(folder)
    rng = np.random.default_rng(1)
    for _ in range(40):
        got = clips.sample(rng, max_frames=30)
        if got is not None:
            feats, _, step_frame = got
            assert len(feats) <= max(30, len(feats) - step_frame + DOWNSAMPLE)
            assert 0 < step_frame < len(feats)


def test_a_corpus_without_actions_or_sequences_is_a_clear_error(corpus, corpus_without_meta):
    copy = corpus_without_meta(corpus)
    with pytest.raises(MomugError, match="no meta.jsonl"):
        ContinuationClips(MotionTextFolder(copy, "train"))
    lines = [json.loads(line) for line in (corpus / "meta.jsonl").read_text().splitlines()]
    for m in lines:
        m["actions"] = m["actions"][:1]
    (copy / "meta.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    with pytest.raises(MomugError, match="more than one action"):
        ContinuationClips(MotionTextFolder(copy, "train"))


def test_the_flow_loss_counts_only_the_latents_from_targets_from():
    torch.manual_seed(0)
    model = sckpt.build_stream_model(StreamConfig(base_model="tiny", latent_dim=8, mot_rank=4, flow_width=32,
                                                  flow_depth=1, flow_steps=2, latent_noise=0.0))
    seen = []
    real = model.flow.loss

    def spy(targets, conds, **kw):
        seen.append((targets.clone(), conds.clone()))
        return real(targets, conds, **kw)

    model.flow.loss = spy
    texts = [model.text_ids("a person walks."), model.text_ids("a person waves.")]
    latents = [torch.randn(6, 8), torch.randn(9, 8)]
    with torch.no_grad():
        model.training_loss(texts, latents, generator=torch.Generator().manual_seed(0))
        model.training_loss(texts, latents, generator=torch.Generator().manual_seed(0), targets_from=[0, 4])
    (all_targets, all_conds), (targets, conds) = seen
    scale = model.config.latent_scale
    assert len(all_targets) == 15 and len(targets) == 6 + 5
    assert torch.allclose(targets[:6], latents[0] / scale) and torch.allclose(targets[6:], latents[1][4:] / scale)
    # The conditions are the same positions' as in the whole row: history is still read.
    assert torch.allclose(conds, torch.cat([all_conds[:6], all_conds[6 + 4:]]), atol=1e-6)


def test_training_with_continuation_rows_runs_and_is_range_checked(corpus, tmp_path, tiny_stream_config):
    from momug.cli import main
    from momug.stream.train_ar import LatentBatches, load_stream_config

    assert main(["stream", "train-vae", "--data", str(corpus), "-o", str(tmp_path / "vae"), "--steps", "2",
                 "--batch-size", "4", "--window", "32", "--quiet"]) == 0
    text = tiny_stream_config.format(data=corpus, out=tmp_path / "run", vae=tmp_path / "vae", steps=2)
    text = text.replace("log_every = 2", "log_every = 1").replace(
        "[train]\n", "[train]\ncaption_fraction = 0.0\ncontinuation_fraction = 1.0\n")
    cfg = tmp_path / "run.toml"
    cfg.write_text(text)
    assert main(["stream", "train", "--config", str(cfg), "--quiet"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "train"] == [1, 2] and all(r["flow"] > 0 for r in rows)
    settings = load_stream_config(cfg)
    model, vae = sckpt.from_pretrained(tmp_path / "run", check_licence=False)
    batch = LatentBatches(MotionTextFolder(corpus, "train"), vae, model, settings.train, 0, 0.0, 1.0).batch(0)
    assert any(f > 0 for f in batch["targets_from"])
    assert all(0 <= f < len(z) for f, z in zip(batch["targets_from"], batch["latents"]))
    cfg.write_text(text.replace("continuation_fraction = 1.0", "continuation_fraction = 1.5"))
    with pytest.raises(MomugError, match="continuation_fraction must be between 0 and 1"):
        load_stream_config(cfg)
