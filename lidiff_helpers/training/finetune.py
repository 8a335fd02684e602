"""Fine-tuning runs of the study's sweeps: naive, multihead replay, from scratch.

The study (Alghamdi et al. 2026, Sec. 2.3 and Table 1) fine-tunes MACE-MPA-0 with
``mace_run_train`` (mace-torch 0.3.12) on DeePMD-derived LiF frames, with 0, 100, 1000
or 10 000 replayed MPtrj ("pre-training") frames. lidiff never re-implements training:
a run is a small :class:`FinetuneConfig`; this module turns it into mace options,
writes the data files, runs mace (:func:`lidiff_helpers.training.mace_train.run_mace_train`),
and stores the config beside the outputs. The same config run again is skipped when
finished and resumed from mace's latest checkpoint when interrupted.

Strategies
----------
``naive``      ``--foundation_model=<path> --multiheads_finetuning=False``, LiF frames only.
``multihead``  ``--multiheads_finetuning=True --pt_train_file=<replay> --pt_valid_file=...``;
               the replay head ``pt_head`` keeps the foundation's E0s.
``scratch``    the foundation's architecture (read from its file) from random weights.

The study's exact command lines (``Fine-tuning_with_DeePMD_data/ft*_pt*/*_model/*.sh``
upstream) are reproduced by :data:`STUDY_FLAGS` and :data:`STUDY_ARCHITECTURE_FLAGS`.
Three facts read from those scripts and from mace-torch's source matter for the
comparison (the confound guard, :mod:`lidiff_helpers.analysis.confound`, reports them per run):

* without ``--force_mh_ft_lr=True`` mace replaces the learning rate by 1e-4 and the EMA
  decay by 0.99999 in multihead mode (0.3.12 and 0.3.16 alike), so the study's
  multihead arms did not train at its stated lr 0.005 / EMA 0.995;
* ``--num_samples`` (the study's spelling, an argparse abbreviation of
  ``--num_samples_pt``) only sizes the replay set mace downloads itself; with a
  ``--pt_train_file`` every frame of that file is replayed. The study's "N_pt = 1000"
  file holds 900 frames (+ 100 replay validation frames), its "100" 100 frames;
* the N_pt = 10 000 runs used ``--max_num_epochs=400`` (not 800).

E0s
---
The study passes its Quantum ESPRESSO isolated-atom energies (``e0s="study"``), which
suits MACE-MPA-0 (whose E0s are isolated-atom energies too, so its interaction energies
are cohesive energies on both sides). The embedded foundation model's E0s are a least
squares fit to MPtrj energies, so with the study's E0s the fine-tuned head must first
absorb a ~4.5 eV/atom shift (measured: validation energy MAE 4.5 eV/atom before and
0.41 eV/atom after the first epoch, forces not improved meanwhile). ``e0s="fit"``
instead fits per-element E0s *given the foundation's own interaction energies* (like
mace's ``--E0s=estimated``) on the validation frames every arm of a sweep shares, and
passes them as numbers: every arm, scratch included, gets the same E0s and the guard
can check it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from lidiff_helpers.io import data
from lidiff_helpers.training import mace_train as training
from lidiff_helpers.training import selection

__all__ = [
    "STRATEGIES",
    "STUDY_ARCHITECTURE_FLAGS",
    "STUDY_FLAGS",
    "STUDY_REPLAY",
    "TABLE1",
    "FinetuneConfig",
    "FinetuneResult",
    "benchmark",
    "build_options",
    "descriptor_source",
    "epoch_times",
    "foundation_architecture",
    "foundation_elements",
    "learning_curve",
    "load_benchmark",
    "load_result",
    "mace_option_names",
    "map_option_names",
    "plan_from_params",
    "plan_sweep",
    "plan_table",
    "register_results",
    "replay_frames",
    "run_finetune",
    "run_sweep",
    "summary_values",
    "table1",
]

STRATEGIES = ("naive", "multihead", "scratch")

#: hyperparameters of every fine-tuning command of the study (scripts ft*_pt*/*.sh)
STUDY_FLAGS: dict[str, Any] = {
    "loss": "universal", "energy_weight": 1.0, "forces_weight": 10.0,
    "compute_stress": True, "stress_weight": 1.0,
    "energy_key": "REF_energy", "forces_key": "REF_forces", "stress_key": "REF_stress",
    "eval_interval": 1, "error_table": "PerAtomMAE",
    "lr": 0.005, "weight_decay": 1e-8, "ema": True, "ema_decay": 0.995,
    "scheduler_patience": 5, "batch_size": 2, "valid_batch_size": 2,
    "pair_repulsion": True, "distance_transform": "Agnesi", "max_num_epochs": 800,
    "patience": 50, "amsgrad": True, "clip_grad": 100.0, "default_dtype": "float64",
    "plot_frequency": 50, "save_cpu": True,
}
#: architecture flags the study also passed; mace ignores them when a foundation model is
#: given (the architecture is the foundation's), they are kept for a verbatim command
STUDY_ARCHITECTURE_FLAGS: dict[str, Any] = {
    "model": "MACE", "num_interactions": 2, "correlation": 3, "max_ell": 3, "r_max": 6.0,
    "max_L": 1, "num_channels": 128, "num_radial_basis": 8, "MLP_irreps": "16x0e",
    "scaling": "rms_forces_scaling",
}
#: flags of the study's scripts lidiff does not pass: cluster launch options
#: (``--distributed``, ``--num_workers=$SLURM_CPUS_PER_TASK``) and the CUDA-only
#: cuEquivariance kernels (``--enable_cueq=True``); none changes the trained model
STUDY_CLUSTER_FLAGS = ("distributed", "num_workers", "enable_cueq")
#: the study's replay files per N_pt: (pt_train_file key, the --num_samples it passed)
STUDY_REPLAY = {100: ("train_100", 200), 1000: ("train_900", 1000),
                10000: ("train_10000", 1000)}
#: epochs of the study's N_pt = 10 000 runs (ft700_pt10000, ft800_pt10000 scripts)
STUDY_EPOCHS_PT10000 = 400
#: Table 1: data size -> (bulk, interstitial), and the upstream training file
TABLE1 = {110: (10, 100, "100-REF_train.xyz"), 210: (10, 200, "200-REF_train.xyz"),
          410: (10, 400, "400-REF_train.xyz"), 710: (10, 700, "700-REF_train.xyz"),
          800: (100, 700, "bulk-700-REF_train.xyz"), 1600: (None, None, "1600-REF_train.xyz")}

#: option renames between mace-torch versions (study spelling -> current)
_RENAMES = {"num_samples": "num_samples_pt"}
#: options lidiff passes only when the installed mace-torch knows them
_OPTIONAL = {"real_pt_data_ratio_threshold"}


# ----------------------------------------------------------------------------- config

@dataclass(frozen=True)
class FinetuneConfig:
    """One training run of a sweep.

    Attributes
    ----------
    strategy : ``naive`` | ``multihead`` | ``scratch``
    foundation : path of the foundation ``.model`` file (resolved spec)
    foundation_sha256 : its SHA256 (a retrained foundation gives new run folders)
    n_bulk, n_interstitial : fine-tuning frames (Table 1 composition)
    selection : ``random`` | ``diverse`` (:mod:`lidiff_helpers.training.selection`)
    n_pt : replayed pre-training frames (multihead only; 0 otherwise)
    replay_source : ``study`` = the study's file for N_pt in {100, 1000, 10000}, else a
        seeded draw of N_pt frames from the 1000 local replay frames; ``pool`` = always
        the seeded draw
    n_valid_bulk, n_valid_interstitial : validation frames (shared by all arms)
    seed : mace's ``--seed``
    data_seed : seed of the frame selection
    diverse_pool_max : diverse selection chooses among at most this many candidates per
        kind (a seeded subsample; None = the whole pool)
    lr, weight_decay, ema_decay, batch_size, max_num_epochs, patience : as mace's options
    default_dtype : ``float64`` (study) or ``float32``
    force_mh_ft_lr : pass ``--force_mh_ft_lr=True`` (keep lr/EMA in multihead mode)
    n_pt_valid : replay validation frames (a seeded subset of the study's 100; None = all)
    e0s : ``study`` (:data:`lidiff_helpers.io.data.E0S_EV`) or ``fit`` (fitted on the shared
        validation frames given the foundation's interaction energies; module notes)
    pt_ratio_threshold : mace >= 0.3.13 duplicates fine-tuning frames when they are
        fewer than this fraction of the replay frames; 0 = never (0.3.12 behaviour)
    study_arch_flags : also pass :data:`STUDY_ARCHITECTURE_FLAGS` (no effect on
        fine-tuning; verbatim study command)
    device : torch device
    extra : further mace options (override everything else)
    """

    strategy: str
    foundation: str
    foundation_sha256: str
    n_bulk: int
    n_interstitial: int
    selection: str = "random"
    n_pt: int = 0
    replay_source: str = "study"
    n_valid_bulk: int = 5
    n_valid_interstitial: int = 100
    seed: int = 1
    data_seed: int = 20260101
    diverse_pool_max: int | None = None
    lr: float = 0.005
    weight_decay: float = 1e-8
    ema_decay: float = 0.995
    batch_size: int = 2
    max_num_epochs: int = 800
    patience: int = 50
    default_dtype: str = "float64"
    force_mh_ft_lr: bool = False
    e0s: str = "study"
    n_pt_valid: int | None = None
    pt_ratio_threshold: float | None = 0.0
    study_arch_flags: bool = True
    device: str = "cpu"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; use one of {STRATEGIES}")
        if self.selection not in ("random", "diverse"):
            raise ValueError(f"unknown selection {self.selection!r}; use random or diverse")
        if self.strategy == "multihead" and self.n_pt <= 0:
            raise ValueError("multihead fine-tuning replays pre-training frames: n_pt must "
                             "be > 0 (N_pt = 0 is the naive strategy)")
        if self.strategy != "multihead" and self.n_pt:
            raise ValueError(f"{self.strategy}: n_pt must be 0 (only multihead replays)")
        if self.replay_source not in ("study", "pool"):
            raise ValueError(f"replay_source {self.replay_source!r}: use study or pool")
        if self.e0s not in ("study", "fit"):
            raise ValueError(f"e0s {self.e0s!r}: use study or fit")

    @property
    def n_frames(self) -> int:
        return self.n_bulk + self.n_interstitial

    @property
    def arm(self) -> str:
        """What is trained, without the data: ``naive``, ``multihead-pt100``, ``scratch``."""
        return f"multihead-pt{self.n_pt}" if self.strategy == "multihead" else self.strategy

    @property
    def label(self) -> str:
        """Readable run name, e.g. ``multihead-pt100-diverse-10+100-s1``."""
        return f"{self.arm}-{self.selection}-{self.n_bulk}+{self.n_interstitial}-s{self.seed}"

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FinetuneConfig:
        return cls(**{k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(cls)}})

    def digest(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:8]

    @property
    def folder(self) -> str:
        """Run folder name: label + hash of the whole config (no silent reuse)."""
        return f"{self.label}-{self.digest()}"


# ----------------------------------------------------------------------------- mace options

@lru_cache(maxsize=1)
def mace_option_names() -> frozenset:
    """Option names (without ``--``) of the installed mace-torch's ``mace_run_train``."""
    from mace.tools.arg_parser import build_default_arg_parser

    parser = build_default_arg_parser()
    return frozenset(s[2:] for a in parser._actions for s in a.option_strings
                     if s.startswith("--"))


def mace_version() -> str:
    from importlib.metadata import version

    return version("mace-torch")


def map_option_names(options: Mapping[str, Any],
                     known: Iterable[str] | None = None) -> dict[str, Any]:
    """Translate option names to the installed mace-torch version.

    ``num_samples`` (the study's 0.3.12 spelling, an argparse abbreviation) becomes
    ``num_samples_pt`` (and back, for an old version without it); options in
    ``_OPTIONAL`` are dropped when unknown; any other unknown name is an error.

    Raises
    ------
    ValueError
        naming the unknown option(s) and the mace-torch version.
    """
    names = frozenset(known) if known is not None else mace_option_names()
    back = {v: k for k, v in _RENAMES.items()}
    out, bad = {}, []
    for k, v in options.items():
        if k in names:
            out[k] = v
        elif k in _RENAMES and _RENAMES[k] in names:
            out[_RENAMES[k]] = v
        elif k in back and back[k] in names:
            out[back[k]] = v
        elif k in _OPTIONAL:
            continue
        else:
            bad.append(k)
    if bad:
        ver = mace_version() if known is None else "given option list"
        raise ValueError(f"mace_run_train ({ver}) has no option(s) {sorted(bad)}")
    return out


def _load_model(path: str | Path):
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(str(path), map_location="cpu", weights_only=False)


@lru_cache(maxsize=8)
def foundation_architecture(model_path: str) -> dict[str, Any]:
    """mace options that rebuild ``model_path``'s architecture (for ``scratch``).

    Read with mace's own ``extract_config_mace_model``: hidden irreps, cutoff, radial
    basis, body order, layers, readout MLP, pair repulsion and distance transform.
    """
    from mace.tools.scripts_utils import extract_config_mace_model

    cfg = extract_config_mace_model(_load_model(model_path))
    if "error" in cfg:
        raise ValueError(f"{model_path}: {cfg['error']}; cannot rebuild its architecture")
    out = {"model": "MACE", "hidden_irreps": str(cfg["hidden_irreps"]),
           "r_max": float(cfg["r_max"]), "num_radial_basis": int(cfg["num_bessel"]),
           "num_cutoff_basis": int(cfg["num_polynomial_cutoff"]),
           "max_ell": int(cfg["max_ell"]), "correlation": int(cfg["correlation"]),
           "num_interactions": int(cfg["num_interactions"]),
           "MLP_irreps": str(cfg["MLP_irreps"]), "radial_MLP": str(list(cfg["radial_MLP"])),
           "radial_type": cfg["radial_type"], "pair_repulsion": bool(cfg["pair_repulsion"])}
    out["distance_transform"] = cfg.get("distance_transform") or "None"
    return out


@lru_cache(maxsize=8)
def foundation_elements(model_path: str) -> frozenset:
    """Atomic numbers a ``.model`` file knows."""
    return frozenset(int(z) for z in _load_model(model_path).atomic_numbers)


def replay_frames(n_pt: int, source: str = "study", seed: int = 0,
                  elements: Iterable[int] | None = None,
                  n_valid: int | None = None) -> tuple[list, list, dict]:
    """Replay ("pre-training") frames for multihead fine-tuning.

    Parameters
    ----------
    n_pt : number of replay training frames
    source : ``study`` = the study's file for N_pt in :data:`STUDY_REPLAY` (100 ->
        train_100, 1000 -> train_900 (900 frames), 10000 -> the upstream-only 10 000
        frame file); otherwise, and for ``pool``, a seeded draw of ``n_pt`` frames from
        train_900 + train_100
    seed : seed of the draw
    elements : keep only frames made of these elements (a foundation model that does not
        know an element cannot replay it); None = all
    n_valid : keep a seeded subset of this many replay validation frames (None = all)

    Returns
    -------
    (train, valid, info) : frames, the study's replay validation frames
        (valid_mp_finetuning-MACE_100), and a dict recording files and dropped frames.

    Raises
    ------
    lidiff_helpers.io.data.DataUnavailableError
        N_pt = 10 000 needs the upstream-only ``REF_10000_mp_finetuning-MACE_run-1.xyz``.
    lidiff_helpers.io.data.DataError
        more frames asked for than the local replay files hold.
    """
    keep = set(elements) if elements is not None else None

    def ok(at) -> bool:
        return keep is None or {int(z) for z in at.numbers} <= keep

    info: dict[str, Any] = {"n_pt_requested": n_pt, "source": source}
    if source == "study" and n_pt in STUDY_REPLAY:
        key = STUDY_REPLAY[n_pt][0]
        try:
            raw = data.read_frames(data.REPLAY_FILES[key], lif=False)
        except data.DataUnavailableError as exc:
            raise data.DataUnavailableError(
                f"multihead fine-tuning with N_pt = {n_pt} replays the study's "
                f"{data.REPLAY_FILES[key]}, which is not available: {exc}") from exc
        train = [a for a in raw if ok(a)]
        info["files"] = [data.REPLAY_FILES[key]]
    else:
        raw = (data.read_frames(data.REPLAY_FILES["train_900"], lif=False)
               + data.read_frames(data.REPLAY_FILES["train_100"], lif=False))
        cands = [a for a in raw if ok(a)]
        if n_pt > len(cands):
            raise data.DataError(
                f"asked for {n_pt} replay frames but the local replay files (train_900 + "
                f"train_100) hold {len(cands)} usable ones"
                + (f" made of elements {sorted(keep)}" if keep else "")
                + "; N_pt = 10000 needs the upstream-only "
                + Path(data.REPLAY_FILES["train_10000"]).name)
        idx = np.random.default_rng(seed).choice(len(cands), size=n_pt, replace=False)
        train = [cands[i] for i in sorted(idx)]
        info["files"] = [data.REPLAY_FILES["train_900"], data.REPLAY_FILES["train_100"]]
    valid_raw = data.read_frames(data.REPLAY_FILES["valid_100"], lif=False)
    valid = [a for a in valid_raw if ok(a)]
    if n_valid is not None and n_valid < len(valid):
        idx = np.random.default_rng(seed + 1).choice(len(valid), n_valid, replace=False)
        valid = [valid[i] for i in sorted(idx)]
    info.update(n_train=len(train), n_valid=len(valid),
                dropped_train=len(raw) - len(train) if source == "study" and n_pt in
                STUDY_REPLAY else None, dropped_valid=len(valid_raw) - len(valid),
                elements_filter=sorted(keep) if keep else None)
    if not train or not valid:
        raise data.DataError(f"no replay frames left after keeping elements {sorted(keep)} "
                             "(the foundation model knows too few elements)")
    return train, valid, info


def fit_e0s(foundation_path: str | Path, frames: Sequence,
            dtype: str = "float64") -> dict[int, float]:
    """E0s (eV) that put the foundation's interaction energies on the frames' reference.

    Least squares over the frames of ``E_ref - (E_model - sum_z n_z E0_model,z)`` =
    ``sum_z n_z E0_z``; LiF needs bulk and interstitial frames (two compositions) for a
    unique Li/F split.
    """
    from ase.data import atomic_numbers

    from lidiff_helpers.analysis import parity
    from lidiff_helpers.simulation.models import get_calculator

    calc = get_calculator(str(foundation_path), dtype=dtype, verbose=False)
    e0_model = {atomic_numbers[k]: v for k, v in (parity.model_e0s(calc) or {}).items()}
    zs = sorted({int(z) for at in frames for z in at.numbers})
    if any(z not in e0_model for z in zs):
        raise ValueError(f"{foundation_path}: no stored E0 for some of elements {zs}")
    a = np.zeros((len(frames), len(zs)))
    b = np.zeros(len(frames))
    for i, at in enumerate(frames):
        x = at.copy()
        x.calc = calc
        counts = {z: int((at.numbers == z).sum()) for z in zs}
        inter = x.get_potential_energy() - sum(n * e0_model[z] for z, n in counts.items())
        a[i] = [counts[z] for z in zs]
        b[i] = float(at.info["REF_energy"]) - inter
    if np.linalg.matrix_rank(a) < len(zs):
        raise ValueError("fit_e0s: the frames hold too few distinct compositions to fit "
                         f"one E0 per element {zs} (LiF needs bulk and interstitial frames)")
    sol = np.linalg.lstsq(a, b, rcond=None)[0]
    return {z: float(v) for z, v in zip(zs, sol)}


_E0_CACHE: dict[tuple, dict] = {}


def _fit_e0s_cached(path: str, sha: str, hashes: tuple, frames: tuple) -> dict[int, float]:
    key = (path, sha, hashes)
    if key not in _E0_CACHE:
        _E0_CACHE[key] = fit_e0s(path, list(frames))
    return _E0_CACHE[key]


def build_options(cfg: FinetuneConfig, files: Mapping[str, str | Path],
                  name: str = "model", known: Iterable[str] | None = None,
                  e0s: Mapping[int, float] | None = None) -> dict[str, Any]:
    """mace_run_train options of a run (names mapped to the installed mace-torch).

    ``files``: ``train``, ``valid`` and, for multihead, ``pt_train`` and ``pt_valid``;
    ``e0s``: E0s of the fine-tuned head (default: the study's).
    For the study's settings (the defaults of :class:`FinetuneConfig`) the result holds
    exactly the flags of the study's scripts except :data:`STUDY_CLUSTER_FLAGS`.
    """
    o: dict[str, Any] = {"name": name, "seed": cfg.seed, "device": cfg.device,
                         "train_file": str(files["train"]), "valid_file": str(files["valid"]),
                         "E0s": dict(e0s) if e0s else {3: data.E0S_EV["Li"],
                                                       9: data.E0S_EV["F"]}}
    o.update(STUDY_FLAGS)
    o.update(lr=cfg.lr, weight_decay=cfg.weight_decay, ema_decay=cfg.ema_decay,
             batch_size=cfg.batch_size, valid_batch_size=cfg.batch_size,
             max_num_epochs=cfg.max_num_epochs, patience=cfg.patience,
             default_dtype=cfg.default_dtype)
    if cfg.strategy == "scratch":
        o.update(foundation_architecture(cfg.foundation))
        o["multiheads_finetuning"] = False
    else:
        if cfg.study_arch_flags:
            o.update(STUDY_ARCHITECTURE_FLAGS)
        o["foundation_model"] = cfg.foundation
        o["multiheads_finetuning"] = cfg.strategy == "multihead"
    if cfg.strategy == "multihead":
        study = cfg.replay_source == "study" and cfg.n_pt in STUDY_REPLAY
        o["num_samples_pt"] = STUDY_REPLAY[cfg.n_pt][1] if study else cfg.n_pt
        o["pt_train_file"] = str(files["pt_train"])
        o["pt_valid_file"] = str(files["pt_valid"])
        if cfg.force_mh_ft_lr:
            o["force_mh_ft_lr"] = True
        if cfg.pt_ratio_threshold is not None:
            o["real_pt_data_ratio_threshold"] = cfg.pt_ratio_threshold
    o["num_workers"] = 0
    o.update(cfg.extra)
    return map_option_names(o, known)


# ----------------------------------------------------------------------------- running

@dataclass(frozen=True)
class FinetuneResult:
    """Outcome of :func:`run_finetune`.

    Attributes
    ----------
    config : the run's config
    workdir : its folder (config.json, data files, mace outputs)
    model : the trained ``.model`` file (None unless status is trained/skipped)
    status : ``trained``, ``resumed``, ``skipped`` (finished before), ``missing data``
        or ``failed``
    wall_time_s : wall time of this session's training (0 when skipped)
    message : why data was missing / the failure, else ""
    """

    config: FinetuneConfig
    workdir: Path
    model: Path | None
    status: str
    wall_time_s: float = 0.0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.model is not None


def _write_once(frames: Sequence, path: Path) -> Path:
    if not path.is_file():
        tmp = path.with_suffix(".tmp.xyz")
        training.write_extxyz(frames, tmp)
        tmp.replace(path)
    return path


def prepare_data(cfg: FinetuneConfig, workdir: Path,
                 descriptors: Mapping | Callable[[list], Mapping] | None = None) -> dict:
    """Write the run's extxyz files (once) and ``data.json``; return the file paths.

    ``descriptors``: hash -> vector, or a callable taking the hashes a diverse selection
    needs (:func:`descriptor_source`), called only for a diverse run.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    files = {"train": workdir / "train.xyz", "valid": workdir / "valid.xyz"}
    manifest = workdir / "data.json"
    if cfg.strategy == "multihead":
        files.update(pt_train=workdir / "replay_train.xyz",
                     pt_valid=workdir / "replay_valid.xyz")
    if manifest.is_file() and all(p.is_file() for p in files.values()):
        return files
    valid = selection.validation_subset(cfg.n_valid_bulk, cfg.n_valid_interstitial,
                                        cfg.data_seed + 1)
    vh = {a.info["hash"] for a in valid}
    desc = None
    if cfg.selection == "diverse":
        need = selection.diverse_candidate_hashes(cfg.data_seed, vh, cfg.diverse_pool_max)
        desc = descriptors(need) if callable(descriptors) else descriptors
    train = selection.select_subset(cfg.selection, cfg.n_bulk, cfg.n_interstitial,
                                    cfg.data_seed, descriptors=desc, exclude=vh,
                                    pool_max=cfg.diverse_pool_max)
    selection.check_disjoint_from_test(valid, f"{cfg.label}: validation set")
    body: dict[str, Any] = {
        "train_hashes": [a.info["hash"] for a in train],
        "valid_hashes": sorted(vh), "train_sources": [a.info["source"] for a in train]}
    if cfg.strategy == "multihead":
        pt_train, pt_valid, info = replay_frames(
            cfg.n_pt, cfg.replay_source, cfg.data_seed,
            elements=foundation_elements(cfg.foundation), n_valid=cfg.n_pt_valid)
        body["replay"] = info
        _write_once(pt_train, files["pt_train"])
        _write_once(pt_valid, files["pt_valid"])
    _write_once(train, files["train"])
    _write_once(valid, files["valid"])
    if cfg.e0s == "fit":
        fit = _fit_e0s_cached(cfg.foundation, cfg.foundation_sha256,
                              tuple(a.info["hash"] for a in valid), tuple(valid))
        body["e0s_fit_eV"] = {str(z): v for z, v in fit.items()}
        body["e0s_fit_on"] = "validation frames (shared by every arm)"
    body["data_files"] = data.files_used()
    manifest.write_text(json.dumps(body, indent=1))
    return files


def run_finetune(cfg: FinetuneConfig, root: str | Path,
                 descriptors: Mapping | Callable[[list], Mapping] | None = None,
                 threads: int | None = None) -> FinetuneResult:
    """Train one config in ``root/<cfg.folder>``; skip if finished, resume if interrupted.

    ``config.json`` is written beside mace's outputs before training; ``done.json``
    (wall time, model SHA256) after. Missing data (a subset larger than the local pool,
    the upstream-only 10 000-frame replay file) gives status ``missing data`` with the
    reason instead of raising, so a sweep goes on; a mace failure gives ``failed``.
    """
    from lidiff_helpers.core.provenance import sha256_file

    wd = Path(root).resolve() / cfg.folder
    cfg_file, done = wd / "config.json", wd / "done.json"
    model = wd / "model.model"
    if cfg_file.is_file():
        old = json.loads(cfg_file.read_text())
        if old != cfg.to_dict():
            raise FileExistsError(f"{wd}: config.json differs from this run's config; "
                                  "delete the folder or choose another root")
    if model.is_file() and done.is_file():
        return FinetuneResult(cfg, wd, model, "skipped")
    try:
        files = prepare_data(cfg, wd, descriptors)
    except (data.DataError, data.DataUnavailableError, selection.SelectionError) as exc:
        return FinetuneResult(cfg, wd, None, "missing data", message=str(exc))
    cfg_file.write_text(json.dumps(cfg.to_dict(), indent=1))
    resumed = any((wd / "checkpoints").glob("*.pt")) if (wd / "checkpoints").is_dir() else False
    man = json.loads((wd / "data.json").read_text())
    e0s = {int(z): v for z, v in man["e0s_fit_eV"].items()} if cfg.e0s == "fit" else None
    opts = build_options(cfg, files, e0s=e0s)
    t0, c0 = time.time(), _children_cpu_s()
    try:
        path = training.run_mace_train(opts, wd, threads=threads)
    except training.TrainingError as exc:
        return FinetuneResult(cfg, wd, None, "failed", time.time() - t0, str(exc))
    wall = time.time() - t0
    done.write_text(json.dumps({"wall_time_s_last_session": round(wall, 1),
                                "cpu_time_s_last_session": round(_children_cpu_s() - c0, 1),
                                "resumed": resumed, "model_sha256": sha256_file(path),
                                "mace_torch": mace_version()}, indent=1))
    return FinetuneResult(cfg, wd, path, "resumed" if resumed else "trained", wall)


def _children_cpu_s() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def load_result(workdir: str | Path) -> FinetuneResult:
    """A finished run folder as a :class:`FinetuneResult` (status ``skipped``)."""
    wd = Path(workdir)
    cfg = FinetuneConfig.from_dict(json.loads((wd / "config.json").read_text()))
    model = wd / "model.model"
    return FinetuneResult(cfg, wd, model if model.is_file() else None,
                          "skipped" if model.is_file() else "unfinished")


# ----------------------------------------------------------------------------- sweeps

def plan_sweep(foundation_path: str | Path, subsets: Sequence[Sequence[int]],
               n_pt_values: Sequence[int], selections: Sequence[str] = ("random",),
               seeds: Sequence[int] = (1,), include_scratch: bool = False,
               epochs: int = 800, epochs_pt10000: int = STUDY_EPOCHS_PT10000,
               **common) -> list[FinetuneConfig]:
    """The grid: subsets x replay (0 = naive, > 0 = multihead) x selections x seeds.

    ``include_scratch`` adds one scratch run per subset, selection and seed. ``common``
    are further :class:`FinetuneConfig` fields (lr, n_valid_*, force_mh_ft_lr, ...).
    """
    from lidiff_helpers.core.provenance import sha256_file

    fpath = str(Path(foundation_path).resolve())
    sha = sha256_file(fpath)
    out = []
    for nb, ni in subsets:
        for sel in selections:
            for seed in seeds:
                arms = [("naive" if n == 0 else "multihead", int(n)) for n in n_pt_values]
                if include_scratch:
                    arms.append(("scratch", 0))
                for strat, n in arms:
                    ep = epochs_pt10000 if n >= 10000 else epochs
                    out.append(FinetuneConfig(
                        strategy=strat, foundation=fpath, foundation_sha256=sha,
                        n_bulk=int(nb), n_interstitial=int(ni), selection=sel, n_pt=n,
                        seed=int(seed), max_num_epochs=int(ep), **common))
    return out


def run_sweep(configs: Sequence[FinetuneConfig], root: str | Path,
              descriptors: Mapping | Callable[[list], Mapping] | None = None,
              threads: int | None = None, progress: bool = True) -> list[FinetuneResult]:
    """Run every config in order (each skipped/resumed as :func:`run_finetune` does).

    ``descriptors`` may be a callable (:func:`descriptor_source`) so they are computed
    only if a diverse run still has to be trained.
    """
    it: Iterable = configs
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(configs, desc="fine-tuning runs", unit="run")
    out = []
    for cfg in it:
        res = run_finetune(cfg, root, descriptors, threads)
        if progress:
            it.set_postfix_str(f"{cfg.label}: {res.status}")
        out.append(res)
    return out


def plan_from_params(p, foundation_path: str | Path) -> list[FinetuneConfig]:
    """The sweep of a notebook's parameters (``run.p`` of ``02_finetune_sweeps``)."""
    nvb, nvi = p.n_valid
    return plan_sweep(foundation_path, p.subsets, p.n_pt_values, p.selections, p.seeds,
                      p.include_scratch, epochs=p.epochs, epochs_pt10000=p.epochs_pt10000,
                      replay_source=p.replay_source, n_valid_bulk=nvb,
                      n_valid_interstitial=nvi, data_seed=p.seed, lr=p.lr,
                      weight_decay=p.weight_decay, ema_decay=p.ema_decay,
                      batch_size=p.batch_size, patience=p.patience,
                      default_dtype=p.default_dtype, force_mh_ft_lr=p.force_mh_ft_lr,
                      device=p.device, diverse_pool_max=p.diverse_pool_max, e0s=p.e0s,
                      n_pt_valid=p.n_pt_valid)


def plan_table(configs: Sequence[FinetuneConfig]):
    """The planned runs as a DataFrame (label, method, data, replay, epochs, folder)."""
    import pandas as pd

    return pd.DataFrame([{"run": c.label, "method": c.arm, "selection": c.selection,
                          "n_bulk": c.n_bulk, "n_interstitial": c.n_interstitial,
                          "n_pt": c.n_pt, "max_epochs": c.max_num_epochs, "seed": c.seed,
                          "lr": c.lr, "force_mh_ft_lr": c.force_mh_ft_lr,
                          "folder": c.folder} for c in configs])


def descriptor_source(model_path: str | Path, cache_dir: str | Path | None = None,
                      dtype: str = "float32") -> Callable[[list], Mapping]:
    """``f(hashes) -> {hash: descriptor}`` with ``model_path``'s MACE descriptors, computed
    when first needed and cached in ``cache_dir`` (default: the lidiff cache, shared by
    every profile and notebook; the file name holds the model's SHA256)."""
    import functools

    from lidiff_helpers.core import paths

    cache_dir = cache_dir if cache_dir is not None else paths.CACHE / "descriptors"
    return functools.partial(selection.pool_descriptors, str(model_path), cache_dir,
                             dtype=dtype)


# ----------------------------------------------------------------------------- outputs

def learning_curve(workdir: str | Path):
    """Validation errors per epoch from mace's results file (a pandas DataFrame).

    Columns: ``epoch``, ``head``, ``rmse_e_meV_atom``, ``rmse_f_meV_A``,
    ``rmse_stress_meV_A3``, ``mae_f_meV_A``; epoch -1 is the evaluation before training.
    A resumed run's repeated epochs keep the later line.
    """
    import pandas as pd

    rows = {}
    for r in training.read_mace_results(workdir):
        if r.get("mode") != "eval":
            continue
        ep = -1 if r.get("epoch") is None else int(r["epoch"])
        rows[(ep, r.get("head", "Default"))] = {
            "epoch": ep, "head": r.get("head", "Default"),
            "rmse_e_meV_atom": 1e3 * r.get("rmse_e_per_atom", np.nan),
            "rmse_f_meV_A": 1e3 * r.get("rmse_f", np.nan),
            "rmse_stress_meV_A3": 1e3 * r.get("rmse_stress", np.nan),
            "mae_f_meV_A": 1e3 * r.get("mae_f", np.nan)}
    cols = ["epoch", "head", "rmse_e_meV_atom", "rmse_f_meV_A", "rmse_stress_meV_A3",
            "mae_f_meV_A"]
    df = pd.DataFrame(list(rows.values()), columns=cols)
    return df.sort_values(["head", "epoch"]).reset_index(drop=True)


def epoch_times(workdir: str | Path) -> dict[str, float]:
    """Training cost per epoch from mace's results file.

    ``opt_s_per_epoch``: optimiser time (sum of step times) per epoch, median over
    epochs; ``eval_s_per_epoch``: validation time per epoch, median; ``n_epochs``.
    """
    opt: dict[int, float] = {}
    ev: dict[int, float] = {}
    for r in training.read_mace_results(workdir):
        ep = r.get("epoch")
        if ep is None:
            continue
        d = opt if r.get("mode") == "opt" else ev
        d[int(ep)] = d.get(int(ep), 0.0) + float(r.get("time", 0.0))
    return {"opt_s_per_epoch": float(np.median(list(opt.values()))) if opt else np.nan,
            "eval_s_per_epoch": float(np.median(list(ev.values()))) if ev else np.nan,
            "n_epochs": len(opt)}


#: columns of the rendered Table 1 grid, in order
TABLE1_COLUMNS = [
    "run", "n_bulk", "n_interstitial", "n_pt", "selection", "status",
    "interstitial_F_rmse_meV_A", "bulk_F_rmse_meV_A", "interstitial_E_rmse_meV_atom",
    "bulk_E_rmse_meV_atom", "interstitial_S_rmse_GPa", "bulk_S_rmse_GPa",
    "replay_F_rmse_meV_A", "s_per_epoch", "epochs_run", "best_epoch", "lr_effective",
    "ema_decay_effective", "heads", "guard_notes", "message"]


def table1(table, baseline: Mapping[str, Any] | None = None):
    """The sweep rendered like the study's Table 1 (one row per run, grid order), with the
    test/replay errors, cost per epoch and the confound-guard columns; the foundation
    model's zero-shot row first when ``baseline`` is given."""
    import pandas as pd

    t = table.copy()
    if "opt_s_per_epoch" in t:
        t["s_per_epoch"] = t["opt_s_per_epoch"] + t["eval_s_per_epoch"]
    rows = []
    if baseline:
        rows.append({"run": "foundation (zero-shot)", "n_bulk": 0, "n_interstitial": 0,
                     "n_pt": 0, "selection": "-", "status": "-",
                     **{k: v for k, v in baseline.items() if k in TABLE1_COLUMNS}})
    out = pd.concat([pd.DataFrame(rows), t], ignore_index=True) if rows else t
    return out[[c for c in TABLE1_COLUMNS if c in out]]


def register_results(out: str | Path, results: Sequence[FinetuneResult], table=None,
                     notebook: str = "02_finetune_sweeps") -> list[dict]:
    """Register every finished model for notebooks 01/04/05 (``registry.register_model``).

    Name: the run label; metadata: strategy, data, replay, selection, seed, foundation
    SHA256, ``energy_reference="study"`` (trained with the study's E0s) and, when
    ``table`` is given, its test-set force RMSEs.
    """
    from lidiff_helpers.io.model_registry import register_model

    by_run = {} if table is None else {r["run"]: r for r in table.to_dict("records")}
    out_entries = []
    for r in results:
        if not r.ok:
            continue
        c = r.config
        meta = {"strategy": c.strategy, "method": c.arm, "selection": c.selection,
                "n_bulk": c.n_bulk, "n_interstitial": c.n_interstitial, "n_pt": c.n_pt,
                "seed": c.seed, "foundation_sha256": c.foundation_sha256,
                "energy_reference": "study", "head": "Default", "workdir": str(r.workdir)}
        row = by_run.get(c.label, {})
        for k in ("interstitial_F_rmse_meV_A", "bulk_F_rmse_meV_A", "lr_effective"):
            if k in row:
                meta[k] = row[k]
        out_entries.append(register_model(Path(out), c.label, r.model, notebook, meta))
    return out_entries


def summary_values(table, baseline: Mapping[str, Any] | None = None, flags=None) -> dict:
    """Headline numbers of a sweep for ``run.save_summary``."""
    ok = table.dropna(subset=["interstitial_F_rmse_meV_A"]) if \
        "interstitial_F_rmse_meV_A" in table else table.iloc[0:0]
    out: dict[str, Any] = {"n_runs": len(table), "n_trained": len(ok),
                           "statuses": table["status"].value_counts().to_dict()}
    if len(ok):
        best = ok.loc[ok["interstitial_F_rmse_meV_A"].idxmin()]
        out.update(best_run=best["run"],
                   best_interstitial_F_rmse_meV_A=float(best["interstitial_F_rmse_meV_A"]),
                   interstitial_F_rmse_meV_A={r["run"]: float(r["interstitial_F_rmse_meV_A"])
                                              for r in ok.to_dict("records")})
    if baseline:
        out["foundation_interstitial_F_rmse_meV_A"] = baseline.get("interstitial_F_rmse_meV_A")
    if flags is not None and len(flags):
        out["confounded_pairs"] = int(flags["confounded"].sum())
        out["compared_pairs"] = len(flags)
    return out


#: the measured strategy comparison (written by ``python -m lidiff_helpers.training.finetune benchmark``)
BENCHMARK_JSON = Path(__file__).resolve().parents[2] / "benchmarks" / "RESULTS_finetune.json"


def load_benchmark(path: str | Path = BENCHMARK_JSON):
    """The benchmark's table (pandas) and record, or ``(None, None)`` if not measured."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        return None, None
    body = json.loads(path.read_text())
    return pd.DataFrame(body["rows"]), {k: v for k, v in body.items() if k != "rows"}


def benchmark(root: str | Path, foundation: str = "embedded", n_bulk: int = 10,
              n_interstitial: int = 100, n_valid: Sequence[int] = (5, 45), epochs: int = 20,
              n_pt: int = 100, threads: int = 2, dtype: str = "float32",
              eval_dtype: str = "float32", e0s: str = "fit",
              out: str | Path = BENCHMARK_JSON, command: str = "") -> dict:
    """naive vs multihead vs scratch on the same frames, same epochs and same lr/EMA
    (``--force_mh_ft_lr=True``); test-set RMSEs and CPU/wall time; writes ``out`` (JSON)
    and the Markdown beside it."""
    import resource

    from lidiff_helpers.analysis import confound
    from lidiff_helpers.simulation import models
    from lidiff_helpers.training import evaluation

    spec = models.resolve_spec(foundation)
    cfgs = plan_sweep(spec.path, [[n_bulk, n_interstitial]], [0, n_pt],
                      include_scratch=True, epochs=epochs, n_valid_bulk=n_valid[0],
                      n_valid_interstitial=n_valid[1], default_dtype=dtype,
                      force_mh_ft_lr=True, data_seed=20260101, e0s=e0s)
    t0 = time.time()
    results = [run_finetune(c, root, threads=threads) for c in cfgs]
    bad = [f"{r.config.label}: {r.status}: {r.message[-400:]}" for r in results if not r.ok]
    if bad:
        raise RuntimeError("benchmark not written, runs did not finish:\n" + "\n".join(bad))
    # cost of the session that trained each model (a rerun skips and reads it back)
    done = [json.loads((r.workdir / "done.json").read_text()) for r in results]
    cpu = [d.get("cpu_time_s_last_session", float("nan")) for d in done]
    wall = [d.get("wall_time_s_last_session", float("nan")) for d in done]
    wall_train = time.time() - t0
    me0 = resource.getrusage(resource.RUSAGE_SELF)
    test = evaluation.test_frames()
    rv = evaluation.replay_validation_frames()
    table = evaluation.sweep_table(results, test, rv, dtype=eval_dtype, progress=False)
    table["train_cpu_s"] = cpu
    table["train_wall_s"] = wall
    base = evaluation.model_row(spec.path, test, rv, dtype=eval_dtype, energy_reference=None,
                                cache=Path(root) / f"foundation-{spec.name}-eval.json")
    me1 = resource.getrusage(resource.RUSAGE_SELF)
    eval_cpu = me1.ru_utime + me1.ru_stime - me0.ru_utime - me0.ru_stime
    flags = confound.find_confounds(confound.arms_from_results(results))
    body = {"command": command, "foundation": models.model_identity(spec),
            "settings": {"n_bulk": n_bulk, "n_interstitial": n_interstitial,
                         "n_valid": list(n_valid), "epochs": epochs, "n_pt": n_pt,
                         "threads": threads, "dtype": dtype, "eval_dtype": eval_dtype,
                         "lr": 0.005, "e0s": e0s,
                         "force_mh_ft_lr": True,
                         "frames_used": n_bulk + n_interstitial + sum(n_valid)},
            "train_cpu_s_total": round(float(np.sum(cpu)), 1),
            "train_wall_s_total": round(float(np.sum(wall)), 1),
            "eval_cpu_s": round(eval_cpu, 1),
            "eval_wall_s": round(time.time() - t0 - wall_train, 1),
            "foundation_zero_shot": base,
            "confounded_pairs": int(flags["confounded"].sum()) if len(flags) else 0,
            "rows": json.loads(table.to_json(orient="records"))}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(body, indent=1, default=str))
    benchmark_markdown(body, out.with_suffix(".md"))
    return body


def benchmark_markdown(body: Mapping[str, Any], path: str | Path) -> Path:
    """Write the Markdown report of a :func:`benchmark` record (its JSON body)."""
    import pandas as pd

    st = body["settings"]
    table = pd.DataFrame(body["rows"])
    cols = ["run", "status", "interstitial_F_rmse_meV_A", "bulk_F_rmse_meV_A",
            "interstitial_E_rmse_meV_atom", "bulk_E_rmse_meV_atom", "interstitial_S_rmse_GPa",
            "replay_F_rmse_meV_A", "replay_n_frames", "epochs_run", "best_epoch",
            "lr_effective", "ema_decay_effective", "train_cpu_s", "train_wall_s"]
    base = body["foundation_zero_shot"]
    f = body["foundation"]
    setup = (f"Foundation: {f['name']} ({Path(f['path']).name}, sha256 {f['sha256'][:12]}). "
             f"Data: {st['n_bulk']} bulk + {st['n_interstitial']} interstitial "
             f"DeePMD-derived training frames (random, seeded), {st['n_valid'][0]} + "
             f"{st['n_valid'][1]} validation frames ({st['frames_used']} frames in all), "
             f"never a held-out test frame. {st['epochs']} epochs each, lr 0.005, EMA 0.995 "
             f"for every arm (`--force_mh_ft_lr=True`), E0s `{st.get('e0s', 'study')}`, "
             f"{st['dtype']}, {st['threads']} thread(s). Multihead replays {st['n_pt']} MPtrj "
             "frames (the study's train_100 file). Test: the 120 held-out frames (20 bulk, "
             f"100 interstitial), evaluated in {st.get('eval_dtype', 'float64')}.")
    zero = (f"Foundation zero-shot (energy offset to the QE reference removed per "
            f"composition): interstitial F RMSE {base.get('interstitial_F_rmse_meV_A'):.1f} "
            f"meV/A, bulk {base.get('bulk_F_rmse_meV_A'):.1f} meV/A, replay (MPtrj) F RMSE "
            f"{base.get('replay_F_rmse_meV_A'):.1f} meV/A on {base.get('replay_n_frames')} "
            "frames.")
    cost = (f"Cost: training {body['train_cpu_s_total'] / 60:.1f} CPU-min "
            f"({body['train_wall_s_total'] / 60:.1f} wall-min), evaluation "
            f"{body['eval_cpu_s'] / 60:.1f} CPU-min ({body['eval_wall_s'] / 60:.1f} "
            "wall-min), on a 2-core machine shared with other jobs (wall >> CPU).")
    notes = ("`replay_F_rmse_meV_A` (forgetting) uses the replay validation frames the "
             "model can evaluate (`replay_n_frames`): the multihead model through its "
             "replay head on all of them; the naive and scratch models keep only Li and F "
             "(mace drops the other elements), so theirs is over the few Li/F-only MPtrj "
             "frames and is not comparable.")
    md = ["# Fine-tuning strategies on the embedded foundation model (measured)", "",
          f"Command: `{body['command']}`", "", setup, "",
          table[[c for c in cols if c in table]].to_markdown(index=False, floatfmt=".4g"),
          "", zero, "", notes, "", cost, "",
          f"Confound guard: {body['confounded_pairs']} confounded pair(s) among the arms.",
          "", "Target (FIRE after fine-tuning): interstitial force RMSE <= 30 meV/A."]
    if body.get("notes"):
        md += ["", "## Notes", ""] + [f"- {n}" for n in body["notes"]]
    path = Path(path)
    path.write_text("\n".join(md) + "\n")
    return path


def _main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - CLI
    import shlex
    import sys

    ap = argparse.ArgumentParser(description="lidiff fine-tuning runs")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run one config.json (skips/resumes)")
    r.add_argument("config")
    r.add_argument("--root", required=True)
    r.add_argument("--threads", type=int, default=None)
    b = sub.add_parser("benchmark", help="naive vs multihead vs scratch, measured")
    b.add_argument("--root", required=True)
    b.add_argument("--foundation", default="embedded")
    b.add_argument("--n-bulk", type=int, default=10)
    b.add_argument("--n-interstitial", type=int, default=100)
    b.add_argument("--n-valid", type=int, nargs=2, default=[5, 45])
    b.add_argument("--epochs", type=int, default=20)
    b.add_argument("--n-pt", type=int, default=100)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--dtype", default="float32")
    b.add_argument("--eval-dtype", default="float32")
    b.add_argument("--e0s", default="fit", choices=["fit", "study"])
    b.add_argument("--out", default=str(BENCHMARK_JSON))
    a = ap.parse_args(argv)
    if a.cmd == "run":
        cfg = FinetuneConfig.from_dict(json.loads(Path(a.config).read_text()))
        res = run_finetune(cfg, a.root, threads=a.threads)
        print(res.status, res.model or res.message)
        return 0 if res.ok else 1
    cmd = "python -m lidiff_helpers.training.finetune " + " ".join(
        shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    body = benchmark(a.root, a.foundation, a.n_bulk, a.n_interstitial, a.n_valid, a.epochs,
                     a.n_pt, a.threads, a.dtype, a.eval_dtype, a.e0s, a.out, cmd)
    print(json.dumps({k: v for k, v in body.items() if k != "rows"}, indent=1, default=str))
    return 0


if __name__ == "__main__":  # python -m lidiff_helpers.training.finetune {run,benchmark} ...
    raise SystemExit(_main())
