"""SevenNet-0 (simulation/sevennet.py): regression forces, hash check, weights-only loading."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from lidiff_helpers.core.errors import ModelFileError, ModelUnavailableError
from lidiff_helpers.core.provenance import sha256_file
from lidiff_helpers.simulation import models, sevennet


def small_cell():
    """8-atom LiF at the study's lattice + one Li near the tetrahedral site, rattled (seed 7)."""
    at = bulk("LiF", "rocksalt", a=4.0834, cubic=True)
    at += Atoms("Li", positions=[[1.0208, 1.0208, 1.0208]])
    at.positions += np.random.default_rng(7).normal(0, 0.05, at.positions.shape)
    return at


#: SevenNet-0 (sevenn 0.10.4, checkpoint 7052cb42...) on small_cell(), first run, CPU
REF_ENERGY_EV = -37.07275390625
REF_FORCES_EV_A = np.array([
    [-1.206805, -1.318442, -0.768421], [0.480965, -0.381209, -0.26033],
    [-0.758111, 0.035827, 0.811645], [-0.035552, -0.418704, -0.58686],
    [0.697154, -0.338635, 0.503548], [0.035032, 0.662676, -0.170784],
    [1.406286, 1.177327, -0.441931], [-0.803198, 0.776154, -0.686918],
    [0.184229, -0.194994, 1.600051]])
REF_STRESS_EV_A3 = np.array([-0.095958, -0.101715, -0.092939, 0.000672, -0.001219, 0.007884])


def test_forces_energy_stress_match_the_stored_first_run():
    at = small_cell()
    at.calc = models.get_calculator("sevennet-0", verbose=False)
    assert at.get_potential_energy() == pytest.approx(REF_ENERGY_EV, abs=2e-4)
    np.testing.assert_allclose(at.get_forces(), REF_FORCES_EV_A, atol=2e-5)
    np.testing.assert_allclose(at.get_stress(), REF_STRESS_EV_A3, atol=2e-6)
    # a real model: the forces of a rattled cell are not zero and sum to ~0
    assert np.abs(at.get_forces()).max() > 0.5
    np.testing.assert_allclose(at.get_forces().sum(axis=0), 0.0, atol=1e-4)


def test_identity_records_the_checkpoint_hash_and_versions():
    ident = models.model_identity("sevennet-0")
    assert ident["kind"] == "sevennet" and ident["name"] == "sevennet-0"
    assert ident["sha256"] == sevennet.CHECKPOINT_SHA256 == sha256_file(ident["path"])
    assert ident["sevenn_version"] == sevennet.SEVENN_VERSION
    assert "GPL" in ident["licence"] and "10.1021" in ident["citation"]


def _evil_checkpoint(path, marker):
    """A torch.save file whose unpickling would create ``marker`` (runs code)."""

    class Payload:
        def __reduce__(self):
            return (os.makedirs, (str(marker),))

    torch.save({"model_state_dict": {}, "config": Payload()}, path)


def test_weights_only_load_refuses_a_file_that_runs_code(tmp_path):
    # mace-torch sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 when imported: still refused
    import mace.calculators  # noqa: F401

    assert os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD") == "1"
    f, marker = tmp_path / "evil.pth", tmp_path / "code-ran"
    _evil_checkpoint(f, marker)
    with pytest.raises(ModelFileError, match="weights-only"):
        sevennet.load_checkpoint(f, expected_sha256=sha256_file(f))
    assert not marker.exists()


def test_a_tampered_checkpoint_is_refused_before_unpickling(tmp_path):
    f, marker = tmp_path / "checkpoint_sevennet_0.pth", tmp_path / "code-ran"
    _evil_checkpoint(f, marker)
    with pytest.raises(ModelFileError, match="SHA256 .* differs from the recorded"):
        sevennet.load_checkpoint(f)
    assert not marker.exists()
    # the real file with one byte appended
    g = tmp_path / "appended.pth"
    g.write_bytes(sevennet.checkpoint_path().read_bytes() + b"\0")
    with pytest.raises(ModelFileError, match=str(g)):
        sevennet.calculator(path=g)


def test_the_real_checkpoint_and_calculator_load_in_a_fresh_process():
    """Loading works without help from an earlier import in the same process (e3nn 0.4.4's
    own constants.pt needs ``slice`` under torch's weights-only default)."""
    code = ("from lidiff_helpers.simulation import sevennet; "
            "ck = sevennet.load_checkpoint(sevennet.checkpoint_path()); "
            "c = sevennet.calculator(); print(sorted(ck)[:2], type(c).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "['config', 'epoch'] SevenNetCalculator" in out.stdout


def test_wrong_sevenn_version_is_named(monkeypatch):
    monkeypatch.setattr(sevennet, "_sevenn_version", lambda: "0.11.2")
    with pytest.raises(ModelUnavailableError, match="sevenn 0.11.2 is installed.*0.10.4"):
        models.resolve_spec("sevennet-0")
    monkeypatch.setattr(sevennet, "_sevenn_version", lambda: None)
    with pytest.raises(ModelUnavailableError, match="pip install sevenn==0.10.4"):
        models.resolve_spec("sevennet-0")


def test_a_head_is_refused():
    with pytest.raises(models.ParameterError, match="one head"):
        models.get_calculator("sevennet-0", head="Default", verbose=False)
