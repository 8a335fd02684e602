"""The one replay-frame rule: force filter, element filter, seeded subsets."""

import numpy as np
import pytest

from lidiff_helpers.io import data, replay


def test_force_filter_drops_the_outliers_and_records_them():
    every = replay.replay_frames(("train_900", "train_100", "valid_100"), max_force_eV_A=None)
    kept = replay.replay_frames(("train_900", "train_100", "valid_100"))
    forces = np.array([replay.largest_force_eV_A(a) for a in every.frames])
    assert len(every.frames) == 1100 and not every.dropped_force
    # the study's files hold 5 frames with |F| > 10 eV/A (37-197 eV/A)
    assert int((forces > replay.MAX_REPLAY_FORCE_EV_A).sum()) == len(kept.dropped_force) == 5
    assert len(kept.frames) == 1095 and kept.n_read == 1100
    assert max(f for _, f in kept.dropped_force) > 150.0
    assert all(replay.largest_force_eV_A(a) <= 10.0 for a in kept.frames)


def test_element_filter_keeps_only_known_elements():
    got = replay.replay_frames("valid_100", max_force_eV_A=None, elements=[3, 9])
    assert got.frames and all(set(a.numbers) <= {3, 9} for a in got.frames)
    assert got.dropped_elements == 100 - len(got.frames) > 0


def test_seeded_subset_is_reproducible_and_ordered():
    frames = list(range(50))
    a = replay.seeded_subset(frames, 10, seed=3)
    assert a == replay.seeded_subset(frames, 10, seed=3) == sorted(a) and len(set(a)) == 10
    assert a != replay.seeded_subset(frames, 10, seed=4)
    assert replay.seeded_subset(frames, None, 1) == frames == replay.seeded_subset(frames, 80, 1)
    with pytest.raises(ValueError, match="negative"):
        replay.seeded_subset(frames, -1, 0)


def test_unknown_key_is_named():
    with pytest.raises(data.DataError, match="train_42"):
        replay.replay_frames("train_42")
