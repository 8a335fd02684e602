"""Model specs -> ASE calculators: the single interface to every force field.

    calc = get_calculator("auto")                  # MACE-MPA-0 if cached, else embedded
    calc = get_calculator("mace-mpa-0", device="cuda")
    calc = get_calculator("chgnet")                # CHGNet, weights ship with its wheel
    calc = get_calculator("sevennet-0")            # SevenNet-0, weights ship with sevenn 0.10.4
    calc = get_calculator("results/quick/finetune/naive-110/model.model", dtype="float64")
    com = get_committee(["m1.model", "m2.model"]) ; com.forces_per_model(atoms)

Spec kinds
----------
``mace-mpa-0`` (the study's foundation model), ``mace-omat-0``, ``mace-mp-0``
(``mace-mp-0-medium``/``-small``): resolved through mace-torch's own loader and cache
(``mace.calculators.mace_mp``; ``$XDG_CACHE_HOME/mace`` or ``~/.cache/mace``); never a
hand-written downloader. mace-torch caches a file under the URL's file name with every
character but letters, digits and ``_`` removed: MACE-MPA-0 is
``~/.cache/mace/macempa0mediummodel``, not ``mace-mpa-0-medium.model``
(:func:`mace_cache_path` gives the exact path). A user-given MACE-MPA-0 weights file is
taken from ``$LIDIFF_MACE_MPA0_MODEL`` (before the cache); its SHA256 is checked against
``$LIDIFF_MACE_MPA0_SHA256`` (or a published hash in :data:`PUBLISHED_SHA256`, none recorded:
neither mace-torch nor the study's data publish one) and the file is refused on a mismatch.
``chgnet``: CHGNet 0.3.0 universal potential (trained on MPtrj). ``sevennet-0``: SevenNet-0
(11Jul2024), the universal potential whose weights ship in the ``sevenn`` 0.10.4 wheel,
hash-checked and loaded weights-only (:mod:`lidiff_helpers.simulation.sevennet`): the real
foundation model of offline machines.
``embedded`` (also ``embedded-v2``): the compendium's own small MACE foundation model, v2,
distilled from SevenNet-0 (:mod:`lidiff_helpers.training.embedded_v2`), committed under
``data/models/``. ``embedded-v1``: its first version (:mod:`lidiff_helpers.training.embedded`,
the file ``lidiff-embedded.model``, unchanged), kept so that its numbers and the models
fine-tuned from it stay reproducible. ``auto``: MACE-MPA-0
when its weights are in the cache (or downloadable), else ``embedded``; which one was
taken is printed and recorded in :func:`model_identity`. ``reference-<arm>`` (e.g.
``reference-naive``): a committed reference fine-tuned model
(``data/models/reference/<arm>.model``, :mod:`lidiff_helpers.training.reference_models`);
``reference-v1-<arm>``: the same arm fine-tuned from ``embedded-v1``
(``data/models/reference-v1/<arm>.model``).
Anything else is a path to a ``.model`` file.

Model files are code
--------------------
A ``.model`` file is a pickled torch module: loading it runs whatever code it holds.
mace-torch 0.3.16 sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for the whole process when
it is imported, so every ``.model`` lidiff loads is fully unpickled. Load only files you
trust. lidiff checks every committed model file (below ``data/models/``) against the
SHA256 recorded in :data:`COMMITTED_SHA256SUMS` before loading it and refuses a file that
differs or is not recorded (:func:`check_committed`); a model given by path records its
SHA256 in provenance (:func:`model_identity`). SevenNet-0 is loaded weights-only.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from lidiff_helpers.core import paths
from lidiff_helpers.core.errors import ModelFileError, ModelUnavailableError, ParameterError
from lidiff_helpers.core.provenance import sha256_file, sha256_file_cached
from lidiff_helpers.simulation import sevennet

__all__ = [
    "FOUNDATION_MODELS",
    "PUBLISHED_SHA256",
    "USER_SHA256_ENV",
    "USER_WEIGHTS_ENV",
    "WARM_UP_CALLS",
    "Committee",
    "ModelFileError",
    "ModelSpec",
    "ModelUnavailableError",
    "check_committed",
    "committed_hashes",
    "committed_spec",
    "fetch_command",
    "get_calculator",
    "get_committee",
    "mace_cache_path",
    "model_identity",
    "record_committed",
    "reference_spec",
    "resolve_spec",
    "warm_up",
]

#: lidiff name -> mace-torch ``mace_mp(model=...)`` name
FOUNDATION_MODELS = {
    "mace-mpa-0": "medium-mpa-0",
    "mace-omat-0": "medium-omat-0",
    "mace-mp-0": "medium",
    "mace-mp-0-medium": "medium",
    "mace-mp-0-small": "small",
}
#: lidiff name -> environment variable naming a user-given weights file (used before the cache)
USER_WEIGHTS_ENV = {"mace-mpa-0": "LIDIFF_MACE_MPA0_MODEL"}
#: lidiff name -> environment variable holding the SHA256 that file (or the cached one) must have
USER_SHA256_ENV = {"mace-mpa-0": "LIDIFF_MACE_MPA0_SHA256"}
#: lidiff name -> SHA256 of the published weights file, where one is recorded. Empty: mace-torch
#: (0.3.16, ``mace.calculators.foundations_models``) records only the download URLs and the
#: study's data repository no model hash; the published file is
#: https://github.com/ACEsuit/mace-mp/releases/download/mace_mpa_0/mace-mpa-0-medium.model
#: (release page https://github.com/ACEsuit/mace-mp/releases/tag/mace_mpa_0). Until a hash is
#: recorded here, the check uses the one the user supplies in :data:`USER_SHA256_ENV`.
PUBLISHED_SHA256: dict[str, str] = {}
#: the embedded foundation model v1 (spec ``embedded-v1``; superseded, kept unchanged)
EMBEDDED_V1 = paths.MODELS / "lidiff-embedded.model"
#: the embedded foundation model v2 (spec ``embedded`` or ``embedded-v2``: the default)
EMBEDDED = paths.MODELS / "lidiff-embedded-v2.model"
#: spec -> committed file of each embedded version
EMBEDDED_VERSIONS = {"embedded-v1": EMBEDDED_V1, "embedded-v2": EMBEDDED}
#: the committed reference fine-tuned models (spec ``reference-<arm>``)
REFERENCE_MODELS = paths.MODELS / "reference"
#: the first set, fine-tuned from ``embedded-v1`` (spec ``reference-v1-<arm>``)
REFERENCE_V1_MODELS = paths.MODELS / "reference-v1"
#: SHA256 of every committed model file (``sha256sum`` format, paths relative to MODELS)
COMMITTED_SHA256SUMS = paths.MODELS / "SHA256SUMS"
#: first bytes of a file torch.save wrote: a zip archive (torch >= 1.6) or a raw pickle
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model spec.

    Attributes
    ----------
    spec : what the user asked for (``auto``, ``embedded``, a path...)
    name : what it resolved to (``mace-mpa-0``, ``embedded``, ``chgnet``, file stem)
    kind : ``mace`` (a .model file), ``chgnet`` or ``sevennet``
    path : the weights file (None for chgnet, whose weights live in its wheel; the
        shipped checkpoint for sevennet)
    note : why it resolved this way (e.g. the auto fallback reason)
    """

    spec: str
    name: str
    kind: str
    path: Path | None
    note: str = ""


