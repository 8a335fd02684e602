"""Labelling: the pw.x input carries every study setting; surrogate labels are marked;
pw.x runs end to end when Quantum ESPRESSO is installed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from lidiff_helpers.simulation.structures import lif_supercell
from lidiff_helpers.synthetic.paw import generate_test_paw_datasets
from lidiff_helpers.training import labelling

TINY = Path(__file__).parent / "models" / "tiny-lif.model"


def _namelists(path: Path):
    from ase.io.espresso import read_fortran_namelist

    with open(path) as fd:
        return read_fortran_namelist(fd)


def test_pw_input_carries_every_study_setting(tmp_path):
    atoms = lif_supercell(3, interstitial="tetrahedral")  # 217 atoms
    (tmp_path / "pp").mkdir()
    lab = labelling.QuantumEspressoLabeller(pseudo_dir=tmp_path / "pp", workdir=tmp_path / "w")
    pwi = lab.write_input(atoms, tmp_path / "frame.pwi")
    nl, cards = _namelists(pwi)
    control, system, electrons = nl["control"], nl["system"], nl["electrons"]
    assert control["calculation"] == "scf"
    assert control["tprnfor"] is True and control["tstress"] is True
    assert Path(control["pseudo_dir"]) == (tmp_path / "pp").resolve()
    assert system["input_dft"].upper() == "PBE"
    assert system["ecutwfc"] == pytest.approx(110.0)
    assert system["ecutrho"] == pytest.approx(440.0)
    assert system["occupations"] == "smearing"
    assert system["smearing"] == "gaussian"
    assert system["degauss"] == pytest.approx(0.005)
    assert electrons["conv_thr"] == pytest.approx(5e-7)
    assert system["nat"] == 217 and system["ntyp"] == 2
    text = "\n".join(cards)
    assert "K_POINTS gamma" in text  # Gamma point only (gamma tricks)
    assert "Li.pbe-s-kjpaw_psl.1.0.0.UPF" in text and "F.pbe-n-kjpaw_psl.1.0.0.UPF" in text
    assert sum(line.split()[0] in ("Li", "F") for line in cards
               if len(line.split()) == 4) == 217


def test_settings_are_configurable(tmp_path):
    lab = labelling.QuantumEspressoLabeller(
        pseudo_dir=tmp_path, workdir=tmp_path, ecutwfc_Ry=60.0, ecutrho_Ry=240.0,
        pseudopotentials={"Li": "a.UPF", "F": "b.UPF"}, input_data={"mixing_beta": 0.3})
    s = lab.settings()
    assert s["ecutwfc"] == 60.0 and s["ecutrho"] == 240.0 and s["mixing_beta"] == 0.3
    nl, cards = _namelists(lab.write_input(lif_supercell(1, interstitial="none"),
                                           tmp_path / "x.pwi"))
    assert nl["electrons"]["mixing_beta"] == pytest.approx(0.3)
    assert any("a.UPF" in c for c in cards)


def test_missing_pseudopotential_is_named(tmp_path):
    lab = labelling.QuantumEspressoLabeller(pseudo_dir=tmp_path, workdir=tmp_path)
    with pytest.raises(labelling.LabellingError, match="Li.pbe-s-kjpaw_psl.1.0.0.UPF"):
        lab.check_pseudopotentials(lif_supercell(1, interstitial="none"))
    with pytest.raises(labelling.LabellingError, match="no pseudopotential named"):
        labelling.QuantumEspressoLabeller(tmp_path, tmp_path, pseudopotentials={"Li": "x"}) \
            .check_pseudopotentials(lif_supercell(1, interstitial="none"))


def test_surrogate_labels_are_the_model_and_marked():
    from lidiff_helpers.simulation import models

    frames = [lif_supercell(2, interstitial=k) for k in ("none", "tetrahedral")]
    frames[1].rattle(0.05, seed=2)
    lab = labelling.SurrogateLabeller.from_spec(str(TINY), name="tiny-lif")
    out = lab.label(frames)
    calc = lab.calculator
    assert models.resolve_spec(str(TINY)).path.name == "tiny-lif.model"
    for src, got in zip(frames, out):
        ref = src.copy()
        ref.calc = calc
        assert got.info["REF_energy"] == pytest.approx(ref.get_potential_energy(), abs=1e-9)
        np.testing.assert_allclose(got.arrays["REF_forces"], ref.get_forces(), atol=1e-10)
        np.testing.assert_allclose(got.info["REF_stress"], ref.get_stress(voigt=False),
                                   atol=1e-12)
        assert got.info["label_source"] == "surrogate:tiny-lif"
        assert "REF_energy" not in src.info  # inputs untouched
    assert labelling.label_sources(out) == ["surrogate:tiny-lif"]


def _need_qe():
    # .ci/run installs Debian's quantum-espresso and sets LIDIFF_REQUIRE_QE=1: there a
    # missing pw.x fails the test instead of skipping it
    if shutil.which("pw.x") is None or shutil.which("ld1.x") is None:
        if os.environ.get("LIDIFF_REQUIRE_QE") == "1":
            pytest.fail("LIDIFF_REQUIRE_QE=1 but pw.x/ld1.x are not on PATH "
                        "(Debian: apt-get install quantum-espresso)")
        pytest.skip("Quantum ESPRESSO (pw.x, ld1.x) not installed; "
                    "Debian: apt-get install quantum-espresso")


def test_pw_runs_and_labels_a_lif_cell(tmp_path):
    _need_qe()
    # stand-in PAW datasets made with ld1.x (the study's pslibrary files are not
    # downloadable here); low cutoffs keep the test to seconds - the study's settings
    # are checked in the input test above
    names = generate_test_paw_datasets(tmp_path / "pp")
    lab = labelling.QuantumEspressoLabeller(pseudo_dir=tmp_path / "pp", workdir=tmp_path / "w",
                                            pseudopotentials=names, ecutwfc_Ry=40.0,
                                            ecutrho_Ry=160.0)
    at = lif_supercell(1, interstitial="none")
    at.rattle(0.05, seed=1)
    out = lab.label([at], progress=False)[0]
    f = out.arrays["REF_forces"]
    assert out.info["label_source"] == "dft:qe-pw.x"
    assert np.isfinite(out.info["REF_energy"]) and out.info["REF_energy"] < -1000.0
    assert np.abs(f).max() > 1e-3  # a rattled cell feels forces
    np.testing.assert_allclose(f.sum(axis=0), 0.0, atol=1e-3)  # no net force
    np.testing.assert_allclose(out.info["REF_stress"], out.info["REF_stress"].T, atol=1e-8)
    again = lab.label([at], progress=False)[0]  # read back from the frame's folder
    assert again.info["REF_energy"] == out.info["REF_energy"]
    np.testing.assert_array_equal(again.arrays["REF_forces"], f)


def test_make_labeller_and_surrogate_resolution(tmp_path):
    from lidiff_helpers.io import model_registry as registry

    assert labelling.resolve_surrogate("foundation", "embedded") == "embedded"
    with pytest.raises(labelling.LabellingError, match="no model 'best' registered"):
        labelling.resolve_surrogate("registry:best", "embedded", tmp_path)
    registry.register_model(tmp_path, "best", TINY, "02_finetune_sweeps")
    assert labelling.resolve_surrogate("registry:best", "embedded", tmp_path) == \
        str(TINY.resolve())
    with pytest.raises(labelling.LabellingError, match="qe_pseudo_dir"):
        labelling.make_labeller("qe")
    with pytest.raises(labelling.LabellingError, match="unknown labeller"):
        labelling.make_labeller("vasp")
    qe = labelling.make_labeller("qe", qe_pseudo_dir=tmp_path, workdir=tmp_path)
    assert qe.source == "dft:qe-pw.x" and qe.settings()["ecutwfc"] == 110.0


def test_an_scf_stopped_at_max_seconds_continues_to_the_uninterrupted_labels(tmp_path):
    """Known answer: the same frame without a time limit. Stopped mid-SCF (max_seconds),
    labelled again, the SCF continues (pw.x restart_mode='restart') and ends at the same
    energy and forces (to the SCF threshold); a run stopped after it converged (while
    computing forces) starts over; settings that do not change labels (max_seconds) share
    nothing with other settings (spin) in the cache."""
    _need_qe()
    names = generate_test_paw_datasets(tmp_path / "pp")
    kw = dict(pseudo_dir=tmp_path / "pp", pseudopotentials=names, ecutwfc_Ry=40.0,
              ecutrho_Ry=160.0)
    at = lif_supercell(1, interstitial="none")
    at.rattle(0.05, seed=1)
    ref = labelling.QuantumEspressoLabeller(workdir=tmp_path / "ref", **kw).label(
        [at], progress=False)[0]
    n_ref = labelling.QuantumEspressoLabeller.progress_of(
        next((tmp_path / "ref").iterdir()))["scf_iterations"]
    lab = labelling.QuantumEspressoLabeller(workdir=tmp_path / "w", max_seconds=2.0, **kw)
    stops = 0
    for _ in range(20):
        try:
            out = lab.label([at], progress=False)[0]
            break
        except labelling.LabellingInterrupted as exc:
            assert "label it again to continue" in str(exc)
            stops += 1
    folder = next((tmp_path / "w").iterdir())
    prog = labelling.QuantumEspressoLabeller.progress_of(folder)
    assert stops >= 1 and prog["runs"] == stops + 1 and prog["done"]
    # a run stopped mid-SCF is continued (at most ~2 iterations repeated per stop); one
    # stopped after its SCF converged (computing forces) starts over: n_ref more iterations
    outs = sorted(folder.glob("espresso.pwo.*"), key=lambda q: int(q.suffix[1:]))
    over = sum("convergence has been achieved" in q.read_text(errors="replace")
               for q in outs)
    assert prog["scf_iterations"] <= n_ref * (1 + over) + 2 * stops, (n_ref, stops, over)
    assert out.info["REF_energy"] == pytest.approx(ref.info["REF_energy"], abs=1e-4)
    np.testing.assert_allclose(out.arrays["REF_forces"], ref.arrays["REF_forces"], atol=5e-3)
    assert not (folder / "pwscf-out").exists()          # wavefunctions removed when done
    assert lab.settings_hash(at) == labelling.QuantumEspressoLabeller(
        workdir=tmp_path / "w", **kw).settings_hash(at)
    spin = labelling.QuantumEspressoLabeller(workdir=tmp_path / "w", input_data={"nspin": 2},
                                             **kw)
    assert spin.settings_hash(at) != lab.settings_hash(at)
    with pytest.raises(labelling.LabellingError, match="before its first SCF iteration"):
        labelling.QuantumEspressoLabeller(workdir=tmp_path / "x", max_seconds=0.01,
                                          **kw).label([at], progress=False)


def test_finished_pw_runs_copied_to_a_state_folder_are_read_back_without_pw(tmp_path):
    """A finished pw.x folder copied out (labels, input, output; no wavefunctions) and into
    a fresh work folder is read back as the same labels by a labeller whose pw.x command
    would fail; unfinished folders are not copied; nothing already there is overwritten."""
    _need_qe()
    names = generate_test_paw_datasets(tmp_path / "pp")
    kw = {"pseudo_dir": tmp_path / "pp", "pseudopotentials": names, "ecutwfc_Ry": 40.0,
          "ecutrho_Ry": 160.0}
    at = lif_supercell(1, interstitial="none")
    at.rattle(0.05, seed=2)
    ref = labelling.QuantumEspressoLabeller(workdir=tmp_path / "w", **kw).label(
        [at], progress=False)[0]
    (tmp_path / "w" / "unfinished").mkdir()
    (tmp_path / "w" / "unfinished" / "espresso.pwo").write_text("iteration #  1\n")
    assert labelling.copy_finished_labels(tmp_path / "w", tmp_path / "state") == 1
    assert labelling.copy_finished_labels(tmp_path / "w", tmp_path / "state") == 0
    (saved,) = (tmp_path / "state").iterdir()
    assert sorted(p.name for p in saved.iterdir()) == ["espresso.pwi", "espresso.pwo",
                                                         "labels.npz"]
    assert labelling.copy_finished_labels(tmp_path / "state", tmp_path / "fresh") == 1
    offline = labelling.QuantumEspressoLabeller(workdir=tmp_path / "fresh", command="false",
                                                **kw)
    back = offline.label([at], progress=False)[0]
    assert back.info["REF_energy"] == ref.info["REF_energy"]
    np.testing.assert_array_equal(back.arrays["REF_forces"], ref.arrays["REF_forces"])
    prog = offline.progress_of(tmp_path / "fresh" / saved.name)
    assert prog["done"] and prog["runs"] == 1 and prog["wall_s"] > 0
    assert labelling.copy_finished_labels(tmp_path / "nowhere", tmp_path / "x") == 0
