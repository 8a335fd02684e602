"""Phonons with phonopy (lidiff_helpers.simulation.phonons): invariants and known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase import units
from ase.calculators.emt import EMT

from lidiff_helpers.simulation import bulk, phonons

TINY = Path(__file__).parent / "models" / "tiny-lif.model"




@pytest.fixture(scope="module")
def cu_phonons(cu):
    # raw force constants (no symmetrisation): the acoustic sum rule must come from the
    # model's translational invariance, not be imposed
    return phonons.phonons(EMT(), cu, supercell=(2, 2, 2), mesh=(6, 6, 6), band_points=41,
                           symmetrize=False)


def test_acoustic_modes_vanish_at_gamma_emt_cu(cu_phonons):
    ph = cu_phonons
    assert len(ph.gamma_THz) == 3 and ph.gamma_optical_THz is None
    assert ph.gamma_acoustic_max_THz < 1e-3
    assert ph.min_frequency_THz > -1e-3           # dynamically stable, no imaginary mode
    assert ph.n_displacements == 1                # fcc: one symmetry-distinct displacement
    assert ph.max_drift_eV_A < 1e-8
    assert ph.band_labels == ("Γ", "X", "U|K", "Γ", "L", "W", "X")


def test_sound_velocities_match_elastic_constants(cu, cu_phonons):
    """Slopes of the acoustic branches along Gamma-X equal sqrt(C11/rho) (longitudinal)
    and sqrt(C44/rho) (transverse) from the independent stress-strain C_ij."""
    el = bulk.elastic_constants(EMT(), cu, strains=(-0.002, 0.002))
    rho_kg_m3 = cu.get_masses().sum() * units._amu / (cu.get_volume() * 1e-30)
    v_l = np.sqrt(el.C11_GPa * 1e9 / rho_kg_m3)
    v_t = np.sqrt(el.C44_GPa * 1e9 / rho_kg_m3)
    d = np.asarray(cu_phonons.band_distances[0])          # 1/A (no 2 pi)
    f = np.sort(np.asarray(cu_phonons.band_frequencies_THz[0])[1])   # THz at the 1st q
    v = f / d[1] * 1e12 * 1e-10                            # m/s
    assert v[0] == pytest.approx(v_t, rel=0.02) and v[1] == pytest.approx(v_t, rel=0.02)
    assert v[2] == pytest.approx(v_l, rel=0.02)


def test_result_round_trip(cu_phonons):
    back = phonons.PhononResult.from_dict(json.loads(json.dumps(cu_phonons.to_dict())))
    assert back == cu_phonons


def test_rocksalt_with_tiny_model():
    """Rock salt (2-atom basis): 6 modes, 3 acoustic zero at Gamma, optical > 0, two
    displacements in the 64-atom supercell of the conventional cell."""
    from lidiff_helpers.simulation import models

    calc = models.get_calculator(str(TINY), verbose=False)
    at = bulk.rocksalt_lif(3.87)
    ph = phonons.phonons(calc, at, supercell=(2, 2, 2), mesh=(4, 4, 4), band_points=5)
    assert len(ph.gamma_THz) == 6 and ph.n_displacements == 2
    assert ph.gamma_acoustic_max_THz < 1e-3
    assert ph.gamma_optical_THz > 0.1
    # triply degenerate
    np.testing.assert_allclose(ph.gamma_THz[3:], ph.gamma_optical_THz, rtol=1e-6)
    assert "LO-TO" in phonons.LOTO_NOTE
