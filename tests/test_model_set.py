"""One builder of "the models to compare" for notebooks 01 and 04: one rule (weights SHA256)."""

from __future__ import annotations

from pathlib import Path

from lidiff_helpers.io import model_registry as registry
from lidiff_helpers.simulation import bulk, md_grid
from lidiff_helpers.simulation.model_set import models_to_compare

TINY = Path(__file__).parent / "models" / "tiny-lif.model"


def _registry(tmp_path):
    other = tmp_path / "other" / "tiny-lif.model"       # same stem, other weights
    other.parent.mkdir()
    other.write_bytes(TINY.read_bytes() + b"\0")
    copy = tmp_path / "copy.model"                       # same weights as the foundation
    copy.write_bytes(TINY.read_bytes())
    registry.register_model(tmp_path, "ft-copy", copy, "02_finetune_sweeps")
    registry.register_model(tmp_path, "tiny-lif", other, "03_active_learning",
                            {"energy_reference": "study"})
    return other


def test_same_weights_kept_once_and_labels_unique(tmp_path, capsys):
    other = _registry(tmp_path)
    ms = models_to_compare(str(TINY), [str(TINY)], out=tmp_path)
    assert [m.label for m in ms] == ["tiny-lif", "tiny-lif-2"]
    assert [m.role for m in ms] == ["foundation", "registered"]
    assert ms[1].spec == str(other.resolve()) and ms[1].sha256 != ms[0].sha256
    assert ms[1].meta["energy_reference"] == "study"
    out = capsys.readouterr().out
    assert "tiny-lif (extra_models): same weights" in out
    assert "ft-copy (registered by 02_finetune_sweeps): same weights" in out
    assert ms[0].as_dict() == {"name": "tiny-lif", "spec": str(TINY.resolve()),
                               "sha256": ms[0].sha256, "foundation": True,
                               "source": f"foundation_model={TINY}"}


def test_notebooks_01_and_04_list_the_same_models(tmp_path):
    _registry(tmp_path)
    nb01 = bulk.validation_models(str(TINY), [], registry.registered_models(tmp_path))
    nb04 = md_grid.collect_models(tmp_path, str(TINY), [], include_registered=True)
    assert [(m.label, m.spec, m.sha256) for m in nb01] == \
        [(m["name"], m["spec"], m["sha256"]) for m in nb04]


def test_max_extra_models_and_no_registry(tmp_path, capsys):
    _registry(tmp_path)
    assert len(models_to_compare(str(TINY), out=tmp_path, max_extra_models=0)) == 1
    assert "not comparing tiny-lif" in capsys.readouterr().out
    assert len(models_to_compare(str(TINY), out=tmp_path, include_registered=False)) == 1
    assert len(models_to_compare(str(TINY))) == 1
