"""Provenance records and the environment files."""

from __future__ import annotations

import hashlib
import re

import tomllib
import yaml

from lidiff_helpers.core import paths, provenance


def test_sha256_file_matches_hashlib(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"lidiff" * 1000)
    assert provenance.sha256_file(p) == hashlib.sha256(b"lidiff" * 1000).hexdigest()


def test_record_contents():
    rec = provenance.record(notebook="04_md_diffusion", profile="ci", parameters={"a": 1},
                            models=[{"name": "embedded", "sha256": "00"}],
                            data_files={"x": "y"})
    for key in ("created_utc", "notebook", "profile", "parameters", "models", "data_files",
                "packages", "git", "python"):
        assert key in rec
    assert rec["packages"]["mace-torch"] and rec["packages"]["torch"].startswith("2.13")
    assert re.fullmatch(r"[0-9a-f]{40}", rec["git"]["commit"] or "0" * 40)
    assert rec["parameters"] == {"a": 1}


def _norm(name: str) -> str:
    return re.split(r"[<>=!~ \[]", name.strip(), 1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    pp = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_norm(d) for d in pp["dependencies"]} | {
        _norm(d) for d in pp["optional-dependencies"]["dev"]}
    env = yaml.safe_load((paths.ROOT / "environment.yml").read_text())
    got = set()
    for d in env["dependencies"]:
        if isinstance(d, dict):
            got |= {_norm(x) for x in d["pip"]}
        else:
            got.add(_norm(d.split("=")[0]))
    got = {"torch" if g == "pytorch" else g for g in got} - {"python", "pip"}
    assert wanted == got, f"only in pyproject: {wanted - got}; only in environment.yml: {got - wanted}"
