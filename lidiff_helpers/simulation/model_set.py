"""The models to compare: one list, one de-duplication rule, for every notebook.

Notebooks 01 (bulk validation) and 04 (MD) compare the same models: the foundation model
(``foundation_model``), any ``extra_models`` specs, and - with ``include_registered`` -
the fine-tuned models that notebooks 02 and 03 registered in the results folder
(:mod:`lidiff_helpers.io.model_registry`). :func:`models_to_compare` builds that list:

* every spec is resolved once (:func:`lidiff_helpers.simulation.models.resolve_spec`) to a
  foundation name or a file path, so a later ``auto`` cannot silently switch models;
* a model is identified by the SHA256 of its weights: the same weights listed twice (a
  copy registered under another name, an extra model equal to the foundation) are kept
  once, first occurrence wins (foundation, then extras, then registered), and the
  duplicate is reported;
* labels are unique: a second model with a taken label gets ``-2``, ``-3``...;
* ``max_extra_models`` caps the models besides the foundation (the rest are reported).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["ModelEntry", "models_to_compare", "registered_matches"]


@dataclass(frozen=True)
class ModelEntry:
    """One model to compare.

    Attributes
    ----------
    label : short unique name used in tables, legends and MD run names
    spec : resolved spec for :func:`lidiff_helpers.simulation.models.get_calculator`
        (a foundation model name, ``embedded``, ``chgnet``, ``sevennet-0`` or an absolute
        file path)
    role : ``foundation``, ``extra`` or ``registered``
    identity : :func:`lidiff_helpers.simulation.models.model_identity` (name, path, SHA256)
    meta : registry metadata (may hold ``energy_reference``: ``study`` or ``foreign``)
    source : where it came from (``foundation_model=auto``, ``extra_models``,
        ``registered by 02_finetune_sweeps``)
    """

    label: str
    spec: str
    role: str
    identity: dict = field(hash=False)
    meta: dict = field(default_factory=dict, hash=False)
    source: str = ""

    @property
    def key(self) -> str:
        """File-name-safe cache key: label and the first 12 hex digits of the weights hash."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.label)
        return f"{safe}-{str(self.identity.get('sha256') or 'nohash')[:12]}"

    @property
    def sha256(self) -> str | None:
        return self.identity.get("sha256")

    @property
    def foundation(self) -> bool:
        return self.role == "foundation"

    def as_dict(self) -> dict:
        """The MD grid's model record: ``name``, ``spec``, ``sha256``, ``foundation``,
        ``source`` (:func:`lidiff_helpers.simulation.md_grid.build_grid`)."""
        return {"name": self.label, "spec": self.spec, "sha256": self.sha256,
                "foundation": self.foundation, "source": self.source}


def _candidates(foundation_model: str, extra_models: Iterable[str],
                registered: Iterable[Mapping]) -> list[tuple[str, str, str | None, dict, str]]:
    """(spec, role, label, meta, source) in priority order."""
    out = [(str(foundation_model), "foundation", None, {},
            f"foundation_model={foundation_model}")]
    out += [(str(s), "extra", None, {}, "extra_models") for s in extra_models or ()]
    for e in registered or ():
        meta = {k: v for k, v in e.items() if k not in ("name", "path", "sha256")}
        out.append((str(e["path"]), "registered", e["name"], meta,
                    f"registered by {e.get('notebook', '?')}"))
    return out


def registered_matches(entry: Mapping, where: Mapping | None) -> bool:
    """True when a registry entry's metadata has every value of ``where`` (an entry
    without one of its keys matches: e.g. active-learning models carry no ``seed``)."""
    return all(entry.get(k, v) == v for k, v in dict(where or {}).items())


def models_to_compare(foundation_model: str, extra_models: Sequence[str] = (), *,
                      out: str | os.PathLike | None = None, include_registered: bool = True,
                      registered: Iterable[Mapping] | None = None,
                      max_extra_models: int | None = None,
                      registered_where: Mapping | None = None) -> list[ModelEntry]:
    """The models a notebook compares (see the module docstring for the rules).

    Parameters
    ----------
    foundation_model : spec of the foundation model (first entry, role ``foundation``)
    extra_models : further specs (role ``extra``)
    out : results folder whose registered models are added (role ``registered``) when
        ``include_registered``; ignored when ``registered`` is given
    registered : registry entries (``name``, ``path``, ``notebook``...) to use instead of
        reading ``out``
    max_extra_models : at most this many models besides the foundation (None: all)
    registered_where : keep only registered models whose metadata has these values (a
        model without the key is kept), e.g. ``{"seed": 1}``: the study's MD used each
        arm's first training seed
    """
    from lidiff_helpers.io import model_registry
    from lidiff_helpers.simulation import models

    if registered is None:
        registered = (model_registry.registered_models(out)
                      if include_registered and out is not None else [])
    registered = [e for e in registered if registered_matches(e, registered_where)]
    named = {"embedded", *models.EMBEDDED_VERSIONS, "chgnet", "sevennet-0",
             *models.FOUNDATION_MODELS}
    chosen: list[ModelEntry] = []
    by_sha: dict = {}
    for spec, role, label, meta, source in _candidates(foundation_model, extra_models,
                                                       registered):
        m = models.resolve_spec(spec)
        ident = models.model_identity(m)
        lab = label or m.name
        if ident["sha256"] in by_sha:
            print(f"[models] {lab} ({source}): same weights (SHA256 {str(ident['sha256'])[:12]}) "
                  f"as {by_sha[ident['sha256']]}, listed once")
            continue
        if max_extra_models is not None and len(chosen) > int(max_extra_models):
            print(f"[models] not comparing {lab} ({source}): max_extra_models = "
                  f"{max_extra_models}")
            continue
        base, k = lab, 2
        while lab in {c.label for c in chosen}:
            lab, k = f"{base}-{k}", k + 1
        by_sha[ident["sha256"]] = lab
        resolved = m.name if m.name in named else str(m.path)
        chosen.append(ModelEntry(lab, resolved, role, ident, dict(meta), source))
    return chosen
