"""Prompt questions (momug.model.prompt_reading): the frozen base model's answer states about each
prompt, read with the adapter off, cached per prompt, and added at the motion positions through a
projection that starts as a no-op. On a tiny random base LLM."""

import pytest
import torch

from momug.errors import MomugError
from momug.model import checkpoint as ckpt
from momug.model.config import MoMugConfig
from momug.model.config import check_questions
from momug.model.prompt_reading import MOTION_QUESTIONS, PromptReader

QUESTIONS = ("Q: {prompt} A:", "How fast is it when {prompt}? Answer:")


@pytest.fixture(scope="module")
def model(live_adapter_model):
    return live_adapter_model("all", questions=QUESTIONS)


def answer_state_alone(model, question: str, prompt: str) -> torch.Tensor:
    """The base model's last hidden state for one filled template, run on its own (no padding)."""
    before, after = question.split("{prompt}")
    tok = model.tokenizer
    ids = model.bos + tok(before, add_special_tokens=False)["input_ids"] + model.text_ids(prompt) + \
        tok(after, add_special_tokens=False)["input_ids"]
    with torch.no_grad(), model.llm.disable_adapter():
        return model.backbone(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]


def test_each_answer_is_the_base_models_last_state_of_its_filled_template(model):
    prompts = ["a person jumps", "someone walks forward slowly and then waves", "x"]
    model.reader.clear()
    with model.llm.disable_adapter():
        states = model.reader.read(model.backbone, [model.text_ids(p) for p in prompts], model.device)
    H = model.lm.config.hidden_size
    assert states.shape == (3, 2 * H)
    for b, prompt in enumerate(prompts):  # batched with right padding, as alone
        for q, question in enumerate(QUESTIONS):
            alone = answer_state_alone(model, question, prompt)
            torch.testing.assert_close(states[b, q * H:(q + 1) * H], alone, rtol=2e-3, atol=2e-3)  # float16 cache


def test_the_answers_come_from_the_base_weights_whatever_the_adapter(model):
    """The model's LoRA B is noise here, so the adapter changes every state it touches."""
    ids = [model.text_ids("a person kicks with the left leg")]
    model.reader.clear()
    via_model = model.readings(ids)
    with torch.no_grad():
        adapted = model.backbone(input_ids=torch.tensor([model.bos + ids[0]])).last_hidden_state[0, -1]
        with model.llm.disable_adapter():
            base = model.backbone(input_ids=torch.tensor([model.bos + ids[0]])).last_hidden_state[0, -1]
    assert float((adapted - base).abs().max()) > 1e-3  # the adapter is live
    H = model.lm.config.hidden_size
    expected = torch.cat([answer_state_alone(model, q, "a person kicks with the left leg") for q in QUESTIONS])
    torch.testing.assert_close(via_model[0], model.reading_proj(expected), rtol=3e-3, atol=3e-3)
    assert via_model.shape == (1, H)


def test_each_distinct_prompt_is_read_once(model, monkeypatch):
    model.reader.clear()
    rows = []
    forward = type(model.backbone).forward

    def counting(self, *args, **kwargs):
        rows.append(kwargs["input_ids"].shape[0])
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(model.backbone), "forward", counting)
    a, b = model.text_ids("a person waves"), model.text_ids("a person claps")
    first = model.readings([a, b, a, None, []])
    assert rows == [1, 2, 1, 2]  # per question: its few-shot head once, then each distinct prompt once
    again = model.readings([b, a])
    assert rows == [1, 2, 1, 2]  # from the cache
    model.readings([model.text_ids("a person jumps")])
    assert rows == [1, 2, 1, 2, 1, 1]  # a new prompt: the heads' keys and values are kept
    torch.testing.assert_close(again, first[[1, 0]])


def test_rows_without_a_prompt_get_nothing_and_the_empty_prompt_the_bias_alone(model):
    with torch.no_grad():
        out = model.readings([model.text_ids("a person squats"), None, []])
    assert float(out[0].abs().sum()) > 0
    assert float(out[1].abs().sum()) == 0.0
    torch.testing.assert_close(out[2], model.reading_proj.bias.detach())


