"""benchmarks/robustness.py: its table grows over runs instead of being replaced."""

import csv

import pytest

from tests.helpers import load_script


@pytest.fixture(scope="module")
def bench():
    return load_script("benchmarks/robustness.py")


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


def _rung(path, seed, w, sep, chosen):
    return {"path": path, "seed": seed, "kl_weight": w, "separation": sep, "chosen": chosen, "machine": "m"}


def test_the_ladder_holds_when_every_run_chooses_the_same_rung(bench):
    table = [_rung(p, 0, w, s, w == 0.3) for p in ("native-1t", "default-1t") for w, s in ((0.04, 0.5), (0.3, 0.6))]
    text, holds = bench.ladder_verdict(table)
    assert holds and "KL 0.3 in all 2" in text


def test_a_flip_between_rungs_the_data_cannot_tell_apart_is_allowed_a_clear_one_is_not(bench):
    close = [
        _rung("native-1t", 0, 0.04, 0.60, True),
        _rung("native-1t", 0, 0.3, 0.58, False),
        _rung("default-1t", 0, 0.04, 0.55, False),
        _rung("default-1t", 0, 0.3, 0.59, True),
    ]
    text, holds = bench.ladder_verdict(close)
    assert holds and "within" in text  # mean separations 0.575 and 0.585, spread 0.025
    clear = [
        _rung("native-1t", 0, 0.04, 0.30, False),
        _rung("native-1t", 0, 1.0, 0.40, True),
        _rung("native-1t", 1, 0.04, 0.31, False),
        _rung("native-1t", 1, 1.0, 0.41, True),
        _rung("default-1t", 0, 0.04, 0.42, True),  # one run prefers the clearly worse rung
        _rung("default-1t", 0, 1.0, 0.40, False),
    ]
    text, holds = bench.ladder_verdict(clear)
    assert not holds and "MORE than" in text


def test_the_ladders_rung_at_the_recipes_weight_is_the_pairs_whitened_network(bench):
    from karaoke.evaluation.bottleneck import KL_LADDER
    from karaoke.nn.training import run_dir_for
    from karaoke.presets import get_preset, preset_survey

    survey = preset_survey("ci")
    rungs = bench.rung_jobs("ci", "preset", 1, survey)
    s, mc, tc = bench.job_of("ci", "preset", 1, 30.0, None, survey)
    assert sorted(rungs) == sorted({float(w) for w in KL_LADDER})
    own = tc.kl_weight
    assert own == get_preset("ci").train.kl_weight and own in rungs
    assert run_dir_for(*rungs[own][1:], s.data_hash()) == run_dir_for(mc, tc, s.data_hash())
    tighter = [w for w in rungs if w > own]
    assert tighter and all(rungs[w][2].kl_free == 0 and rungs[w][2].max_velocity == 30.0 for w in tighter)
    assert bench.job_of("ci", "preset", 1, 30.0, tighter[0], survey) == rungs[tighter[0]]


def test_the_largest_rise_skips_the_kl_warm_up_and_counts_a_divergence(bench):
    # the H2O seed-1 history's shape: the held-out L1 rises while the KL weight ramps up
    # (epochs 1-2), falls, then one epoch's loss is non-finite and the guard turns it back
    val = [0.0469, 0.0499, 0.0539, 0.0579, 0.030, float("nan"), 0.028]
    warm = [False, False, True, True, True, True, True]
    assert bench.max_val_rise(val[:5], warm[:5]) == pytest.approx(0.0579 / 0.0539 - 1)
    assert bench.max_val_rise(val, warm) == float("inf")
    # counted from the first epoch, the warm-up's own rise would be the largest
    assert bench.max_val_rise(val[:3], [True] * 3) == pytest.approx(0.0539 / 0.0469 - 1)
    assert bench.max_val_rise(val[:3], warm[:3]) == 0.0
    # a non-finite loss before any watched epoch has no best to rise over
    assert bench.max_val_rise([float("nan"), 0.05], [True, True]) == 0.0
    with pytest.raises(ValueError):
        bench.max_val_rise(val, warm[:3])