def mace_cache_path(name: str) -> tuple[Path, str]:
    """The exact file mace-torch loads for foundation model ``name``, and its download URL.

    As ``mace.calculators.foundations_models.download_mace_mp_checkpoint``: for MACE-MPA-0
    first the file shipped inside the mace package (``local_model_path``) when present,
    else ``<cache>/<URL file name with all but letters, digits and _ removed>`` with
    ``<cache>`` = ``$XDG_CACHE_HOME/mace`` or ``~/.cache/mace`` (MACE-MPA-0:
    ``~/.cache/mace/macempa0mediummodel``).
    """
    from mace.calculators import foundations_models as fm
    from mace.tools.utils import get_cache_dir

    key = FOUNDATION_MODELS[name]
    url = fm.mace_mp_urls[key]
    fname = "".join(c for c in os.path.basename(url) if c.isalnum() or c in "_")
    if key == "medium-mpa-0" and os.path.isfile(fm.local_model_path):
        return Path(fm.local_model_path), url
    return Path(get_cache_dir()) / fname, url


def _mace_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mace-torch")
    except PackageNotFoundError:
        return "?"


def fetch_command(name: str) -> str:
    """The shell command that downloads foundation model ``name`` into mace-torch's cache."""
    return (f"python -c \"from mace.calculators import mace_mp; "
            f"mace_mp(model='{FOUNDATION_MODELS[name]}')\"")


