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
            documented = documented_parameters(obj)
            missing = [p.name for p in params if p.name not in documented]
            assert not missing, f"{pkg}.{name}: parameters {missing} are not in its Parameters section"


def documented_parameters(obj) -> set[str]:
    """The names a numpydoc Parameters section lists (``a, b : int`` names two; ``**kw`` is kw)."""
    from numpydoc.docscrape import FunctionDoc

    names = set()
    for entry in FunctionDoc(obj)["Parameters"]:
        names.update(n.strip().lstrip("*") for n in entry.name.split(","))
    return names


def test_the_parameter_check_reads_the_section_not_the_prose():
    def f(alpha, beta, **kw):
        """Use alpha and beta somehow.

        Parameters
        ----------
        alpha, gamma : int
            Numbers.
        **kw
            Passed on.
        """

    assert documented_parameters(f) == {"alpha", "gamma", "kw"}  # beta is in the prose only


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
