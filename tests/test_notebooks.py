"""Every notebook executes under the ci profile (papermill), in order, like `make all`."""

from __future__ import annotations

import json
import os

import pytest

from lidiff_helpers import paths
from lidiff_helpers.run import execute, notebooks


@pytest.fixture(scope="module")
def ci_results(tmp_path_factory, study_data_dir):
    os.environ.setdefault("LIDIFF_OFFLINE", "1")
    results = tmp_path_factory.mktemp("results")
    old = paths.RESULTS
    paths.RESULTS = results
    os.environ["LIDIFF_RESULTS_DIR"] = str(results)  # for the kernels
    try:
        out = execute("ci")
    finally:
        paths.RESULTS = old
        os.environ.pop("LIDIFF_RESULTS_DIR", None)
    return out


def test_all_notebooks_execute_in_ci(ci_results):
    executed = sorted(p.name for p in (ci_results / "notebooks").glob("*.ipynb"))
    assert executed == [nb.name for nb in notebooks()]
    summary = json.loads((ci_results / "summary.json").read_text())
    assert set(summary["notebooks"]) == {nb.stem for nb in notebooks()}
    for name, part in summary["notebooks"].items():
        assert part["provenance"]["profile"] == "ci", name
        # budget: 120 s per notebook on a quiet 2-core machine (not yet met by 01-03 on a
        # loaded one: 260 s, ~3 min, >7 min measured under load 7-10); 600 s guards against a
        # runaway ci profile on a loaded CI runner without flaking on load alone
        assert part["wall_time_s"] < 600, f"{name} took {part['wall_time_s']} s in ci"
