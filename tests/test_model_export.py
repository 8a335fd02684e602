"""Single-head export of multihead models (issue 14 item 8): the exported copy keeps the
chosen head (forces and energy equal that head's, differ from the other head's), has one
head, is cached by source SHA256 + head with a provenance sidecar, and LAMMPS export goes
through it. Uses a real multihead fine-tune of the tiny model (1 epoch, float32)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from lidiff_helpers.core import paths
from lidiff_helpers.core.errors import ModelUnavailableError, ParameterError
from lidiff_helpers.simulation import lammps_inputs, model_export
from lidiff_helpers.simulation.models import get_calculator

TINY = paths.ROOT / "tests" / "models" / "tiny-lif.model"


@pytest.fixture(scope="module")
def multihead(tmp_path_factory, study_data_dir):
    """A real multihead fine-tune of the tiny model (heads Default + pt_head): 1 epoch on
    4 LiF frames + 10 replay frames, float32, fitted E0s and the naive lr so the fine-tuned
    head moves away from the replay head (measured: ~21 s on one thread)."""
    from lidiff_helpers import finetune

    cfg = finetune.plan_sweep(TINY, [[2, 2]], [10], epochs=1, n_valid_bulk=1,
                              n_valid_interstitial=1, replay_source="pool", e0s="fit",
                              force_mh_ft_lr=True, default_dtype="float32")[0]
    res = finetune.run_finetune(cfg, tmp_path_factory.mktemp("mh"), threads=1)
    assert res.status == "trained", res.message
    return res.model


@pytest.fixture(scope="module")
def structure():
    """LiF 2x2x2 + one tetrahedral Li interstitial, rattled (seeded) so no force vanishes."""
    from lidiff_helpers.simulation.structures import lif_supercell

    at = lif_supercell(2)
    at.rattle(0.05, seed=3)
    return at


def _predict(model, atoms, head=None):
    at = atoms.copy()
    at.calc = get_calculator(str(model), dtype="float64", head=head, verbose=False)
    return at.get_potential_energy(), at.get_forces()


@pytest.fixture(scope="module")
def exported(multihead, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("export")
    return out_dir, model_export.export_head(multihead, out_dir)


def test_source_is_multihead(multihead):
    # mace-torch 0.3.16 lists the replay head first: "first head" is not the fine-tuned one
    assert model_export.model_heads(multihead) == ("pt_head", "Default")
    assert model_export.default_head(model_export.model_heads(multihead)) == "Default"
    assert model_export.model_heads(TINY) == ("Default",)


def test_default_export_is_the_finetuned_head(multihead, exported, structure):
    out_dir, out = exported
    sha = model_export.sha256_file(multihead)
    assert out == out_dir.resolve() / f"{multihead.stem}-Default-{sha[:12]}.model"
    assert model_export.model_heads(out) == ("Default",)
    e, f = _predict(out, structure)
    e_ft, f_ft = _predict(multihead, structure, head="Default")
    e_pt, f_pt = _predict(multihead, structure, head="pt_head")
    np.testing.assert_allclose(f, f_ft, rtol=0, atol=1e-6)
    assert e == pytest.approx(e_ft, abs=1e-6)
    # the heads really differ, so the check above can fail
    assert np.abs(f_ft - f_pt).max() > 1e-3
    assert abs(e_ft - e_pt) > 1e-2
    side = json.loads((out.parent / (out.name + ".json")).read_text())
    assert side["head"] == "Default" and side["source_sha256"] == sha
    assert side["source"] == str(multihead.resolve())
    assert side["exported_sha256"] == model_export.sha256_file(out)
    assert side["source_heads"] == ["pt_head", "Default"] and side["mace_torch"] == "0.3.16"


def test_replay_head_only_when_asked(multihead, exported, structure):
    out_dir, _ = exported
    out = model_export.export_head(multihead, out_dir, head="pt_head")
    assert "-pt_head-" in out.name and model_export.model_heads(out) == ("pt_head",)
    e, f = _predict(out, structure)
    e_pt, f_pt = _predict(multihead, structure, head="pt_head")
    np.testing.assert_allclose(f, f_pt, rtol=0, atol=1e-6)
    assert e == pytest.approx(e_pt, abs=1e-6)


def test_unknown_head_names_file_head_and_heads(multihead, tmp_path):
    with pytest.raises(ParameterError, match=rf"{multihead.name}.*'pbe'.*\['pt_head', "
                                             r"'Default'\]"):
        model_export.export_head(multihead, tmp_path, head="pbe")
    with pytest.raises(ParameterError, match=r"tiny-lif\.model.*'pt_head'.*\['Default'\]"):
        model_export.export_head(TINY, tmp_path, head="pt_head")
    assert not list(tmp_path.iterdir())  # refused before any work
    # the ASE consumers too: mace's MACECalculator would silently take the last head
    with pytest.raises(ParameterError, match=rf"{multihead.name}.*'pbe'.*'Default'"):
        get_calculator(multihead, head="pbe", verbose=False)
    with pytest.raises(ParameterError, match=r"tiny-lif\.model.*'pt_head'.*\['Default'\]"):
        get_calculator(TINY, head="pt_head", verbose=False)


def test_single_head_model_comes_back_unchanged(tmp_path):
    from lidiff_helpers import models

    assert models.export_head is model_export.export_head  # the public facade name
    assert model_export.export_head(TINY, tmp_path) == TINY.resolve()
    assert model_export.export_head(TINY, tmp_path, head="Default") == TINY.resolve()
    assert not list(tmp_path.iterdir())


def test_missing_model_names_the_file(tmp_path):
    with pytest.raises(ModelUnavailableError, match="nope.model"):
        model_export.export_head(tmp_path / "nope.model", tmp_path)


def test_cache_reused_and_tampered_sidecar_rewrites(multihead, exported):
    out_dir, out = exported
    side = out.parent / (out.name + ".json")
    os.utime(out, (1, 1))  # an old mtime: a rewrite would change it
    assert model_export.export_head(multihead, out_dir) == out
    assert out.stat().st_mtime == 1
    rec = json.loads(side.read_text())
    side.write_text(json.dumps({**rec, "head": "pt_head"}))  # tampered: not this head
    assert model_export.export_head(multihead, out_dir) == out
    assert out.stat().st_mtime > 1 and json.loads(side.read_text()) == rec
    os.utime(out, (1, 1))
    side.write_text("{not json")  # unreadable sidecar: rewritten too
    assert model_export.export_head(multihead, out_dir) == out
    assert out.stat().st_mtime > 1 and json.loads(side.read_text())["head"] == "Default"
    assert model_export.exported_head_path(multihead, out_dir) == out


@pytest.mark.slow
def test_lammps_export_gets_the_finetuned_head(multihead, exported):
    """export_lammps_model selects the head first; the TorchScript model has one head."""
    import torch

    from lidiff_helpers.analysis import parity

    out_dir = exported[0]
    out = lammps_inputs.export_lammps_model(multihead, out_dir)
    single = model_export.export_head(multihead, out_dir)
    assert out == out_dir / (single.name + "-lammps.pt") and out.is_file()
    assert out == lammps_inputs.lammps_model_path(multihead, out_dir)
    m = torch.jit.load(str(out))
    # mace's LAMMPS wrapper evaluates head index m.head (its default: the LAST head, which
    # for a multihead model would be pt_head); the single-head copy leaves only one
    assert m.head.tolist() == [0]
    e0 = m.model.atomic_energies_fn.atomic_energies.detach().cpu().numpy()
    assert e0.shape == (1, 2) and m.atomic_numbers.tolist() == [3, 9]
    # the fine-tuned head's fitted E0s, not the replay head's (they differ by > 0.1 eV)
    want = parity.model_e0s(get_calculator(multihead, head="Default", verbose=False))
    other = parity.model_e0s(get_calculator(multihead, head="pt_head", verbose=False))
    np.testing.assert_allclose(e0[0], [want["Li"], want["F"]], rtol=0, atol=1e-5)
    assert max(abs(want[k] - other[k]) for k in want) > 0.1
    assert lammps_inputs.export_lammps_model(multihead, out_dir) == out  # reused
