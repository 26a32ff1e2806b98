"""General text for the language-kept loss: sampling from the base model, reading, windows."""

import json

import pytest

pytest.importorskip("torch")

from momug.data.general_text import GeneralTextWindows, read_general_text, write_general_text  # noqa: E402
from momug.errors import MomugError  # noqa: E402
from momug.model.base_llm import build_tiny_tokenizer  # noqa: E402


def test_samples_from_the_base_model_are_written_as_json_lines(tmp_path):
    out = tmp_path / "g.jsonl"
    summary = write_general_text(out, "tiny", per_opening=2, max_new_tokens=10, seed=1, progress=False)
    texts = read_general_text(out)
    assert summary["count"] == len(texts) > 40  # 2 per opening, minus any empty sample
    assert len(set(texts)) > len(texts) // 2    # sampled, not one repeated string
    again = tmp_path / "again.jsonl"
    write_general_text(again, "tiny", per_opening=2, max_new_tokens=10, seed=1, progress=False)
    assert read_general_text(again) == texts    # the seed fixes the file


def test_windows_are_crops_of_the_requested_length():
    tok = build_tiny_tokenizer()
    texts = ["a person walks forward then turns left and waves with both hands " * 3, "jumps"]
    windows = GeneralTextWindows(texts, tok, tokens=6, seed=0)
    seen = [windows.sample() for _ in range(20)]
    long_ids = tok(texts[0], add_special_tokens=False)["input_ids"]
    for ids in seen:
        assert 2 <= len(ids) <= 6
        if len(ids) == 6:
            assert any(long_ids[i:i + 6] == ids for i in range(len(long_ids) - 5))
    assert len({tuple(s) for s in seen}) > 3


@pytest.mark.parametrize("body, message", [
    ("", "has no texts"),
    ('{"words": "x"}\n', "text"),
    ("not json\n", "JSON line"),
])
def test_unusable_files_are_clear_errors(tmp_path, body, message):
    path = tmp_path / "g.jsonl"
    path.write_text(body)
    with pytest.raises(MomugError, match=message):
        read_general_text(path)
    with pytest.raises(MomugError, match="cannot read"):
        read_general_text(tmp_path / "missing.jsonl")


def test_a_users_own_text_file_works(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in ["one line of prose.", "another one."]) + "\n")
    assert read_general_text(path) == ["one line of prose.", "another one."]
