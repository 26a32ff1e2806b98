"""Every training config in configs/ parses with the loader its command uses (no training)."""

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("torch")

from momug.stream.train_ar import load_stream_config  # noqa: E402
from momug.train.config import load_train_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))
# Candidates that were trained and evaluated but not shipped keep their config beside their results.
CANDIDATES = sorted((ROOT / "docs" / "results").glob("*/config.toml"))


@pytest.mark.parametrize("path", CONFIGS + CANDIDATES, ids=[str(p.relative_to(ROOT)) for p in CONFIGS + CANDIDATES])
def test_config_parses(path):
    if path.name.startswith("stream"):
        cfg = load_stream_config(path)
        assert cfg.model.kind == "stream" and cfg.train.max_steps > 0
    else:
        cfg = load_train_config(path)
        assert cfg.train.max_steps > 0
    assert cfg.data and cfg.output


def test_stage_one_pins_the_settings_it_was_trained_with():
    stage1 = load_train_config(CONFIGS[0].parent / "default.toml")
    stage2 = load_train_config(CONFIGS[0].parent / "default_stage2.toml")
    assert (stage1.model.noise_shift, stage1.model.prompt_summary) == (1.0, False)
    assert stage2.init_from and stage2.init_from.endswith("runs/default")
    assert stage2.model.noise_shift == 4.0 and stage2.model.prompt_summary


def test_stage_three_replays_general_text_from_stage_two():
    stage3 = load_train_config(CONFIGS[0].parent / "default_stage3.toml")
    assert stage3.init_from and stage3.init_from.endswith("runs/default_stage2")
    assert stage3.general_text and stage3.train.text_rows > 0 and stage3.train.root_loss_weight > 1


def test_stage_four_matches_the_base_model_on_general_text():
    stage4 = load_train_config(CONFIGS[0].parent / "default_stage4.toml")
    assert stage4.init_from.endswith("runs/default_stage3") and stage4.train.text_target == "kl"


def test_stream_stage_two_retrains_the_shipped_stream_model_with_text_dropout():
    shipped = load_stream_config(CONFIGS[0].parent / "stream_default.toml")
    stage2 = load_stream_config(CONFIGS[0].parent / "stream_stage2.toml")
    # The shipped model trained without dropout and streams unguided.
    assert shipped.train.text_dropout == 0.0 and shipped.model.guidance == 1.0 and shipped.init_from is None
    assert stage2.init_from and stage2.init_from.endswith("backend/momug/checkpoints/stream_default")
    assert stage2.model == shipped.model   # the same architecture, so its tensors load
    assert stage2.train.text_dropout == 0.1 and stage2.train.learning_rate == 5e-4
    assert (stage2.train.warmup_steps, stage2.train.max_steps, stage2.train.save_every, stage2.train.val_every) == \
        (50, 3000, 25, 100)
    assert stage2.output.endswith("runs/stream_stage2") and stage2.data.endswith("corpus")


@pytest.mark.parametrize("stage, change", [
    (4, {"prompt_summary": True}),                            # a prompt summary for the heads
    (5, {"latent_noise": 0.5}),                               # noisier context
    (6, {"context_dropout": 0.3}),                            # blanked context
    (7, {"length_conditioning": 50, "length_dropout": 0.2}),  # told the motion's length
    (8, {"continuation_fraction": 0.3}),                      # continuation rows
])
def test_stream_stages_after_three_change_one_thing(stage, change):
    stage3 = load_stream_config(CONFIGS[0].parent / "stream_stage3.toml")
    later = load_stream_config(CONFIGS[0].parent / f"stream_stage{stage}.toml")
    # One change, so the curves compare step for step.
    model_change = {k: v for k, v in change.items() if hasattr(stage3.model, k)}
    assert later.model == dataclasses.replace(stage3.model, **model_change)
    assert later.train == dataclasses.replace(stage3.train, **{k: change[k] for k in change.keys() - model_change})
    assert (later.data, later.init_from) == (stage3.data, stage3.init_from)


def test_part_ten_is_part_eight_with_scene_context():
    part8 = load_train_config(CONFIGS[0].parent / "motion_scope_stage8.toml")
    part10 = load_train_config(CONFIGS[0].parent / "motion_scope_stage10.toml")
    assert part8.train.context_fraction == 0.0 and part10.train.context_fraction == 0.3
    assert part10.init_from.endswith("checkpoints_in_training/motion_scope_stage8")
    assert part10.model == part8.model and (part10.data, part10.train.split) == (part8.data, part8.train.split)


