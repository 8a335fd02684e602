"""Notebook 01 (bulk LiF validation, the study's Table S1): from the profile's parameters
``P`` and the notebook's ``run`` (:class:`lidiff_helpers.runner.notebook.NotebookRun`) to
its tables and summary.

Each step is cached per model (:func:`lidiff_helpers.core.cache.cached_call`, keyed by
the model's weights SHA256 and the parameters) in ``results/<tag>/bulk/``, so an
interrupted notebook resumes. The methods live in :mod:`lidiff_helpers.simulation.bulk`,
:mod:`~lidiff_helpers.simulation.phonons`, :mod:`~lidiff_helpers.simulation.nvt`,
:mod:`lidiff_helpers.analysis.rdf` and :mod:`lidiff_helpers.analysis.parity`; the
figures in :mod:`lidiff_helpers.figures.bulk`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lidiff_helpers.analysis import parity, rdf
from lidiff_helpers.core.cache import cached_call
from lidiff_helpers.io import data
from lidiff_helpers.simulation import bulk, models, nvt, phonons
from lidiff_helpers.simulation.model_set import ModelEntry, models_to_compare

__all__ = ["BulkModels", "ParityResults", "load_models", "lattice_results", "lattice_table",
           "phonon_results", "phonon_table", "rdf_results", "rdf_table", "parity_results",
           "table_s1", "summary"]


@dataclass
class BulkModels:
    """The models of notebook 01 with their float64 calculators.

    Attributes
    ----------
    entries : :func:`lidiff_helpers.simulation.model_set.models_to_compare`
    slow : labels of ``slow_models`` (no NVT RDF, fewer parity frames)
    calcs : label -> float64 calculator (properties)
    work : cache folder ``results/<tag>/bulk/``
    device : torch device
    """

    entries: list[ModelEntry]
    slow: set
    calcs: dict = field(repr=False)
    work: Path
    device: str = "cpu"

    def table(self):
        """One row per model: label, role, resolved name, SHA256 (16 hex), slow."""
        import pandas as pd

        return pd.DataFrame([{"model": m.label, "role": m.role, "resolved": m.identity["name"],
                              "sha256": str(m.sha256)[:16], "slow": m.label in self.slow}
                             for m in self.entries])


def load_models(run, P) -> BulkModels:
    """The models to compare (recorded in ``run``'s provenance) and their calculators."""
    entries = models_to_compare(P.foundation_model, P.extra_models, out=run.out,
                                include_registered=P.include_registered)
    slow = {m.label for m in entries
            if m.label in P.slow_models or m.identity["name"] in P.slow_models}
    for m in entries:
        run.add_model(m.identity)
    calcs = {m.label: models.get_calculator(m.spec, device=P.device, dtype="float64")
             for m in entries}
    return BulkModels(entries, slow, calcs, run.work("bulk"), P.device)


def lattice_results(M: BulkModels, P) -> dict:
    """label -> :class:`lidiff_helpers.simulation.bulk.LatticeResult` (cached)."""
    return {m.label: cached_call(M.work / f"{m.key}_lattice.json", m.key,
                                 bulk.lattice_properties, M.calcs[m.label],
                                 a_guess_A=P.a_guess_A, strain_range=P.eos_strain_range,
                                 n_points=P.eos_n_points, strains=P.elastic_strains)
            for m in M.entries}


def lattice_table(lattice: dict):
    """Relaxed edge, EOS (a0, B, B') and elastic constants per model (A, GPa)."""
    import pandas as pd

    return pd.DataFrame([{"model": k, "a_relaxed_A": v.a_relaxed_A, "a0_eos_A": v.eos.a0_A,
                          "B_eos_GPa": v.eos.B_GPa, "Bprime": v.eos.Bprime,
                          "C11_GPa": v.elastic.C11_GPa, "C12_GPa": v.elastic.C12_GPa,
                          "C44_GPa": v.elastic.C44_GPa, "B_elastic_GPa": v.elastic.B_GPa,
                          "cubic_deviation_GPa": v.elastic.cubic_deviation_GPa}
                         for k, v in lattice.items()])


def phonon_results(M: BulkModels, lattice: dict, P) -> dict:
    """label -> :class:`lidiff_helpers.simulation.phonons.PhononResult` at the model's
    relaxed lattice constant (cached)."""
    return {m.label: cached_call(M.work / f"{m.key}_phonons.json", m.key, phonons.phonons,
                                 M.calcs[m.label],
                                 atoms=bulk.rocksalt_lif(lattice[m.label].a_relaxed_A),
                                 supercell=P.phonon_supercell,
                                 displacement_A=P.phonon_displacement_A, mesh=P.phonon_mesh,
                                 band_points=P.phonon_band_points)
            for m in M.entries}


def phonon_table(phonon: dict):
    """Gamma frequencies (THz), smallest frequency, displacements, supercell size."""
    import numpy as np
    import pandas as pd

    return pd.DataFrame([{"model": k, "nu_optical_Gamma_THz": v.gamma_optical_THz,
                          "acoustic_Gamma_max_THz": v.gamma_acoustic_max_THz,
                          "min_frequency_THz": v.min_frequency_THz,
                          "n_displacements": v.n_displacements,
                          "supercell_atoms": 8 * int(np.prod(v.supercell))}
                         for k, v in phonon.items()])


def rdf_results(M: BulkModels, lattice: dict, P, run) -> tuple[dict, dict]:
    """(label -> NVT RDF of each non-slow model, structure -> RDF of the study's
    equilibrated structures); the study files read are recorded in ``run``."""
    rdf_md = {m.label: cached_call(
        M.work / f"{m.key}_rdf_nvt.json", f"{m.key}-{P.md_dtype}", nvt.nvt_rdf,
        models.get_calculator(m.spec, device=P.device, dtype=P.md_dtype, verbose=False),
        atoms=bulk.rocksalt_lif(lattice[m.label].a_relaxed_A, P.rdf_supercell),
        temperature_K=P.rdf_temperature_K, timestep_fs=P.rdf_timestep_fs,
        n_equil_steps=P.rdf_n_equil_steps, n_steps=P.rdf_n_steps,
        sample_every=P.rdf_sample_every, thermostat=P.rdf_thermostat,
        friction_per_fs=P.rdf_friction_per_fs, seed=P.seed, r_max_A=P.rdf_r_max_A,
        dr_A=P.rdf_dr_A)
        for m in M.entries if m.label not in M.slow}
    structures = {name: rdf.structure_rdf(name, r_max_A=P.rdf_r_max_A, dr_A=P.rdf_dr_A)
                  for name in P.rdf_structures}
    run.add_data(data.files_used())
    return rdf_md, structures


def rdf_table(rdf_md: dict, structures: dict):
    """First peaks of the NVT and study-structure RDFs against the perfect lattice."""
    import pandas as pd

    return pd.concat([rdf.peak_table(rdf_md, "NVT"),
                      rdf.peak_table(structures, "study structure")], ignore_index=True)


@dataclass
class ParityResults:
    """Parity with the study's DFT test set: frames, predictions, energy offsets, metrics
    (label -> rows) and the table of all metrics."""

    n_frames: int
    predictions: dict = field(repr=False)
    offsets: dict
    metrics: dict
    table: object = field(repr=False)


def parity_results(M: BulkModels, P, run) -> ParityResults:
    """Predictions on the held-out test frames (``n_parity_frames``; slow models
    ``n_parity_frames_slow``), the energy-offset decision and the metrics per model."""
    import pandas as pd

    frames = parity.select_frames(data.test_set(), P.n_parity_frames, seed=P.seed)
    frames_slow = parity.select_frames(frames, P.n_parity_frames_slow, seed=P.seed)
    run.add_data(data.files_used())
    pred = {m.label: parity.predict(M.calcs[m.label],
                                    frames_slow if m.label in M.slow else frames,
                                    cache=M.work / f"{m.key}_parity.npz", cache_key=m.key,
                                    desc=f"parity {m.label}")
            for m in M.entries}
    offsets = {m.label: parity.decide_energy_offset(
        pred[m.label], mode=P.energy_offset, threshold_eV_atom=P.energy_offset_threshold_eV_atom,
        e0s=parity.model_e0s(M.calcs[m.label]), energy_reference=m.meta.get("energy_reference"))
        for m in M.entries}
    metrics = {k: parity.parity_metrics(pred[k], offsets[k]) for k in pred}
    table = pd.DataFrame([{"model": k, **r, "energy_offset": offsets[k].short()}
                          for k, rows in metrics.items() for r in rows])
    return ParityResults(len(frames), pred, offsets, metrics, table)


def table_s1(M: BulkModels, lattice: dict, phonon: dict, rdf_md: dict,
             par: ParityResults):
    """The Table S1-style table: one row per model, then the reference rows."""
    return bulk.table_s1([bulk.table_row(m.label, lattice[m.label], phonon[m.label],
                                         rdf_md.get(m.label), par.metrics[m.label],
                                         par.offsets[m.label])
                          for m in M.entries])


def summary(M: BulkModels, par: ParityResults, table) -> dict:
    """Notebook 01's headline values (``summary/01_bulk_validation.json``)."""
    return {"models": [m.label for m in M.entries], "slow_models": sorted(M.slow),
            "n_parity_frames": par.n_frames,
            "table_s1": table[table["kind"] == "model"].to_dict(orient="records")}