def _missing(name: str) -> ModelUnavailableError:
    from mace.calculators import foundations_models as fm

    cache, url = mace_cache_path(name)
    where = (f"{fm.local_model_path} (inside the mace package) and then {cache}"
             if FOUNDATION_MODELS[name] == "medium-mpa-0" else str(cache))
    env = USER_WEIGHTS_ENV.get(name)
    user = (f", or set {env}=/path/to/{os.path.basename(url)} (and "
            f"{USER_SHA256_ENV[name]}=<its published SHA256> to have it checked)") if env else ""
    return ModelUnavailableError(
        f"{name}: weights not found and not downloadable here. mace-torch {_mace_version()} "
        f"looks for {where} (its cache file name is the URL's with every character but "
        f"letters, digits and '_' removed: {cache.name}, not {os.path.basename(url)}). The "
        f"weights come from {url}; on a machine with internet run `{fetch_command(name)}` "
        f"once, or copy the downloaded file to {cache}{user}; or use "
        f"foundation_model='embedded' offline.")


def _expected_sha256(name: str) -> tuple[str | None, str]:
    """(expected SHA256 or None, where it comes from) for foundation model ``name``."""
    var = USER_SHA256_ENV.get(name)
    given = os.environ.get(var, "").strip().lower() if var else ""
    if given:
        if len(given) != 64 or any(c not in "0123456789abcdef" for c in given):
            raise ParameterError(f"{var}={given!r} is not a SHA256 (64 hexadecimal digits)")
        return given, f"${var}"
    if name in PUBLISHED_SHA256:
        return PUBLISHED_SHA256[name], "the published file's"
    return None, ""


def _verified(name: str, path: Path, origin: str, say_unchecked: bool = True) -> str:
    """Check ``path`` against the expected SHA256 of ``name``; returns a provenance note
    (``""`` when no hash is expected and ``say_unchecked`` is false).

    Raises ModelFileError naming the file, both hashes and where the expected one is from.
    """
    expected, src = _expected_sha256(name)
    if expected is None:
        var = USER_SHA256_ENV.get(name)
        return (f"{origin}; SHA256 not checked: no published hash recorded"
                + (f" and {var} not set" if var else "")) if say_unchecked else ""
    actual = sha256_file_cached(path)
    if actual != expected:
        raise ModelFileError(f"{name} weights {path} ({origin}): SHA256 {actual} differs from "
                             f"the expected {expected} ({src}); not the published "
                             f"{name} file (a partial download or another model?)")
    return f"{origin}; SHA256 {actual} matches {src}"


def _user_weights(name: str, spec: str) -> ModelSpec | None:
    """The weights file named by ``USER_WEIGHTS_ENV[name]``, checked (None if not set)."""
    var = USER_WEIGHTS_ENV.get(name)
    given = os.environ.get(var, "").strip() if var else ""
    if not given:
        return None
    p = Path(given).expanduser()
    if not p.is_file():
        raise ModelUnavailableError(f"{var}={given}: no such file (the {name} weights file "
                                    "to use instead of mace-torch's cache)")
    note = _verified(name, p, f"weights from ${var}")
    _check_model_file(p)
    return ModelSpec(spec, name, "mace", p.resolve(), note)


def _foundation(name: str, spec: str, allow_download: bool) -> ModelSpec:
    """A foundation model: user-given file, else mace-torch's cache, else a download."""
    user = _user_weights(name, spec)
    if user is not None:
        return user
    cache, url = mace_cache_path(name)
    if cache.is_file():
        return ModelSpec(spec, name, "mace", cache, _verified(name, cache, f"cached {cache}",
                                                             say_unchecked=False))
    if allow_download and _downloadable(url):
        from mace.calculators.foundations_models import download_mace_mp_checkpoint

        path = Path(download_mace_mp_checkpoint(FOUNDATION_MODELS[name]))
        return ModelSpec(spec, name, "mace", path, _verified(name, path, f"downloaded {url}",
                                                            say_unchecked=False))
    raise _missing(name)


def _downloadable(url: str, timeout_s: float = 3.0) -> bool:
    if os.environ.get("LIDIFF_OFFLINE"):
        return False
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_s)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not downloadable now"
        return False