def test_context_fraction_is_range_checked(tmp_path):
    from momug.errors import MomugError

    bad = tmp_path / "bad.toml"
    bad.write_text((CONFIGS[0].parent / "motion_scope_stage10.toml").read_text()
                   .replace("context_fraction = 0.3", "context_fraction = 1.3"))
    with pytest.raises(MomugError, match="context_fraction must be between 0 and 1"):
        load_train_config(bad)


def test_part_eleven_is_part_eight_with_onset_windows():
    part8 = load_train_config(CONFIGS[0].parent / "motion_scope_stage8.toml")
    part11 = load_train_config(CONFIGS[0].parent / "motion_scope_stage11.toml")
    assert part11.train.split == "train_mirrored_steady_onset" and part11.train.context_fraction == 0.0
    assert part11.init_from.endswith("checkpoints_in_training/motion_scope_stage8")
    assert part11.model == part8.model and part11.data == part8.data


def test_part_twenty_is_part_eleven_reading_the_prompt_through_questions(tmp_path):
    from momug.errors import MomugError
    from momug.model.prompt_reading import MOTION_QUESTIONS

    part11 = load_train_config(CONFIGS[0].parent / "motion_scope_stage11.toml")
    path = CONFIGS[0].parent / "motion_scope_stage20.toml"
    part20 = load_train_config(path)
    assert part20.model.prompt_questions == list(MOTION_QUESTIONS)  # "motion": the shipped questions by name
    assert dataclasses.replace(part20.model, prompt_questions=[]) == part11.model
    assert part20.train.reading_only_fraction == 0.25 and part11.train.reading_only_fraction == 0.0
    assert (part20.data, part20.train.split) == (part11.data, part11.train.split)
    assert part20.init_from.endswith("checkpoints_in_training/motion_scope_stage11")
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace("reading_only_fraction = 0.25", "reading_only_fraction = 2"))
    with pytest.raises(MomugError, match="reading_only_fraction must be between 0 and 1"):
        load_train_config(bad)
    bad.write_text(path.read_text().replace('prompt_questions = "motion"', ""))
    with pytest.raises(MomugError, match="reading_only_fraction needs"):
        load_train_config(bad)


def test_part_twenty_one_trains_only_the_answers_projection_of_part_twenty():
    part20 = load_train_config(CONFIGS[0].parent / "motion_scope_stage20.toml")
    part21 = load_train_config(CONFIGS[0].parent / "motion_scope_stage21.toml")
    assert part21.model == part20.model and part21.init_from == part20.init_from
    assert part21.train.train_only == ["reading_proj"] and part20.train.train_only == []
    assert part21.train.caption_fraction == 0.0 and part21.train.reading_only_fraction == 0.5


def test_part_twenty_two_is_part_twenty_one_with_answer_distributions():
    from momug.model.prompt_reading import MOTION_ANSWERS

    part21 = load_train_config(CONFIGS[0].parent / "motion_scope_stage21.toml")
    part22 = load_train_config(CONFIGS[0].parent / "motion_scope_stage22.toml")
    assert part22.model.prompt_answers == list(MOTION_ANSWERS)  # "motion": the shipped words by name
    assert dataclasses.replace(part22.model, prompt_answers=[]) == part21.model
    assert part22.train == part21.train and part22.init_from == part21.init_from


def test_parts_twenty_three_and_four_are_part_elevens_recipe_on_the_undirected_copies():
    part11 = load_train_config(CONFIGS[0].parent / "motion_scope_stage11.toml")
    part23 = load_train_config(CONFIGS[0].parent / "motion_scope_stage23.toml")
    part24 = load_train_config(CONFIGS[0].parent / "motion_scope_stage24.toml")
    assert part23.model == part11.model == part24.model and part23.data == part11.data
    assert part23.train.split == "train_mirrored_steady_onset_undirected"  # momug data undirected's list
    assert part24.train.split == "train_mirrored_steady_onset_undirected2"
    assert part23.init_from.endswith("checkpoints_in_training/motion_scope_stage11")
    assert part24.init_from.endswith("checkpoints_in_training/motion_scope_stage23")
    same = ("batch_size", "caption_fraction", "text_dropout", "root_loss_weight", "warmup_steps")
    assert all(getattr(p.train, k) == getattr(part11.train, k) for p in (part23, part24) for k in same)
