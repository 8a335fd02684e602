"""Every path the compendium uses, in one place (no string literals in notebooks)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

#: repository root (the folder holding ``lidiff_helpers/``)
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
DATA = ROOT / "data"
#: committed model files (the embedded foundation model)
MODELS = DATA / "models"
#: held-out test-set manifest (content hashes), committed
TEST_MANIFEST = DATA / "test_set.json"
RESULTS = Path(os.environ.get("LIDIFF_RESULTS_DIR", ROOT / "results"))
#: committed benchmark results (``make benchmarks``)
BENCHMARKS = ROOT / "benchmarks"
#: where pooch caches downloaded study files when LIDIFF_DATA_DIR is not set
CACHE = Path(os.environ.get("LIDIFF_CACHE_DIR", Path.home() / ".cache" / "lidiff"))


def read_result(path: Path) -> dict | None:
    """A result file's JSON body, or None when it does not exist."""
    return json.loads(path.read_text()) if path.is_file() else None


def display(path: str | os.PathLike) -> str:
    """``path`` relative to the repository root when it lies below it, else as given."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def data_dir() -> Path | None:
    """The local copy of the study data named by ``LIDIFF_DATA_DIR``, or None."""
    d = os.environ.get("LIDIFF_DATA_DIR")
    return Path(d).expanduser().resolve() if d else None


def run_tag(profile: str, overrides: dict | None = None) -> str:
    """Folder name for a run: the profile, plus a short hash of any parameter overrides.

    ``results/quick`` for the plain profile; ``results/quick+1a2b3c4d`` when parameters
    were overridden, so a parameter sweep never overwrites the profile's own results.
    """
    if not overrides:
        return profile
    blob = json.dumps(overrides, sort_keys=True, default=str).encode()
    return f"{profile}+{hashlib.sha256(blob).hexdigest()[:8]}"


def results_dir(profile: str, overrides: dict | None = None) -> Path:
    """``results/<profile>[+hash]/`` (created)."""
    d = RESULTS / run_tag(profile, overrides)
    d.mkdir(parents=True, exist_ok=True)
    return d


def benchmark_report(path: str | os.PathLike, command: str) -> str:
    """The Markdown report of a benchmark (``benchmarks/RESULTS_<name>.md``), or a line
    saying it is not measured yet and which ``command`` writes it."""
    path = Path(path)
    if not path.is_file():
        return f"_No benchmark results yet ({path.name}): run `{command}`._"
    return path.read_text()
