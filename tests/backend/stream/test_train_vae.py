import json

import pytest

pytest.importorskip("tqdm")

from momug.cli import main  # noqa: E402
from momug.data.synth.writer import write_corpus  # noqa: E402
from momug.stream import vae as V  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(out, 24, seed=5, workers=1, progress=False)
    return out


def rows(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_train_vae_command_writes_metrics_and_resumes(tmp_path, corpus, capsys):
    out = tmp_path / "vae"
    assert main(["stream", "train-vae", "--data", str(corpus), "-o", str(out), "--steps", "50",
                 "--batch-size", "4", "--window", "32", "--quiet"]) == 0
    first = rows(out)
    assert [r["step"] for r in first if r["event"] == "train"] == [50]
    val = [r for r in first if r["event"] == "val"]
    assert val[-1]["step"] == 50 and val[-1]["mpjpe_mm"] > 0
    assert V.from_pretrained(out).config.latent_dim == 32
    # A rerun with more steps continues from step 50 instead of starting over.
    assert main(["stream", "train-vae", "--data", str(corpus), "-o", str(out), "--steps", "100",
                 "--batch-size", "4", "--window", "32", "--quiet"]) == 0
    steps = [r["step"] for r in rows(out) if r["event"] == "train"]
    assert steps == [50, 100]
    # --restart starts over, with a fresh metrics log.
    assert main(["stream", "train-vae", "--data", str(corpus), "-o", str(out), "--steps", "50",
                 "--batch-size", "4", "--window", "32", "--quiet", "--restart"]) == 0
    assert [r["step"] for r in rows(out) if r["event"] == "train"] == [50]

    capsys.readouterr()
    report = tmp_path / "eval.json"
    assert main(["stream", "eval-vae", "--checkpoint", str(out), "--data", str(corpus), "--split", "test",
                 "--json", str(report)]) == 0
    assert "MPJPE" in capsys.readouterr().out
    res = json.loads(report.read_text())
    assert res["split"] == "test" and res["mpjpe_mm"] > 0 and res["clips"] > 0


def test_training_lowers_the_reconstruction_loss(tmp_path, corpus):
    import numpy as np
    import torch

    from momug.data.humanml3d import MotionTextFolder
    from momug.stream.train_vae import sample_batch, train_vae

    folder = MotionTextFolder(corpus, "train")
    x, mask = sample_batch(folder, np.random.default_rng(0), 16, 32)

    def recon(vae):
        with torch.no_grad():
            return float(vae.eval().loss(x, mask, generator=torch.Generator().manual_seed(0))["recon"])

    torch.manual_seed(0)
    before = recon(V.MotionVAE(V.VAEConfig(), folder.mean, folder.std))
    out = train_vae(corpus, tmp_path / "v", steps=200, batch_size=8, window=32, val_every=1000, progress=False)
    assert recon(V.from_pretrained(out)) < 0.5 * before


def test_bad_input_is_a_user_error(tmp_path, capsys):
    assert main(["stream", "train-vae", "--data", str(tmp_path), "-o", str(tmp_path / "o"), "--steps", "1"]) == 2
    assert "HumanML3D-format" in capsys.readouterr().err
    assert main(["stream", "eval-vae", "--checkpoint", str(tmp_path), "--data", str(tmp_path)]) == 2
    assert main(["stream"]) == 2
