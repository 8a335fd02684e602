"""Lattice constant, EOS and elastic constants (lidiff_helpers.simulation.bulk): known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import units
from ase.build import bulk as ase_bulk
from ase.calculators.emt import EMT

from lidiff_helpers.core import reference
from lidiff_helpers.simulation import bulk

# --------------------------------------------------------------------------- EOS fit

def test_eos_fit_recovers_analytic_birch_murnaghan():
    V0, B0_GPa, Bp, E0 = 65.25, 68.0, 4.6, -40.0
    v = V0 * np.linspace(0.9, 1.1, 11)
    e = bulk.birch_murnaghan_energy(v, E0, B0_GPa * units.GPa, Bp, V0)
    res = bulk.eos_fit(v, e, n_atoms=8)
    assert res.a0_A == pytest.approx(V0 ** (1 / 3), rel=1e-7)
    assert res.B_GPa == pytest.approx(B0_GPa, rel=1e-5)
    assert res.Bprime == pytest.approx(Bp, rel=1e-4)
    assert res.E0_eV == pytest.approx(E0, abs=1e-8)
    # the fitted curve reproduces the input
    np.testing.assert_allclose(res.energy_eV(v), e, atol=1e-8)
    assert bulk.EOSResult.from_dict(json.loads(json.dumps(res.to_dict()))) == res


def test_eos_fit_refuses_minimum_outside_the_scan():
    V0 = 65.0
    v = V0 * np.linspace(1.05, 1.2, 7)   # all on the expanded side
    e = bulk.birch_murnaghan_energy(v, 0.0, 70 * units.GPa, 4.0, V0)
    with pytest.raises(ValueError, match="outside the sampled"):
        bulk.eos_fit(v, e, n_atoms=8)


def test_eos_fit_needs_five_points():
    with pytest.raises(ValueError, match=">= 5"):
        bulk.eos_fit([1, 2, 3], [0, -1, 0], n_atoms=1)


# ------------------------------------------------------------------- lattice constant

def test_relaxed_lattice_constant_is_zero_pressure(cu):
    at = cu.copy()
    at.calc = EMT()
    pressure_GPa = -np.trace(at.get_stress(voigt=False)) / 3 / units.GPa
    assert abs(pressure_GPa) < 0.05
    # and the energy rises on both sides
    e0 = at.get_potential_energy()
    for f in (0.995, 1.005):
        b = cu.copy()
        b.set_cell(cu.cell.array * f, scale_atoms=True)
        b.calc = EMT()
        assert b.get_potential_energy() > e0


def test_relaxed_lattice_constant_rejects_non_cubic():
    at = ase_bulk("Cu", "fcc", a=3.6)  # primitive, non-orthogonal cell
    with pytest.raises(ValueError, match="cubic"):
        bulk.relaxed_lattice_constant(EMT(), at)


def test_eos_of_emt_copper_matches_relaxation(cu):
    a0 = cu.cell.lengths()[0]
    eos = bulk.equation_of_state(EMT(), cu, a0_A=a0, strain_range=0.02, n_points=9)
    assert eos.a0_A == pytest.approx(a0, abs=2e-4)
    assert eos.n_atoms == 4


def test_rocksalt_cell():
    at = bulk.rocksalt_lif(4.026)
    assert len(at) == 8 and at.get_chemical_formula() == "F4Li4"
    np.testing.assert_allclose(at.cell.lengths(), 4.026)
    assert len(bulk.rocksalt_lif(4.0, repeat=3)) == 216


# ------------------------------------------------------------------ elastic constants

@pytest.fixture(scope="module")
def cu_elastic(cu):
    return bulk.elastic_constants(EMT(), cu, strains=(-0.004, -0.002, 0.002, 0.004))


def test_elastic_constants_cubic_symmetry(cu_elastic):
    C = cu_elastic.C
    assert C[0, 0] == pytest.approx(C[1, 1], rel=1e-6) == pytest.approx(C[2, 2], rel=1e-6)
    for (i, j) in ((0, 1), (0, 2), (1, 2)):
        assert C[i, j] == pytest.approx(cu_elastic.C12_GPa, rel=1e-6)
        assert C[j, i] == pytest.approx(cu_elastic.C12_GPa, rel=1e-6)
    assert C[3, 3] == pytest.approx(C[4, 4], rel=1e-6) == pytest.approx(C[5, 5], rel=1e-6)
    # no normal-shear coupling, no shear-shear coupling in a cubic crystal
    off = C.copy()
    off[:3, :3] = 0
    off[range(3, 6), range(3, 6)] = 0
    assert np.abs(off).max() < 1e-6
    assert cu_elastic.cubic_deviation_GPa < 1e-4
    assert cu_elastic.B_GPa == pytest.approx((cu_elastic.C11_GPa + 2 * cu_elastic.C12_GPa) / 3)


def _energy_curvature_GPa(at, eps_of_delta, delta=1e-3):
    """d2E/d delta2 / V0 of the strain path eps(delta), central differences (GPa)."""
    cell0, v0 = at.cell.array.copy(), at.get_volume()
    e = []
    for d in (-delta, 0.0, delta):
        b = at.copy()
        b.set_cell(cell0 @ (np.eye(3) + eps_of_delta(d)), scale_atoms=True)
        b.calc = EMT()
        e.append(b.get_potential_energy())
    return (e[0] - 2 * e[1] + e[2]) / delta ** 2 / v0 / units.GPa


def test_elastic_constants_match_energy_strain_curvature(cu, cu_elastic):
    """Stress-strain C_ij against an independent energy-strain route (EMT Cu)."""
    c11 = _energy_curvature_GPa(cu, lambda d: np.diag([d, 0, 0]))
    biax = _energy_curvature_GPa(cu, lambda d: np.diag([d, d, 0]))      # 2 C11 + 2 C12
    c12 = (biax - 2 * c11) / 2
    c44 = _energy_curvature_GPa(cu, lambda d: np.array([[0, 0, 0], [0, 0, d / 2],
                                                        [0, d / 2, 0]]))  # gamma = d
    assert cu_elastic.C11_GPa == pytest.approx(c11, rel=0.01)
    assert cu_elastic.C12_GPa == pytest.approx(c12, rel=0.01)
    assert cu_elastic.C44_GPa == pytest.approx(c44, rel=0.01)
    # sanity: copper-like magnitudes (EMT Cu: C11 ~ 170, C12 ~ 115, C44 ~ 90 GPa)
    assert 100 < c11 < 250 and 50 < c12 < 180 and 40 < c44 < 150


def test_elastic_bulk_modulus_matches_eos(cu, cu_elastic):
    eos = bulk.equation_of_state(EMT(), cu, a0_A=cu.cell.lengths()[0], strain_range=0.01)
    assert cu_elastic.B_GPa == pytest.approx(eos.B_GPa, rel=0.01)


def test_elastic_needs_both_signs(cu):
    with pytest.raises(ValueError, match="positive and negative"):
        bulk.elastic_constants(EMT(), cu, strains=(0.001, 0.002))


def test_strain_matrix_engineering_shear():
    e = bulk.strain_matrix(3, 0.02)
    assert e[1, 2] == e[2, 1] == pytest.approx(0.01) and np.trace(e) == 0
    assert bulk.strain_matrix(0, 0.01)[0, 0] == pytest.approx(0.01)


# ------------------------------------------------------------------- caching, tables

def test_cached_json_recomputes_only_on_key_change(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.float64(1.5), "arr": np.arange(3)}

    p = tmp_path / "r.json"
    a = bulk.cached_json(p, {"model": "m", "n": 1}, compute)
    b = bulk.cached_json(p, {"model": "m", "n": 1}, compute)
    assert a == b == {"x": 1.5, "arr": [0, 1, 2]} and len(calls) == 1
    bulk.cached_json(p, {"model": "m", "n": 2}, compute)
    assert len(calls) == 2


def test_cached_call_round_trip(tmp_path, cu):
    kw = {"atoms": cu, "a_guess_A": 3.59, "strain_range": 0.01, "n_points": 7,
          "strains": (-0.002, 0.002)}
    r1 = bulk.cached_call(tmp_path / "lat.json", "emt", bulk.lattice_properties, EMT(), **kw)
    r2 = bulk.cached_call(tmp_path / "lat.json", "emt", bulk.lattice_properties, None, **kw)
    assert isinstance(r2, bulk.LatticeResult)   # second call loaded (calc=None unused)
    assert r2.eos.a0_A == pytest.approx(r1.eos.a0_A)
    assert r2.elastic.C44_GPa == pytest.approx(r1.elastic.C44_GPa)


def test_table_s1_reference_rows_come_from_reference_module():
    row = {"model": "m", "a0_A": 4.0512345, "C11_GPa": 100.0}
    df = bulk.table_s1([row])
    assert list(df["model"]) == ["m", "experiment (room T)", "DFT-PBE"]
    exp = df[df["model"] == "experiment (room T)"].iloc[0]
    assert exp["a0_A"] == reference.BULK_LIF["a_exp_RT"].value == 4.026
    assert (exp["C11_GPa"], exp["C12_GPa"], exp["C44_GPa"]) == (111.2, 42.0, 62.8)
    assert exp["B_eos_GPa"] == "65-70"
    assert "NOT a primary source" in exp["notes"]
    assert df[df["model"] == "DFT-PBE"].iloc[0]["a0_A"] == 4.06
    assert df.iloc[0]["a0_A"] == 4.051   # rounded to 4 significant figures


def test_bulk_reference_flags():
    ref = reference.BULK_LIF
    assert ref["T_melt_K"].value == 1118.0 and not ref["T_melt_K"].primary
    assert ref["C11_exp"].primary and ref["C11_exp"].citation.doi.startswith("10.1103/")
    assert not ref["a_exp_RT"].primary and not ref["B_exp"].primary
    assert (ref["B_exp"].low, ref["B_exp"].high) == (65.0, 70.0)
    assert all(not v.checked for v in ref.values())   # transcribed, not re-checked
    with pytest.raises(KeyError, match="known"):
        reference.bulk_lif_reference("nope")


def test_validation_models_deduplicates(tmp_path):
    from pathlib import Path

    tiny = str(Path(__file__).parent / "models" / "tiny-lif.model")
    reg = [{"name": "ft-a", "path": tiny, "sha256": "x", "notebook": "02", "strategy": "naive"}]
    ms = bulk.validation_models(tiny, [tiny], reg)
    assert [m.label for m in ms] == ["tiny-lif"] and ms[0].role == "foundation"
    assert ms[0].key.startswith("tiny-lif-") and len(ms[0].key) == len("tiny-lif-") + 12
    other = tmp_path / "tiny-lif.model"            # same stem, different weights
    other.write_bytes(Path(tiny).read_bytes() + b"\0")
    reg2 = [{"name": "tiny-lif", "path": str(other), "sha256": "y", "notebook": "03",
             "energy_reference": "study"}]
    ms = bulk.validation_models(tiny, [], reg2)
    assert [m.label for m in ms] == ["tiny-lif", "tiny-lif-2"]
    assert ms[1].role == "registered" and ms[1].meta == {"notebook": "03",
                                                         "energy_reference": "study"}
