"""The one call a notebook makes after its ``parameters`` cell.

>>> run = setup_notebook("04_md_diffusion", globals())   # doctest: +SKIP
>>> run.p.temperatures_K, run.out                          # doctest: +SKIP

``setup_notebook`` resolves the parameters (profile, then any value the parameters cell
or papermill set to something other than ``None``), refuses unknown names, creates
``results/<profile>[+hash]/`` and gives small helpers that save figures, tables and the
notebook's summary, each with a provenance record.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Mapping

from lidiff_helpers.core import paths, provenance
from lidiff_helpers.runner import profiles

__all__ = ["setup_notebook", "NotebookRun"]

_IGNORED = {"In", "Out", "exit", "quit", "get_ipython", "profile"}


def _user_names(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Variables a parameters cell or papermill defined (not modules, functions, IPython)."""
    out = {}
    for k, v in namespace.items():
        if k.startswith("_") or k in _IGNORED or isinstance(v, ModuleType) or callable(v):
            continue
        out[k] = v
    return out


@dataclass
class NotebookRun:
    """Resolved parameters and output locations of one notebook execution.

    Attributes
    ----------
    notebook : notebook stem, e.g. ``"04_md_diffusion"``
    profile : ``ci``, ``quick`` or ``paper``
    p : the parameters as attributes (``run.p.n_steps``)
    params : the same as a dict
    overrides : parameters that differ from the profile
    out : results folder ``results/<profile>[+hash]/``
    """

    notebook: str
    profile: str
    params: dict
    overrides: dict
    out: Path
    models: list = field(default_factory=list)
    data_files: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    @property
    def p(self) -> SimpleNamespace:
        return SimpleNamespace(**self.params)

    @property
    def figures(self) -> Path:
        d = self.out / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def tables(self) -> Path:
        d = self.out / "tables"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def work(self, name: str) -> Path:
        """A per-notebook working folder ``results/<tag>/<name>/`` (cached, reused)."""
        d = self.out / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def add_model(self, identity: Mapping[str, Any]) -> None:
        """Record a model used (see :func:`lidiff_helpers.simulation.models.model_identity`)."""
        if dict(identity) not in self.models:
            self.models.append(dict(identity))

    def add_data(self, hashes: Mapping[str, str]) -> None:
        """Record study files read (path -> SHA256)."""
        self.data_files.update(hashes)

    def provenance(self, **extra) -> dict:
        return provenance.record(notebook=self.notebook, profile=self.profile,
                                 parameters=self.params, models=self.models,
                                 data_files=self.data_files, extra=extra or None)

    def label(self) -> str:
        """Short text stamped on figures: profile (and a warning unless ``paper``)."""
        txt = f"lidiff {self.notebook} | profile={self.profile}"
        if self.overrides:
            txt += " (overridden: " + ", ".join(sorted(self.overrides)) + ")"
        if self.profile != "paper":
            txt += " | reduced settings, not the study's"
        return txt

    def save_figure(self, fig, name: str, stamp: bool = True) -> Path | None:
        """Save ``fig`` as ``figures/<name>.png`` and ``.svg`` with provenance.

        ``fig`` may be a str, a figure function's line saying that it has no data: it is
        printed instead, and an earlier run's figure of that name is removed (saying so),
        so that the folder never shows a figure of other data."""
        if isinstance(fig, str):
            print(f"{name}: {fig}")
            for old in (self.figures / f"{name}.png", self.figures / f"{name}.svg",
                        self.figures / f"{name}.png.provenance.json"):
                if old.is_file():
                    old.unlink()
                    print(f"  removed the earlier {old.name}")
            return None
        if stamp:
            fig.text(0.995, 0.005, self.label(), ha="right", va="bottom", fontsize=6,
                     color="0.4")
        rec = self.provenance()
        png = self.figures / f"{name}.png"
        meta = {"Software": "lidiff", "Comment": json.dumps(
            {k: rec[k] for k in ("notebook", "profile", "git", "models")}, default=str)}
        fig.savefig(png, dpi=150, bbox_inches="tight", metadata=meta)
        fig.savefig(self.figures / f"{name}.svg", bbox_inches="tight")
        provenance.write_record(png, rec)
        return png

    def save_frames(self, images, name: str) -> Path:
        """Save ASE Atoms frames as ``figures/<name>.xyz`` (extxyz) with provenance: the
        data of an interactive view (the site's Figure 1)."""
        import ase.io

        path = self.figures / f"{name}.xyz"
        ase.io.write(path, list(images), format="extxyz")
        provenance.write_record(path, self.provenance())
        return path

    def save_table(self, df, name: str, floatfmt: str = ".4g") -> Path:
        """Save a pandas DataFrame as ``tables/<name>.csv`` and ``.md`` with provenance."""
        csv = self.tables / f"{name}.csv"
        df.to_csv(csv, index=False)
        (self.tables / f"{name}.md").write_text(df.to_markdown(index=False, floatfmt=floatfmt)
                                                + f"\n\n_{self.label()}_\n")
        provenance.write_record(csv, self.provenance())
        return csv

    def save_summary(self, values: Mapping[str, Any]) -> Path:
        """Write this notebook's headline numbers to ``summary/<notebook>.json``.

        The runner merges these files into ``results/<tag>/summary.json``.
        """
        d = self.out / "summary"
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{self.notebook}.json"
        body = {"values": dict(values), "wall_time_s": round(time.time() - self.started, 1),
                "provenance": self.provenance()}
        path.write_text(json.dumps(body, indent=1, default=str))
        return path


def setup_notebook(notebook: str, namespace: Mapping[str, Any]) -> NotebookRun:
    """Resolve a notebook's parameters from its namespace (``globals()``).

    The parameters cell sets ``profile`` and declares every parameter as ``None``
    ("take the profile's value"); anything else in the namespace (a value papermill
    injected or a user typed) overrides the profile. A variable the notebook does not
    declare raises :class:`lidiff_helpers.runner.profiles.UnknownParameterError`.
    """
    profile = namespace.get("profile", "quick")
    given = {k: v for k, v in _user_names(namespace).items() if v is not None}
    base = profiles.resolve(notebook, profile)
    params = profiles.resolve(notebook, profile, given)
    overrides = {k: v for k, v in given.items() if base.get(k) != v and k != "results_tag"}
    tag = params.get("results_tag") or paths.run_tag(profile, overrides or None)
    out = paths.RESULTS / tag
    out.mkdir(parents=True, exist_ok=True)
    run = NotebookRun(notebook=notebook, profile=profile, params=params, overrides=overrides,
                      out=out)
    print(f"{notebook}: profile={profile!r}, results in {run.out}")
    if overrides:
        print("  overrides:", json.dumps(overrides, default=str))
    return run
