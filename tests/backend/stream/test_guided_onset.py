"""[train] guided_onset_*: the flow error of a row's first targets under the guided velocity that
sampling integrates (v_u + s * (v_c - v_u), v_u read under the empty prompt), for the rows whose
caption names one side (or all prompted rows); LatentBatches marks those rows."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_guided_errors_are_the_errors_of_the_mixed_velocity():
    from momug.stream.flow_head import FlowHead

    torch.manual_seed(0)
    head = FlowHead(latent_dim=6, cond_dim=5, width=16, depth=1)
    x0, cond, uncond = torch.randn(7, 6), torch.randn(7, 5), torch.randn(7, 5)

    def gen():
        return torch.Generator().manual_seed(3)

    # Scale 1 is the conditional velocity alone: errors() under the same draws.
    assert torch.allclose(head.guided_errors(x0, cond, uncond, 1.0, gen()), head.errors(x0, cond, gen()), atol=1e-6)
    # Any scale: the error of v_u + s (v_c - v_u) at errors()'s x_t and t.
    g = gen()
    noise = torch.randn(x0.shape, generator=g)
    t = torch.rand(x0.shape[:-1], generator=g)
    x_t = (1 - t[:, None]) * x0 + t[:, None] * noise
    v_c, v_u = head(x_t, t, cond), head(x_t, t, uncond)
    want = (v_u + 4.0 * (v_c - v_u) - (noise - x0)).pow(2).mean(-1)
    assert torch.allclose(head.guided_errors(x0, cond, uncond, 4.0, gen()), want, atol=1e-5)


def test_the_term_is_the_guided_error_of_the_marked_rows_first_targets(contrast_model):
    model = contrast_model
    texts = [model.text_ids("a person waves their left hand."), model.text_ids("a person walks."),
             model.text_ids("a person kicks with the right leg.")]
    latents = [torch.randn(6, 8), torch.randn(5, 8), torch.randn(3, 8)]
    marked = [True, False, True]
    calls, real = [], model.flow.guided_errors

    def spy(x0, cond, uncond, scale, generator=None):
        calls.append((x0.clone(), cond.clone(), uncond.clone(), scale))
        return real(x0, cond, uncond, scale, generator)

    model.flow.guided_errors = spy

    def losses(**kw):
        with torch.no_grad():
            return model.training_loss(texts, latents, generator=torch.Generator().manual_seed(0), **kw)

    plain = losses(guided_rows=marked)
    assert "guided" not in plain and not calls                  # off unless weighted
    on = losses(guided_rows=marked, guided_onset=(2, 0.5, 5.0))
    assert torch.equal(on["flow"], plain["flow"])                # the flow loss itself is untouched
    assert torch.allclose(on["loss"], plain["loss"] + 0.5 * on["guided"])
    (x0, cond, uncond, scale), = calls
    assert scale == 5.0 and x0.shape == (2 + 2, 8)               # rows 1 and 3, first 2 targets each
    assert not torch.allclose(cond, uncond)                      # the empty prompt reads differently
    # The conditional side is each row's own reading: read again under its own prompt, it matches.
    own = model._conds_under([texts[0], texts[2]], [latents[0], latents[2]], [0, 0], [2, 2])
    assert torch.allclose(cond, torch.cat([c[:2] for c in own]), atol=1e-5)
    empty = model._conds_under([model.empty_text_ids] * 2, [latents[0], latents[2]], [0, 0], [2, 2])
    assert torch.allclose(uncond, torch.cat([c[:2] for c in empty]), atol=1e-5)
    # No marked row: a zero term and no second pass.
    assert float(losses(guided_rows=[False] * 3, guided_onset=(2, 0.5, 5.0))["guided"]) == 0.0
    assert len(calls) == 1


def test_the_term_reaches_the_weights_that_read_the_prompt(contrast_model, motion_grads):
    model = contrast_model
    texts = [model.text_ids("a person raises their left arm.")]
    latents = [torch.randn(4, 8)]
    off, on = (motion_grads(model, texts, latents, guided_rows=[True], guided_onset=(1, w, 5.0)) for w in (0.0, 1.0))
    assert any(not torch.allclose(a, b) for a, b in zip(off, on))


def test_batches_mark_the_prompted_sided_rows_or_all_and_draw_nothing(tmp_path, contrast_model, tiny_vae):
    from momug.data.humanml3d import MotionTextFolder
    from momug.data.mirror import names_one_side
    from momug.data.synth.writer import write_corpus
    from momug.stream.train_ar import LatentBatches, StreamTrainSettings

    write_corpus(tmp_path / "corpus", 24, seed=5, workers=1, progress=False)
    model = contrast_model
    folder = MotionTextFolder(tmp_path / "corpus", "train")
    vae = tiny_vae(folder)

    def batch(step, **kw):
        settings = StreamTrainSettings(batch_size=16, caption_fraction=0.25, **kw)
        return LatentBatches(folder, vae, model, settings, seed=3, text_dropout=0.2).batch(step)

    seen = {True: 0, False: 0}
    for step in range(6):
        b = batch(step, guided_onset_weight=1.0)
        assert len(b["guided_rows"]) == len(b["texts"])
        for ids, on in zip(b["texts"], b["guided_rows"]):
            text = model.tokenizer.decode(ids[len(model.bos):])
            assert on == (ids != model.empty_text_ids and names_one_side(text))
            seen[on] += 1
    assert seen[True] and seen[False]
    every = batch(5, guided_onset_weight=1.0, guided_onset_rows="all")
    assert every["guided_rows"] == [ids != model.empty_text_ids for ids in every["texts"]]
    off = batch(5)
    assert off["guided_rows"] == [False] * len(off["texts"])
    assert off["texts"] == b["texts"] and all(np.array_equal(x, y) for x, y in zip(off["latents"], b["latents"]))