def resolve_spec(spec: str | os.PathLike = "auto", allow_download: bool = True) -> ModelSpec:
    """Resolve a spec without loading weights (see module docstring for the kinds).

    Raises
    ------
    ModelUnavailableError
        for a foundation model whose weights are missing (message names the model, the
        cache path mace expects and the URL), or a ``.model`` path that does not exist.
    ModelFileError
        for a path that is not a saved torch model (e.g. a text file).
    ValueError
        for an unknown name.
    """
    s = str(spec)
    low = s.lower()
    if low == "auto":
        user = _user_weights("mace-mpa-0", s)
        if user is not None:
            return replace(user, note=f"auto: MACE-MPA-0, {user.note}")
        cache, url = mace_cache_path("mace-mpa-0")
        if cache.is_file():
            m = _foundation("mace-mpa-0", s, False)
            return replace(m, note="auto: MACE-MPA-0 found in cache"
                           + (f"; {m.note}" if m.note else ""))
        if allow_download and _downloadable(url):
            return resolve_spec("mace-mpa-0")
        emb = resolve_spec("embedded")
        return ModelSpec(s, emb.name, emb.kind, emb.path,
                         f"auto: MACE-MPA-0 weights not in {cache} and not downloadable; "
                         "using the embedded foundation model")
    if low in ("embedded", *EMBEDDED_VERSIONS):
        f = EMBEDDED_VERSIONS.get(low, EMBEDDED)
        if not f.is_file():
            raise ModelUnavailableError(f"{low} model missing at {f}; it is committed with "
                                        "the repository (git checkout the file)")
        _check_model_file(f)
        if low == "embedded-v1":
            return ModelSpec(s, "embedded-v1", "mace", f,
                             "embedded foundation v1 (superseded by v2; kept unchanged)")
        return ModelSpec(s, "embedded", "mace", f, "embedded foundation v2")
    if low == "chgnet":
        return ModelSpec(s, "chgnet", "chgnet", None, "CHGNet 0.3.0 (weights in the wheel)")
    if low == sevennet.NAME:
        return ModelSpec(s, sevennet.NAME, "sevennet", sevennet.checkpoint_path(),
                         f"SevenNet-0 (sevenn {sevennet.SEVENN_VERSION} wheel; checkpoint "
                         "SHA256 checked, loaded weights-only)")
    if low.startswith("reference-"):
        prefix, folder = next((p, f) for p, f in _reference_sets().items()
                              if low.startswith(p))
        f = folder / f"{s[len(prefix):]}.model"
        if not f.is_file():
            have = sorted(p.stem for p in folder.glob("*.model"))
            raise ModelUnavailableError(f"reference model {s!r}: {f} is not committed "
                                        f"(committed: {have}; make reference-models)")
        _check_model_file(f)
        return ModelSpec(s, s, "mace", f, "reference fine-tuned model (committed"
                         + (", from embedded-v1)" if folder == REFERENCE_V1_MODELS else ")"))
    if low in FOUNDATION_MODELS:
        return _foundation(low, s, allow_download)
    p = Path(s).expanduser()
    if p.suffix == ".model" or p.exists() or os.sep in s:
        if not p.is_file():
            raise ModelUnavailableError(f"model file {p} does not exist")
        _check_model_file(p)
        return ModelSpec(s, p.stem, "mace", p.resolve())
    raise ValueError(f"unknown model spec {s!r}: use auto, embedded, embedded-v1, chgnet, "
                     "sevennet-0, "
                     f"{', '.join(FOUNDATION_MODELS)}, reference-<arm>, reference-v1-<arm> or a "
                     "path to a "
                     ".model file")


def committed_hashes(sums: Path | None = None) -> dict[str, str]:
    """Relative path -> SHA256 of the committed model files (:data:`COMMITTED_SHA256SUMS`)."""
    sums = Path(sums or COMMITTED_SHA256SUMS)
    if not sums.is_file():
        return {}
    out = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            sha, rel = line.split(maxsplit=1)
            out[rel.strip().lstrip("*")] = sha
    return out


def _reference_sets() -> dict[str, Path]:
    """Spec prefix -> folder of each committed set of reference models, longest prefix
    first (read when called, so that a test may point the folders elsewhere)."""
    return {"reference-v1-": REFERENCE_V1_MODELS, "reference-": REFERENCE_MODELS}


def reference_spec(path: str | os.PathLike) -> str | None:
    """The spec of a model file in the folder of a committed set of reference models
    (``reference-<arm>``, ``reference-v1-<arm>``), else None."""
    p = Path(path).resolve()
    for prefix, folder in _reference_sets().items():
        if p.suffix == ".model" and p.parent == folder.resolve():
            return prefix + p.stem
    return None


