"""Starting structures: the built supercell with its interstitial, the study's .data files."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.neighborlist import neighbor_list

from lidiff_helpers.io import data
from lidiff_helpers.simulation import structures
from lidiff_helpers.simulation.structures import LIF_LATTICE_A, lif_supercell, load_start_structure


def test_lattice_constant_is_the_studys_box_over_five():
    assert LIF_LATTICE_A == pytest.approx(4.083428)


def test_3x3x3_cell_with_tetrahedral_interstitial():
    at = lif_supercell(3)
    a = LIF_LATTICE_A
    assert len(at) == 217
    assert at.get_chemical_symbols().count("Li") == 109
    assert at.get_chemical_symbols().count("F") == 108
    assert at.info["interstitial_index"] == 216
    np.testing.assert_allclose(at.cell.array, np.eye(3) * 3 * a)
    np.testing.assert_allclose(at.positions[216], [a / 4] * 3)
    # the tetrahedral site: 4 Li and 4 F at a*sqrt(3)/4 = 1.768 A, nothing closer
    i, j, d = neighbor_list("ijd", at, 2.0)
    sel = i == 216
    assert sel.sum() == 8
    np.testing.assert_allclose(d[sel], a * np.sqrt(3) / 4, atol=1e-9)
    syms = np.array(at.get_chemical_symbols())[j[sel]]
    assert sorted(syms) == ["F"] * 4 + ["Li"] * 4
    assert d.min() == pytest.approx(a * np.sqrt(3) / 4)


def test_bulk_rock_salt_neighbours():
    at = lif_supercell(2, interstitial="none")
    assert len(at) == 64 and at.info["interstitial_index"] is None
    i, j, d = neighbor_list("ijd", at, LIF_LATTICE_A / 2 + 0.01)
    assert np.bincount(i).tolist() == [6] * 64                 # octahedral coordination
    sym = np.array(at.get_chemical_symbols())
    assert (sym[i] != sym[j]).all()                            # Li-F only
    np.testing.assert_allclose(d, LIF_LATTICE_A / 2)


def test_study_size_cell():
    at = lif_supercell(5)
    assert len(at) == 1001
    np.testing.assert_allclose(np.diag(at.cell.array), 20.41714)


def test_specs_and_errors():
    s = load_start_structure("lif:3")
    assert len(s.atoms) == 217 and s.velocities_A_ps is None and s.sha256 is None
    assert "tetrahedral" in s.description
    assert len(load_start_structure("lif:2:none").atoms) == 64
    with pytest.raises(ValueError, match="lif:<n>"):
        load_start_structure("lif:x")
    with pytest.raises(ValueError, match=r"unknown study structure '999K'.*450K_0"):
        load_start_structure("data:999K")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_start_structure("/nonexistent/start.xyz")


def test_study_start_mapping():
    f = structures.study_start_structure
    assert f(450, 1) == ("data:450K_1", True)
    assert f(300, 0) == ("data:300K", True)
    assert f(300, 1) == ("data:300K", False)
    assert f(350, 3) == ("data:300K", False)        # tie 300/400 -> the lower
    assert f(500, 0) == ("data:450K_0", False)
    assert f(500, 3) == ("data:450K_1", False)


@pytest.mark.needs_data
def test_study_data_file_with_velocities(study_data_dir):
    s = load_start_structure("data:450K_0")
    at = s.atoms
    assert len(at) == 1001 and at.get_chemical_symbols().count("Li") == 501
    np.testing.assert_allclose(np.diag(at.cell.array), 20.41714)
    assert s.sha256 == data.registry()[data.STARTING_STRUCTURES["450K_0"]]
    # LAMMPS metal velocities (A/ps) -> ASE units: the kinetic temperature is the file's
    v = s.velocities_A_ps
    assert v.shape == (1001, 3)
    at.set_velocities(v / (1000 * units.fs))
    assert at.get_temperature() == pytest.approx(450, rel=0.1)
    # velocities are sorted by atom id like the positions: atom id 6 is the first F line
    # of the file (id 6, type 2) in this data file
    assert at.get_chemical_symbols()[5] == "F"


def test_velocities_section_errors(tmp_path):
    p = tmp_path / "bad.data"
    p.write_text("x\n\n2 atoms\n\nVelocities\n\n1 0.1 0.2 0.3\n2 0.1 0.2\n")
    with pytest.raises(data.DataError, match=r"bad.data, line 8"):
        structures.read_lammps_velocities(p)
    p.write_text("x\n\n2 atoms\n\nAtoms\n\n")
    assert structures.read_lammps_velocities(p) is None


def test_lattice_constants_have_one_home():
    from lidiff_helpers.core import units
    from lidiff_helpers.simulation import bulk

    assert LIF_LATTICE_A == units.LIF_A_STUDY_A == units.STUDY_BOX_EDGE_A / 5
    assert bulk.LIF_A_GUESS_A == units.LIF_A_PBE_A
    from lidiff_helpers.runner import profiles

    assert profiles.declared("01_bulk_validation")["a_guess_A"] == units.LIF_A_PBE_A
