"""Partial RDFs (lidiff_helpers.analysis.rdf): perfect-lattice peaks, normalisation, peak finder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk as ase_bulk
from ase.calculators.emt import EMT

from lidiff_helpers.analysis import rdf
from lidiff_helpers.simulation import bulk, nvt

TINY = Path(__file__).parent / "models" / "tiny-lif.model"


@pytest.mark.parametrize("a_A", [4.026, 4.06, 3.9])
@pytest.mark.parametrize("dr_A", [0.01, 0.05])
def test_perfect_rocksalt_peaks_at_a_half_and_a_sqrt2(a_A, dr_A):
    res = rdf.partial_rdf([bulk.rocksalt_lif(a_A, repeat=3)], r_max_A=6.0, dr_A=dr_A,
                          a_A=a_A)
    assert res.peaks_A["Li-F"] == pytest.approx(a_A / 2, abs=dr_A / 2 + 1e-9)
    assert res.peaks_A["Li-Li"] == pytest.approx(a_A / np.sqrt(2), abs=dr_A / 2 + 1e-9)
    assert res.peaks_A["F-F"] == pytest.approx(a_A / np.sqrt(2), abs=dr_A / 2 + 1e-9)
    assert res.perfect_peaks_A() == rdf.perfect_lattice_peaks(a_A)


def test_coordination_numbers_of_perfect_rocksalt():
    """rho_B * integral of g 4 pi r^2 dr over the first shell: 6 Li-F, 12 Li-Li."""
    a = 4.026
    at = bulk.rocksalt_lif(a, repeat=3)
    res = rdf.partial_rdf([at], r_max_A=3.2, dr_A=0.01)
    r = np.asarray(res.r_A)
    shell = 4 * np.pi * r ** 2 * 0.01       # ~ exact shell volume for a thin bin
    rho = 108 / at.get_volume()
    first = r < (a / 2 + a / np.sqrt(2)) / 2
    n_lif = np.sum(rho * np.asarray(res.g["Li-F"])[first] * shell[first])
    assert n_lif == pytest.approx(6.0, rel=1e-3)
    second = r < (a / np.sqrt(2) + a) / 2
    rho_same = 107 / at.get_volume()        # N - 1 partners
    n_lili = np.sum(rho_same * np.asarray(res.g["Li-Li"])[second] * shell[second])
    assert n_lili == pytest.approx(12.0, rel=1e-3)


def test_uncorrelated_gas_has_g_one():
    rng = np.random.default_rng(0)
    n = 1000
    at = Atoms(symbols=["Li"] * (n // 2) + ["F"] * (n // 2),
               positions=rng.uniform(0, 16.0, size=(n, 3)), cell=[16.0] * 3, pbc=True)
    res = rdf.partial_rdf([at, at], r_max_A=5.0, dr_A=0.1)
    assert res.n_frames == 2
    r = np.asarray(res.r_A)
    for pair in ("Li-F", "Li-Li", "F-F"):
        g = np.asarray(res.g[pair])[(r > 2.5) & (r < 5)]
        assert g.mean() == pytest.approx(1.0, abs=0.03)


def test_first_peak_of_a_noisy_gaussian():
    rng = np.random.default_rng(1)
    r = np.arange(0.005, 6, 0.01)
    g = 5 * np.exp(-0.5 * ((r - 2.013) / 0.1) ** 2) + 2 * np.exp(-0.5 * ((r - 3.5) / 0.15) ** 2)
    g_noisy = np.clip(g + rng.normal(0, 0.3, r.size), 0, None)
    assert rdf.first_peak(r, g) == pytest.approx(2.013, abs=0.005)
    assert rdf.first_peak(r, g_noisy) == pytest.approx(2.013, abs=0.02)
    assert np.isnan(rdf.first_peak(r, np.zeros_like(r)))


def test_rocksalt_a_from_cell():
    at = bulk.rocksalt_lif(4.08, repeat=5)
    assert rdf.rocksalt_a_from_cell(at) == pytest.approx(4.08)
    at += Atoms("Li", positions=[[1.0, 1.0, 1.0]])   # 1001 atoms: one interstitial
    assert rdf.rocksalt_a_from_cell(at) == pytest.approx(4.08)
    with pytest.raises(ValueError, match="8 n"):
        rdf.rocksalt_a_from_cell(at[:100])


def test_nvt_frames_hold_temperature_emt():
    cu = ase_bulk("Cu", "fcc", a=3.59, cubic=True).repeat(3)
    frames = nvt.nvt_frames(EMT(), cu, temperature_K=300, timestep_fs=2.0, n_equil_steps=50,
                            n_steps=100, sample_every=5, friction_per_fs=0.05, seed=3,
                            progress=False)
    assert len(frames) == 20
    t = np.mean([f.info["temperature_K"] for f in frames])
    assert 200 < t < 400       # 108 atoms: ~10 % fluctuations around 300 K
    assert frames[0].calc is None and not frames[0].constraints
    with pytest.raises(ValueError, match="thermostat"):
        nvt.nvt_frames(EMT(), cu, n_equil_steps=0, n_steps=1, thermostat="berendsen",
                       progress=False)


def test_nvt_rdf_tiny_model():
    from lidiff_helpers.simulation import models

    calc = models.get_calculator(str(TINY), dtype="float32", verbose=False)
    res = nvt.nvt_rdf(calc, bulk.rocksalt_lif(3.87, repeat=2), n_equil_steps=5, n_steps=10,
                      sample_every=5, r_max_A=3.5, dr_A=0.05, progress=False)
    assert res.n_frames == 2 and res.a_A == pytest.approx(3.87)
    assert np.isfinite(res.temperature_K) and set(res.g) == {"Li-F", "Li-Li", "F-F"}
    assert rdf.RDFResult.from_dict(res.to_dict()) == res


def test_study_structure_peaks_near_perfect_lattice(study_data_dir):
    """The study's 300 K MACE-MPA-0 structure: first peaks within 0.05 A of a/2, a/sqrt2."""
    res = rdf.structure_rdf("300K", r_max_A=4.5, dr_A=0.02)
    assert res.a_A == pytest.approx(20.41714 / 5)
    tab = rdf.peak_table({"300K": res})
    assert len(tab) == 3 and (tab["shift_A"].abs() < 0.05).all()
