"""``karaoke train``: stores, the KL ladder chosen from the data, diverged rungs."""

import json

import numpy as np
import pytest

from karaoke.cli import main
from karaoke.presets import get_preset
from tests.helpers import last_json, shared


def test_train_reads_a_prepared_store(tmp_path, capsys):
    """``karaoke train STORE``: the memory-mapped store from ``karaoke prepare`` trains directly."""
    import shutil

    d = tmp_path / "in"
    d.mkdir()
    for i in range(4):
        shutil.copy(shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits"), d / f"gl581_{i}.fits")
    assert (
        main(
            [
                "prepare",
                str(d),
                "--out",
                str(tmp_path / "store"),
                "--grid-start",
                "6260",
                "--n-pixels",
                "512",
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert last_json(capsys)["accepted"] == 4
    assert (
        main(
            [
                "train",
                str(tmp_path / "store"),
                "--out",
                str(tmp_path / "run"),
                "--epochs",
                "1",
                "--batch-size",
                "2",
                "--latent",
                "4",
                "--guard-rise",
                "0.5",
                "--quiet",
            ]
        )
        == 0
    )
    cap = capsys.readouterr()
    out = json.loads(cap.out.strip().splitlines()[-1])
    assert out["processes"] == 1 and out["model_config"]["n_pixels"] == 512
    assert out["train_config"]["guard_rise"] == 0.5
    assert "rolled_back" in (tmp_path / "run" / "history.csv").read_text().splitlines()[0]
    # one exposure's copies share a BERV: no ladder, the preset's weight, and the output says why
    assert "kl_choice" not in out and "BERVs span only" in out["kl_note"] and "preset regime's" in out["kl_note"]
    assert (
        "note: " + str(tmp_path / "store") in cap.err
        and out["train_config"]["kl_weight"] == get_preset("regime").train.kl_weight
    )
    assert (tmp_path / "run" / "model.pt").exists()
    # evaluate reads the store too; copies of one exposure share one BERV, so the truth-free responses
    # cannot tell telluric from stellar lines, and it says so, naming the store
    rc = main(["evaluate", str(tmp_path / "run"), str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert rc == 1 and "store" in err and "BERVs span only" in err and "Traceback" not in err


def test_train_kl_weight_auto_trains_the_ladder_and_keeps_the_best_separated(tiny_run, tmp_path, capsys):
    out = tmp_path / "ladder"
    argv = [
        "train",
        str(tiny_run / "s.npz"),
        "--out",
        str(out),
        "--latent",
        "8",
        "--epochs",
        "1",
        "--kl-weight",
        "auto",
        "--kl-ladder",
        "1",
        "0.03",
        "--quiet",
    ]
    assert main(argv) == 0
    res = last_json(capsys)
    choice = res["kl_choice"]
    assert choice["kl_weights"] == [0.03, 1.0] and choice["chosen"] in (0.03, 1.0)
    assert res["train_config"]["kl_weight"] == choice["chosen"]
    ranking = choice["ranking"]
    assert [r["kl_weight"] for r in ranking][0] == choice["chosen"] and len(ranking) == 2
    first, second = ranking
    # the rule: a stellar response below 0.6 ranks last, then the larger separation first
    assert (first["stellar_response"] < 0.6, -first["separation"]) <= (
        second["stellar_response"] < 0.6,
        -second["separation"],
    )
    chosen = out / f"kl-{choice['chosen']:g}"
    assert (out / "model.pt").read_bytes() == (chosen / "model.pt").read_bytes()
    assert json.loads((out / "choice.json").read_text()) == choice
    # the copy is a complete run: evaluate reads it like any other
    assert main(["evaluate", str(out), str(tiny_run / "s.npz")]) == 0
    ev = last_json(capsys)
    assert ev["held_out"] is True and "leakage_est" in ev and "Qt" in ev
    # a re-run trains nothing again and chooses the same
    before = (chosen / "history.csv").read_text()
    assert main(argv) == 0 and last_json(capsys)["kl_choice"] == choice
    assert (chosen / "history.csv").read_text() == before


def test_a_diverged_network_is_left_out_of_the_ladder_and_reported(tiny_run, tmp_path, capsys, monkeypatch):
    import karaoke.evaluation.bottleneck as bottleneck
    from karaoke.nn.training import TrainingDiverged

    real = bottleneck.train

    def diverge_at_one(survey, mc, tc, out, **kw):
        if tc.kl_weight == 1.0:
            raise TrainingDiverged(f"{out}: the loss became non-finite in epoch 1")
        return real(survey, mc, tc, out, **kw)

    monkeypatch.setattr(bottleneck, "train", diverge_at_one)
    argv = [
        "train",
        str(tiny_run / "s.npz"),
        "--out",
        str(tmp_path / "lad"),
        "--latent",
        "8",
        "--epochs",
        "1",
        "--kl-ladder",
        "0.03",
        "1",
        "--quiet",
    ]
    with pytest.warns(RuntimeWarning, match="KL weight 1 left out"):
        assert main(argv) == 0
    choice = last_json(capsys)["kl_choice"]
    assert choice["chosen"] == 0.03 and [r["kl_weight"] for r in choice["ranking"]] == [0.03]
    assert "non-finite" in choice["diverged"]["1"]
    monkeypatch.setattr(bottleneck, "train", lambda *a, **k: diverge_at_one(*a[:2], a[2].replace(kl_weight=1.0), a[3]))
    with pytest.warns(RuntimeWarning):
        rc = main(argv[:3] + [str(tmp_path / "lad2")] + argv[4:])
    err = capsys.readouterr().err
    assert rc == 1 and "every network of the KL ladder diverged" in err and "Traceback" not in err


def test_kl_weight_auto_errors_are_named_before_any_training(tiny_run, tmp_path, capsys):
    s = tiny_run / "s.npz"
    with np.load(s) as z:
        d = {k: z[k] for k in z.files if k != "meta_star_id"}
    np.savez(tmp_path / "nostars.npz", **d)
    rc = main(["train", str(tmp_path / "nostars.npz"), "--out", str(tmp_path / "r1"), "--kl-weight", "auto", "--quiet"])
    assert rc == 1 and "meta_star_id" in capsys.readouterr().err and not (tmp_path / "r1").exists()
    with np.load(s) as z:
        d = {k: z[k] for k in z.files}
    d["meta_berv"] = np.full_like(d["meta_berv"], 3.0)
    np.savez(tmp_path / "oneberv.npz", **d)
    rc = main(["train", str(tmp_path / "oneberv.npz"), "--out", str(tmp_path / "r0"), "--kl-weight", "auto", "--quiet"])
    assert rc == 1 and "BERVs span only" in capsys.readouterr().err and not (tmp_path / "r0").exists()
    rc = main(["train", str(s), "--out", str(tmp_path / "r2"), "--kl-weight", "auto", "--ae", "--quiet"])
    assert rc == 1 and "--ae" in capsys.readouterr().err
    rc = main(
        ["train", str(s), "--out", str(tmp_path / "r3"), "--kl-weight", "0.1", "--kl-ladder", "0.1", "1", "--quiet"]
    )
    assert rc == 1 and "--kl-weight auto" in capsys.readouterr().err
    rc = main(["train", str(s), "--out", str(tmp_path / "r4"), "--kl-weight", "auto", "--kl-ladder", "0.1", "--quiet"])
    assert rc == 1 and "at least two" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(s), "--out", str(tmp_path / "r5"), "--kl-weight", "lots"])
    assert "a number or 'auto'" in capsys.readouterr().err
