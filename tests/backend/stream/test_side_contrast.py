"""[train] side_contrast_*: rows whose caption names one side are read again with the sides swapped,
and the loss asks their first latents' flow error to come out a margin above their own
(StreamModel.contrast_gaps); LatentBatches supplies the swapped captions."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")



def test_the_contrast_is_the_hinge_on_each_sided_rows_error_gap_at_shared_noise(contrast_model, flow_errors):
    model = contrast_model
    errors = flow_errors(model)
    texts = [model.text_ids("a person waves their left hand."), model.text_ids("a person walks."),
             model.text_ids("a person kicks with the right leg.")]
    swapped = [model.text_ids("a person waves their right hand."), None,
               model.text_ids("a person kicks with the left leg.")]
    latents = [torch.randn(6, 8), torch.randn(5, 8), torch.randn(3, 8)]

    def losses(**kw):
        with torch.no_grad():
            return model.training_loss(texts, latents, generator=torch.Generator().manual_seed(0), **kw)

    plain = losses(swapped_texts=swapped)
    assert "side" not in plain                                 # off unless weighted
    margin = 5.0
    on = losses(swapped_texts=swapped, side_contrast=(4, 0.5, margin))
    # Calls: the main flow loss, then the own and swapped errors of the sided rows' first targets.
    main, own, other = errors[-3:]
    assert torch.equal(main, errors[0])                        # the flow loss itself is untouched
    assert torch.equal(on["flow"], plain["flow"])
    assert own.shape == other.shape == (4 + 3,)                # row 1's first 4 targets, row 3's all 3
    assert not torch.allclose(own, other)                      # the swapped side changes the prediction
    gaps = torch.stack([(other[:4] - own[:4]).mean(), (other[4:] - own[4:]).mean()])
    assert torch.allclose(on["side"], torch.relu(margin - gaps).mean())
    assert torch.allclose(on["loss"], plain["loss"] + 0.5 * on["side"])
    # Paired: read again under its own caption, a row's errors are its own (same noise and flow times).
    same = losses(swapped_texts=[texts[0], None, texts[2]], side_contrast=(4, 0.5, margin))
    assert torch.allclose(errors[-2], errors[-1], atol=1e-5) and torch.allclose(same["side"], torch.tensor(margin))
    # Met margins cost nothing.
    assert float(losses(swapped_texts=swapped, side_contrast=(4, 0.5, -100.0))["side"]) == 0.0
    # No sided row: no second pass and a zero term.
    n = len(errors)
    assert float(losses(swapped_texts=[None] * 3, side_contrast=(4, 0.5, margin))["side"]) == 0.0
    assert len(errors) == n + 1


def test_the_contrast_trains_the_side_word_reading(contrast_model, motion_grads):
    model = contrast_model
    texts = [model.text_ids("a person waves their left hand.")]
    swapped = [model.text_ids("a person waves their right hand.")]
    latents = [torch.randn(6, 8)]
    off, on = (motion_grads(model, texts, latents, swapped_texts=swapped, side_contrast=(4, w, 10.0)) for w in (0.0, 1.0))
    assert any(not torch.allclose(a, b) for a, b in zip(off, on))


def test_batches_carry_the_swapped_caption_of_one_sided_text_rows_only(tmp_path, contrast_model, tiny_vae):
    from momug.data.humanml3d import MotionTextFolder
    from momug.data.synth.writer import write_corpus
    from momug.data.mirror import mirror_text, names_one_side
    from momug.stream.train_ar import LatentBatches, StreamTrainSettings

    write_corpus(tmp_path / "corpus", 24, seed=5, workers=1, progress=False)
    model = contrast_model
    folder = MotionTextFolder(tmp_path / "corpus", "train")
    vae = tiny_vae(folder)
    settings = StreamTrainSettings(batch_size=16, caption_fraction=0.25, side_contrast_weight=1.0)
    seen_sided = seen_plain = 0
    for step in range(6):
        b = LatentBatches(folder, vae, model, settings, seed=3, text_dropout=0.2).batch(step)
        assert len(b["swapped_texts"]) == len(b["texts"])
        for ids, swapped in zip(b["texts"], b["swapped_texts"]):
            text = model.tokenizer.decode(ids[len(model.bos):])
            if swapped is None:
                assert ids == model.empty_text_ids or not names_one_side(text)
                seen_plain += 1
            else:
                assert names_one_side(text) and swapped == model.text_ids(mirror_text(text))
                seen_sided += 1
    assert seen_sided and seen_plain
    # The swapped captions draw nothing: the batches are what they are without them (contrast off).
    off = StreamTrainSettings(batch_size=16, caption_fraction=0.25)
    again = LatentBatches(folder, vae, model, off, seed=3, text_dropout=0.2).batch(5)
    assert again["texts"] == b["texts"] and all(np.array_equal(x, y) for x, y in zip(again["latents"], b["latents"]))
    assert again["swapped_texts"] == [None] * len(again["texts"])
