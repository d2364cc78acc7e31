"""API documentation: every public name has a numpydoc docstring, and the package's docstring
shows the layers. (The reference docs are these docstrings: ``help(karaoke.spectra)`` etc.)"""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = [
    "karaoke",
    "karaoke.spectra",
    "karaoke.spectra.formats",
    "karaoke.synth",
    "karaoke.archive",
    "karaoke.nn",
    "karaoke.presets",
    "karaoke.evaluation",
    "karaoke.products",
    "karaoke.cli",
]


def public_names():
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [
                n
                for n, o in vars(mod).items()
                if not n.startswith("_")
                and (inspect.isfunction(o) or inspect.isclass(o))
                and o.__module__.startswith(pkg)
            ]
        for n in names:
            yield pkg, n, getattr(mod, n)


def test_every_package_has_a_docstring():
    for pkg in PACKAGES:
        assert (importlib.import_module(pkg).__doc__ or "").strip(), pkg


@pytest.mark.parametrize(
    "pkg,name,obj",
    [t for t in public_names() if inspect.isfunction(t[2]) or inspect.isclass(t[2])],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_public_names_have_numpydoc_docstrings(pkg, name, obj):
    doc = inspect.getdoc(obj)
    assert doc and len(doc.split()) >= 4, f"{pkg}.{name} has no docstring"
    if inspect.isfunction(obj):
        params = [p for p in inspect.signature(obj).parameters.values() if p.name not in ("self", "cls")]
        if params:
            assert "Parameters\n----------" in doc, f"{pkg}.{name}: no numpydoc Parameters section"
            for p in params:
                bare = p.name.lstrip("*")
                assert bare in doc, f"{pkg}.{name}: parameter {p.name} is not documented"


def test_the_package_docstring_lists_the_layers():
    import karaoke

    for part in (
        "karaoke.spectra",
        "karaoke.synth",
        "karaoke.archive",
        "karaoke.nn",
        "karaoke.presets",
        "karaoke.evaluation",
        "karaoke.products",
        "karaoke.cli",
    ):
        assert part in karaoke.__doc__, part
