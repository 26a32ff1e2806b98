import numpy as np
import pytest

from momug.errors import MomugError
from momug.eval import metrics


def test_distances_match_hand_values():
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    b = np.array([[0.0, 0.0], [0.0, 4.0]])
    np.testing.assert_allclose(metrics.distances(a, b), [[0, 4], [5, 3]], atol=1e-9)


def test_top_k_hits_counts_rank_of_own_column():
    # row 0: own column nearest; row 1: own column second; row 2: own column third
    dist = np.array([[0.0, 1, 2], [0.0, 1, 2], [0.0, 1, 2]])
    np.testing.assert_array_equal(metrics.top_k_hits(dist, 3), [1, 2, 3])


def test_matching_perfect_pairs_and_a_swap():
    e = np.eye(4)
    out = metrics.matching(e, e, batch_size=4)
    assert out["top1"] == out["top3"] == 1.0 and out["mm_dist"] == pytest.approx(0.0)
    swapped = e[[1, 0, 2, 3]]  # texts 0 and 1 find each other's motion first
    out = metrics.matching(e, swapped, batch_size=4)
    assert out["top1"] == 0.5 and out["top2"] == 1.0
    assert out["mm_dist"] == pytest.approx(2 * np.sqrt(2) / 4)


def test_matching_drops_the_incomplete_last_batch():
    e = np.eye(5)
    out = metrics.matching(e, e[[1, 0, 2, 3, 4]], batch_size=2, rng=None)
    # batches (0,1) and (2,3) are used; row 4 is left out
    assert out["top1"] == 0.5


def test_fid_identical_sets_is_zero_and_a_shift_costs_its_squared_length():
    x = np.random.default_rng(0).normal(size=(500, 6))
    assert metrics.fid(x, x) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, 2.0, 0, 0, 0, 0])
    assert metrics.fid(x, x + shift) == pytest.approx(5.0, abs=1e-5)


def test_fid_needs_two_rows():
    with pytest.raises(MomugError):
        metrics.fid(np.zeros((1, 3)), np.zeros((4, 3)))


def test_diversity_of_identical_points_is_zero_and_scales():
    assert metrics.diversity(np.ones((400, 3))) == 0.0
    x = np.random.default_rng(1).normal(size=(400, 3))
    d1 = metrics.diversity(x, rng=np.random.default_rng(5))
    d2 = metrics.diversity(2 * x, rng=np.random.default_rng(5))
    assert d2 == pytest.approx(2 * d1)


def test_diversity_with_two_points_one_pair_each_way():
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    # 2 rows: both draws are permutations of (0, 1); mean distance is 0 or 5
    assert metrics.diversity(x, pairs=300) in (0.0, 2.5, 5.0)


def test_multimodality():
    assert metrics.multimodality(np.ones((3, 5, 4))) == 0.0
    g = np.random.default_rng(2).normal(size=(3, 5, 4))
    a = metrics.multimodality(g, rng=np.random.default_rng(9))
    b = metrics.multimodality(3 * g, rng=np.random.default_rng(9))
    assert b == pytest.approx(3 * a) and a > 0
    with pytest.raises(MomugError):
        metrics.multimodality(np.ones((3, 1, 4)))


def test_interval_is_mean_and_normal_half_width():
    out = metrics.interval([1.0, 2.0, 3.0])
    assert out["mean"] == 2.0 and out["n"] == 3
    assert out["ci95"] == pytest.approx(1.96 * np.std([1, 2, 3]) / np.sqrt(3))
    assert metrics.interval([4.0])["ci95"] == 0.0


def test_summarize_runs_keeps_shared_keys():
    out = metrics.summarize_runs([{"a": 1.0, "b": 2.0}, {"a": 3.0}])
    assert set(out) == {"a"} and out["a"]["mean"] == 2.0