def committed_spec(sha256: str | None) -> str | None:
    """The spec of the committed model file with this SHA256 (``embedded``, ``embedded-v1``,
    ``reference-<arm>``, ``reference-v1-<arm>``), or None: how a stored result names the model it was measured on
    when that model is still committed under another name."""
    by_sha = {sha: rel for rel, sha in committed_hashes().items()}
    rel = by_sha.get(str(sha256))
    if rel is None:
        return None
    spec = reference_spec(paths.MODELS / rel)
    if spec:
        return spec
    for spec, f in (("embedded", EMBEDDED), *EMBEDDED_VERSIONS.items()):
        if f.name == rel:
            return spec
    return None


def check_committed(path: str | os.PathLike, root: Path | None = None) -> str | None:
    """For a file below ``root`` (default ``data/models/``): refuse it unless its SHA256 is
    the one recorded in ``root/SHA256SUMS``; return that hash. None for other files.

    Raises
    ------
    ModelFileError
        naming the file, its hash and the recorded one (nothing has been unpickled).
    """
    root = Path(root or paths.MODELS).resolve()
    p = Path(path).resolve()
    if not p.is_relative_to(root):
        return None
    rel = p.relative_to(root).as_posix()
    recorded = committed_hashes(root / "SHA256SUMS").get(rel)
    if recorded is None:
        raise ModelFileError(f"model file {p} is in the committed models folder {root} but "
                             f"its SHA256 is not recorded in {root / 'SHA256SUMS'}; refused "
                             "(loading a .model file runs code: record it with "
                             "lidiff_helpers.simulation.models.record_committed)")
    actual = sha256_file_cached(p)
    if actual != recorded:
        raise ModelFileError(f"model file {p}: SHA256 {actual} differs from the recorded "
                             f"{recorded} ({root / 'SHA256SUMS'}); the file was changed "
                             "after it was committed and is refused before loading "
                             "(loading a .model file runs code)")
    return recorded


def record_committed(path: str | os.PathLike, root: Path | None = None) -> str | None:
    """Record (or update) the SHA256 of a model file below ``root`` (default
    ``data/models/``) in its SHA256SUMS; what every command that writes a committed model
    calls. Returns the hash; None (nothing recorded) for a file outside ``root``."""

    root = Path(root or paths.MODELS).resolve()
    p = Path(path).resolve()
    if not p.is_relative_to(root):
        return None
    rel = p.relative_to(root).as_posix()
    have = committed_hashes(root / "SHA256SUMS")
    have[rel] = sha256_file(p)
    (root / "SHA256SUMS").write_text("".join(f"{h}  {r}\n" for r, h in sorted(have.items())))
    return have[rel]


