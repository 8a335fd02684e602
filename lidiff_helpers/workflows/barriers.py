"""Notebook 05, "Migration barriers": CI-NEB barriers of every model beside Table 3, the
harmonic TST diffusivity, and the table "DFT NEB | model NEB | model MD Ea | DeePMD MD Ea".

Each function is one step of the notebook. NEB results are cached per model SHA256,
mechanism, cell, lattice constant and settings (``<out>/work/barriers/``), so a rerun or
another profile with the same settings costs nothing; the harmonic Hessians are cached
by ASE's ``Vibrations`` (one file per displacement: an interrupted run resumes).

With ``neb_committed`` (quick), an NEB whose cache file is committed under
:data:`COMMITTED_NEB` (same model SHA256, mechanism, cell, lattice, settings and dtype:
the file name holds the key's hash, and the key is checked again on reading) is read from
there instead of recomputed, and its row says so (``source``). quick uses it for the
slow NEBs of fixed models (SevenNet-0's knock-off, the embedded foundation's 217-atom
check: about 7 of its 25 minutes); ``-p neb_committed false`` recomputes them. The files
are the notebook's own cache files, copied by
``python -m lidiff_helpers.workflows.barriers --commit FILE ...``.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lidiff_helpers.analysis import tst
from lidiff_helpers.core import paths, reference
from lidiff_helpers.core.cache import cached_json, key_hash
from lidiff_helpers.core.units import LIF_A_STUDY_A
from lidiff_helpers.simulation import neb
from lidiff_helpers.simulation.model_set import ModelEntry, models_to_compare
from lidiff_helpers.workflows.arrhenius_analysis import resolved_Ea
from lidiff_helpers.workflows.dft_neb import study_level_barrier

#: initial and final states are equivalent by symmetry: their relaxed energies must agree
#: within this (eV), else the row says ``endpoints_equivalent = False``
ENDPOINT_TOLERANCE_EV = 0.005

#: committed NEB cache files of fixed models (read with ``neb_committed``)
COMMITTED_NEB = paths.DATA / "barriers" / "neb"

__all__ = ["COMMITTED_NEB", "BarrierSet", "models", "slow", "compute", "commit", "finite_size", "best_per_model", "saddle_of",
           "harmonic", "htst_diffusivity", "comparison_table", "dft_referee",
           "summary_values"]


@dataclass
class BarrierSet:
    """Every NEB of the notebook: ``table`` (one row per model, mechanism, cell, lattice)
    and ``paths`` (same key -> energies, path, band positions, numbers, cell)."""

    table: Any
    paths: dict = field(default_factory=dict)


def models(P, run) -> list[ModelEntry]:
    """The models with barriers: the foundation, ``neb_extra_models`` (e.g. sevennet-0,
    chgnet) and the models notebooks 02/03 registered (as many as ``neb_max_models``
    allows)."""
    entries = models_to_compare(P.foundation_model, P.neb_extra_models, out=run.out,
                                include_registered=P.neb_include_registered,
                                max_extra_models=P.neb_max_models)
    for m in entries:
        run.add_model(m.identity)
    return entries


def slow(P, m: ModelEntry) -> bool:
    """A model of ``neb_slow_models`` (by label or name; e.g. CHGNet and SevenNet-0, 10-15x
    the embedded MACE's cost per force call): its NEBs are on 65 atoms at the study's
    lattice only, with ``neb_slow_mechanisms`` and ``neb_slow_n_images`` (None: as the
    others), and it gets no harmonic TST."""
    return m.label in P.neb_slow_models or m.identity.get("name") in P.neb_slow_models


def _settings(P, m: ModelEntry, n_cells: int = 2) -> neb.NEBSettings:
    """NEB settings of a model's NEBs on ``n_cells`` cells per edge: ``neb_n_images``, or
    ``neb_slow_n_images`` for a slow model, or ``neb_large_cell_n_images`` beyond 2 cells
    (each None: ``neb_n_images``)."""
    n = P.neb_slow_n_images if slow(P, m) and P.neb_slow_n_images else P.neb_n_images
    if n_cells > 2 and P.neb_large_cell_n_images:
        n = P.neb_large_cell_n_images
    return neb.NEBSettings(n_images=n, fmax_eV_A=P.neb_fmax_eV_A, max_steps=P.neb_max_steps)


def _lattices(P, run, m: ModelEntry, calc) -> dict[str, float]:
    """The lattice constants of the model's NEBs (A): the study's and, with
    ``neb_own_lattice``, the model's own relaxed one (cached by model SHA256)."""
    out = {"study": LIF_A_STUDY_A}
    if P.neb_own_lattice and not slow(P, m):
        from lidiff_helpers.simulation.bulk import relaxed_lattice_constant

        key = {"model_sha256": m.sha256, "dtype": P.neb_dtype, "what": "relaxed a0"}
        path = run.work("barriers") / f"{m.key}-a0-{key_hash(key)[:12]}.json"
        out["own"] = cached_json(path, key, lambda: {
            "a0_A": relaxed_lattice_constant(calc(), a_guess_A=LIF_A_STUDY_A)})["a0_A"]
    return out


def _one(calc, mech: str, n_cells: int, a: float, s: neb.NEBSettings,
         relaxed: dict) -> dict:
    key = (n_cells, round(a, 6))
    if key not in relaxed:
        ini0, _, _ = neb.endpoints(mech, n_cells, a)
        relaxed[key] = neb.relax(ini0, calc, s.fmax_eV_A, s.max_steps)[0]
    r = neb.barrier(mech, calc, n_cells, a, s, relaxed_initial=relaxed[key])
    out = r.summary()
    out.update(positions=[im.positions.tolist() for im in r.images],
               numbers=r.images[0].numbers.tolist(), cell=r.images[0].cell.tolist())
    return out


def compute(P, run, entries: Sequence[ModelEntry], progress: bool = True) -> BarrierSet:
    """NEB of every model x mechanism x cell x lattice of the profile (cached)."""
    import pandas as pd
    from tqdm.auto import tqdm

    from lidiff_helpers.simulation.models import get_calculator

    rows, paths_ = [], {}
    jobs = [(m, c) for m in entries for c in P.neb_n_cells
            if (c == 2 or m.foundation or P.neb_large_cell_all_models)
            and not (c > 2 and slow(P, m))]
    for m, n_cells in tqdm(jobs, desc="NEB (model, cell)", disable=not progress):
        s = _settings(P, m, n_cells)
        mechanisms = (P.neb_mechanisms if n_cells == 2 or P.neb_large_cell_mechanisms is None
                      else [x for x in P.neb_mechanisms if x in P.neb_large_cell_mechanisms])
        if slow(P, m) and P.neb_slow_mechanisms is not None:
            mechanisms = [x for x in mechanisms if x in P.neb_slow_mechanisms]
        loaded: dict = {}

        def calc(m=m, loaded=loaded):  # loaded only when a result is not cached
            if "calc" not in loaded:
                loaded["calc"] = get_calculator(m.spec, device=P.device, dtype=P.neb_dtype,
                                                verbose=False)
            return loaded["calc"]

        relaxed: dict = {}
        for lat, a in _lattices(P, run, m, calc).items():
            for mech in mechanisms:
                key = {"model_sha256": m.sha256, "mechanism": mech, "n_cells": n_cells,
                       "a_A": round(a, 6), "settings": vars(s), "dtype": P.neb_dtype}
                path = run.work("barriers") / f"{m.key}-{key_hash(key)[:12]}.json"
                seed = COMMITTED_NEB / path.name
                if P.neb_committed and seed.is_file() and not path.is_file():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(seed, path)
                res = cached_json(path, key, lambda: _one(calc(), mech, n_cells, a, s,
                                                         relaxed))
                # a cache file identical to the committed one was read, not computed
                source = ("committed: " + paths.display(seed)
                          if P.neb_committed and seed.is_file()
                          and filecmp.cmp(path, seed, shallow=False) else "computed")
                paths_[(m.label, mech, n_cells, lat)] = res
                rows.append({"model": m.label, "role": m.role, "mechanism": mech,
                             "n_atoms": len(res["numbers"]), "lattice": lat, "a_A": a,
                             **{k: res[k] for k in ("barrier_eV", "reverse_barrier_eV",
                                                    "endpoint_asymmetry_eV", "converged",
                                                    "climbing_fmax_eV_A", "n_steps")},
                             "endpoints_equivalent": abs(res["endpoint_asymmetry_eV"])
                             <= ENDPOINT_TOLERANCE_EV, "source": source})
    return BarrierSet(pd.DataFrame(rows), paths_)


def finite_size(bs: BarrierSet):
    """The finite-size check: each barrier computed on both cells, 65 atoms (the DFT
    references' 2x2x2 cell) beside 217 atoms (3x3x3), and their difference (eV)."""
    import pandas as pd

    t = bs.table
    cols = ["model", "mechanism", "lattice", "barrier_65_eV", "barrier_217_eV",
            "difference_eV", "converged_217"]
    if not len(t):
        return pd.DataFrame(columns=cols)
    small = t[t["n_atoms"] == 65].set_index(["model", "mechanism", "lattice"])
    large = t[t["n_atoms"] == 217].set_index(["model", "mechanism", "lattice"])
    both = small.index.intersection(large.index)
    rows = [{"model": k[0], "mechanism": k[1], "lattice": k[2],
             "barrier_65_eV": float(small.loc[k, "barrier_eV"]),
             "barrier_217_eV": float(large.loc[k, "barrier_eV"]),
             "difference_eV": float(large.loc[k, "barrier_eV"] - small.loc[k, "barrier_eV"]),
             "converged_217": bool(large.loc[k, "converged"])} for k in both]
    return pd.DataFrame(rows, columns=cols)


def best_per_model(bs: BarrierSet, n_atoms: int = 65, lattice: str = "study"):
    """The lowest converged knock-off and the direct hop per model (the model's barrier
    is the lowest knock-off), on the ``n_atoms`` cell at ``lattice``."""
    import pandas as pd

    t = bs.table
    t = t[(t["n_atoms"] == n_atoms) & (t["lattice"] == lattice)]
    rows = []
    for model, g in t.groupby("model", sort=False):
        ko = g[g["mechanism"].str.startswith("knockoff")]
        ok = ko[ko["converged"]] if ko["converged"].any() else ko
        best = ok.loc[ok["barrier_eV"].idxmin()] if len(ok) else None
        direct = g[g["mechanism"] == "direct"]
        rows.append({"model": model,
                     "knockoff_mechanism": None if best is None else best["mechanism"],
                     "knockoff_barrier_eV": np.nan if best is None else best["barrier_eV"],
                     "knockoff_converged": None if best is None else bool(best["converged"]),
                     "direct_barrier_eV": direct["barrier_eV"].min() if len(direct)
                     else np.nan})
    return pd.DataFrame(rows)


def saddle_of(bs: BarrierSet, comparison, row: int = 0) -> dict:
    """The NEB result (energies, band) of the ``row``-th model's lowest knock-off in
    ``comparison`` (65 atoms, study lattice): the saddle geometry to draw."""
    r = comparison.iloc[row]
    return bs.paths[(r["model"], r["knockoff_mechanism"], 2, "study")]


def _atoms(res: Mapping, image: int):
    from ase import Atoms

    return Atoms(numbers=res["numbers"], positions=res["positions"][image],
                 cell=res["cell"], pbc=True)


def harmonic(P, run, bs: BarrierSet, entries: Sequence[ModelEntry]) -> Any:
    """Vineyard prefactor of each model's lowest knock-off (65 atoms, study lattice):
    partial Hessians (atoms within ``htst_cutoff_A`` of the moving Li) at the relaxed
    initial state and at the climbing image, with ASE ``Vibrations``."""
    import pandas as pd

    from lidiff_helpers.simulation.models import get_calculator

    rows = []
    best = best_per_model(bs).set_index("model")
    for m in entries:
        if m.label not in best.index or not P.htst or slow(P, m):
            continue
        mech = best.loc[m.label, "knockoff_mechanism"]
        res = bs.paths[(m.label, mech, 2, "study")]
        calc = get_calculator(m.spec, device=P.device, dtype=P.neb_dtype, verbose=False)
        e_min, e_sad, idx = neb.harmonic_modes(
            calc, _atoms(res, 0), _atoms(res, res["climbing_index"]), res["moving"],
            P.htst_cutoff_A, P.htst_delta_A, run.work("barriers") / "vib" / f"{m.key}-{mech}")
        row = {"model": m.label, "mechanism": mech, "barrier_eV": res["barrier_eV"],
               "hessian_atoms": len(idx),
               "multiplicity": neb.MECHANISMS[mech].multiplicity,
               "sum_sq_displacement_A2": neb.sum_sq_displacement_A2(mech, LIF_A_STUDY_A)}
        try:
            h = tst.vineyard(e_min, e_sad)
            row.update(prefactor_THz=h.prefactor_THz, imaginary_THz=h.imaginary_THz,
                       n_imaginary_saddle=1, note="")
        except tst.InputError as exc:
            row.update(prefactor_THz=np.nan, imaginary_THz=np.nan, note=str(exc))
        rows.append(row)
    return pd.DataFrame(rows)


def htst_diffusivity(htst_table, temperatures_K: Sequence[float], by_temperature=None):
    """D(T) of the defect from each model's harmonic rate (lidiff's ``defect``
    convention, :func:`lidiff_helpers.analysis.tst.defect_diffusivity_cm2_s`), at
    ``temperatures_K`` and the MD temperatures of ``by_temperature``."""
    import pandas as pd

    if by_temperature is not None and len(by_temperature):
        temperatures_K = sorted(set(map(float, temperatures_K))
                                | set(by_temperature["temperature_K"].astype(float)))
    rows = []
    for r in htst_table.to_dict("records"):
        if not np.isfinite(r.get("prefactor_THz", np.nan)):
            continue
        for T in temperatures_K:
            k = tst.rate_per_s(r["prefactor_THz"], r["barrier_eV"], float(T))
            rows.append({"model": r["model"], "temperature_K": float(T), "rate_per_s": k,
                         "D_htst_cm2_s": tst.defect_diffusivity_cm2_s(
                             k, r["multiplicity"], r["sum_sq_displacement_A2"])})
    return pd.DataFrame(rows, columns=["model", "temperature_K", "rate_per_s",
                                       "D_htst_cm2_s"])


def comparison_table(bs: BarrierSet, table3=None):
    """One row per model: DFT NEB (the study's cited values, and this compendium's own at
    the study's level of theory once computed: :func:`study_level_barrier`, NaN before),
    the model's CI-NEB barriers (lowest knock-off, direct hop; 65 atoms, study lattice), its
    MD Ea from Table 3 when resolved, the DeePMD MD Ea, and the softening against each DFT."""
    best = best_per_model(bs)
    md = {} if table3 is None else {r["model"]: r for r in table3.to_dict("records")}
    dft = reference.BARRIERS
    deepmd = reference.table3_reference("deepmd")
    best["DFT_NEB_Zheng_eV"] = dft["dft-cineb-zheng"].Ea_eV
    best["DFT_NEB_Yildirim_eV"] = dft["dft-neb-yildirim"].Ea_eV
    best["MD_Ea"] = [resolved_Ea(md.get(m, {}).get("Ea_eV", np.nan),
                                 md.get(m, {}).get("Ea_err_eV", np.nan))
                     for m in best["model"]]
    best["DeePMD_MD_Ea_eV"] = deepmd.Ea_eV if deepmd else np.nan
    best["softening_vs_Zheng_eV"] = best["knockoff_barrier_eV"] - dft["dft-cineb-zheng"].Ea_eV
    own = study_level_barrier()
    best["DFT_this_compendium_eV"] = own["barrier_eV"] if own else np.nan
    best["softening_vs_this_DFT_eV"] = best["knockoff_barrier_eV"] - best["DFT_this_compendium_eV"]
    return best



def dft_referee(entries: Sequence[ModelEntry] = ()):
    """The committed DFT referee of the knock-off paths (``data/dft/path_referee.json``,
    :func:`lidiff_helpers.workflows.dft_reference.path_referee`): per model its CI-NEB
    barrier, the DFT energy at its saddle above its initial state (the study's level of
    theory, on the model's own path) and its force error there; ``in_this_run`` marks the
    models of ``entries`` (same weights). Empty with a ``note`` when not computed yet."""
    import json

    import pandas as pd

    from lidiff_helpers.workflows.dft_reference import PATH_FILE

    cols = ["model", "status", "model_barrier_eV", "dft_barrier_along_path_eV",
            "saddle_F_rmse_meV_A", "dft_saddle_F_max_eV_A", "in_this_run"]
    if not PATH_FILE.is_file():
        return pd.DataFrame([{"model": None, "status": "not computed yet: python -m "
                              "lidiff_helpers.workflows.dft_reference paths"}], columns=cols)
    shas = {m.sha256: m.label for m in entries}
    rows = [{**{c: r.get(c) for c in cols}, "in_this_run": shas.get(r.get("model_sha256"))}
            for r in json.loads(PATH_FILE.read_text())["rows"]]
    return pd.DataFrame(rows, columns=cols)


def summary_values(comparison, htst=None, finite=None) -> dict:
    """Headline barrier values for notebook 05's summary: per model the lowest knock-off
    (eV, mechanism, converged), the direct hop (eV), the Vineyard prefactor (THz) and the
    217-atom barrier of the finite-size check (eV, :func:`finite_size`)."""
    out: dict[str, Any] = {}
    for r in ([] if finite is None else finite.to_dict("records")):
        out[f"{r['model']}: {r['mechanism']} barrier_217_atoms_eV"] = r["barrier_217_eV"]
    for r in comparison.to_dict("records"):
        m = r["model"]
        out[f"{m}: knockoff_barrier_eV"] = float(r["knockoff_barrier_eV"])
        out[f"{m}: knockoff_mechanism"] = r["knockoff_mechanism"]
        out[f"{m}: knockoff_converged"] = r["knockoff_converged"]
        out[f"{m}: direct_barrier_eV"] = float(r["direct_barrier_eV"])
    for r in ([] if htst is None else htst.to_dict("records")):
        out[f"{r['model']}: htst_prefactor_THz"] = float(r["prefactor_THz"])
    return out


def commit(files: Sequence[str], out: Path | None = None) -> list[Path]:
    """Copy NEB cache files (``<results>/<tag>/work/barriers/*.json`` of a notebook-05 run)
    to ``out`` for ``neb_committed``. Refuses a file that is not an NEB result of this
    module (no key with model SHA256, mechanism, cells and settings) and one whose model
    file is not committed here (its numbers could not be reproduced): returns the copies."""
    import json

    from lidiff_helpers.core.provenance import git_commit, now_utc, package_versions
    from lidiff_helpers.simulation.models import committed_spec
    from lidiff_helpers.simulation.sevennet import CHECKPOINT_SHA256

    out = Path(out or COMMITTED_NEB)
    done = []
    for f in map(Path, files):
        body = json.loads(f.read_text())
        key = body.get("key") or {}
        if not {"model_sha256", "mechanism", "n_cells", "settings"} <= set(key):
            raise ValueError(f"{f}: not an NEB result of lidiff_helpers.workflows.barriers")
        sha = key["model_sha256"]
        if committed_spec(sha) is None and sha != CHECKPOINT_SHA256:
            raise ValueError(f"{f}: model {sha[:12]} is not a committed model file")
        out.mkdir(parents=True, exist_ok=True)
        # the cache file as the notebook wrote it, plus where it came from (read by
        # cached_json as the same result: only "key_sha256" and "result" are used)
        body["committed"] = {"from": str(f), "committed_utc": now_utc(),
                             "git": git_commit(), "versions": package_versions()}
        (out / f.name).write_text(json.dumps(body, indent=1) + "\n")
        done.append(out / f.name)
    return done


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lidiff_helpers.workflows.barriers",
                                 description="commit notebook-05 NEB results for neb_committed")
    ap.add_argument("--commit", nargs="+", required=True, metavar="FILE",
                    help="NEB cache files of a notebook-05 run (work/barriers/*.json)")
    a = ap.parse_args(argv)
    for p in commit(a.commit):
        print(p.relative_to(paths.ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
