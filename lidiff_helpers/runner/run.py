"""Execute the notebooks with papermill under a profile: ``python -m lidiff_helpers.run``.

    python -m lidiff_helpers.run --profile quick                # every notebook, in order
    python -m lidiff_helpers.run --profile ci --only 05         # one notebook
    python -m lidiff_helpers.run --profile quick -p n_epochs 2  # override (validated)

Executed copies go to ``results/<tag>/notebooks/`` (the sources are never overwritten);
each notebook's summary is merged into ``results/<tag>/summary.json`` with provenance.
A ``-p`` name that no selected notebook declares is an error before anything runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import yaml

from lidiff_helpers.core import paths, provenance
from lidiff_helpers.core.errors import ParameterError
from lidiff_helpers.runner import profiles

__all__ = ["notebooks", "execute", "merge_summary", "ensure_kernel", "main"]


def notebooks(only: list[str] | None = None) -> list[Path]:
    """Notebook sources in execution order, optionally filtered by prefix (``04``)."""
    nbs = sorted(paths.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        nbs = [nb for nb in nbs if any(nb.stem.startswith(o) for o in only)]
        if not nbs:
            raise SystemExit(f"no notebook matches {only}")
    return nbs


def _split_overrides(nbs: list[Path], overrides: dict) -> dict[str, dict]:
    per_nb = {}
    used = set()
    for nb in nbs:
        decl = profiles.declared(nb.stem)
        per_nb[nb.stem] = {k: v for k, v in overrides.items() if k in decl}
        used |= set(per_nb[nb.stem])
    unknown = sorted(set(overrides) - used)
    if unknown:
        raise profiles.UnknownParameterError(
            f"unknown parameter(s) {unknown}: no selected notebook "
            f"({', '.join(nb.stem for nb in nbs)}) declares them")
    return per_nb


def merge_summary(out: Path) -> Path:
    """Merge ``summary/*.json`` of a results folder into ``summary.json``."""
    parts = {}
    for f in sorted((out / "summary").glob("*.json")):
        parts[f.stem] = json.loads(f.read_text())
    body = {"results": str(out), "notebooks": parts,
            "provenance": provenance.record(extra={"merged_from": sorted(parts)})}
    path = out / "summary.json"
    path.write_text(json.dumps(body, indent=1, default=str))
    return path


def ensure_kernel(name: str = "python3") -> str:
    """Make the Jupyter kernel ``name`` start *this* interpreter; return ``name``.

    A kernelspec in the user's folder (``~/.local/share/jupyter/kernels``, written by any
    ``ipykernel install --user``, e.g. from another clone's venv) would otherwise win over
    this venv's own Python and run the notebooks with another environment and another
    copy of ``lidiff_helpers`` - or fail if that venv is gone. So: write the spec into
    ``sys.prefix/share/jupyter`` (pointing at ``sys.executable``) and put that folder
    first on ``JUPYTER_PATH`` for this process and the kernels it starts.
    """
    from ipykernel.kernelspec import install

    share = Path(sys.prefix) / "share" / "jupyter"
    spec = share / "kernels" / name / "kernel.json"
    try:
        ok = json.loads(spec.read_text())["argv"][0] == sys.executable
    except (OSError, ValueError, KeyError, IndexError):
        ok = False
    if not ok:
        install(kernel_name=name, prefix=sys.prefix)
    jp = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if str(share) not in jp:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(share), *jp])
    return name


def execute(profile: str = "quick", only: list[str] | None = None,
            overrides: dict | None = None, kernel: str | None = None,
            log_output: bool = False) -> Path:
    """Run the selected notebooks in order; returns the results folder.

    ``kernel``: Jupyter kernel name; None = this interpreter (:func:`ensure_kernel`).
    """
    import papermill as pm

    kernel = kernel or ensure_kernel()

    overrides = dict(overrides or {})
    nbs = notebooks(only)
    per_nb = _split_overrides(nbs, overrides)
    tag = paths.run_tag(profile, overrides or None)
    out = paths.results_dir(profile, overrides or None)
    # every notebook's parameters are checked before the first one runs
    for nb in nbs:
        profiles.resolve(nb.stem, profile, per_nb[nb.stem])
    (out / "notebooks").mkdir(exist_ok=True)
    for nb in nbs:
        t0 = time.time()
        print(f"[lidiff] {nb.stem} (profile {profile}) ...", flush=True)
        pm.execute_notebook(
            str(nb), str(out / "notebooks" / nb.name),
            parameters={"profile": profile, "results_tag": tag, **per_nb[nb.stem]},
            kernel_name=kernel, cwd=str(paths.NOTEBOOKS), log_output=log_output,
            progress_bar=False)
        print(f"[lidiff] {nb.stem} done in {time.time() - t0:.0f} s", flush=True)
    merge_summary(out)
    print(f"[lidiff] results in {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lidiff_helpers.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", choices=profiles.PROFILES)
    ap.add_argument("--only", nargs="*", help="notebook prefixes, e.g. 01 05")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                    metavar=("NAME", "VALUE"), help="override a parameter (YAML value)")
    ap.add_argument("--log-output", action="store_true", help="stream cell output")
    a = ap.parse_args(argv)
    overrides = {k: yaml.safe_load(v) for k, v in a.parameter}
    try:
        execute(a.profile, a.only, overrides, log_output=a.log_output)
    except (profiles.UnknownParameterError, ParameterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
