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

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lidiff_helpers.core import reference
from lidiff_helpers.io import data
from lidiff_helpers.training import mace_train as training
from lidiff_helpers.training import selection
from lidiff_helpers.training.finetune_data import (
    STUDY_REPLAY,
    _fit_e0s_cached,
    effective_replay,
    fit_e0s,
    replay_frames,
    study_sets,
)

__all__ = [
    "STRATEGIES",
    "STUDY_ARCHITECTURE_FLAGS",
    "STUDY_FLAGS",
    "STUDY_REPLAY",
    "fit_e0s",
    "TABLE1",
    "FinetuneConfig",
    "FinetuneResult",
    "build_options",
    "foundation_architecture",
    "foundation_elements",
    "load_result",
    "mace_option_names",
    "map_option_names",
    "mace_version",
    "prepare_data",
    "replay_frames",
    "run_finetune",
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
#: epochs of the study's N_pt = 10 000 runs (ft700_pt10000, ft800_pt10000 scripts; the
#: text says 200)
STUDY_EPOCHS_PT10000 = reference.STUDY_FT_EPOCHS_PT10000
#: Table 1: data size -> the study's size (composition, files, replay sizes)
TABLE1 = {s.n_frames: s for s in reference.STUDY_TABLE1}
#: frame selections: a seeded draw from the local pool, diverse (FIRE), or the study's
#: own Table 1 files
SELECTIONS = ("random", "diverse", "study")

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
    selection : ``random`` | ``diverse`` (:mod:`lidiff_helpers.training.selection`) |
        ``study`` (the study's own training and validation files of this Table 1 size,
        :func:`lidiff_helpers.training.finetune_data.study_sets`; ``n_valid_*`` unused)
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
    pt_ratio_threshold : mace duplicates the fine-tuning frames when they are fewer than
        this fraction of the replay frames (0.3.12: hard-coded 0.1, the study's runs;
        >= 0.3.13: ``--real_pt_data_ratio_threshold``, default 0.1); 0 = never
    study_arch_flags : also pass :data:`STUDY_ARCHITECTURE_FLAGS` (no effect on
        fine-tuning; verbatim study command)
    device : torch device
    extra : further mace options (override everything else)
    extra_train : further labelled training frames: ``""`` (none) or ``"dft-path"``: every
        finished pw.x run at the study's settings committed under ``data/dft/pw-labels/``
        (the DFT-labelled knock-off path images and NEB steps,
        :func:`lidiff_helpers.training.labelling.finished_frames`), weight 1
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
    pt_ratio_threshold: float | None = reference.MACE_PT_RATIO_THRESHOLD
    study_arch_flags: bool = True
    device: str = "cpu"
    extra: dict = field(default_factory=dict)
    extra_train: str = ""

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; use one of {STRATEGIES}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"unknown selection {self.selection!r}; use one of {SELECTIONS}")
        if self.selection == "study":
            from lidiff_helpers.training.finetune_data import study_size

            study_size(self.n_bulk, self.n_interstitial)
            if self.replay_source != "study":
                raise ValueError("selection 'study' replays the study's files: "
                                 f"replay_source must be 'study', not {self.replay_source!r}")
        if self.strategy == "multihead" and self.n_pt <= 0:
            raise ValueError("multihead fine-tuning replays pre-training frames: n_pt must "
                             "be > 0 (N_pt = 0 is the naive strategy)")
        if self.strategy != "multihead" and self.n_pt:
            raise ValueError(f"{self.strategy}: n_pt must be 0 (only multihead replays)")
        if self.replay_source not in ("study", "pool"):
            raise ValueError(f"replay_source {self.replay_source!r}: use study or pool")
        if self.e0s not in ("study", "fit"):
            raise ValueError(f"e0s {self.e0s!r}: use study or fit")
        if self.extra_train not in EXTRA_TRAIN:
            raise ValueError(f"extra_train {self.extra_train!r}: use one of {EXTRA_TRAIN}")

    @property
    def study_replay(self) -> reference.ReplaySet | None:
        """The study's replay files this run uses (multihead, ``replay_source="study"``,
        N_pt in :data:`lidiff_helpers.core.reference.STUDY_REPLAY_SETS`), else None."""
        if self.strategy != "multihead" or self.replay_source != "study":
            return None
        return reference.STUDY_REPLAY_SETS.get(self.n_pt)

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
        d = json.loads(json.dumps(dataclasses.asdict(self), default=str))
        if not d["extra_train"]:        # absent when unused: older run folders keep their name
            del d["extra_train"]
        return d

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
        study = cfg.study_replay
        o["num_samples_pt"] = study.num_samples if study else cfg.n_pt
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


