"""Notebooks stay thin: a parameters cell, then cells of one or two helper calls."""

import ast

import nbformat
import pytest

from lidiff_helpers.core import paths

NOTEBOOKS = sorted((paths.ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_LOGIC_LINES = 10


def logic_lines(source: str) -> int:
    """Lines of a cell that are neither blank, comments, nor imports (a multi-line
    statement counts every line it spans)."""
    tree = ast.parse(source)
    lines = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        lines.update(range(node.lineno, node.end_lineno + 1))
    text = source.splitlines()
    return sum(1 for i in lines if text[i - 1].strip() and not text[i - 1].strip().startswith("#"))


def test_logic_line_count_is_what_it_says():
    src = "import x\n\n# comment\na = f(1,\n      2)\nb = 3\n"
    assert logic_lines(src) == 3


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_cells_are_thin(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue
        tree = ast.parse(cell.source)
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef,
                                                           ast.Lambda))]
        assert not defs, f"{nb_path.name} cell {i}: no function definitions in notebooks"
        n = logic_lines(cell.source)
        assert n <= MAX_LOGIC_LINES, (f"{nb_path.name} cell {i}: {n} lines of logic "
                                      f"(at most {MAX_LOGIC_LINES}); move it to "
                                      "lidiff_helpers/workflows/")
        assert not cell.get("outputs"), f"{nb_path.name} cell {i}: outputs must be stripped"