def _check_model_file(path: Path) -> None:
    """Refuse a file that torch.save did not write (cheap: its first bytes), and a committed
    model file whose SHA256 is not the recorded one (:func:`check_committed`)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not any(head.startswith(m) for m in _TORCH_MAGIC):
        raise ModelFileError(f"model file {path} is not a MACE model: it is not a saved torch "
                             f"model (first bytes {head!r}; expected a zip archive as written "
                             "by torch.save, e.g. a mace_run_train *.model file)")
    check_committed(path)


def model_identity(spec: ModelSpec | str) -> dict:
    """Provenance of a model: spec, resolved name, weights path and SHA256."""
    m = spec if isinstance(spec, ModelSpec) else resolve_spec(spec)
    out = {"spec": m.spec, "name": m.name, "kind": m.kind, "note": m.note,
           "path": str(m.path) if m.path else None,
           "sha256": sha256_file_cached(m.path) if m.path else None}
    if m.kind == "chgnet":
        from importlib.metadata import version

        out["sha256"] = f"chgnet-{version('chgnet')}-pretrained-0.3.0"
    if m.kind == "sevennet":
        out.update({k: v for k, v in sevennet.identity().items() if k != "sha256"})
    return out


def get_calculator(spec: str | os.PathLike | ModelSpec = "auto", device: str = "cpu",
                   dtype: str = "float64", head: str | None = None, verbose: bool = True):
    """An ASE calculator for a model spec.

    Parameters
    ----------
    spec : model spec (see module docstring) or a resolved :class:`ModelSpec`
    device : torch device (``cpu``, ``cuda``)
    dtype : ``float64`` (training/validation) or ``float32`` (faster MD)
    head : for multihead fine-tuned models, the head to evaluate (default: mace's choice,
        the head named ``Default``: the fine-tuned head of lidiff's runs; mace-torch 0.3.16
        lists it after the replay head, ``heads = ['pt_head', 'Default']``)

    Raises
    ------
    ParameterError
        ``head`` is not one of the model's heads (mace itself would silently evaluate the
        last head instead).
    """
    m = spec if isinstance(spec, ModelSpec) else resolve_spec(spec)
    if verbose and m.note:
        print(f"[lidiff.models] {m.spec} -> {m.name}: {m.note}")
    if m.kind == "chgnet":
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = CHGNet.load(verbose=False)
        return CHGNetCalculator(model=model, use_device=device, stress_weight=1 / 160.21766208)
    if m.kind == "sevennet":
        if head:
            raise ParameterError(f"{m.name} has one head; head={head!r} does not apply")
        return sevennet.calculator(device=device, path=m.path)
    from mace.calculators import MACECalculator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = {"head": head} if head else {}
        try:
            calc = MACECalculator(model_paths=str(m.path), device=device, default_dtype=dtype,
                                  **kw)
        except (RuntimeError, AttributeError, KeyError, EOFError, pickle.UnpicklingError,
                zipfile.BadZipFile) as exc:  # torch.load / not a MACE module
            raise ModelFileError(f"model file {m.path} could not be loaded as a MACE model "
                                 f"({type(exc).__name__}: {exc})") from exc
    if head and head not in list(calc.available_heads):
        raise ParameterError(f"model file {m.path} has no head {head!r}; its heads are "
                             f"{list(calc.available_heads)}")
    return calc


@dataclass
class Committee:
    """Several models evaluated on the same structures (active learning, Eq. 4)."""

    specs: list
    calculators: list = field(repr=False)

    def _per_model(self, atoms, getter) -> np.ndarray:
        out = []
        for calc in self.calculators:
            at = atoms.copy()
            at.calc = calc
            out.append(getter(at))
        return np.asarray(out)

    def forces_per_model(self, atoms) -> np.ndarray:
        """Forces of every member, shape (n_models, n_atoms, 3), eV/A."""
        return self._per_model(atoms, lambda at: at.get_forces())

    def energies_per_model(self, atoms) -> np.ndarray:
        """Potential energies of every member (n_models,), eV."""
        return self._per_model(atoms, lambda at: at.get_potential_energy())


def get_committee(specs: Sequence[str | os.PathLike], device: str = "cpu",
                  dtype: str = "float64") -> Committee:
    """Load several model files as one committee."""
    if len(specs) < 2:
        raise ValueError("a committee needs at least two models")
    resolved = [resolve_spec(s) for s in specs]
    return Committee(specs=[model_identity(m) for m in resolved],
                     calculators=[get_calculator(m, device, dtype, verbose=False)
                                  for m in resolved])


#: model evaluations made (and discarded) before a run integrates. Measured on the embedded
#: MACE (float32): a calculator's first force call differs from every later call on the
#: same structure in the last bit (1.2e-7 eV/A; e3nn's TorchScript-compiled tensor
#: products run unoptimized the first time), so a resumed run, whose first call falls at
#: the checkpoint, drifted from the uninterrupted run (> 1e-6 A within 10 steps). With the
#: warm-up no integrated step uses a first call: resumed runs are bitwise identical.
WARM_UP_CALLS = 2


def warm_up(atoms) -> None:
    """Evaluate a torch-model calculator (``atoms.calc``) :data:`WARM_UP_CALLS` times on a
    copy of ``atoms`` (once per calculator object), then clear its cached results; other
    calculators (EMT, test doubles) are left alone."""
    import torch

    calc = atoms.calc
    nets = [*(getattr(calc, "models", None) or []), getattr(calc, "model", None)]
    if calc is None or getattr(calc, "_lidiff_warm", False) \
            or not any(isinstance(n, torch.nn.Module) for n in nets):
        return  # only torch models (MACE, SevenNet, CHGNet) have the first-call effect
    for _ in range(WARM_UP_CALLS):
        calc.reset()
        probe = atoms.copy()
        probe.calc = calc
        probe.get_forces()
    calc.reset()
    try:
        calc._lidiff_warm = True
    except AttributeError:  # a calculator without a __dict__: warm it every run
        pass