def _lif_sets(cfg: FinetuneConfig, descriptors) -> tuple[list, list, dict]:
    """The run's LiF training and validation frames and their manifest entries."""
    info = None
    if cfg.selection == "study":
        train, valid, info = study_sets(cfg.n_bulk, cfg.n_interstitial)
    else:
        valid = selection.validation_subset(cfg.n_valid_bulk, cfg.n_valid_interstitial,
                                            cfg.data_seed + 1)
        vh = {a.info["hash"] for a in valid}
        desc = None
        if cfg.selection == "diverse":
            need = selection.diverse_candidate_hashes(cfg.data_seed, vh,
                                                      cfg.diverse_pool_max)
            desc = descriptors(need) if callable(descriptors) else descriptors
        train = selection.select_subset(cfg.selection, cfg.n_bulk, cfg.n_interstitial,
                                        cfg.data_seed, descriptors=desc, exclude=vh,
                                        pool_max=cfg.diverse_pool_max)
        selection.check_disjoint_from_test(valid, f"{cfg.label}: validation set")
    body: dict[str, Any] = {
        "train_hashes": [a.info["hash"] for a in train],
        "valid_hashes": sorted({a.info["hash"] for a in valid}),
        "train_sources": [a.info["source"] for a in train]}
    if info is not None:
        body["study_sets"] = info
    return train, valid, body


#: what ``FinetuneConfig.extra_train`` may name
EXTRA_TRAIN = ("", "dft-path")


def _extra_train(cfg: FinetuneConfig) -> list:
    """The extra training frames ``cfg.extra_train`` names (hashed, kind interstitial)."""
    from lidiff_helpers.training.labelling import DFT_STATE, finished_frames

    frames = finished_frames(DFT_STATE)
    if not frames:
        raise data.DataError(f"extra_train 'dft-path': no finished pw.x run at the study's "
                             f"settings in {DFT_STATE}; run python -m "
                             "lidiff_helpers.workflows.dft_reference paths (or neb) first")
    for a in frames:
        a.info.update(hash=data.frame_hash(a), kind="interstitial", config_type="dft-path")
    return frames


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
        if cfg.extra_train:
            old = json.loads(manifest.read_text()).get("extra_train", {}).get("hashes")
            now = [a.info["hash"] for a in _extra_train(cfg)]
            if old != now:
                raise FileExistsError(
                    f"{workdir}: trained with {len(old or [])} extra frames, "
                    f"{cfg.extra_train} now has {len(now)}: delete the folder to retrain")
        return files
    train, valid, body = _lif_sets(cfg, descriptors)
    if cfg.strategy == "multihead":
        pt_train, pt_valid, info = replay_frames(
            cfg.n_pt, cfg.replay_source, cfg.data_seed,
            elements=foundation_elements(cfg.foundation), n_valid=cfg.n_pt_valid)
        info["effective"] = effective_replay(len(train), len(pt_train),
                                             cfg.pt_ratio_threshold)
        body["replay"] = info
        _write_once(pt_train, files["pt_train"])
        _write_once(pt_valid, files["pt_valid"])
    if cfg.extra_train:
        extra = _extra_train(cfg)
        train = train + extra
        body["extra_train"] = {"what": cfg.extra_train, "n": len(extra),
                               "hashes": [a.info["hash"] for a in extra],
                               "sources": [a.info["source"] for a in extra]}
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
                 threads: int | None = None,
                 cpu_budget_s: float | None = None) -> FinetuneResult:
    """Train one config in ``root/<cfg.folder>``; skip if finished, resume if interrupted.
    ``cpu_budget_s``: stop at this much CPU time over all sessions and keep the best
    checkpoint (:func:`lidiff_helpers.training.mace_train.budgeted_train`).

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
        path = training.run_mace_train(opts, wd, threads=threads, cpu_budget_s=cpu_budget_s)
    except training.TrainingError as exc:
        return FinetuneResult(cfg, wd, None, "failed", time.time() - t0, str(exc))
    wall = time.time() - t0
    done.write_text(json.dumps({"wall_time_s_last_session": round(wall, 1),
                                "cpu_time_s_last_session": round(_children_cpu_s() - c0, 1),
                                "resumed": resumed, "model_sha256": sha256_file(path),
                                "mace_torch": mace_version(),
                                "budget": training.budget_state(wd) or None}, indent=1))
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


#: columns of the rendered Table 1 grid, in order
TABLE1_COLUMNS = [
    "run", "n_bulk", "n_interstitial", "n_pt", "selection", "status",
    "interstitial_F_rmse_meV_A", "bulk_F_rmse_meV_A", "interstitial_E_rmse_meV_atom",
    "bulk_E_rmse_meV_atom", "interstitial_S_rmse_GPa", "bulk_S_rmse_GPa",
    "replay_F_rmse_meV_A", "test_frames_left_out", "s_per_epoch", "epochs_run", "best_epoch",
    "lr_effective", "ema_decay_effective", "replay_frames_effective", "ft_duplication",
    "heads", "guard_notes", "message"]
