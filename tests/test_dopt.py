"""D-optimality / MaxVol extrapolation grade (lidiff_helpers.analysis.dopt) and the MACE
descriptors it grades (lidiff_helpers.simulation.descriptors): known answers."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from lidiff_helpers.analysis.dopt import ActiveSet, extrapolation_grade, maxvol, select
from lidiff_helpers.core.errors import ParameterError

TINY = Path(__file__).parent / "models" / "tiny-lif.model"


def _absdet(x, rows):
    return abs(np.linalg.det(x[list(rows)]))


# ----------------------------------------------------------------------------- maxvol

@pytest.mark.parametrize("seed", range(10))
def test_maxvol_finds_the_global_maximum_12x3(seed):
    # Not guaranteed in general (see the 20x4 test); observed for these seeds, pinned here.
    x = np.random.default_rng(seed).normal(size=(12, 3))
    res = maxvol(x, tol=1.0)
    best = max(_absdet(x, c) for c in itertools.combinations(range(12), 3))
    assert _absdet(x, res.indices) == pytest.approx(best, rel=1e-12)
    assert res.logabsdet == pytest.approx(np.log(best), abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_maxvol_is_dominant_and_within_hadamard_bound_20x4(seed):
    # MaxVol with tol=1 guarantees a local maximum: no single row swap increases |det|
    # (checked by brute force), and |det| >= r^(-r/2) of the global maximum. It is not always
    # the global one: seed 2 reaches 0.91 of it, seed 4 0.83.
    n, r = 20, 4
    x = np.random.default_rng(seed).normal(size=(n, r))
    res = maxvol(x, tol=1.0)
    assert res.converged and res.max_coefficient <= 1 + 1e-9
    d0 = _absdet(x, res.indices)
    for j, i in itertools.product(range(r), sorted(set(range(n)) - set(res.indices))):
        swapped = res.indices.copy()
        swapped[j] = i
        assert _absdet(x, swapped) <= d0 * (1 + 1e-9)
    best = max(_absdet(x, c) for c in itertools.combinations(range(n), r))
    assert best * r ** (-r / 2) <= d0 <= best * (1 + 1e-12)


def test_maxvol_coefficients_and_tolerance():
    x = np.random.default_rng(7).normal(size=(50, 6))
    res = maxvol(x, tol=1.05)
    np.testing.assert_allclose(res.coefficients[res.indices], np.eye(6), atol=1e-12)
    np.testing.assert_allclose(res.coefficients, x @ np.linalg.inv(x[res.indices]), atol=1e-10)
    assert res.max_coefficient <= 1.05 * (1 + 1e-9)
    # square input: the whole matrix is the answer
    sq = maxvol(x[:6], tol=1.0)
    assert sorted(sq.indices) == list(range(6)) and sq.iterations == 0


def test_maxvol_swaps_from_a_poor_start():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    res = maxvol(x, tol=1.0, init=[0, 1])
    assert sorted(res.indices) == [2, 3] and res.iterations == 2
    assert res.logabsdet == pytest.approx(np.log(6.0))


# --------------------------------------------------------------------------- grade

def test_grade_of_active_training_and_outside_rows():
    x = np.random.default_rng(3).normal(size=(40, 5))
    res = maxvol(x, tol=1.0)
    a = x[res.indices]
    np.testing.assert_allclose(extrapolation_grade(a, a), 1.0, atol=1e-10)
    assert (extrapolation_grade(x, a) <= 1 + 1e-9).all()
    assert extrapolation_grade(2 * a[1], a) == pytest.approx([2.0], abs=1e-10)
    # hand case: A = diag(1, 2), b = (3, 1) -> c = (3, 0.5), gamma = 3
    assert extrapolation_grade([3.0, 1.0], np.diag([1.0, 2.0]))[0] == pytest.approx(3.0)


def test_grade_is_invariant_under_linear_maps_of_the_features():
    rng = np.random.default_rng(4)
    x, b = rng.normal(size=(30, 4)), rng.normal(size=(10, 4)) * 3
    t = rng.normal(size=(4, 4)) * 1e3  # invertible change of units/basis
    a = x[maxvol(x, tol=1.0).indices]
    np.testing.assert_allclose(extrapolation_grade(b @ t, a @ t), extrapolation_grade(b, a),
                               rtol=1e-8)


def test_singular_active_set_warns_and_uses_least_squares():
    a = np.array([[1.0, 0.0], [2.0, 0.0]])
    with pytest.warns(UserWarning, match="singular"):
        g = extrapolation_grade([[4.0, 0.0]], a)
    assert np.isfinite(g).all()


@pytest.mark.parametrize("call, match", [
    (lambda: maxvol(np.ones((2, 3))), "at least as many rows"),
    (lambda: maxvol(np.ones((2, 3, 1))), "2-D"),
    (lambda: maxvol(np.array([[1.0, np.nan], [0.0, 1.0]])), "NaN"),
    (lambda: maxvol(np.ones((5, 2))), "rank 1"),
    (lambda: maxvol(np.eye(3), tol=0.5), "tol"),
    (lambda: maxvol(np.eye(3), init=[0, 0, 1]), "distinct"),
    (lambda: extrapolation_grade(np.ones((2, 3)), np.ones((2, 3))), "square"),
    (lambda: extrapolation_grade(np.ones((2, 3)), np.eye(2)), "features"),
    (lambda: extrapolation_grade([[np.inf, 1.0]], np.eye(2)), "NaN"),
    (lambda: ActiveSet.from_features([np.eye(2)], [[3]]), "frame 0"),
    (lambda: ActiveSet.from_features([], []), "at least one frame"),
])
def test_bad_input_is_refused(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


# ---------------------------------------------------------------------- active set

def test_active_set_per_element():
    rng = np.random.default_rng(5)
    feats = [rng.normal(size=(8, 3)) for _ in range(4)]
    elems = [np.array([3, 9] * 4) for _ in range(4)]
    aset = ActiveSet.from_features(feats, elems)
    assert [s.number for s in aset.sets] == [3, 9] and aset.rank == 6
    g = aset.grade(feats, elems)
    assert (g.per_config <= 1 + 1e-9).all()
    np.testing.assert_allclose(g.per_config, [a.max() for a in g.per_atom])
    # each element's active rows grade exactly 1; an element never seen grades inf
    li = aset.sets[0]
    np.testing.assert_allclose(li.grade(li.rows), 1.0, atol=1e-10)
    assert aset.grade([np.ones((1, 3))], [[1]]).per_config[0] == np.inf
    # an outlier extrapolates; after update it is in the active set and the volume grew
    out = [np.vstack([10 * feats[0][0], feats[0][1]])]
    assert aset.grade(out, [[3, 9]]).per_config[0] > 5
    new = aset.update(out, [[3, 9]])
    assert new.logabsdet > aset.logabsdet
    np.testing.assert_array_less(new.grade(out, [[3, 9]]).per_atom[0], 1 + 1e-9)


def test_rank_deficient_training_rows_are_projected():
    # perfect-crystal-like F: every row the same -> rank 1 of 3 features
    f = [np.tile([1.0, 2.0, 0.0], (4, 1))]
    with pytest.warns(UserWarning, match="span 1 of 3"):
        aset = ActiveSet.from_features(f, [[9] * 4])
    assert aset.grade([[[2.0, 4.0, 0.0]]], [[9]]).per_config[0] == pytest.approx(2.0)


# ------------------------------------------------------------------------ select

def _one_element(rows):
    return [np.atleast_2d(np.asarray(r, float)) for r in rows], [[3] * len(np.atleast_2d(r))
                                                                  for r in rows]


def test_select_takes_the_largest_volume_first():
    aset = ActiveSet.from_features(*_one_element([[[1.0, 0.0], [0.0, 1.0]]]))  # A = I
    feats, elems = _one_element([[1.5, 0.0], [3.0, 0.0], [0.5, 0.5], [0.0, 2.0]])
    gam = aset.grade(feats, elems).per_config
    np.testing.assert_allclose(gam, [1.5, 3.0, 0.5, 2.0])
    sel = select(gam, 1.2, 3, aset, feats, elems)
    # 1 triples the volume, then 3 doubles it; 0 no longer enlarges diag(3, 2): stop
    assert sel.eligible == (0, 1, 3) and sel.indices == (1, 3)
    np.testing.assert_allclose(sel.gain, [np.log(3), np.log(2)])
    assert sel.rank_gain == (0, 0)
    assert sel.active_set.logabsdet == pytest.approx(np.log(6))
    assert select(gam, 1.2, 1, aset, feats, elems).indices == (1,)
    assert select(gam, 5.0, 3, aset, feats, elems).indices == ()
    with pytest.raises(ParameterError, match="NaN"):
        select([np.nan, 1, 1, 1], 1.2, 1, aset, feats, elems)


# ---------------------------------------------------------------- tiny MACE model

def _lif(a_A, rattle_A, seed):
    from ase.build import bulk

    atoms = bulk("LiF", "rocksalt", a=a_A, cubic=True).repeat(2)
    atoms.positions += np.random.default_rng(seed).normal(0, rattle_A, atoms.positions.shape)
    return atoms


@pytest.fixture(scope="module")
def tiny_calc():
    from lidiff_helpers.simulation.models import get_calculator

    return get_calculator(TINY, dtype="float64", verbose=False)


def test_mace_descriptors_shape(tiny_calc):
    from lidiff_helpers.simulation.descriptors import mace_descriptors

    frames = [_lif(4.05, 0.03, 0)]
    d = mace_descriptors(tiny_calc, frames)
    assert (d.n_layers, d.features_per_layer, d.n_features) == (2, 8, 16)
    assert d.features[0].shape == (64, 16)
    np.testing.assert_array_equal(d.numbers[0], frames[0].numbers)
    first = mace_descriptors(tiny_calc, frames, num_layers=1)
    np.testing.assert_allclose(first.features[0], d.features[0][:, :8], rtol=1e-12)
    with pytest.raises(ParameterError, match="num_layers"):
        mace_descriptors(tiny_calc, frames, num_layers=3)


def test_distorted_lif_extrapolates_on_tiny_mace(tiny_calc):
    from lidiff_helpers.simulation.descriptors import mace_descriptors

    train = [_lif(a, 0.03, s) for s, a in enumerate((4.0, 4.03, 4.06, 4.1) * 2)]
    like = [_lif(a, 0.03, 100 + s) for s, a in enumerate((4.02, 4.05, 4.08))]
    odd = [_lif(0.85 * 4.05, 0.03, 200), _lif(4.05, 0.3, 201)]
    d = mace_descriptors(tiny_calc, train + like + odd)
    aset = ActiveSet.from_features(d.features[:8], d.numbers[:8])
    g = aset.grade(d.features, d.numbers).per_config
    assert (g[:8] <= 1 + 1e-9).all()
    assert g[11:].min() > 5 * g[8:11].max()
    sel = select(g[8:], 2.0, 1, aset, d.features[8:], d.numbers[8:])
    assert sel.eligible == (3, 4) and len(sel.indices) == 1


def test_md_stops_at_gamma_break_and_says_so(tiny_calc, tmp_path):
    """The MD runner's extrapolation guard: with an active set built from the perfect
    2x2x2 cell only, a 900 K run of the tiny model extrapolates at once (grade >> 10) and
    stops with guard 'extrapolation' recorded in its status; the same run without the
    guard finishes; a batched run with the guard is refused; the active set file is
    refused for another model."""
    from lidiff_helpers.analysis.dopt import ActiveSet
    from lidiff_helpers.core.provenance import sha256_file
    from lidiff_helpers.simulation import md
    from lidiff_helpers.simulation.descriptors import mace_descriptors
    from lidiff_helpers.simulation.structures import lif_supercell

    sha = sha256_file(TINY)
    cells = []
    for k in range(4):
        at = lif_supercell(2, interstitial="none", a_A=4.03 + 0.02 * k)
        at.rattle(0.01, seed=k)
        cells.append(at)
    d = mace_descriptors(tiny_calc, cells)
    path = ActiveSet.from_features(d.features, d.numbers).save(tmp_path / "as.npz",
                                                               model_sha256=sha)
    kw = dict(model_spec=str(TINY), model="tiny", start_structure="lif:2:none", temperature_K=900.0,
              seed=1, production_ps=0.03, save_every=5, model_sha256=sha, dtype="float64")
    run = md.MDRun(name="g", guard={"gamma_break": 10.0, "active_set": str(path)}, **kw)
    rec = md.run_md(run, tmp_path / "md", progress=False, raise_on_failure=False)
    assert rec["status"] == "failed" and rec["failure"]["check"] == "extrapolation"
    assert rec["failure"]["value"] > 10.0 and rec["max_extrapolation_grade"] > 10.0
    free = md.run_md(md.MDRun(name="free", **kw), tmp_path / "md", progress=False)
    assert free["status"] == "done" and free["max_extrapolation_grade"] is None
    assert "gamma_break" not in md.MDRun(name="free", **kw).to_dict()["guard"]
    with pytest.raises(ParameterError, match="gamma_break"):
        md.MDRun(name="x", guard={"gamma_break": 10.0}, **kw)
    with pytest.raises(ParameterError, match="not"):
        ActiveSet.load(path, model_sha256="0" * 64)
    from lidiff_helpers.simulation import md_batched

    with pytest.raises(ParameterError, match="engine='ase'"):
        md_batched._check_batch([run])


def test_one_extrapolation_round_selects_above_gamma_select_and_resumes(tmp_path):
    """MLIP-3 round on the tiny model: active set from a few near-equilibrium cells, 900 K
    exploration that crosses gamma_break, at most n_select frames chosen, every one above
    gamma_select and labelled by the surrogate; a second call reads the round back."""
    from lidiff_helpers.simulation.structures import lif_supercell
    from lidiff_helpers.training.al_extrapolation import extrapolation_round
    from lidiff_helpers.training.labelling import SurrogateLabeller

    train = []
    for k in range(3):
        at = lif_supercell(2, interstitial="none", a_A=4.04 + 0.02 * k)
        at.rattle(0.02, seed=k)
        train.append(at)
    lab = SurrogateLabeller.from_spec("embedded")
    kw = dict(n_select=3, gamma_select=2.0, gamma_break=50.0, temperatures_K=(900.0,),
              kinds=("interstitial",), n_cells=2, explore_ps=0.02, save_every=5,
              progress=False)
    r = extrapolation_round(TINY, train, lab, tmp_path, **kw)
    assert 1 <= len(r.selected) <= 3 and r.eligible >= len(r.selected)
    assert all(a.info["gamma"] > 2.0 for a in r.selected)
    assert all(a.info["label_source"] == "surrogate:embedded" for a in r.selected)
    assert r.crossed == ("interstitial-900K",) and not r.converged
    again = extrapolation_round(TINY, train, lab, tmp_path, **kw)
    assert [a.info["REF_energy"] for a in again.selected] == \
        [a.info["REF_energy"] for a in r.selected]
    with pytest.raises(ParameterError, match="gamma_select"):
        extrapolation_round(TINY, train, lab, tmp_path / "x", **{**kw, "gamma_break": 1.5})
