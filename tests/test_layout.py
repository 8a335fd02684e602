"""The package's shape: layers with imports flowing one way, no import cycles, facades
without logic, module and function sizes a reader can follow, analysis without torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest


PKG = Path(__file__).resolve().parents[1] / "lidiff_helpers"

#: layers, lowest first: a module may import its own layer and the layers before it.
LAYERS = ["core", "io", "analysis", "simulation", "training", "figures", "workflows",
          "runner"]
#: layers outside the chain and what they may import (synthetic data generators serve
#: tests and notebook 05; nothing in the chain imports them but workflows)
SIDE = {"synthetic": {"core", "io", "analysis"}}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every lidiff_helpers module imported anywhere in the file (also inside functions)."""
    name = _module_name(path)
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("lidiff_helpers"):
                continue
            for a in node.names:  # "from pkg import module" imports the module
                sub = f"{mod}.{a.name}"
                out.add(sub if _exists(sub) else mod)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("lidiff_helpers")}
    out.discard(name)
    return out


def _exists(mod: str) -> bool:
    p = PKG.parent.joinpath(*mod.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _files():
    return sorted(p for p in PKG.rglob("*.py"))


def _layer(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PKG / parts[1]).is_dir()) \
        else None


def test_layers_import_one_way():
    bad = []
    for f in _files():
        mod = _module_name(f)
        layer = _layer(mod)
        if layer is None:  # facades and the package itself
            continue
        allowed = set(LAYERS[: LAYERS.index(layer) + 1]) if layer in LAYERS else set()
        allowed |= SIDE.get(layer, set()) | {layer}
        if layer in ("workflows", "runner"):
            allowed.add("synthetic")
        for imp in _imports(f):
            other = _layer(imp)
            if other is not None and other not in allowed:
                bad.append(f"{mod} imports {imp} ({layer} -> {other})")
    assert not bad, "imports against the layer order " + " < ".join(LAYERS) + ":\n" + \
        "\n".join(bad)


def test_no_import_cycles():
    graph = {_module_name(f): {i for i in _imports(f) if not i.endswith("__init__")}
             for f in _files()}
    # a package's __init__ is not an edge target unless it holds code of its own
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                cycles.append(" -> ".join(stack[stack.index(m):] + [m]))
            elif m in graph and not state.get(m):
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if not state.get(n):
            visit(n)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_facades_hold_no_logic():
    """Top-level modules re-export the documented public names; logic lives in layers."""
    for f in PKG.glob("*.py"):
        tree = ast.parse(f.read_text())
        defs = [n.name for n in ast.walk(tree)
                if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
        assert not defs, f"{f.name} defines {defs}: move them into a layer"


def test_sizes():
    """No module over ~600 lines, no function over ~80 (split long ones by step)."""
    long_modules, long_functions = [], []
    for f in _files():
        text = f.read_text()
        if len(text.splitlines()) > 650:
            long_modules.append(f"{f.relative_to(PKG)}: {len(text.splitlines())} lines")
        for n in ast.walk(ast.parse(text)):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = n.end_lineno - n.lineno + 1
                if length > 85:
                    long_functions.append(f"{f.relative_to(PKG)}:{n.lineno} {n.name}: {length}")
    assert not long_modules and not long_functions, "\n".join(long_modules + long_functions)


@pytest.mark.parametrize("module", ["lidiff_helpers.analysis", "lidiff_helpers.io",
                                    "lidiff_helpers.core"])
def test_lower_layers_do_not_import_torch(module):
    code = ("import importlib, pkgutil, sys\n"
            f"import {module} as m\n"
            "for i in pkgutil.walk_packages(m.__path__, m.__name__ + '.'):\n"
            "    importlib.import_module(i.name)\n"
            "heavy = sorted(k for k in ('torch', 'mace', 'e3nn') if k in sys.modules)\n"
            "print(','.join(heavy))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"importing {module} imported {out}"


def test_documented_public_names():
    from lidiff_helpers import arrhenius, data, diffusion, md, models

    assert callable(diffusion.msd) and callable(diffusion.diffusion_coefficient)
    assert callable(arrhenius.fit_arrhenius) and callable(models.get_calculator)
    assert callable(md.run_md) and callable(data.fetch)
    from lidiff_helpers.analysis import diffusion as real

    assert diffusion.msd is real.msd


def test_make_site_builds_the_last_make_all_profile():
    """``make site`` without PROFILE= renders the profile of the last completed ``make all``
    (``results/.last-profile``); PROFILE= on the command line wins."""
    import os
    import shutil

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = PKG.parent
    last = root / "results" / ".last-profile"
    old = last.read_text() if last.is_file() else None
    env = {k: v for k, v in os.environ.items() if k != "PROFILE"}
    try:
        last.parent.mkdir(exist_ok=True)
        last.write_text("gpu\n")
        dry = lambda *a: subprocess.run(["make", "-n", "site", *a], cwd=root, env=env,  # noqa: E731
                                        capture_output=True, text=True).stdout
        assert "--results results/gpu" in dry()
        assert "--results results/ci" in dry("PROFILE=ci")
    finally:
        if old is None:
            last.unlink(missing_ok=True)
        else:
            last.write_text(old)
