"""Model specs -> calculators: every spec kind, fallbacks, errors, committees, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from lidiff_helpers.simulation import models

TINY = Path(__file__).parent / "models" / "tiny-lif.model"


@pytest.fixture()
def empty_mace_cache(tmp_path, monkeypatch):
    """mace's cache dir points at an empty folder and nothing is downloadable."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("LIDIFF_OFFLINE", "1")
    monkeypatch.delenv("LIDIFF_MACE_MPA0_MODEL", raising=False)
    monkeypatch.delenv("LIDIFF_MACE_MPA0_SHA256", raising=False)
    from mace.calculators import foundations_models as fm

    monkeypatch.setattr(fm, "local_model_path", str(tmp_path / "none.model"))
    return tmp_path / "mace"


def lif(n=2, a=4.06):
    return bulk("LiF", "rocksalt", a=a, cubic=True) * (n, n, n)


def test_path_spec_resolves_and_predicts():
    spec = models.resolve_spec(str(TINY))
    assert spec.kind == "mace" and spec.name == "tiny-lif" and spec.path == TINY.resolve()
    at = lif()
    at.calc = models.get_calculator(spec)
    assert np.isfinite(at.get_potential_energy())
    assert at.get_forces().shape == (len(at), 3)


def test_missing_path_and_unknown_name():
    with pytest.raises(models.ModelUnavailableError, match="does not exist"):
        models.resolve_spec("nowhere/missing.model")
    with pytest.raises(ValueError, match="unknown model spec 'mace-xyz'"):
        models.resolve_spec("mace-xyz")


def test_missing_foundation_weights_error_text(empty_mace_cache):
    with pytest.raises(models.ModelUnavailableError) as e:
        models.resolve_spec("mace-mpa-0")
    msg = str(e.value)
    assert "mace-mpa-0" in msg and str(empty_mace_cache) in msg
    assert "https://github.com/ACEsuit/mace-mp/releases/download/mace_mpa_0/" in msg
    # the exact file the pinned mace-torch looks for: the URL's name without '-' and '.'
    assert str(empty_mace_cache / "macempa0mediummodel") in msg
    assert models.mace_cache_path("mace-mpa-0")[0] == empty_mace_cache / "macempa0mediummodel"
    assert "LIDIFF_MACE_MPA0_MODEL=" in msg


def test_auto_falls_back_to_embedded(empty_mace_cache):
    if not models.EMBEDDED.is_file():
        pytest.fail(f"embedded model missing at {models.EMBEDDED}")
    spec = models.resolve_spec("auto")
    assert spec.name == "embedded" and "not in" in spec.note
    ident = models.model_identity(spec)
    assert ident["spec"] == "auto" and ident["name"] == "embedded" and len(ident["sha256"]) == 64


#: v1's published hash (CHANGELOG 0.1.0): `embedded-v1` must stay this very file
V1_SHA256 = "2988c4a1ad40a883f441a2df86fbfa92b037f44a2fcc9a3226f92be70403058d"


def test_embedded_is_v2_and_v1_stays_loadable_unchanged(empty_mace_cache):
    """`embedded`, `embedded-v2` and `auto` (offline) are v2's file; `embedded-v1` is v1's,
    byte for byte the published one; committed_spec names each by its hash."""
    v1, v2 = models.resolve_spec("embedded-v1"), models.resolve_spec("embedded")
    assert v1.path.name == "lidiff-embedded.model" and v1.name == "embedded-v1"
    assert models.model_identity(v1)["sha256"] == V1_SHA256
    assert models.committed_hashes()["lidiff-embedded.model"] == V1_SHA256
    assert v2.path == models.resolve_spec("embedded-v2").path == models.EMBEDDED
    assert v2.path.name == "lidiff-embedded-v2.model" and v2.name == "embedded"
    assert models.resolve_spec("auto").path == v2.path
    sha2 = models.model_identity(v2)["sha256"]
    assert sha2 != V1_SHA256
    assert models.committed_spec(V1_SHA256) == "embedded-v1"
    assert models.committed_spec(sha2) == "embedded"
    ref = models.committed_hashes()["reference/naive.model"]
    assert models.committed_spec(ref) == "reference-naive"
    assert models.committed_spec("0" * 64) is None


