"""Profiles: resolution, overrides, unknown-name rejection; notebooks match their YAML."""

from __future__ import annotations

import ast
import json

import nbformat
import pytest

from lidiff_helpers.core import paths
from lidiff_helpers.runner import notebook, profiles
from lidiff_helpers.runner.run import _split_overrides, main, notebooks


def test_every_notebook_has_a_profile_file():
    stems = [nb.stem for nb in notebooks()]
    assert stems == profiles.notebook_names()
    assert stems[:6] == ["00_data_and_models", "01_bulk_validation", "02_finetune_sweeps",
                         "03_active_learning", "04_md_diffusion", "05_arrhenius_analysis"]


@pytest.mark.parametrize("prof", profiles.PROFILES)
def test_profiles_resolve_for_every_notebook(prof):
    for stem in profiles.notebook_names():
        params = profiles.resolve(stem, prof)
        assert set(params) == set(profiles.declared(stem))


def test_paper_profile_is_the_study_foundation_model():
    assert profiles.resolve("00_data_and_models", "paper")["foundation_model"] == "mace-mpa-0"
    assert profiles.resolve("00_data_and_models", "quick")["foundation_model"] == "auto"


def test_override_applies_on_top_of_profile():
    p = profiles.resolve("00_data_and_models", "ci", {"seed": 5})
    assert p["seed"] == 5
    assert profiles.resolve("00_data_and_models", "ci")["seed"] != 5


def test_unknown_parameter_is_an_error():
    with pytest.raises(profiles.UnknownParameterError, match="n_stepz"):
        profiles.resolve("00_data_and_models", "ci", {"n_stepz": 3})
    with pytest.raises(ValueError, match="unknown profile"):
        profiles.resolve("00_data_and_models", "fast")


def test_runner_rejects_unknown_parameter_before_running(capsys):
    assert main(["--profile", "ci", "--only", "00", "-p", "bogus_name", "1"]) == 2
    assert "bogus_name" in capsys.readouterr().err


def test_runner_routes_overrides_to_declaring_notebooks():
    nbs = notebooks(["00", "05"])
    per = _split_overrides(nbs, {"seed": 3})
    assert per == {nb.stem: {"seed": 3} for nb in nbs}


def _parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
    return nb, cells[0]


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_parameters_cell_matches_profile(path):
    nb, cell = _parameters_cell(path)
    tree = ast.parse(cell.source)
    names = {}
    for node in tree.body:
        assert isinstance(node, (ast.Assign, ast.AnnAssign)), \
            f"{path.name}: parameters cell holds only assignments"
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        names[target.id] = ast.literal_eval(node.value)
    assert names.pop("profile") in profiles.PROFILES
    assert set(names) == set(profiles.declared(path.stem)), path.name
    assert all(v is None for v in names.values()), "parameters default to None (= profile)"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_sources_are_thin_and_stripped(path):
    nb, _ = _parameters_cell(path)
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        assert not c.get("outputs"), f"{path.name}: commit notebooks without outputs"
        tree = ast.parse(c.source.replace("%", "#"))
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.walk(tree)), \
            f"{path.name}: define functions in lidiff_helpers, not in cells"
        assert "sys.path" not in c.source


