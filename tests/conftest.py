"""Shared fixtures. ``--runslow`` enables tests marked ``slow`` (long MD, training)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="run tests marked slow (minutes each)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long test, run only with --runslow")
    config.addinivalue_line("markers", "needs_data: needs the study data (LIDIFF_DATA_DIR)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def study_data_dir():
    """The offline copy of the study data; tests that need it fail loudly without it."""
    from lidiff_helpers.core import paths

    d = paths.data_dir()
    if d is None or not d.is_dir():
        pytest.fail("LIDIFF_DATA_DIR is not set to the study data folder "
                    "(make test / .ci/run set it); see docs/study-data.md")
    return d


@pytest.fixture(scope="module")
def cu():
    """EMT copper, conventional 4-atom cell at its EMT lattice constant (bulk, phonons)."""
    from ase.build import bulk as ase_bulk
    from ase.calculators.emt import EMT

    from lidiff_helpers.simulation import bulk

    at = ase_bulk("Cu", "fcc", a=3.6, cubic=True)
    a0 = bulk.relaxed_lattice_constant(EMT(), at)
    at.set_cell(at.cell.array * a0 / 3.6, scale_atoms=True)
    return at
