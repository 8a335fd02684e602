"""Bad MD input stops before any step, with an error naming the run/file and the problem."""

from __future__ import annotations

import numpy as np
import pytest
from test_md import MODELS, TINY, MorseSF, cu, cu_run

from lidiff_helpers.core.errors import CheckpointError, ParameterError
from lidiff_helpers.simulation import md, md_grid

GRID = dict(arrhenius_models=["foundation"], arrhenius_temperatures_K=[800],
            arrhenius_replicas=1, arrhenius_production_ps=1.0, comparison_temperatures_K=[],
            comparison_replicas=1, comparison_production_ps=1.0, start_structure="lif:2",
            equilibration_ps=0.1, foundation_equilibration_ps=0.1, seed=1)


@pytest.mark.parametrize("field, value, message", [
    ("timestep_fs", 0.0, "timestep_fs must be > 0, got 0.0"),        # was ZeroDivisionError
    ("timestep_fs", -1.0, "timestep_fs must be > 0, got -1.0"),
    ("temperature_K", 0.0, "temperature_K must be > 0, got 0.0"),
    ("temperature_K", -300.0, "temperature_K must be > 0"),
    ("temperature_K", [900.0], r"temperature_K must be a number, got \[900.0\] \(list\)"),
    ("production_ps", "1", "production_ps must be a number, got '1' \\(str\\)"),
    ("save_every", 2.5, "save_every must be an integer, got 2.5"),
])
def test_run_definition_refuses_bad_values_naming_the_run(field, value, message):
    with pytest.raises(ParameterError, match=f"MD run 'cu': .*{message}"):
        cu_run(**{field: value})


@pytest.mark.parametrize("key, value, message", [
    ("arrhenius_temperatures_K", 900, r"arrhenius_temperatures_K must be a list, got 900 "
                                      r"\(int\); write \[900\]"),
    ("comparison_temperatures_K", 1000.0, "comparison_temperatures_K must be a list"),
    ("arrhenius_models", "foundation", "arrhenius_models must be a list"),
    ("arrhenius_temperatures_K", [800, 0], "holds 0: temperatures must be numbers > 0 K"),
    ("arrhenius_temperatures_K", ["800"], "holds '800': temperatures must be numbers"),
    ("arrhenius_replicas", -1, "arrhenius_replicas must be an integer >= 0, got -1"),
    ("equilibration_ps", -0.1, "equilibration_ps must be a number >= 0 ps, got -0.1"),
])
def test_grid_refuses_scalars_and_bad_temperatures(key, value, message):
    with pytest.raises(ParameterError, match=f"MD grid: .*{message}"):
        md_grid.build_grid(MODELS, **{**GRID, key: value})


def test_grid_accepts_integers_and_model_entries():
    from lidiff_helpers.simulation.model_set import models_to_compare

    runs = md_grid.build_grid(models_to_compare(str(TINY)), **GRID)
    assert [r.temperature_K for r in runs] == [800.0] and runs[0].model == "tiny-lif"


def test_model_without_the_structures_elements_is_refused_before_md(tmp_path):
    r = md.MDRun(name="cu-tiny", model_spec=str(TINY), model="tiny-lif",
                 start_structure="cu-fcc", temperature_K=500.0, production_ps=0.01,
                 save_every=5, dtype="float64")
    with pytest.raises(ParameterError, match=r"MD run 'cu-tiny': model .*tiny-lif.model has "
                                             r"no parameters for \['Cu'\].*covers \['Li', 'F'\]"):
        md.run_md(r, tmp_path, atoms=cu(2), progress=False)
    assert not (tmp_path / "cu-tiny" / "thermo.csv").exists()


def test_corrupt_checkpoint_names_the_file_and_how_to_restart(tmp_path):
    r = cu_run(production_ps=0.25)
    folder = tmp_path / r.name
    folder.mkdir()
    (folder / "checkpoint.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match=r"checkpoint .*cu/checkpoint.npz is corrupt"
                                              r".*restart=True"):
        md.run_md(r, tmp_path, calculator=MorseSF(), atoms=cu(), progress=False)
    np.savez(folder / "checkpoint.npz", step=np.array(3))
    with pytest.raises(CheckpointError, match=r"checkpoint\.npz lacks \['numbers'"):
        md.run_md(r, tmp_path, calculator=MorseSF(), atoms=cu(), progress=False)
    rec = md.run_md(r, tmp_path, calculator=MorseSF(), atoms=cu(), progress=False,
                    restart=True)
    assert rec["status"] == "done"
