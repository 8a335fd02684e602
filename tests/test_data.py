"""Study data: hash checks, offline messages, loader validation, dedup, splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lidiff_helpers.core import paths
from lidiff_helpers.io import data

TEN = "Fine-tuning_with_DeePMD_data/10-REF_train.xyz"


@pytest.fixture()
def copy_dir(tmp_path, study_data_dir, monkeypatch):
    """A private LIDIFF_DATA_DIR holding a copy of one file, and an empty cache."""
    d = tmp_path / "data"
    (d / Path(TEN).parent).mkdir(parents=True)
    shutil.copy(study_data_dir / TEN, d / TEN)
    monkeypatch.setenv("LIDIFF_DATA_DIR", str(d))
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    data._VERIFIED.clear()
    return d


def _no_network(monkeypatch):
    import pooch

    def refuse(*a, **k):
        raise ConnectionError("network disabled in test")

    monkeypatch.setattr(pooch, "retrieve", refuse)


def test_fetch_verifies_hash(copy_dir):
    p = data.fetch(TEN)
    assert p == copy_dir / TEN
    assert data.files_used()[TEN] == data.registry()[TEN]


def test_tampered_copy_is_refused(copy_dir):
    with open(copy_dir / TEN, "a") as f:
        f.write(" ")
    with pytest.raises(data.DataIntegrityError) as e:
        data.fetch(TEN)
    msg = str(e.value)
    assert data.registry()[TEN] in msg and "10-REF_train.xyz" in msg


def test_offline_missing_file_message(copy_dir, monkeypatch):
    _no_network(monkeypatch)
    name = "Fine-tuning_with_DeePMD_data/100-REF_test.xyz"
    with pytest.raises(data.DataUnavailableError) as e:
        data.fetch(name)
    msg = str(e.value)
    assert name in msg and data.registry()[name] in msg
    assert "raw.githubusercontent.com" in msg and "LIDIFF_DATA_DIR" in msg


def test_upstream_only_file_says_so(copy_dir, monkeypatch):
    _no_network(monkeypatch)
    with pytest.raises(data.DataUnavailableError, match="upstream only"):
        data.fetch("700-REF_train.xyz")


def test_unknown_name():
    with pytest.raises(data.DataUnavailableError, match="not a file of the study data"):
        data.fetch("nonsense.xyz")


# --------------------------------------------------------------- loader validation

def _write(tmp_path, text: str) -> Path:
    p = tmp_path / "bad.xyz"
    p.write_text(text)
    return p


@pytest.fixture(scope="module")
def ten_text(study_data_dir):
    return (study_data_dir / TEN).read_text()


def test_loader_reads_valid_file(study_data_dir):
    frames = data.read_frames(TEN)
    assert len(frames) == 20
    kinds = [a.info["kind"] for a in frames]
    assert kinds.count("bulk") == 10 and kinds.count("interstitial") == 10
    assert frames[0].info["REF_stress"].shape == (3, 3)
    assert frames[0].arrays["REF_forces"].shape == (216, 3)


def test_loader_truncated_file(tmp_path, ten_text):
    lines = ten_text.splitlines()
    p = _write(tmp_path, "\n".join(lines[:100]) + "\n")
    with pytest.raises(data.DataError, match="bad.xyz"):
        data.read_frames(p)


def test_loader_missing_ref_key(tmp_path, ten_text):
    p = _write(tmp_path, ten_text.replace("REF_energy=", "energy_x=", 2))
    with pytest.raises(data.DataError, match=r"bad.xyz: frame 0: missing REF_energy"):
        data.read_frames(p)


def test_loader_nan_forces(tmp_path, ten_text):
    lines = ten_text.splitlines()
    n = int(lines[0])
    # frame 1, atom 3: replace its last force component with nan
    idx = (n + 2) + 2 + 3
    parts = lines[idx].split()
    parts[-1] = "nan"
    lines[idx] = " ".join(parts)
    p = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(data.DataError, match=r"frame 1: REF_forces not finite .* atom 3"):
        data.read_frames(p)


def test_loader_wrong_species(tmp_path, ten_text):
    lines = ten_text.splitlines()
    lines[2] = lines[2].replace("Li", "Na", 1)
    p = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(data.DataError, match=r"frame 0: wrong species \['Na'\]"):
        data.read_frames(p)


# --------------------------------------------------------------- dedup and splits

def test_dedup_counts(study_data_dir):
    pool = data.lif_pool("deepmd")
    assert len(pool) == 671
    assert pool.counts() == {"bulk": 115, "interstitial": 556}
    assert len(data.lif_pool("mpa0")) == 328


def test_test_set_fixed(study_data_dir):
    held = data.test_set()
    kinds = [a.info["kind"] for a in held]
    assert kinds.count("bulk") == 20 and kinds.count("interstitial") == 100
    assert len({a.info["hash"] for a in held}) == 120


@pytest.mark.parametrize("nb,ni", [(10, 100), (10, 10), (90, 0)])
def test_subset_disjoint_and_deterministic(study_data_dir, nb, ni):
    a = data.training_subset(nb, ni, seed=7)
    b = data.training_subset(nb, ni, seed=7)
    c = data.training_subset(nb, ni, seed=8)
    ha = [x.info["hash"] for x in a]
    assert ha == [x.info["hash"] for x in b]
    assert ha != [x.info["hash"] for x in c]
    assert not set(ha) & data.test_hashes()
    kinds = [x.info["kind"] for x in a]
    assert kinds.count("bulk") == nb and kinds.count("interstitial") == ni


def test_subset_too_large_names_upstream_files(study_data_dir):
    with pytest.raises(data.DataError, match="700-REF_train.xyz"):
        data.training_subset(10, 700, seed=1)


def test_make_manifest_refuses_overwrite(tmp_path, study_data_dir):
    p = tmp_path / "m.json"
    p.write_text("{}")
    with pytest.raises(FileExistsError):
        data.make_test_manifest(path=p)


def test_lammps_data_reader(study_data_dir):
    at = data.read_lammps_data("450K_0")
    assert len(at) == 1001
    assert (at.numbers == 3).sum() == 501 and (at.numbers == 9).sum() == 500
    assert np.allclose(at.cell.lengths(), 20.41714)
    # wrapped into the box; nearest neighbour Li-F distance ~ a/2 = 2.04 A
    assert (at.get_scaled_positions() >= 0).all() and (at.get_scaled_positions() < 1).all()
    d = at.get_distances(0, range(1, len(at)), mic=True)
    assert 1.6 < d.min() < 2.3
