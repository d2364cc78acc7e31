"""The package's import layers (see ``karaoke/__init__.py``): a module imports only from lower
layers or from its own subpackage, so that e.g. readers never pull in torch and the network
never depends on where spectra came from."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import karaoke

PKG = Path(karaoke.__file__).parent

#: Layer of each top-level part of the package (lower numbers may not import higher ones).
LAYERS = {
    "karaoke._atomic": 0,
    "karaoke._malloc": 0,
    "karaoke.paths": 0,
    "karaoke.spectra": 1,
    "karaoke.synth": 2,
    "karaoke.archive": 2,
    "karaoke.nn": 3,
    "karaoke.presets": 4,
    "karaoke.evaluation": 5,
    "karaoke.products": 5,
    "karaoke.plotting": 6,
    "karaoke.notebooks": 6,
    "karaoke.cli": 6,
    "karaoke.__main__": 7,
}


def part(module: str) -> str:
    """The top-level part (a key of LAYERS) that ``module`` belongs to."""
    parts = module.split(".")
    for n in (2, 1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return key
    raise KeyError(module)


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    names = list(rel.parts)
    if names[-1] == "__init__":
        names.pop()
    return ".".join(names)


def imports(path: Path, here: str | None = None):
    """(imported module, names) for every import of karaoke in ``path`` (module ``here``, by
    default its name in the package), relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    here = here or module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "karaoke":
                    yield a.name, []
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([mod] if mod else []))
            if mod.split(".")[0] == "karaoke":
                yield mod, [a.name for a in node.names]


MODULES = sorted(p for p in PKG.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = [module_name(p) for p in MODULES if module_name(p) != "karaoke" and not _has_part(module_name(p))]
    assert not missing, f"modules outside the layer table: {missing}"


def _has_part(name):
    try:
        part(name)
        return True
    except KeyError:
        return False


def _violations(path: Path, here: str) -> list[str]:
    mine = part(here)
    bad = []
    for mod, names in imports(path, here):
        if mod == "karaoke":  # the root package: only its version
            if set(names) - {"__version__"}:
                bad.append(f"from karaoke import {', '.join(names)} (use the module that defines them)")
            continue
        theirs = part(mod)
        if theirs != mine and LAYERS[theirs] >= LAYERS[mine]:
            bad.append(f"{mod} (layer {LAYERS[theirs]}) from layer {LAYERS[mine]}")
    return bad


@pytest.mark.parametrize(
    "path", [p for p in MODULES if p.name != "__init__.py" or p.parent != PKG], ids=lambda p: module_name(p)
)
def test_imports_respect_the_layers(path):
    bad = _violations(path, module_name(path))
    assert not bad, f"{module_name(path)} imports upwards or sideways: {bad}"


def test_the_layer_check_catches_an_upward_import(tmp_path):
    """The checker itself: a reader that imported the network would be flagged."""
    probe = tmp_path / "_layer_probe.py"
    probe.write_text("from karaoke.nn.model import Karaoke\nfrom ..archive import prepare\n")
    here = "karaoke.spectra._layer_probe"
    assert [part(m) for m, _ in imports(probe, here)] == ["karaoke.nn", "karaoke.archive"]
    assert len(_violations(probe, here)) == 2


def test_readers_do_not_import_torch():
    """Reading and preparing spectra works without loading PyTorch (fast CLI start, light workers)."""
    import subprocess
    import sys

    code = "import sys, karaoke.spectra, karaoke.archive.prepare, karaoke.spectra.sdss; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _edges() -> set[tuple[str, str]]:
    """(importer, imported) module pairs, function-level imports included; ``from A import b``
    names the module ``A.b`` when there is one, else ``A``."""
    known = {module_name(p) for p in MODULES}
    edges = set()
    for path in MODULES:
        here = module_name(path)
        for mod, names in imports(path):
            targets = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in known] or [mod]
            if len(targets) < len(names):  # some names are objects of mod itself
                targets.append(mod)
            edges.update((here, t) for t in targets if t != here)
    return edges


def _cycles(edges) -> list[list[str]]:
    """The import cycles: strongly connected groups of more than one module (Tarjan)."""
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_one_that_imports_it_back():
    """No import cycle, function-level imports included (a cycle hidden by a lazy import is
    still one: each module needs the other to be understood)."""
    cycles = _cycles(_edges())
    assert not cycles, f"modules that import each other (move what they share to a leaf module): {cycles}"


def test_the_cycle_check_finds_a_cycle_of_three():
    assert _cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [["a", "b", "c"]]
    assert _cycles({("a", "b"), ("b", "c")}) == []
