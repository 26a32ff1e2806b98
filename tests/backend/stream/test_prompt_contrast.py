"""[train] prompt_contrast_*: text rows are read again under the caption of a batch row that does
none of their clip's actions, and the loss asks their flow error over a window of later latents
to come out a margin above their own (StreamModel.contrast_gaps); LatentBatches supplies the
mismatched captions from the corpus's meta.jsonl."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from momug.errors import MomugError  # noqa: E402


def test_the_prompt_contrast_is_the_hinge_on_each_rows_gap_over_its_window(contrast_model, flow_errors):
    model = contrast_model
    errors = flow_errors(model)
    texts = [model.text_ids("a person waves their left hand."), model.text_ids("a person walks."),
             model.text_ids("a person squats."), model.text_ids("a person claps.")]
    swapped = [model.text_ids("a person waves their right hand."), None, None, None]
    mismatched = [None, model.text_ids("a person claps."), model.text_ids("a person jumps."),
                  model.text_ids("a person walks.")]
    latents = [torch.randn(6, 8), torch.randn(7, 8), torch.randn(9, 8), torch.randn(2, 8)]
    targets_from = [0, 0, 3, 0]   # row 3 is a continuation: its targets start at its 4th latent

    def losses(**kw):
        with torch.no_grad():
            return model.training_loss(texts, latents, generator=torch.Generator().manual_seed(0),
                                       targets_from=targets_from, **kw)

    plain = losses(swapped_texts=swapped, mismatched_texts=mismatched)
    assert "prompt" not in plain                                # off unless weighted
    margin = 5.0
    on = losses(swapped_texts=swapped, side_contrast=(3, 1.0, margin), mismatched_texts=mismatched,
                prompt_contrast=(2, 5, 0.5, margin))
    main, own, other = errors[-3:]                              # one second pass for both terms
    assert torch.equal(main, errors[0]) and torch.equal(on["flow"], plain["flow"])
    # Side row 0: targets 0-2; prompt rows 1 and 2: targets 2-4 (row 2's latents 5-7); row 3 has 2
    # targets, none in the window, and is left out.
    assert own.shape == other.shape == (3 + 3 + 3,)
    side_gap = (other[:3] - own[:3]).mean()
    prompt_gaps = torch.stack([(other[3:6] - own[3:6]).mean(), (other[6:] - own[6:]).mean()])
    assert torch.allclose(on["side"], torch.relu(margin - side_gap))
    assert torch.allclose(on["prompt"], torch.relu(margin - prompt_gaps).mean())
    assert torch.allclose(on["loss"], plain["loss"] + on["side"] + 0.5 * on["prompt"])
    # Read again under their own captions, the windows' errors are the main pass's (the second pass
    # reads each row only up to its window's end, and the windows line up with the targets).
    same = losses(mismatched_texts=[None, texts[1], texts[2], texts[3]], prompt_contrast=(2, 5, 0.5, margin))
    assert torch.allclose(errors[-2], errors[-1], atol=1e-5)
    assert torch.allclose(same["prompt"], torch.tensor(margin))
    assert "side" not in same


def test_the_prompt_contrast_trains_the_prompt_reading_of_later_latents(contrast_model, motion_grads):
    model = contrast_model
    texts = [model.text_ids("a person walks.")]
    latents = [torch.randn(8, 8)]
    off, on = (motion_grads(model, texts, latents, mismatched_texts=[model.text_ids("a person claps.")],
                            prompt_contrast=(4, 8, w, 10.0)) for w in (0.0, 1.0))
    assert any(not torch.allclose(a, b) for a, b in zip(off, on))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from momug.data.mirror import write_mirrors
    from momug.data.synth.writer import write_corpus

    root = tmp_path_factory.mktemp("contrast") / "corpus"
    write_corpus(root, 24, seed=5, workers=1, progress=False)
    write_mirrors(root, "train", progress=False)
    return root


def test_batches_pair_each_prompted_row_with_a_row_of_other_actions(corpus, contrast_model, tiny_vae):
    import numpy as np

    from momug.data.humanml3d import MotionTextFolder
    from momug.stream.train_ar import LatentBatches, StreamTrainSettings, clip_actions

    model = contrast_model
    folder = MotionTextFolder(corpus, "train_mirrored")
    actions = clip_actions(folder)
    assert any(i.startswith("M") for i in folder.ids) and all(actions)  # mirrors found under their source
    vae = tiny_vae(folder)
    settings = StreamTrainSettings(batch_size=16, caption_fraction=0.25, prompt_contrast_weight=1.0,
                                   side_contrast_weight=1.0)
    paired = 0
    for step in range(4):
        b = LatentBatches(folder, vae, model, settings, seed=3, text_dropout=0.2).batch(step)
        again = LatentBatches(folder, vae, model, settings, seed=3, text_dropout=0.2).batch(step)
        assert again["mismatched_texts"] == b["mismatched_texts"]          # seeded per step
        off = LatentBatches(folder, vae, model, StreamTrainSettings(batch_size=16, caption_fraction=0.25),
                            seed=3, text_dropout=0.2).batch(step)
        assert off["texts"] == b["texts"] and off["mismatched_texts"] == [None] * len(b["texts"])
        assert all(np.array_equal(x, y) for x, y in zip(off["latents"], b["latents"]))
        for ids, swapped, other in zip(b["texts"], b["swapped_texts"], b["mismatched_texts"]):
            if ids == model.empty_text_ids or swapped is not None:
                assert other is None                 # no prompt to contrast, or its side contrast instead
            elif other is not None:
                assert other in b["texts"] and other != model.empty_text_ids and other != ids
                paired += 1
    assert paired >= 8


def test_the_other_caption_is_never_of_a_shared_action(corpus, contrast_model, tiny_vae):
    from momug.data.humanml3d import MotionTextFolder
    from momug.stream.train_ar import LatentBatches, StreamTrainSettings, clip_actions

    model = contrast_model
    folder = MotionTextFolder(corpus, "train")
    actions = clip_actions(folder)
    vae = tiny_vae(folder)
    batches = LatentBatches(folder, vae, model, StreamTrainSettings(batch_size=12, caption_fraction=0.0,
                                                                   prompt_contrast_weight=1.0), seed=1)
    # Which clip each text row came from: the same draws as LatentBatches.batch makes.
    import numpy as np
    for step in range(4):
        b = batches.batch(step)
        picks = np.random.default_rng([1, step]).integers(0, len(folder), 12)
        for r, other in enumerate(b["mismatched_texts"]):
            if other is None:
                continue
            o = b["texts"].index(other)
            assert not actions[int(picks[r])] & actions[int(picks[o])]


def test_bad_prompt_contrast_settings_are_refused(tmp_path):
    from momug.stream.train_ar import load_stream_config

    for bad in ("prompt_contrast_from = 5\nprompt_contrast_to = 5", "prompt_contrast_weight = -1",
                "prompt_contrast_margin = -0.1"):
        path = tmp_path / "c.toml"
        path.write_text(f'data = "x"\noutput = "y"\n[train]\n{bad}\n')
        with pytest.raises(MomugError, match="prompt_contrast"):
            load_stream_config(path)


def test_a_corpus_without_meta_is_refused_with_the_reason(corpus, corpus_without_meta):
    from momug.data.humanml3d import MotionTextFolder
    from momug.stream.train_ar import clip_actions

    with pytest.raises(MomugError, match="meta.jsonl"):
        clip_actions(MotionTextFolder(corpus_without_meta(corpus), "train"))
