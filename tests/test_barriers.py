"""Barriers and harmonic TST on known answers: analytic surfaces with known saddles, an
EMT hop whose barrier ASE's documentation states, a harmonic double well's analytic
prefactor, and the LiF mechanisms' geometry."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.constraints import FixCartesian

from lidiff_helpers.analysis import tst
from lidiff_helpers.core.errors import InputError, ParameterError
from lidiff_helpers.core.units import LIF_A_STUDY_A, kT_eV
from lidiff_helpers.simulation import neb
from lidiff_helpers.synthetic.surfaces import (
    MUELLER_BROWN_POINTS,
    DoubleWell2D,
    MuellerBrown,
    point_atoms,
)


def _band_ends(calc, p0, p1):
    a, b = point_atoms(*p0), point_atoms(*p1)
    for at in (a, b):
        at.set_constraint(FixCartesian(0, (False, False, True)))
    a, _, _ = neb.relax(a, calc, fmax_eV_A=1e-4)
    b, _, _ = neb.relax(b, calc, fmax_eV_A=1e-4)
    return a, b


@pytest.mark.parametrize("optimizer,from_start", [("fire", False), ("bfgs", False),
                                                   ("bfgs", True)])
def test_symmetric_double_well_saddle_at_the_midpoint(optimizer, from_start):
    dw = DoubleWell2D(A=0.25, b=1.0)
    a, b = _band_ends(dw, (-1.0, 0.3), (1.0, -0.2))
    r = neb.run_neb(a, b, dw, neb.NEBSettings(n_images=5, fmax_eV_A=1e-3, optimizer=optimizer,
                                              climb_from_start=from_start),
                    interpolation="linear")
    assert r.converged and r.climbing_index == 3  # the middle of 5 images
    assert r.barrier_eV == pytest.approx(dw.barrier_eV, abs=1e-3)
    assert np.allclose(r.saddle.positions[0, :2], 0.0, atol=0.01)
    assert abs(r.endpoint_asymmetry_eV) < 1e-6


def test_mueller_brown_saddle_energy_and_location():
    mb = MuellerBrown(scale=0.01)
    for key in MUELLER_BROWN_POINTS:  # the tabulated points are stationary here
        x, y, v = MUELLER_BROWN_POINTS[key]
        val, gx, gy = mb._vg(x, y)
        assert val == pytest.approx(0.01 * v, abs=1e-5) and abs(gx) + abs(gy) < 1e-4
    xb, yb, eb = MUELLER_BROWN_POINTS["min_B"]
    xc, yc, _ = MUELLER_BROWN_POINTS["min_C"]
    xs, ys, es = MUELLER_BROWN_POINTS["saddle_BC"]
    a, b = _band_ends(mb, (xb, yb), (xc, yc))
    r = neb.run_neb(a, b, mb, neb.NEBSettings(n_images=9, fmax_eV_A=5e-4, max_steps=2000),
                    interpolation="linear")
    assert r.converged
    assert r.barrier_eV == pytest.approx(0.01 * (es - eb), abs=1e-3)  # within 1 meV
    assert np.allclose(r.saddle.positions[0, :2], (xs, ys), atol=0.02)


def test_emt_hop_of_the_ase_documentation():
    """Al adatom hopping along the rows of Al(110), EMT: the first script (neb1.py) of
    ASE's tutorial 'Self-diffusion on the Al(110) surface'; ASE's documentation tests
    check its barrier against 0.111 eV (+- 0.002)."""
    from math import sqrt

    from ase import Atom, Atoms
    from ase.calculators.emt import EMT
    from ase.constraints import FixAtoms

    a = 4.0614
    b = a / sqrt(2)
    h = b / 2
    initial = Atoms("Al2", positions=[(0, 0, 0), (a / 2, b / 2, -h)],
                    cell=(a, b, 2 * h), pbc=(1, 1, 0)) * (2, 2, 2)
    initial.append(Atom("Al", (a / 2, b / 2, 3 * h)))
    initial.center(vacuum=4.0, axis=2)
    final = initial.copy()
    final.positions[-1, 1] += b
    mask = initial.positions[:, 2] - min(initial.positions[:, 2]) < 1.5 * h
    for at in (initial, final):
        at.set_constraint(FixAtoms(mask=mask))
    calc = EMT()
    ini, _, _ = neb.relax(initial, calc, fmax_eV_A=0.01)
    fin, _, _ = neb.relax(final, calc, fmax_eV_A=0.01)
    r = neb.run_neb(ini, fin, calc, neb.NEBSettings(n_images=3, fmax_eV_A=0.01),
                    interpolation="linear")
    assert r.converged and r.barrier_eV == pytest.approx(0.111, abs=0.002)


def test_vineyard_prefactor_of_a_harmonic_double_well(tmp_path):
    dw = DoubleWell2D(A=0.25, b=1.0, k0=2.0, k1=1.5, kz=5.0)
    e_min, e_sad, idx = neb.harmonic_modes(dw, point_atoms(-1.0, 0.0), point_atoms(0.0, 0.0),
                                           [0], 2.6, 1e-3, tmp_path)
    assert idx == [0]
    got = tst.vineyard(e_min, e_sad)
    m = point_atoms(0, 0).get_masses()[0]
    to_thz = units.s / 1e12 / (2 * np.pi)  # sqrt(k/m) in 1/ASE-time -> THz

    def nu(k):
        return np.sqrt(k / m) * to_thz

    k_xx = 8 * dw.A * dw.b ** 2
    want = nu(k_xx) * nu(dw.k0 + dw.k1 * dw.b ** 2) / nu(dw.k0)
    assert got.prefactor_THz == pytest.approx(want, rel=0.01)
    assert got.imaginary_THz == pytest.approx(nu(4 * dw.A * dw.b ** 2), rel=0.01)
    assert got.n_modes == 3
    with pytest.raises(InputError, match="saddle: 0 imaginary"):
        tst.vineyard(e_min, e_min)
    with pytest.raises(InputError, match="minimum: 1 imaginary"):
        tst.vineyard(e_sad, e_sad)
    with pytest.raises(InputError, match="same atoms"):
        tst.vineyard(e_min[:2], e_sad)


def test_rate_and_defect_diffusivity_formulas():
    r = tst.rate_per_s(10.0, 0.25, 500.0)
    assert r == pytest.approx(1e13 * np.exp(-0.25 / kT_eV(500.0)))
    # 4 channels of 1e9 /s, 6.25 A^2 per event: 4 * 1e9 * 6.25 / 6 A^2/s = 1.667e-6 cm^2/s
    assert tst.defect_diffusivity_cm2_s(1e9, 4, 6.25) == pytest.approx(4e9 * 6.25 / 6 * 1e-16)
    with pytest.raises(InputError, match="temperature_K"):
        tst.rate_per_s(10.0, 0.25, 0.0)
    with pytest.raises(InputError, match="multiplicity"):
        tst.defect_diffusivity_cm2_s(1e9, 0, 6.25)


@pytest.mark.parametrize("mech,angle", [("knockoff-collinear", 0.0),
                                        ("knockoff-70deg", 70.53),
                                        ("knockoff-109deg", 109.47), ("direct", None)])
def test_lif_mechanism_geometry(mech, angle):
    a = LIF_A_STUDY_A
    ini, fin, moving = neb.endpoints(mech, 2, a)
    assert len(ini) == 65 and ini.numbers[-1] == 3 and moving[0] == 64
    d = fin.positions - ini.positions
    moved = np.nonzero(np.linalg.norm(d, axis=1) > 1e-9)[0]
    assert sorted(moved) == sorted(moving)
    step = np.linalg.norm(d[list(moving)], axis=1)
    want = a * np.sqrt(3) / 4 if angle is not None else a / 2
    assert np.allclose(step, want)
    assert np.sum(step ** 2) == pytest.approx(neb.sum_sq_displacement_A2(mech, a))
    if angle is not None:
        c = np.dot(d[moving[0]], d[moving[1]]) / (step[0] * step[1])
        assert np.degrees(np.arccos(np.clip(c, -1, 1))) == pytest.approx(angle, abs=0.01)
    # the final state is again one Li on a tetrahedral site: same neighbour shells
    ni = np.sort(ini.get_distances(64, range(64), mic=True))[:8]
    j = moving[-1]
    others = [k for k in range(65) if k != j]
    nf = np.sort(fin.get_distances(j, others, mic=True))[:8]
    assert np.allclose(ni, nf, atol=1e-9)


def test_symmetric_end_states_map_by_inversion_and_relax_to_inverted_states():
    """Known answers: the collinear knock-off's end states are each other inverted through
    the lattice site the two Li pass (the origin), the direct hop's through the midpoint of
    the hop; the non-collinear knock-offs and a rattled end state are not. An E(3)-
    invariant model relaxes the inverted initial state to the inverted relaxed state: the
    relaxed initial state inverted is the relaxed final state (to the relaxation's
    tolerance)."""
    from pathlib import Path

    from lidiff_helpers.simulation.models import get_calculator

    ini, fin, _ = neb.endpoints("knockoff-collinear")
    centre, perm, mismatch = neb.inversion_map(ini, fin)
    assert np.allclose(centre, 0.0) and mismatch < 1e-9
    assert perm[64] != 64 and sorted(perm.tolist()) == list(range(65))
    centre, _, _ = neb.inversion_map(*neb.endpoints("direct")[:2])
    assert np.allclose(centre, [LIF_A_STUDY_A / 4, LIF_A_STUDY_A / 4, 0.0])
    assert neb.inversion_map(*neb.endpoints("knockoff-70deg")[:2]) is None
    shaken = fin.copy()
    shaken.rattle(0.1, seed=3)
    assert neb.inversion_map(ini, shaken) is None
    calc = get_calculator(str(Path(__file__).parent / "models" / "tiny-lif.model"),
                          dtype="float64", verbose=False)
    ri, ei, _ = neb.relax(ini, calc, 0.005, 400)
    rf, ef, _ = neb.relax(fin, calc, 0.005, 400)
    mapped = neb.invert(ri, rf, *neb.inversion_map(ini, fin)[:2])
    assert np.abs(mapped.positions - rf.positions).max() < 0.01
    assert np.abs(mapped.positions - fin.positions).max() > 0.02   # it did relax
    mapped.calc = calc
    assert mapped.get_potential_energy() == pytest.approx(ei, abs=1e-6)
    assert ef == pytest.approx(ei, abs=1e-4)


def test_bad_mechanism_and_settings():
    with pytest.raises(ParameterError, match="unknown mechanism 'hop'"):
        neb.endpoints("hop")
    with pytest.raises(ParameterError, match="fmax_eV_A"):
        neb.NEBSettings(fmax_eV_A=0.5, pre_fmax_eV_A=0.1)
    with pytest.raises(ParameterError, match="optimizer 'lbfgs'"):
        neb.NEBSettings(optimizer="lbfgs")
    ini, fin, _ = neb.endpoints("direct")
    with pytest.raises(InputError, match="same atoms"):
        neb.run_neb(ini, fin[:-1], None)


def test_best_per_model_comparison_and_not_resolved_Ea():
    import pandas as pd

    from lidiff_helpers.workflows import arrhenius_analysis, barriers

    rows = [("m", "knockoff-collinear", 0.30, True), ("m", "knockoff-70deg", 0.20, False),
            ("m", "knockoff-109deg", 0.25, True), ("m", "direct", 0.9, True),
            ("n", "knockoff-collinear", 0.10, True)]
    t = pd.DataFrame([{"model": m, "mechanism": k, "barrier_eV": b, "converged": c,
                       "n_atoms": 65, "lattice": "study"} for m, k, b, c in rows]
                     + [{"model": "m", "mechanism": "knockoff-collinear", "barrier_eV": 0.01,
                         "converged": True, "n_atoms": 217, "lattice": "study"}])
    bs = barriers.BarrierSet(t)
    best = barriers.best_per_model(bs).set_index("model")
    # the lowest *converged* knock-off on the 65-atom cell; the direct hop apart
    assert best.loc["m", "knockoff_mechanism"] == "knockoff-109deg"
    assert best.loc["m", "knockoff_barrier_eV"] == 0.25
    assert best.loc["m", "direct_barrier_eV"] == 0.9
    t3 = pd.DataFrame([{"model": "m", "Ea_eV": 0.22, "Ea_err_eV": 0.015},
                       {"model": "n", "Ea_eV": -0.25, "Ea_err_eV": 0.67}])
    comp = barriers.comparison_table(bs, t3).set_index("model")
    assert comp.loc["m", "MD_Ea"] == "0.220 +- 0.015"
    assert comp.loc["n", "MD_Ea"] == "not resolved (+- 0.67)"
    assert comp.loc["n", "softening_vs_Zheng_eV"] == pytest.approx(0.10 - 0.25)
    assert comp.loc["m", "DeePMD_MD_Ea_eV"] == 0.24
    assert arrhenius_analysis.resolved_Ea(float("nan"), 0.1) == "-"


def test_finite_size_pairs_each_barrier_with_its_217_atom_twin():
    import pandas as pd

    from lidiff_helpers.workflows import barriers

    rows = [("m", "knockoff-collinear", 65, 0.30, True), ("m", "direct", 65, 0.50, True),
            ("m", "knockoff-collinear", 217, 0.26, False), ("n", "knockoff-collinear", 65, 0.1,
                                                            True)]
    bs = barriers.BarrierSet(pd.DataFrame(
        [{"model": m, "mechanism": k, "n_atoms": n, "barrier_eV": b, "converged": c,
          "lattice": "study"} for m, k, n, b, c in rows]))
    fs = barriers.finite_size(bs)
    # only the pair computed on both cells; the direct hop and model n have no 217-atom twin
    assert len(fs) == 1
    r = fs.iloc[0]
    assert (r["model"], r["mechanism"]) == ("m", "knockoff-collinear")
    assert r["difference_eV"] == pytest.approx(-0.04)
    assert not r["converged_217"]
    s = barriers.summary_values(barriers.comparison_table(bs), None, fs)
    assert s["m: knockoff-collinear barrier_217_atoms_eV"] == pytest.approx(0.26)
    assert barriers.finite_size(barriers.BarrierSet(pd.DataFrame())).empty


def test_slow_models_get_their_own_mechanisms_images_cells_and_no_own_lattice(tmp_path,
                                                                              monkeypatch):
    """neb_slow_models (SevenNet-0, CHGNet): 65 atoms, the study's lattice, the slow
    mechanisms and image count; the other models everything the profile asks for."""
    from types import SimpleNamespace

    from lidiff_helpers.simulation.model_set import ModelEntry
    from lidiff_helpers.workflows import barriers as wb

    calls = []

    def fake_cached_json(path, key, compute):
        if key.get("what") == "relaxed a0":
            calls.append(("a0", key["model_sha256"]))
            return {"a0_A": 4.0}
        calls.append((key["model_sha256"], key["mechanism"], key["n_cells"], key["a_A"],
                      key["settings"]["n_images"]))
        n = 65 if key["n_cells"] == 2 else 217
        return {"numbers": [3] * n, "barrier_eV": 0.2, "reverse_barrier_eV": 0.2,
                "endpoint_asymmetry_eV": 0.0, "converged": True, "climbing_fmax_eV_A": 0.01,
                "n_steps": 3}

    monkeypatch.setattr(wb, "cached_json", fake_cached_json)
    P = SimpleNamespace(neb_n_images=3, neb_fmax_eV_A=0.05, neb_max_steps=10,
                        neb_n_cells=[2, 3], neb_large_cell_all_models=True,
                        neb_mechanisms=["knockoff-collinear", "direct"],
                        neb_large_cell_mechanisms=None, neb_own_lattice=True,
                        neb_slow_models=["sevennet-0"],
                        neb_slow_mechanisms=["knockoff-collinear"], neb_slow_n_images=1,
                        neb_large_cell_n_images=None, neb_committed=False,
                        neb_dtype="float64", device="cpu")
    run = SimpleNamespace(work=lambda name: tmp_path)
    fast = ModelEntry("embedded", "embedded", "foundation", {"name": "embedded", "sha256": "e"})
    slow = ModelEntry("sevennet-0", "sevennet-0", "extra", {"name": "sevennet-0", "sha256": "s"})
    assert not wb.slow(P, fast) and wb.slow(P, slow)
    bs = wb.compute(P, run, [fast, slow], progress=False)
    assert [c for c in calls if c[0] == "s"] == [("s", "knockoff-collinear", 2, 4.083428, 1)]
    fast_calls = [c for c in calls if c[0] == "e"]
    assert len(fast_calls) == 2 * 2 * 2 and {c[4] for c in fast_calls} == {3}
    assert ("a0", "e") in calls and ("a0", "s") not in calls
    assert set(bs.table[bs.table["model"] == "sevennet-0"]["n_atoms"]) == {65}
    P.neb_slow_n_images, P.neb_slow_mechanisms = None, None   # None: as the others
    calls.clear()
    wb.compute(P, run, [slow], progress=False)
    assert sorted(calls) == [("s", "direct", 2, 4.083428, 3),
                             ("s", "knockoff-collinear", 2, 4.083428, 3)]
    # the 217-atom NEBs with their own image count (the 65-atom ones unchanged)
    P.neb_large_cell_n_images = 1
    calls.clear()
    wb.compute(P, run, [fast], progress=False)
    assert {(c[2], c[4]) for c in calls if c[0] == "e"} == {(2, 3), (3, 1)}


def test_the_compendiums_own_dft_barrier_becomes_the_softening_reference(tmp_path,
                                                                         monkeypatch):
    """Before the DFT NEB is done: NaN column, softening against Zheng et al.'s 0.25 eV.
    Done: its barrier at the study's cutoffs is the comparison column, the zero of the
    softening figure (bars = model - it) and a line of the profile figure."""
    import json

    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    from lidiff_helpers.figures import barriers as fb
    from lidiff_helpers.workflows import barriers
    from lidiff_helpers.workflows import dft_neb as dn

    f = tmp_path / "neb.json"
    monkeypatch.setattr(dn, "NEB_FILE", f)
    bs = barriers.BarrierSet(pd.DataFrame(
        [{"model": m, "mechanism": "knockoff-collinear", "n_atoms": 65, "barrier_eV": b,
          "converged": True, "lattice": "study"} for m, b in (("m", 0.30), ("n", 0.10))]))

    def bars(comp):
        fig = fb.plot_softening(comp)
        return sorted(round(p.get_width(), 6) for p in fig.axes[0].patches)

    comp = barriers.comparison_table(bs)
    assert comp["DFT_this_compendium_eV"].isna().all()
    assert bars(comp) == [round(0.10 - 0.25, 6), round(0.30 - 0.25, 6)]
    f.write_text(json.dumps({"status": "in progress"}))
    assert dn.study_level_barrier() is None
    f.write_text(json.dumps({"status": "done", "barrier_eV": 0.21, "barrier_study_cutoffs_eV":
                             0.20, "cutoffs_Ry": [60, 240], "converged": True, "n_images": 1}))
    comp = barriers.comparison_table(bs).set_index("model")
    assert comp.loc["m", "DFT_this_compendium_eV"] == 0.20
    assert comp.loc["n", "softening_vs_this_DFT_eV"] == pytest.approx(0.10 - 0.20)
    assert bars(comp.reset_index()) == [round(0.10 - 0.20, 6), round(0.30 - 0.20, 6)]
    paths = {("m", "knockoff-collinear", 65, "study"): {
        "path_A": [0.0, 1.0, 2.0], "energies_eV": [0.0, 0.3, 0.0], "barrier_eV": 0.3,
        "numbers": [3] * 65}}
    fig = fb.plot_profiles(paths, own_dft=dn.study_level_barrier())
    labels = [ln.get_label() for ln in fig.axes[0].lines]
    assert any(lb.startswith(dn.STUDY_LEVEL_LABEL) and "0.200 eV" in lb for lb in labels)


def test_committed_neb_is_read_only_for_its_own_key_and_says_so(tmp_path, monkeypatch):
    """neb_committed: a committed cache file with this NEB's key replaces the computation
    (the row's source names the file); without the flag, or for another key, the NEB is
    computed. commit() refuses files that are not NEB results of a committed model."""
    import json
    from types import SimpleNamespace

    from lidiff_helpers.core.cache import key_hash
    from lidiff_helpers.simulation.model_set import ModelEntry
    from lidiff_helpers.simulation.sevennet import CHECKPOINT_SHA256
    from lidiff_helpers.workflows import barriers as wb

    committed = tmp_path / "committed"
    monkeypatch.setattr(wb, "COMMITTED_NEB", committed)
    computed = []

    def fake_one(calc, mech, n_cells, a, s, relaxed):
        computed.append(mech)
        return {"numbers": [3] * 65, "barrier_eV": 0.3, "reverse_barrier_eV": 0.3,
                "endpoint_asymmetry_eV": 0.0, "converged": True, "climbing_fmax_eV_A": 0.01,
                "n_steps": 9}

    monkeypatch.setattr(wb, "_one", fake_one)
    P = SimpleNamespace(neb_n_images=1, neb_fmax_eV_A=0.05, neb_max_steps=10, neb_n_cells=[2],
                        neb_large_cell_all_models=False, neb_mechanisms=["knockoff-collinear"],
                        neb_large_cell_mechanisms=None, neb_own_lattice=False,
                        neb_slow_models=[], neb_slow_mechanisms=None, neb_slow_n_images=None,
                        neb_large_cell_n_images=None, neb_committed=True,
                        neb_dtype="float64", device="cpu")
    m = ModelEntry("sevennet-0", "sevennet-0", "extra",
                   {"name": "sevennet-0", "sha256": CHECKPOINT_SHA256})
    key = {"model_sha256": m.sha256, "mechanism": "knockoff-collinear", "n_cells": 2,
           "a_A": round(4.083428, 6), "settings": vars(wb._settings(P, m, 2)),
           "dtype": "float64"}
    result = {"numbers": [3] * 65, "barrier_eV": 0.245, "reverse_barrier_eV": 0.245,
              "endpoint_asymmetry_eV": 0.0, "converged": True, "climbing_fmax_eV_A": 0.04,
              "n_steps": 50}
    src = tmp_path / f"{m.key}-{key_hash(key)[:12]}.json"
    src.write_text(json.dumps({"key": key, "key_sha256": key_hash(key), "result": result}))
    (copy,) = wb.commit([src])
    assert copy.parent == committed
    row = wb.compute(P, SimpleNamespace(work=lambda name: tmp_path / "run1"), [m],
                     progress=False).table.iloc[0]
    assert row["barrier_eV"] == 0.245 and row["source"].startswith("committed: ")
    assert computed == []
    P.neb_committed = False   # the flag off: computed in a fresh run folder
    row = wb.compute(P, SimpleNamespace(work=lambda name: tmp_path / "run2"), [m],
                     progress=False).table.iloc[0]
    assert row["barrier_eV"] == 0.3 and row["source"] == "computed" and computed
    P.neb_committed = True    # the flag on again: run2's own computed file is kept and named so
    row = wb.compute(P, SimpleNamespace(work=lambda name: tmp_path / "run2"), [m],
                     progress=False).table.iloc[0]
    assert row["barrier_eV"] == 0.3 and row["source"] == "computed"
    P.neb_committed, P.neb_fmax_eV_A = True, 0.03   # another key: not the committed file
    row = wb.compute(P, SimpleNamespace(work=lambda name: tmp_path / "run3"), [m],
                     progress=False).table.iloc[0]
    assert row["source"] == "computed"
    foreign = tmp_path / "x.json"
    foreign.write_text(json.dumps({"key": {**key, "model_sha256": "f" * 64}, "result": {}}))
    with pytest.raises(ValueError, match="not a committed model file"):
        wb.commit([foreign])
    foreign.write_text(json.dumps({"key": {"what": "relaxed a0"}, "result": {}}))
    with pytest.raises(ValueError, match="not an NEB result"):
        wb.commit([foreign])
