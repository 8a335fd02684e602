"""The README's measured numbers are the result files' numbers (regenerable)."""

import json

import pytest

from lidiff_helpers.core import paths
from lidiff_helpers.core.errors import StaleResultError
from lidiff_helpers.runner import readme_numbers
from lidiff_helpers.training import finetune_benchmark


def test_readme_blocks_match_their_result_files():
    stale = readme_numbers.check()
    assert not stale, (f"README.md blocks {stale} differ from their result files: run "
                       "python -m lidiff_helpers.runner.readme_numbers")


def test_an_edited_number_is_caught(tmp_path):
    text = (paths.ROOT / "README.md").read_text()
    block = text.split("<!-- generated:embedded-model -->")[1]
    assert "3.955" in block  # the committed model's relaxed a0 (metrics file)
    edited = tmp_path / "README.md"
    edited.write_text(text.replace("3.955 (-2.6%)", "3.999 (-1.5%)", 1))
    assert readme_numbers.check(edited) == ["embedded-model"]
    assert readme_numbers.update(edited) and readme_numbers.check(edited) == []


def test_missing_block_is_named(tmp_path):
    bad = tmp_path / "README.md"
    bad.write_text("no blocks here\n")
    with pytest.raises(ValueError, match="embedded-model"):
        readme_numbers.render_all(bad.read_text())


def test_benchmark_of_another_model_is_refused(tmp_path):
    body = {"command": "python -m lidiff_helpers.finetune benchmark",
            "foundation": {"name": "embedded", "sha256": "0" * 64}, "rows": []}
    f = tmp_path / "RESULTS_finetune.json"
    f.write_text(json.dumps(body))
    with pytest.raises(StaleResultError, match="0000000000"):
        finetune_benchmark.load_benchmark(f)
    table, record = finetune_benchmark.load_benchmark(f, check_model=False)
    assert record["foundation"]["sha256"] == "0" * 64
    assert finetune_benchmark.load_benchmark(tmp_path / "absent.json") == (None, None)