def test_setup_notebook_resolves_and_rejects(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RESULTS", tmp_path)
    ns = {"profile": "ci", "seed": None, "foundation_model": None, "device": None,
          "extra_models": None, "results_tag": None, "show_structures": None}
    run = notebook.setup_notebook("00_data_and_models", ns)
    assert run.out == tmp_path / "ci" and run.p.seed == profiles.resolve(
        "00_data_and_models", "ci")["seed"]
    run2 = notebook.setup_notebook("00_data_and_models", {**ns, "seed": 11})
    assert run2.overrides == {"seed": 11} and run2.out.name.startswith("ci+")
    with pytest.raises(profiles.UnknownParameterError, match="typo_param"):
        notebook.setup_notebook("00_data_and_models", {**ns, "typo_param": 1})


def test_summary_and_figure_carry_provenance(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    monkeypatch.setattr(paths, "RESULTS", tmp_path)
    run = notebook.setup_notebook("00_data_and_models", {"profile": "ci"})
    run.add_model({"name": "m", "sha256": "abc"})
    run.add_data({"f.xyz": "123"})
    fig, ax = plt.subplots()
    png = run.save_figure(fig, "demo")
    assert png.exists() and png.with_suffix(".svg").exists()
    rec = json.loads(png.with_name("demo.png.provenance.json").read_text())
    assert rec["models"] == [{"name": "m", "sha256": "abc"}]
    assert rec["data_files"] == {"f.xyz": "123"}
    assert rec["profile"] == "ci" and rec["packages"]["numpy"]
    csv = run.save_table(pd.DataFrame({"a / eV": [1.0]}), "t")
    assert csv.read_text().startswith("a / eV") and csv.with_suffix(".md").exists()
    s = json.loads(run.save_summary({"x": 1}).read_text())
    assert s["values"] == {"x": 1} and s["provenance"]["notebook"] == "00_data_and_models"


def test_a_figure_without_data_is_one_line_not_empty_axes(tmp_path, monkeypatch, capsys):
    """Figure 3 of a profile without runs at 400/450 K: a line, no figure file (and an
    earlier run's figure of that name is removed, saying so); with runs at one of the two
    temperatures only that panel is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from lidiff_helpers.figures.diffusion import plot_D_at_temperatures

    monkeypatch.setattr(paths, "RESULTS", tmp_path)
    run = notebook.setup_notebook("00_data_and_models", {"profile": "ci"})
    run.save_figure(plt.subplots()[0], "fig3_D_by_model")
    tab = pd.DataFrame({"model": ["a", "b"], "temperature_K": [600.0, 450.0],
                        "D_cm2_s": [1e-6, 2e-7], "D_err_cm2_s": [1e-7, 2e-8]})
    line = plot_D_at_temperatures(tab[:1], (400.0, 450.0), synthetic=True)
    assert isinstance(line, str) and "400 or 450 K" in line
    assert run.save_figure(line, "fig3_D_by_model") is None
    assert not list(run.figures.glob("fig3_D_by_model*"))
    out = capsys.readouterr().out
    assert "fig3_D_by_model: no MD run at 400 or 450 K" in out and "removed the earlier" in out
    fig = plot_D_at_temperatures(tab, (400.0, 450.0), synthetic=True)
    assert [ax.get_title() for ax in fig.axes] == ["450 K"]


def test_profile_values_are_type_checked_against_the_defaults():
    from lidiff_helpers.core.errors import ParameterError

    with pytest.raises(ParameterError, match="notebook 04_md_diffusion: parameter "
                                             "'arrhenius_production_ps' must be a number"
                                             ".*got 'long' \\(str\\)"):
        profiles.resolve("04_md_diffusion", "ci", {"arrhenius_production_ps": "long"})
    with pytest.raises(ParameterError, match="'arrhenius_temperatures_K' must be a list.*"
                                             "got 900 \\(int\\)"):
        profiles.resolve("04_md_diffusion", "ci", {"arrhenius_temperatures_K": 900})
    with pytest.raises(ParameterError, match="'save_every' must be an integer.*got True"):
        profiles.resolve("04_md_diffusion", "ci", {"save_every": True})
    with pytest.raises(ParameterError, match="'include_registered' must be true or false"):
        profiles.resolve("04_md_diffusion", "ci", {"include_registered": "yes"})
    p = profiles.resolve("04_md_diffusion", "ci", {"arrhenius_production_ps": 2,  # int: ok
                                                   "max_extra_models": 3,   # null default
                                                   "arrhenius_temperatures_K": (900,)})
    assert p["arrhenius_production_ps"] == 2 and p["max_extra_models"] == 3


def test_setup_notebook_refuses_a_mistyped_parameter(tmp_path, monkeypatch):
    from lidiff_helpers.core.errors import ParameterError

    monkeypatch.setattr(paths, "RESULTS", tmp_path)
    with pytest.raises(ParameterError, match="01_bulk_validation: parameter 'a_guess_A'"):
        notebook.setup_notebook("01_bulk_validation", {"profile": "ci", "a_guess_A": "4.06"})


def test_profile_files_are_type_checked(tmp_path, monkeypatch):
    from lidiff_helpers.core.errors import ParameterError

    (tmp_path / "_common.yaml").write_text("defaults: {seed: 1}\n")
    (tmp_path / "99_x.yaml").write_text("defaults: {n: 1.0}\nci: {n: fast}\n")
    monkeypatch.setattr(profiles, "_DIR", tmp_path)
    profiles._load.cache_clear()
    try:
        with pytest.raises(ParameterError, match=r"99_x.yaml \(section 'ci'\): parameter 'n' "
                                                 "must be a number"):
            profiles.resolve("99_x", "ci")
    finally:
        profiles._load.cache_clear()
