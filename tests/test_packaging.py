"""Packaging and reproducibility checks: pins, README commands, notebook pairs."""

import re

import pytest
import tomllib

from karaoke.paths import ROOT
from tests.helpers import load_script


def _pyproject_pins():
    d = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = d["project"]["dependencies"] + sum(d["project"]["optional-dependencies"].values(), [])
    return {re.split("==", x)[0].lower(): x for x in deps}


def test_environment_yml_lists_the_same_pins_as_pyproject():
    env = (ROOT / "environment.yml").read_text()
    env_pins = {re.split("==", x)[0].lower(): x for x in re.findall(r"-\s+([A-Za-z0-9_.\-]+==[^\s]+)", env)}
    assert env_pins == _pyproject_pins()
    assert all("==" in v for v in env_pins.values())  # everything pinned
    assert env_pins["torch"] == "torch==2.13.0"


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- commands -->\s*```(?:bash|sh)?\n(.*?)```", readme, re.S)
    assert block, "README needs a fenced block after <!-- commands -->"
    cmds = [c for c in block.group(1).splitlines() if c.strip() and not c.strip().startswith("#")]
    assert len(cmds) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    assert cmds[1].split("#")[0].strip() in ci.splitlines()


def test_notebook_pairs_are_in_sync():
    jupytext = pytest.importorskip("jupytext")
    srcs = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert len(srcs) >= 3
    for src in srcs:
        nb_path = src.with_suffix(".ipynb")
        assert nb_path.exists(), f"{nb_path.name} missing: run make notebooks-sync"
        py_cells = [c.source for c in jupytext.read(src).cells]
        nb = jupytext.read(nb_path)
        nb_cells = [c.source for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        assert py_cells == nb_cells, f"{src.name} and {nb_path.name} differ: run make notebooks-sync"
        assert nb.metadata["kernelspec"]["name"] == "python3"
        tags = [c.metadata.get("tags", []) for c in nb.cells]
        assert ["parameters"] in tags


def _render_tool():
    return load_script("tools/render_readme.py")


def test_result_tables_are_generated_from_their_csv_files():
    """Numbers in the README's and docs/results.md's tables come from docs/results/*.csv
    (tools/render_readme.py); the README, a user guide, quotes no number inside its prose and
    stays short."""
    mod = _render_tool()
    for name in mod.FILES:
        text = (ROOT / name).read_text()
        assert mod.BLOCK.findall(text), f"{name} has no generated result table"
        assert mod.render(text) == text, f"{name}: tables differ from their CSV: run python tools/render_readme.py"
    readme = (ROOT / "README.md").read_text()
    assert not mod.VALUE.findall(readme), "the README puts a generated number inside a sentence"
    assert len(readme.splitlines()) <= 160


def test_a_table_can_keep_the_rows_that_match(tmp_path):
    mod = _render_tool()
    (tmp_path / "t.csv").write_text("method,seed,Qt\na,0,0.3456\na,1,0.5\nb,0,1.0\n")
    text = "<!-- table: t.csv columns=method,Qt rows=seed=0 -->\nold\n<!-- /table -->"
    assert mod.render(text, tmp_path).splitlines()[1:-1] == [
        "| method | Qt |",
        "|---|---|",
        "| a | 0.3456 |",
        "| b | 1.0 |",
    ]
    with pytest.raises(ValueError, match="no row"):
        mod.render(text.replace("seed=0", "seed=7"), tmp_path)


def test_a_number_in_prose_names_exactly_one_csv_cell(tmp_path):
    mod = _render_tool()
    (tmp_path / "t.csv").write_text("method,seed,Qt\na,0,0.3456\na,1,0.5\nb,0,1.0\n")
    text = (
        "Qt <!-- value: t.csv|method=a&seed=1|Qt|.2f -->?<!-- /value --> and "
        "<!-- value: t.csv|method=b|Qt -->?<!-- /value -->"
    )
    assert mod.render(text, tmp_path) == text.replace("?", "0.50", 1).replace("?", "1.0", 1)
    with pytest.raises(ValueError, match="2 rows"):
        mod.render("<!-- value: t.csv|method=a|Qt -->?<!-- /value -->", tmp_path)
    with pytest.raises(ValueError, match="0 rows"):
        mod.render("<!-- value: t.csv|method=c|Qt -->?<!-- /value -->", tmp_path)


def test_every_preset_is_offered_by_the_cli_and_the_notebook_runner():
    import argparse

    from karaoke.cli import build_parser
    from karaoke.presets import PRESETS, harps_presets

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for cmd in ("synth", "train"):
        opt = next(a for a in sub.choices[cmd]._actions if "--preset" in a.option_strings)
        assert set(opt.choices) == set(PRESETS) and "--scale" in opt.option_strings  # the older name still works
    from karaoke.notebooks import build_parser as runner_parser

    opt = next(a for a in runner_parser()._actions if "--preset" in a.option_strings)
    assert set(opt.choices) == set(harps_presets()) == {k for k in PRESETS if not k.startswith("sdss")}
    for name in harps_presets():
        assert PRESETS[name].sdss in PRESETS and PRESETS[name].description
