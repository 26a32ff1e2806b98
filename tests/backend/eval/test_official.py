"""Guo et al.'s evaluator is never shipped: only the file handling is tested (clear errors, no
unpickling), plus the loader on random weights of made-up small sizes."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from momug.errors import MomugError  # noqa: E402
from momug.eval import official  # noqa: E402
from momug.eval.matching import load_evaluator  # noqa: E402


def glove_dir(tmp_path, words=("unk", "sos", "eos", "person", "walk", "left")):
    g = tmp_path / "glove"
    g.mkdir()
    np.save(g / "our_vab_data.npy", np.random.default_rng(0).normal(size=(len(words), 8)).astype(np.float32))
    (g / "our_vab_words.pkl").write_bytes(pickle.dumps(list(words)))
    return g


def test_both_folders_are_required(tmp_path):
    with pytest.raises(MomugError, match="both"):
        load_evaluator(official=tmp_path)


def test_missing_folders_and_files_are_clear_errors(tmp_path):
    with pytest.raises(MomugError, match="does not exist"):
        load_evaluator(official=tmp_path / "t2m", glove=tmp_path / "glove")
    (tmp_path / "t2m").mkdir()
    g = glove_dir(tmp_path)
    with pytest.raises(MomugError, match="finest.tar"):
        load_evaluator(official=tmp_path / "t2m", glove=g)
    (g / "our_vab_data.npy").unlink()
    (tmp_path / "t2m" / "finest.tar").write_bytes(b"not a checkpoint")
    with pytest.raises(MomugError, match="our_vab_data.npy"):
        load_evaluator(official=tmp_path / "t2m", glove=g)


def test_an_unreadable_tar_is_refused_with_weights_only(tmp_path):
    bad = tmp_path / "finest.tar"
    bad.write_bytes(b"garbage")
    with pytest.raises(MomugError, match="weights_only"):
        official.read_weights(bad)


class Sneaky:
    pass


def test_word_list_unpickler_refuses_classes(tmp_path):
    g = tmp_path / "g"
    g.mkdir()
    (g / "our_vab_words.pkl").write_bytes(pickle.dumps([Sneaky()]))
    with pytest.raises(MomugError, match="plain list"):
        official.read_word_list(g)


def test_loader_on_random_small_weights(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    D = 263
    parts = {"movement_encoder": official._MovementEncoder(D - 4, 16, 12),
             "motion_encoder": official._BiGRUEncoder(12, 10, 6),
             "text_encoder": official._BiGRUEncoder(8, 10, 6, pos_dim=len(official.POS_SLOTS))}
    flat = {f"{g}.{k}": v.contiguous() for g, m in parts.items() for k, v in m.state_dict().items()}
    root = tmp_path / "t2m" / "text_mot_match" / "model"
    root.mkdir(parents=True)
    save_file(flat, str(root / "finest.safetensors"))
    meta = tmp_path / "t2m" / "Comp_v6_KLD01" / "meta"
    meta.mkdir(parents=True)
    np.save(meta / "mean.npy", np.zeros(D, np.float32))
    np.save(meta / "std.npy", np.ones(D, np.float32))
    ev = load_evaluator(official=tmp_path / "t2m", glove=glove_dir(tmp_path))
    assert ev.comparable_with_literature and ev.feature_dim == D
    t = ev.embed_texts(["a person walks left"], ["a/DET person/NOUN walk/VERB left/ADJ"])
    m = ev.embed_motions([np.zeros((40, D), np.float32), np.ones((17, D), np.float32)])
    assert t.shape == (1, 6) and m.shape == (2, 6)
    # untagged captions are tagged on the fly
    assert ev.embed_texts(["a person walks left"]).shape == (1, 6)


def test_word_vectors_use_the_important_word_groups(tmp_path):
    wv = official.WordVectors(glove_dir(tmp_path))
    _, pos = wv("left/ADJ")
    assert official.POS_SLOTS[int(pos.argmax())] == "Loc_VIP"
    vec, pos = wv("zebra/NOUN")
    np.testing.assert_array_equal(vec, wv.vectors[wv.index["unk"]])
    assert official.POS_SLOTS[int(pos.argmax())] == "OTHER"
    words, pos, n = wv.sentence("a/DET person/NOUN")
    assert words.shape == (22, 8) and pos.shape == (22, 15) and n == 4
