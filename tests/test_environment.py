"""environment.yml (conda) lists the same packages as pyproject.toml (the source of truth)."""

from __future__ import annotations

import re
import tomllib

import yaml

from lidiff_helpers.core import paths

#: pip name -> conda-forge name where they differ
CONDA_NAMES = {"torch": "pytorch"}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ ;\[]", spec.strip(), maxsplit=1)[0].lower()


def test_environment_lists_the_pyproject_packages():
    py = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
    want = {CONDA_NAMES.get(_name(d), _name(d)) for d in py["dependencies"]}
    env = yaml.safe_load((paths.ROOT / "environment.yml").read_text())["dependencies"]
    have = set()
    for d in env:
        if isinstance(d, dict):
            have |= {_name(x) for x in d.get("pip", [])}
        else:
            have.add(_name(d))
    missing = sorted(want - have)
    assert not missing, f"environment.yml lacks {missing} (pyproject.toml lists them)"
