"""benchmarks/robustness.py: its table grows over runs instead of being replaced."""

import csv
import importlib.util

import pytest

from karaoke.paths import ROOT


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_robustness", ROOT / "benchmarks" / "robustness.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _row(path, seed, isa="AVX2", held=True, qs=0.3):
    return {
        "preset": "regime",
        "recipe": "preset",
        "path": path,
        "seed": seed,
        "qs_w": qs,
        "all_claims": held,
        "with_margin": False,
        "machine": "CPU AMD EPYC",
        "cpu_capability": isa,
        "date": "2026-12-03",
    }


def test_a_rerun_replaces_its_row_and_keeps_the_others(bench, tmp_path):
    out = tmp_path / "robustness.csv"
    bench.merge_rows(out, [_row("native-1t", 0), _row("default-1t", 0, held=False)])
    # another session: a new seed, a rerun of default-1t:0, and native-1t:0 on another CPU kind
    table = bench.merge_rows(
        out, [_row("native-1t", 1), _row("default-1t", 0, qs=0.25), _row("native-1t", 0, "AVX512")]
    )
    on_disk = list(csv.DictReader(open(out)))
    assert [(r["path"], r["seed"], r["cpu_capability"]) for r in on_disk] == [
        ("native-1t", "0", "AVX2"),
        ("native-1t", "0", "AVX512"),
        ("native-1t", "1", "AVX2"),
        ("default-1t", "0", "AVX2"),
    ]
    rerun = [r for r in on_disk if r["path"] == "default-1t"]
    assert len(rerun) == 1 and rerun[0]["qs_w"] == "0.25" and rerun[0]["all_claims"] == "True"
    assert sum(bench._true(r["all_claims"]) for r in table) == 4


def test_rows_of_before_the_capability_column_stay_apart_from_new_ones(bench, tmp_path):
    out = tmp_path / "robustness.csv"
    old = _row("native-1t", 0)
    del old["cpu_capability"]
    bench.merge_rows(out, [old])
    table = bench.merge_rows(out, [_row("native-1t", 0)])
    assert len(table) == 2 and {bench._machine_of(r) for r in table} == {"CPU AMD EPYC", "CPU AMD EPYC (AVX2)"}