def test_the_reading_reaches_the_motion_and_a_fresh_projection_changes_nothing(live_adapter_model):
    read = live_adapter_model("motion", questions=QUESTIONS)
    fresh = live_adapter_model("motion")  # the same seeds: the same weights apart from reading_proj
    prompts, frames, seeds = ["a person waves", "a person sits"], [24, 24], [3, 4]
    made = read.sample(prompts, frames, seeds, guidance=2.0, steps=3)
    plain = fresh.sample(prompts, frames, seeds, guidance=2.0, steps=3)
    assert any(float((m - p).abs().max()) > 1e-4 for m, p in zip(made, plain))
    with torch.no_grad():
        read.reading_proj.weight.zero_()
        read.reading_proj.bias.zero_()
    for m, p in zip(read.sample(prompts, frames, seeds, guidance=2.0, steps=3), plain):
        torch.testing.assert_close(m, p)


def test_cached_sampling_equals_recompute_with_readings(model):
    args = (["a person jumps high", "someone turns left"], [20, 28], [0, 1])
    cached = model.sample(*args, guidance=2.5, steps=3)
    whole = model.sample(*args, guidance=2.5, steps=3, use_cache=False)
    for c, w in zip(cached, whole):
        torch.testing.assert_close(c, w, rtol=1e-4, atol=1e-4)


def test_checkpoints_keep_the_questions_and_their_projection(model, tmp_path):
    ckpt.save_pretrained(model, tmp_path / "m")
    loaded = ckpt.from_pretrained(tmp_path / "m")
    assert loaded.config.prompt_questions == list(QUESTIONS)
    torch.testing.assert_close(loaded.reading_proj.weight, model.reading_proj.weight)
    ids = [model.text_ids("a person jogs")]
    torch.testing.assert_close(loaded.readings(ids), model.readings(ids), rtol=3e-3, atol=3e-3)


def test_a_run_seeded_from_a_checkpoint_without_questions_starts_the_projection_fresh(live_adapter_model, tmp_path):
    ckpt.save_pretrained(live_adapter_model("all"), tmp_path / "plain")
    model = live_adapter_model("all", questions=QUESTIONS)
    fresh = ckpt.init_from(model, tmp_path / "plain")
    assert fresh == ["reading_proj.bias", "reading_proj.weight"]


def test_question_templates_are_checked():
    assert check_questions(QUESTIONS) == list(QUESTIONS)
    for bad in (["no placeholder"], ["{prompt} twice {prompt}"], "Q: {prompt}", [3]):
        with pytest.raises(MomugError):
            check_questions(bad)
    with pytest.raises(MomugError):
        MoMugConfig(base_model="tiny", prompt_questions=["nothing to fill"]).validate()
    old = {k: v for k, v in MoMugConfig().__dict__.items() if k != "prompt_questions"}
    assert MoMugConfig.from_dict(old).prompt_questions == []  # checkpoints from before


def test_the_shipped_questions_use_no_held_out_probe_phrase():
    from momug.eval.probes import HELD_OUT_PHRASES

    for question in MOTION_QUESTIONS:
        example_text = question.lower().replace("{prompt}", "")
        assert not [p for p in HELD_OUT_PHRASES if p in example_text]
    assert len(check_questions(MOTION_QUESTIONS)) == 2


def test_a_full_reader_cache_is_cleared_rather_than_grown():
    """PromptReader on its own: a full cache is cleared rather than grown."""
    from momug.model.base_llm import load_base_llm

    llm, tokenizer = load_base_llm("tiny")
    reader = PromptReader(["{prompt}!"], tokenizer, [tokenizer.bos_token_id], max_cached=2)
    ids = [tokenizer("a", add_special_tokens=False)["input_ids"], tokenizer("b c", add_special_tokens=False)["input_ids"]]
    reader.read(llm.model, ids, "cpu")
    assert len(reader._cache) == 2
    reader.read(llm.model, [tokenizer("d", add_special_tokens=False)["input_ids"]], "cpu")
    assert len(reader._cache) == 1


