"""The package's shape: subpackages by layer, each importing only the layers before it; no import cycle;
small modules; every layer says what it holds and what it may import."""
import ast
import re
from pathlib import Path
from typing import NamedTuple

import pytest

from helpers import ROOT

PKG = ROOT / "energy_nb"
#: The layer order: a module may import its own layer and the layers before it, never one after it.
LAYERS = ("core", "models", "compute", "data", "laws", "evaluation", "measurement", "planning", "api", "book",
          "cli")
MAX_LINES = 400


def layer_of(module: str) -> str:
    """``energy_nb.laws.scaling`` -> ``laws``; ``energy_nb.api`` -> ``api``; ``energy_nb`` -> ``energy_nb``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports(name: str, tree: "ast.Module") -> set[str]:
    """Every energy_nb module ``name`` imports, at the top or inside a function."""
    package = name if (PKG / Path(*name.split(".")[1:])).is_dir() else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("energy_nb"):
                if target != "energy_nb":
                    out.add(target)
                out.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("energy_nb"))
    return out


class Module(NamedTuple):
    """One module of the package, read and parsed once per test session."""

    path: Path
    lines: int
    tree: ast.Module
    imports: frozenset[str]


@pytest.fixture(scope="session")
def package() -> dict[str, Module]:
    """Every module of the package by dotted name (``energy_nb.laws`` for its ``__init__``): the layer, cycle,
    docstring and size checks share this one read and parse."""
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        text = f.read_text()
        tree = ast.parse(text, str(f))
        out[name] = Module(f, len(text.splitlines()), tree, frozenset(imports(name, tree)))
    return out


def test_every_module_is_in_a_layer_and_imports_only_layers_before_it(package):
    known = set(package)
    bad = []
    for name, module in package.items():
        here = layer_of(name)
        if name in ("energy_nb", "energy_nb.__main__"):
            continue  # the package's door: it may name anything (lazily)
        assert here in LAYERS, f"{name} is in no layer of {LAYERS}"
        for target in module.imports:
            if target not in known and target.rpartition(".")[0] not in known:
                continue
            there = layer_of(target)
            if there == "energy_nb":
                bad.append(f"{name} imports the package itself ({target}); import a layer")
            elif LAYERS.index(there) > LAYERS.index(here):
                bad.append(f"{name} ({here}) imports {target} ({there}): a later layer")
    assert not bad, "\n".join(bad)


def test_the_layer_test_can_fail(tmp_path):
    tree = ast.parse("from ..planning import planner\nimport energy_nb.cli\n")
    found = imports("energy_nb.laws.scaling", tree)
    assert "energy_nb.planning" in found and "energy_nb.cli" in found
    assert LAYERS.index(layer_of("energy_nb.planning.planner")) > LAYERS.index("laws")


def test_no_import_cycle_between_modules(package):
    graph = {}
    for name, module in package.items():
        deps = set()
        for t in module.imports:
            if t in package and t != name:
                deps.add(t)
            elif t.rpartition(".")[0] in package and t.rpartition(".")[0] != name and t not in package:
                deps.add(t.rpartition(".")[0])
        graph[name] = {d for d in deps if not name.startswith(d + ".")}  # a module may use its own package
    state: dict[str, int] = {}

    def visit(n, path):
        if state.get(n) == 1:
            raise AssertionError("import cycle: " + " -> ".join(path + [n]))
        if state.get(n) == 2:
            return
        state[n] = 1
        for d in sorted(graph.get(n, ())):
            if d in ("energy_nb",) or d.endswith("__init__"):
                continue
            visit(d, path + [n])
        state[n] = 2

    for n in sorted(graph):
        if n != "energy_nb":
            visit(n, [])


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_says_what_it_holds_and_may_import(layer, package):
    doc = ast.get_docstring(package[f"energy_nb.{layer}"].tree) or ""
    assert doc.startswith(f"Layer {LAYERS.index(layer) + 1}, ``{layer}``"), doc[:80]
    assert "May import:" in doc, f"{layer}: no 'May import:' line"
    listed = set(re.findall(r":mod:`\.(\w+)`", doc))
    actual = {f.stem for f in (PKG / layer).glob("*.py") if f.stem != "__init__"} if (PKG / layer).is_dir() else set()
    assert actual <= listed | {"__main__"}, f"{layer}: modules not described in its docstring: {actual - listed}"


def test_no_module_over_the_size_limit(package):
    big = {str(m.path.relative_to(ROOT)): m.lines for m in package.values() if m.lines > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


#: Names that stand for any module in a docstring's example, not for a real one.
EXAMPLE_NAMES = {"energy_nb.x", "energy_nb.x.f", "energy_nb.a.b"}


def test_every_module_the_sources_and_the_book_cite_exists():
    """``energy_nb.a.b`` in the package, the book, the notebooks, the registry files and the tests names a module or
    an attribute that exists (the package was reorganised by layer once; its docstrings and data comments followed)."""
    import importlib
    import subprocess

    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    files = [f for f in listed if f.endswith((".py", ".md", ".yml")) and not f.startswith("data/external/")]
    cited: dict[str, str] = {}
    for f in files:
        for name in re.findall(r"energy_nb(?:\.[A-Za-z_]\w*)+", (ROOT / f).read_text(errors="ignore")):
            if name.split(".")[-1] not in ("py", "md", "json", "csv", "yml") and "__main__" not in name:
                cited.setdefault(name, f)
    missing = []
    for name, f in sorted(cited.items()):
        if name in EXAMPLE_NAMES:
            continue
        parts = name.split(".")
        for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for attr in parts[i:]:
                obj = getattr(obj, attr, None)
            if obj is None:
                missing.append(f"{name} ({f})")
            break
    assert not missing, "cited but not found: " + ", ".join(missing)
