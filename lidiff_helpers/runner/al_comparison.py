"""The selection comparison of notebook 03 as a committed result (the documentation's
numbers; :mod:`lidiff_helpers.workflows.al_comparison`)::

    python -m lidiff_helpers.runner.al_comparison [--profile quick] [--labeller sevennet-0]
        [--foundation embedded] [-p name value ...] [--force]

writes ``data/al/selection_comparison.json`` (rows per method and round, the settings,
the foundation's and labeller's identities, provenance). SevenNet-0 is the default
labeller: the best stand-in for DFT this machine has (held-out force RMSE 82 / 100 meV/A
against the study's DFT), independent of any earlier run. An existing result made with
other settings is kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lidiff_helpers.core import paths
from lidiff_helpers.core.errors import ParameterError
from lidiff_helpers.workflows.al_comparison import RESULT

__all__ = ["main", "run"]


def run(profile: str = "quick", labeller: str = "sevennet-0", foundation: str | None = None,
        overrides: Mapping[str, Any] | None = None, out: Path | None = RESULT,
        force: bool = False) -> dict:
    """Run the comparison with ``profile``'s notebook-03 parameters (and ``overrides``),
    labels from the model ``labeller``, and write ``out``."""
    from lidiff_helpers.core.provenance import record
    from lidiff_helpers.io import data
    from lidiff_helpers.runner import profiles
    from lidiff_helpers.simulation import models
    from lidiff_helpers.training.labelling import SurrogateLabeller
    from lidiff_helpers.workflows.al_comparison import SETTINGS, WORKDIR, comparison

    params = profiles.resolve("03_active_learning", profile, dict(overrides or {}))
    spec = models.resolve_spec(foundation or params["foundation_model"])
    settings = {k: params.get(k) for k in SETTINGS}
    found = models.model_identity(spec)
    key = {"profile": profile, "settings": settings, "labeller": labeller,
           "foundation_sha256": found["sha256"]}
    old = json.loads(Path(out).read_text()) if out and Path(out).is_file() else None
    if old and {k: old.get(k) for k in key} != key and not force:
        raise ParameterError(f"{out}: holds a comparison made with other settings; "
                             "pass --force to replace it")
    lab = SurrogateLabeller.from_spec(labeller)
    lab_ident = models.model_identity(lab.spec)
    # other settings never share a cache folder (trainings resume by folder)
    tag = f"{paths.run_tag(profile, dict(overrides or {}))}-{labeller}-{found['sha256'][:8]}"
    table = comparison(params, spec, lab, WORKDIR / tag)
    body = {**key, "what": "selection methods on one candidate pool and label budget "
            "(lidiff_helpers.training.al_compare)",
            "command": "python -m lidiff_helpers.runner.al_comparison",
            "foundation": found, "labeller_identity": lab_ident, "label_source": lab.source,
            "rows": json.loads(table.to_json(orient="records")),
            "provenance": record(profile=profile, parameters=settings,
                                 models=[found, lab_ident],
                                 data_files=data.files_used())}
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(body, indent=1, default=str) + "\n")
    return body


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lidiff_helpers.runner.al_comparison",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--labeller", default="sevennet-0", help="model spec of the labels")
    ap.add_argument("--foundation", default=None, help="default: the profile's")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="notebook-03 parameter override (YAML value)")
    ap.add_argument("--out", default=str(RESULT))
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    import yaml

    over = {k: yaml.safe_load(v) for k, v in a.p}
    body = run(a.profile, a.labeller, a.foundation, over, Path(a.out), a.force)
    for r in body["rows"]:
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
