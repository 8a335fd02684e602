"""Validated boundaries of the trajectory inputs: each bad input stops with an error (or,
for an incomplete last frame, a warning and a recorded count) naming the file, the frame or
line, and the problem. Also: the deprecated ``timestep_ps`` keyword warns."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from lidiff_helpers.analysis import hops
from lidiff_helpers.analysis.diffusion import diffusion_coefficient, msd
from lidiff_helpers.core.errors import ParameterError, TrajectoryError, WrappedTrajectoryError
from lidiff_helpers.io import lammps_dump
from lidiff_helpers.io.loading import load_trajectory
from lidiff_helpers.io.trajectory import (
    IncompleteFrameWarning,
    TrajectoryWriter,
    open_trajectory,
)
from lidiff_helpers.synthetic.trajectories import synthetic_interstitial_run

NUMBERS = [3, 3, 9, 9]
CELL = np.eye(3) * 10.0


def _walk(n_frames=60, n_atoms=4, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(scale=0.05, size=(n_frames, n_atoms, 3)), axis=0) + 5.0


def _write(path, n_frames=5):
    x = _walk(n_frames)
    with TrajectoryWriter(path, NUMBERS, CELL, 0.1) as w:
        for i, frame in enumerate(x):
            w.append(frame, 0.1 * i)
    return x


def _edit_header(path, **changes):
    meta = json.loads((path / "meta.json").read_text())
    for k, v in changes.items():
        if v is None:
            meta.pop(k)
        else:
            meta[k] = v
    (path / "meta.json").write_text(json.dumps(meta))


def _named(path) -> str:
    return re.escape(str(path))


# ---------------------------------------------------------------- lidiff trajectory files


@pytest.mark.parametrize("key", ["numbers", "n_atoms", "cell_A", "format", "frame_interval_ps"])
def test_header_missing_key_names_file_and_key(tmp_path, key):
    _write(tmp_path / "t")
    _edit_header(tmp_path / "t", **{key: None})
    with pytest.raises(TrajectoryError, match=_named(tmp_path / "t" / "meta.json") + ".*lacks.*"
                       + key):
        open_trajectory(tmp_path / "t")


def test_header_n_atoms_disagreeing_with_numbers(tmp_path):
    _write(tmp_path / "t")
    _edit_header(tmp_path / "t", n_atoms=5)
    with pytest.raises(TrajectoryError, match=_named(tmp_path / "t" / "meta.json")
                       + r".*n_atoms = 5 but numbers lists 4 atoms"):
        open_trajectory(tmp_path / "t")


def test_unknown_format_refused(tmp_path):
    _write(tmp_path / "t")
    _edit_header(tmp_path / "t", format="lidiff-trajectory-99")
    with pytest.raises(TrajectoryError, match=_named(tmp_path / "t" / "meta.json")
                       + r".*unknown format 'lidiff-trajectory-99'"):
        open_trajectory(tmp_path / "t")


def test_format_1_header_with_timestep_ps_still_reads(tmp_path):
    x = _write(tmp_path / "t")
    meta = json.loads((tmp_path / "t" / "meta.json").read_text())
    meta["format"] = "lidiff-trajectory-1"
    meta["timestep_ps"] = meta.pop("frame_interval_ps")
    (tmp_path / "t" / "meta.json").write_text(json.dumps(meta))
    tr = open_trajectory(tmp_path / "t")
    assert tr.frame_interval_ps == pytest.approx(0.1) and tr.n_frames == 5
    np.testing.assert_allclose(tr.positions_A, x, atol=1e-5)
    # a format-1 header without its frame interval names the key it lacks
    del meta["timestep_ps"]
    (tmp_path / "t" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(TrajectoryError, match="lacks 'timestep_ps'"):
        open_trajectory(tmp_path / "t")


@pytest.mark.parametrize("part, n_bytes", [("positions.bin", 20), ("time_ps.bin", 4),
                                           ("time_ps.bin", 8)])
def test_incomplete_last_frame_is_reported_not_dropped_silently(tmp_path, part, n_bytes):
    _write(tmp_path / "t", n_frames=5)
    with open(tmp_path / "t" / part, "ab") as f:
        f.write(b"\0" * n_bytes)  # a writer killed inside frame 5
    with pytest.warns(IncompleteFrameWarning, match=_named(tmp_path / "t") + ": frame 5 is "
                      "incomplete"):
        tr = open_trajectory(tmp_path / "t")
    assert tr.n_frames == 5 and tr.n_incomplete_frames == 1
    with pytest.raises(TrajectoryError, match=_named(tmp_path / "t") + ": frame 5 is incomplete"):
        open_trajectory(tmp_path / "t", strict=True)
    # resuming the writer repairs it: no warning afterwards
    TrajectoryWriter(tmp_path / "t", NUMBERS, CELL, 0.1).close()
    assert open_trajectory(tmp_path / "t", strict=True).n_frames == 5


def test_complete_file_gives_no_warning(tmp_path, recwarn):
    _write(tmp_path / "t")
    assert open_trajectory(tmp_path / "t").n_incomplete_frames == 0
    assert not [w for w in recwarn if issubclass(w.category, IncompleteFrameWarning)]


# ---------------------------------------------------------------- LAMMPS dumps

GOOD_FRAME = """ITEM: TIMESTEP
{step}
ITEM: NUMBER OF ATOMS
2
ITEM: BOX BOUNDS pp pp pp
0.0 10.0
0.0 10.0
0.0 10.0
ITEM: ATOMS id type xu yu zu
1 1 1.0 1.0 1.0
2 2 5.0 5.0 5.0
"""


def _dump(tmp_path, frames: list[str]):
    p = tmp_path / "dump.lammpstrj"
    p.write_text("".join(frames))
    return p


@pytest.mark.parametrize("bad, line, problem", [
    (GOOD_FRAME.replace("{step}", "1OO"), 13, r"malformed step line b'1OO'"),
    (GOOD_FRAME.format(step=100).replace("0.0 10.0\n0.0 10.0\n0.0 10.0",
                                          "0.0 10.0\n0.0 ten\n0.0 10.0"), 18,
     r"malformed box bounds line b'0.0 ten' for y"),
    (GOOD_FRAME.format(step=100).replace("0.0 10.0\n0.0 10.0\n0.0 10.0",
                                          "0.0 10.0\n0.0\n0.0 10.0"), 18,
     r"malformed box bounds line b'0.0' for y"),
    (GOOD_FRAME.format(step=100).replace("2 2 5.0 5.0 5.0", "2 2 5.0 5,0 5.0"), 22,
     r"malformed atom line b'2 2 5.0 5,0 5.0'"),
    (GOOD_FRAME.format(step=100).replace("2 2 5.0 5.0 5.0", "2 2 5.0 5.0"), 22,
     r"malformed atom line b'2 2 5.0 5.0'"),
    (GOOD_FRAME.format(step=100).replace("1 1 1.0 1.0 1.0", "1 1 1.0 nan 1.0"), 21,
     r"non-finite value \(NaN or inf\)"),
    (GOOD_FRAME.format(step=100).replace("2 2 5.0 5.0 5.0\n", ""), 21,
     r"truncated frame \(1 of 2 atom lines\)"),
])
def test_lammps_dump_bad_lines_name_file_line_and_step(tmp_path, bad, line, problem):
    p = _dump(tmp_path, [GOOD_FRAME.format(step=0), bad])
    with pytest.raises(TrajectoryError, match=_named(p) + f", line {line}" + r".*" + problem):
        lammps_dump.read_lammps_dump(p, timestep_fs=1.0)


def test_lammps_step_named_in_atom_errors(tmp_path):
    bad = GOOD_FRAME.format(step=100).replace("1 1 1.0 1.0 1.0", "1 1 1.0 nan 1.0")
    p = _dump(tmp_path, [GOOD_FRAME.format(step=0), bad])
    with pytest.raises(TrajectoryError, match=r"line 21, step 100: non-finite"):
        lammps_dump.read_lammps_dump(p, timestep_fs=1.0)


def test_lammps_timestep_is_required_and_recorded(tmp_path):
    p = _dump(tmp_path, [GOOD_FRAME.format(step=s) for s in (0, 100, 200)])
    with pytest.raises(ParameterError, match=_named(p) + r".*pass timestep_fs"):
        lammps_dump.read_lammps_dump(p)
    with pytest.raises(ParameterError, match=_named(p) + r".*pass timestep_fs"):
        load_trajectory(p)
    with pytest.raises(ParameterError, match="timestep_fs must be a positive"):
        lammps_dump.read_lammps_dump(p, timestep_fs=-1.0)
    tr = lammps_dump.read_lammps_dump(p, timestep_fs=2.0)
    assert tr.info["timestep_fs"] == 2.0
    assert tr.frame_interval_ps == pytest.approx(0.2)  # 100 steps x 2 fs
    conv = lammps_dump.convert_lammps_dump(p, tmp_path / "conv", timestep_fs=2.0)
    assert conv.info["timestep_fs"] == 2.0 and conv.frame_interval_ps == pytest.approx(0.2)


# ---------------------------------------------------------------- diffusion_coefficient


def test_nan_positions_refused_naming_frame_and_atom(tmp_path):
    x = _walk(100)
    x[37, 2, 1] = np.nan
    with pytest.raises(TrajectoryError, match=r"positions array: non-finite position \(NaN or "
                       r"inf\) of atom 2 at frame 37"):
        diffusion_coefficient(x, frame_interval_ps=0.1, fit_window_ps=(0.3, 1.0))
    with TrajectoryWriter(tmp_path / "t", NUMBERS, CELL, 0.1) as w:
        for i, frame in enumerate(x):
            w.append(frame, 0.1 * i)
    with pytest.raises(TrajectoryError, match=_named(tmp_path / "t") + r": non-finite .* atom 2 "
                       "at frame 37"):
        diffusion_coefficient(tmp_path / "t", fit_window_ps=(0.3, 1.0))


@pytest.mark.parametrize("dt", [-0.1, 0.0, float("nan")])
def test_non_positive_frame_interval_refused_as_such(dt):
    with pytest.raises(ParameterError, match="frame_interval_ps must be a positive time"):
        diffusion_coefficient(_walk(100), frame_interval_ps=dt)
    with pytest.raises(ParameterError, match="frame_interval_ps must be a positive time"):
        msd(_walk(10), dt)


def test_too_few_frames_is_not_called_wrapped():
    x = _walk(12)
    with pytest.raises(TrajectoryError, match=r"positions array: 12 frames .*too few for an MSD "
                       r"fit with n_blocks = 5 \(need >= 20") as err:
        diffusion_coefficient(x, frame_interval_ps=0.1)
    assert not isinstance(err.value, WrappedTrajectoryError)


# ---------------------------------------------------------------- deprecated timestep_ps


def test_timestep_ps_keyword_still_works_and_warns(tmp_path):
    x = _walk(200)
    new = diffusion_coefficient(x, frame_interval_ps=0.1, fit_window_ps=(0.5, 3.0))
    with pytest.warns(DeprecationWarning, match="'timestep_ps' is deprecated, use "
                      "'frame_interval_ps'"):
        old = diffusion_coefficient(x, timestep_ps=0.1, fit_window_ps=(0.5, 3.0))
    assert old.D_cm2_s == new.D_cm2_s
    with pytest.warns(DeprecationWarning, match="timestep_ps"):
        assert old.timestep_ps == new.frame_interval_ps == pytest.approx(0.1)
    with pytest.warns(DeprecationWarning, match="timestep_ps"):
        msd(x, timestep_ps=0.1)
    with pytest.warns(DeprecationWarning, match="timestep_ps"):
        TrajectoryWriter(tmp_path / "t", NUMBERS, CELL, timestep_ps=0.1).close()
    assert open_trajectory(tmp_path / "t").frame_interval_ps == pytest.approx(0.1)
    with pytest.warns(DeprecationWarning, match="timestep_ps"):
        run = synthetic_interstitial_run(300, 0.0, duration_ps=1.0, n_cells=2, timestep_ps=0.5)
    assert run.frame_interval_ps == 0.5 and run.n_frames == 3
    with pytest.warns(DeprecationWarning, match="timestep_ps"), \
            pytest.raises(ParameterError, match="needs both the mobile species"):
        hops.detect_hops(run.positions_A(), timestep_ps=0.5)  # a bare array has no species
    with pytest.raises(ParameterError, match="pass frame_interval_ps only"):
        diffusion_coefficient(x, timestep_ps=0.1, frame_interval_ps=0.1)


def test_a_tuple_of_positions_and_interval_is_refused_with_what_is_accepted():
    """(positions, 0.1), as some MSD tools take it, is not a list of LAMMPS dumps."""
    import numpy as np

    from lidiff_helpers.analysis.diffusion import diffusion_coefficient
    from lidiff_helpers.core.errors import InputError

    pos = np.cumsum(np.random.default_rng(0).normal(0, 0.1, (50, 4, 3)), axis=0)
    with pytest.raises(InputError, match="tuple of float, ndarray.*LAMMPS dumps.*"
                                         "frame_interval_ps"):
        diffusion_coefficient((pos, 0.1))
    with pytest.raises(InputError, match="list of nothing"):
        diffusion_coefficient([])


def test_writer_notices_a_file_replaced_under_it_and_resume_refuses_missing_frames(tmp_path):
    """`git stash`/`git checkout` in a running folder replaces the trajectory files: the
    writer's frames then go to a deleted file. The next flush (every checkpoint) says so
    instead of letting a checkpoint count frames the directory does not hold; a resume
    whose checkpoint counts more frames than the files hold is refused, not padded."""
    path = tmp_path / "t"
    x = _walk(6)
    w = TrajectoryWriter(path, NUMBERS, CELL, 0.1)
    for i in range(3):
        w.append(x[i], 0.1 * i)
    w.flush()
    old = (path / "positions.bin").read_bytes()
    w.append(x[3], 0.3)
    (path / "stash.tmp").write_bytes(old)
    os.replace(path / "stash.tmp", path / "positions.bin")   # what git does to a tracked file
    with pytest.raises(TrajectoryError, match=r"positions\.bin: replaced or deleted while this "
                       r"run was writing"):
        w.flush()
    w._fpos.close(), w._ftime.close()
    with pytest.raises(TrajectoryError, match=r"3 complete frames on disk but the checkpoint "
                       r"was written after frame 4"):
        TrajectoryWriter(path, NUMBERS, CELL, 0.1, n_frames=4)
    w = TrajectoryWriter(path, NUMBERS, CELL, 0.1, n_frames=2)   # fewer: truncated, as before
    assert w.n_frames == 2
    w.close()
    assert open_trajectory(path).n_frames == 2


def test_writer_opened_by_relative_path_survives_a_change_of_directory(tmp_path, monkeypatch):
    """The replacement check compares the open files with their absolute paths: a run
    started in a relative folder may change directory (notebooks do) and still flush."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    x = _walk(2)
    w = TrajectoryWriter("t", NUMBERS, CELL, 0.1)
    w.append(x[0], 0.0)
    monkeypatch.chdir(tmp_path / "b")
    w.append(x[1], 0.1)
    w.close()
    assert open_trajectory(tmp_path / "a" / "t").n_frames == 2