def test_reading_only_rows_keep_the_answers_and_drop_the_words(model):
    """[train] reading_only_fraction: the Collator withholds a prompted t2m row's words (text_ids [])
    and keeps them as reading_ids; training then reads the answers about them, not the empty prompt."""
    from momug.train.loop import Collator

    caption = "a person kicks."
    batch = [(torch.zeros(16, model.config.feature_dim), caption)] * 40
    ids = model.text_ids(caption)
    plain = Collator(model, 0.25, 0.0, seed=0)(batch)
    assert all(i["text_ids"] == ids and "reading_ids" not in i for i in plain)
    mixed = Collator(model, 0.25, 0.2, seed=0, reading_only_fraction=0.5)(batch)
    # the rows dropped for guidance are the ones drawn without reading-only rows
    before = Collator(model, 0.25, 0.2, seed=0)(batch)
    assert [not i["text_ids"] for i in before] == [not i["text_ids"] and "reading_ids" not in i for i in mixed]
    t2m = [i for i in mixed if i["task"] == "t2m"]
    only = [i for i in t2m if "reading_ids" in i]
    dropped = [i for i in t2m if not i["text_ids"] and "reading_ids" not in i]
    assert only and dropped and len(only) + len(dropped) < len(t2m)
    assert all(i["text_ids"] == [] and i["reading_ids"] == ids for i in only)
    assert all("reading_ids" not in i for i in mixed if i["task"] == "m2t")
    # the loss reads the answers about the withheld words: the same as a row given them
    row = dict(only[0], motion=torch.randn_like(only[0]["motion"]))
    seen = []
    readings = type(model).readings

    def spy(self, prompts):
        seen.append(prompts)
        return readings(self, prompts)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(model), "readings", spy)
        model.training_loss([row], generator=torch.Generator().manual_seed(0))
    assert seen == [[ids]]


ANSWERS = ("walk", "jump", "slow")


def test_with_answer_words_each_reading_is_the_base_models_distribution_over_them(live_adapter_model):
    model = live_adapter_model("all", questions=QUESTIONS, answers=ANSWERS)
    assert model.reading_proj.in_features == len(QUESTIONS) * len(ANSWERS)
    ids = [model.tokenizer(" " + w, add_special_tokens=False)["input_ids"][0] for w in ANSWERS]
    table = model.lm.get_output_embeddings().weight
    prompts = ["a person jumps", "someone walks forward slowly"]
    with model.llm.disable_adapter():
        read = model.reader.read(model.backbone, [model.text_ids(p) for p in prompts], model.device, table)
    for b, prompt in enumerate(prompts):
        for q, question in enumerate(QUESTIONS):
            logits = table[ids] @ answer_state_alone(model, question, prompt)
            expected = logits.softmax(dim=0)
            torch.testing.assert_close(read[b, q * 3:(q + 1) * 3], expected, rtol=3e-3, atol=3e-3)
    ckpt_model = model.readings([model.text_ids(prompts[0])])  # through the projection, to (1, H)
    assert ckpt_model.shape == (1, model.lm.config.hidden_size)


def test_answer_words_are_checked():
    from momug.model.config import check_answers
    from momug.model.prompt_reading import MOTION_ANSWERS

    assert check_answers(list(ANSWERS), QUESTIONS) == list(ANSWERS)
    for bad in (["two words"], ["walk", "walk"], [""], " walk", [3]):
        with pytest.raises(MomugError, match="prompt_answers|prompt answer"):
            check_answers(bad, QUESTIONS)
    with pytest.raises(MomugError, match="needs prompt_questions"):
        check_answers(["walk"], [])
    old = {k: v for k, v in MoMugConfig().__dict__.items() if k != "prompt_answers"}
    assert MoMugConfig.from_dict(old).prompt_answers == []  # checkpoints from before
    from momug.model.base_llm import load_base_llm

    _, tokenizer = load_base_llm("tiny")
    with pytest.raises(MomugError, match="'jumping-jack' is 3 tokens"):  # its logit is no one token's
        PromptReader(list(QUESTIONS), tokenizer, [tokenizer.bos_token_id], answers=["jumping-jack"])
    PromptReader(list(MOTION_QUESTIONS), tokenizer, [tokenizer.bos_token_id], answers=list(MOTION_ANSWERS))
