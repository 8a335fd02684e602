"""Notebook 00: the study's data (hash-verified files, distinct frames, held-out test
set) and the foundation model, as tables and a summary."""

from __future__ import annotations

from typing import Any

from lidiff_helpers.io import data
from lidiff_helpers.simulation import models

__all__ = ["data_files", "embedded_quality", "foundation", "frame_pools", "summary"]


def data_files(run):
    """One row per study file with its SHA256 status; saved as ``study_data_files``."""
    files = data.summary_table()
    run.add_data(data.files_used())
    run.save_table(files, "study_data_files")
    return files


def frame_pools():
    """The distinct DeePMD-derived frames and the held-out test set (printed counts)."""
    pool = data.lif_pool("deepmd")
    held = data.test_set()
    print(f"DeePMD-derived: {len(pool)} distinct frames {pool.counts()}; "
          f"MACE-MPA-0 AL: {len(data.lif_pool('mpa0'))}")
    print(f"held-out test set: {len(held)} frames",
          {k: sum(a.info["kind"] == k for a in held) for k in ("bulk", "interstitial")})
    return pool, held


def foundation(P, run) -> dict[str, Any]:
    """The foundation model's identity (name, path, SHA256), recorded in the provenance."""
    identity = models.model_identity(models.resolve_spec(P.foundation_model))
    run.add_model(identity)
    return identity


def embedded_quality(identity: dict[str, Any]):
    """The measured quality of the embedded model the notebooks run on: v1's table
    (:func:`lidiff_helpers.training.embedded.metrics_table`) when the foundation is
    ``embedded-v1``, else v2's (:func:`lidiff_helpers.training.embedded_v2.metrics_table`:
    the default, and the fallback when MACE-MPA-0's weights are absent)."""
    from lidiff_helpers.training import embedded, embedded_v2

    if identity.get("name") == "embedded-v1":
        return embedded.metrics_table()
    return embedded_v2.metrics_table()


def summary(pool, held, identity: dict[str, Any]) -> dict[str, Any]:
    """Headline numbers of notebook 00 for ``run.save_summary``."""
    return {"n_distinct_deepmd": len(pool), "n_test": len(held),
            "foundation_model": identity["name"], "foundation_sha256": identity["sha256"]}
