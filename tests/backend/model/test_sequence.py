import torch

from momug.model import sequence as seq

SPECIAL = {"som": 0, "eom": 1, "timestep": 2, "caption": 3}


def layout():
    m1 = torch.zeros(3, 5)
    m2 = torch.zeros(2, 5)
    return seq.pack([
        [seq.Text([7, 8]), seq.Special("som"), seq.Motion(m1, 5)],
        [seq.Text([9]), seq.Motion(m2, 0), seq.Special("eom"), seq.Text([4, 4])],
    ], SPECIAL)


def test_pack_positions_kinds_and_padding():
    lay = layout()
    assert lay.kind.shape == (2, 6)
    assert lay.lengths.tolist() == [6, 6]
    assert lay.kind[0].tolist() == [1, 1, 2, 3, 3, 3]
    assert lay.timestep[0, 3:].tolist() == [5, 5, 5]
    assert [(b, s) for b, s, _ in lay.motion] == [(0, 3), (1, 1)]
    short = seq.pack([[seq.Text([1])], [seq.Text([1, 2, 3])]], SPECIAL, start_positions=[10, 20])
    assert short.valid.tolist() == [[True, False, False], [True, True, True]]
    assert short.position[1].tolist() == [20, 21, 22]


def test_text_is_causal_and_motion_block_is_bidirectional():
    ok = seq.allowed(layout(), bidirectional=True)
    # text token 0 cannot see text token 1
    assert not ok[0, 0, 1] and ok[0, 1, 0]
    # first motion position sees the last motion position (same block) and the text before it
    assert ok[0, 3, 5] and ok[0, 3, 0]
    # text after the motion block sees the motion causally; motion does not see later text
    assert ok[1, 4, 1] and not ok[1, 1, 4]
    causal = seq.allowed(layout(), bidirectional=False)
    assert not causal[0, 3, 5]


def test_padding_is_never_a_key():
    lay = seq.pack([[seq.Text([1])], [seq.Text([1, 2, 3])]], SPECIAL)
    ok = seq.allowed(lay)
    assert not ok[0, 2, 1]          # padded query (row) does not see other padding
    assert ok[0, 1, 1] and ok[0, 2, 2]  # but sees itself, so no softmax row is empty
    assert not ok[0, 0, 1:].any()  # the valid query never attends to padding
    mask = seq.additive_mask(ok, torch.float32)
    assert mask.shape == (2, 1, 3, 3)
    assert mask[0, 0, 0, 1] == torch.finfo(torch.float32).min and mask[0, 0, 0, 0] == 0


def test_concat_shifts_motion_offsets():
    a = seq.pack([[seq.Text([1, 2])]], SPECIAL)
    b = seq.pack([[seq.Special("timestep", 3), seq.Motion(torch.zeros(2, 5), 3)]], SPECIAL, start_positions=[2])
    full = seq.concat(a, b)
    assert full.motion[0][1] == 3
    assert full.position[0].tolist() == [0, 1, 2, 3, 4]