def test_auto_takes_cached_mpa0(empty_mace_cache):
    path, _ = models.mace_cache_path("mace-mpa-0")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"placeholder")  # resolution only: never loaded here
    spec = models.resolve_spec("auto")
    assert spec.name == "mace-mpa-0" and spec.path == path


def test_embedded_finite_on_lif_and_bitwise_deterministic():
    at = lif(2)
    at.rattle(0.05, seed=1)
    out = []
    for _ in range(2):
        a = at.copy()
        a.calc = models.get_calculator("embedded")
        out.append((a.get_potential_energy(), a.get_forces(), a.get_stress()))
    e, f, s = out[0]
    assert np.isfinite(e) and np.isfinite(f).all() and np.isfinite(s).all()
    assert e == out[1][0] and np.array_equal(f, out[1][1]) and np.array_equal(s, out[1][2])


def test_chgnet_offline():
    at = lif(1)
    at.calc = models.get_calculator("chgnet")
    e = at.get_potential_energy()
    assert np.isfinite(e) and -6 < e / len(at) < -3  # eV/atom, MPtrj reference
    assert models.model_identity("chgnet")["sha256"].startswith("chgnet-")


def test_committee_per_model_forces():
    com = models.get_committee([TINY, models.EMBEDDED])
    at = lif(2)
    at.rattle(0.05, seed=2)
    f = com.forces_per_model(at)
    assert f.shape == (2, len(at), 3)
    assert not np.allclose(f[0], f[1])
    with pytest.raises(ValueError, match="at least two"):
        models.get_committee([TINY])


def test_a_file_that_is_not_a_mace_model_names_the_path(tmp_path):
    import zipfile

    from lidiff_helpers.core.errors import ModelFileError

    text = tmp_path / "notes.model"
    text.write_text("this is not a model\n")
    with pytest.raises(ModelFileError, match=r"model file .*notes.model is not a MACE model"):
        models.resolve_spec(str(text))
    with pytest.raises(ModelFileError, match="notes.model"):
        models.get_calculator(str(text))
    with pytest.raises(ModelFileError, match="notes.model"):
        models.model_identity(str(text))
    archive = tmp_path / "other.model"           # a zip archive, but not a torch model
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(ModelFileError, match=r"model file .*other.model could not be loaded "
                                             "as a MACE model"):
        models.get_calculator(str(archive))


def test_user_weights_with_a_wrong_hash_are_refused(empty_mace_cache, tmp_path, monkeypatch):
    fake = tmp_path / "mace-mpa-0-medium.model"
    fake.write_bytes(b"PK\x03\x04 not the published weights")
    import hashlib

    actual = hashlib.sha256(fake.read_bytes()).hexdigest()
    expected = "ab" * 32
    monkeypatch.setenv("LIDIFF_MACE_MPA0_MODEL", str(fake))
    monkeypatch.setenv("LIDIFF_MACE_MPA0_SHA256", expected)
    for spec in ("mace-mpa-0", "auto"):
        with pytest.raises(models.ModelFileError) as e:
            models.resolve_spec(spec)
        msg = str(e.value)
        assert str(fake) in msg and actual in msg and expected in msg, msg
        assert "LIDIFF_MACE_MPA0_SHA256" in msg


def test_user_weights_with_the_right_hash_are_used(empty_mace_cache, tmp_path, monkeypatch):
    import shutil

    from lidiff_helpers.core.provenance import sha256_file

    given = tmp_path / "weights.model"
    shutil.copyfile(TINY, given)
    monkeypatch.setenv("LIDIFF_MACE_MPA0_MODEL", str(given))
    monkeypatch.setenv("LIDIFF_MACE_MPA0_SHA256", sha256_file(given).upper())
    spec = models.resolve_spec("mace-mpa-0")
    assert spec.name == "mace-mpa-0" and spec.path == given.resolve()
    assert "matches $LIDIFF_MACE_MPA0_SHA256" in spec.note
    auto = models.resolve_spec("auto")
    assert auto.name == "mace-mpa-0" and auto.path == given.resolve()
    assert models.model_identity(spec)["sha256"] == sha256_file(given)
    # no expected hash given (none is published in mace-torch): used, and the note says so
    monkeypatch.delenv("LIDIFF_MACE_MPA0_SHA256")
    assert "SHA256 not checked" in models.resolve_spec("mace-mpa-0").note


def test_user_weights_bad_settings_name_the_variable(empty_mace_cache, tmp_path, monkeypatch):
    from lidiff_helpers.core.errors import ParameterError

    monkeypatch.setenv("LIDIFF_MACE_MPA0_MODEL", str(tmp_path / "nowhere.model"))
    with pytest.raises(models.ModelUnavailableError,
                       match=r"LIDIFF_MACE_MPA0_MODEL=.*nowhere.model: no such file"):
        models.resolve_spec("mace-mpa-0")
    shutil_target = tmp_path / "w.model"
    shutil_target.write_bytes(TINY.read_bytes())
    monkeypatch.setenv("LIDIFF_MACE_MPA0_MODEL", str(shutil_target))
    monkeypatch.setenv("LIDIFF_MACE_MPA0_SHA256", "1234")
    with pytest.raises(ParameterError, match="LIDIFF_MACE_MPA0_SHA256='1234' is not a SHA256"):
        models.resolve_spec("mace-mpa-0")


def test_cached_weights_checked_against_a_given_hash(empty_mace_cache, monkeypatch):
    path, _ = models.mace_cache_path("mace-mpa-0")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"placeholder")
    monkeypatch.setenv("LIDIFF_MACE_MPA0_SHA256", "cd" * 32)
    with pytest.raises(models.ModelFileError, match=r"macempa0mediummodel.*differs from"):
        models.resolve_spec("mace-mpa-0")
    assert models.PUBLISHED_SHA256 == {}      # none recorded offline: never an invented one


def test_committed_model_files_match_their_recorded_hashes():
    """Every committed .model file is in data/models/SHA256SUMS with its current hash."""
    import subprocess

    from lidiff_helpers.core import paths
    from lidiff_helpers.core.provenance import sha256_file

    tracked = subprocess.run(["git", "ls-files", "*.model"], cwd=paths.MODELS,
                             capture_output=True, text=True).stdout.split()
    have = models.committed_hashes()
    assert tracked and sorted(tracked) == sorted(have)
    for rel in tracked:
        assert sha256_file(paths.MODELS / rel) == have[rel], rel


def test_a_tampered_committed_model_is_refused_before_unpickling(tmp_path, monkeypatch):
    """A committed model with one byte appended: resolve_spec refuses it (naming the file)
    before mace/torch sees it; a file not recorded is refused too."""
    import shutil

    from lidiff_helpers.core import paths

    root = tmp_path / "models"
    (root / "reference").mkdir(parents=True)
    shutil.copy(paths.MODELS / "SHA256SUMS", root / "SHA256SUMS")
    shutil.copy(paths.MODELS / "reference" / "naive.model", root / "reference" / "naive.model")
    monkeypatch.setattr(paths, "MODELS", root)
    monkeypatch.setattr(models, "REFERENCE_MODELS", root / "reference")
    assert models.resolve_spec("reference-naive").path == root / "reference" / "naive.model"
    with open(root / "reference" / "naive.model", "ab") as f:
        f.write(b"\0")
    loaded = []
    monkeypatch.setattr("torch.load", lambda *a, **k: loaded.append(a) or {})
    with pytest.raises(models.ModelFileError, match=r"naive.model: SHA256 .* differs from the "
                                                    "recorded"):
        models.resolve_spec("reference-naive")
    with pytest.raises(models.ModelFileError, match="naive.model"):
        models.get_calculator(str(root / "reference" / "naive.model"))
    assert not loaded
    shutil.copy(TINY, root / "reference" / "extra.model")
    with pytest.raises(models.ModelFileError, match="not recorded"):
        models.resolve_spec(str(root / "reference" / "extra.model"))
    # recording it (what the export commands do) makes it loadable
    models.record_committed(root / "reference" / "extra.model")
    assert models.resolve_spec(str(root / "reference" / "extra.model")).name == "extra"
