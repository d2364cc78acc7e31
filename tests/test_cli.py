import json

import numpy as np
import pytest
import torch
from astropy.io import fits

from karaoke.cli import main
from karaoke.nn.model import Karaoke, ModelConfig
from tests.conftest import shared


def _json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_synth_train_evaluate_clean_end_to_end(tmp_path, capsys):
    assert (
        main(
            [
                "synth",
                str(tmp_path / "s.npz"),
                "--n-spectra",
                "80",
                "--seed",
                "3",
                "--n-pixels",
                "1024",
                "--scale",
                "o2-head",
                "--quiet",
            ]
        )
        == 0
    )
    info = _json(capsys)
    assert info["n_spectra"] == 80 and info["n_pixels"] == 1024
    assert (
        main(
            [
                "train",
                str(tmp_path / "s.npz"),
                "--out",
                str(tmp_path / "run"),
                "--velocity",
                "30",
                "--latent",
                "8",
                "--epochs",
                "1",
                "--scale",
                "ci",
                "--quiet",
            ]
        )
        == 0
    )
    trained = _json(capsys)  # the preset's default: the KL weight chosen from the data by its ladder
    assert trained["kl_choice"]["kl_weights"] == [0.03, 0.3, 1.0] and "kl_note" not in trained
    assert trained["train_config"]["kl_weight"] == trained["kl_choice"]["chosen"]
    assert (tmp_path / "run" / "model.pt").exists()
    assert main(["evaluate", str(tmp_path / "run"), str(tmp_path / "s.npz")]) == 0
    ev = _json(capsys)
    assert 0 <= ev["Qt"] <= 1 and ev["Qs"] >= 0 and ev["held_out"] is True
    assert 0 <= ev["leakage"] < 2 and 0 <= ev["stellar_response"] < 2  # exact truth: line responses too
    # clean: a real HARPS s1d (covering the model grid) and a bad file; the bad one is skipped
    good = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    bad = tmp_path / "bad.fits"
    bad.write_text("garbage")
    rc = main(["clean", str(tmp_path / "run"), str(bad), str(good), "--out", str(tmp_path / "clean"), "--quiet"])
    res = _json(capsys)
    assert rc == 3 and res["cleaned"] == 1
    assert rc == 3 and res["cleaned"] == 1 and res["failed"] == 1
    assert "bad.fits" in (tmp_path / "clean" / "clean_report.csv").read_text()
    # a spectrum whose flux in the model's range is ~0 (Gl 273, 2003) is rejected, by name: no pixel is usable
    zero = shared("harps", "HARPS.2003-12-13T06:19:48.371_s1d_A.fits")
    assert main(["clean", str(tmp_path / "run"), str(zero), "--out", str(tmp_path / "c2"), "--quiet"]) == 1
    report = (tmp_path / "c2" / "clean_report.csv").read_text()
    assert "covers only 0" in report and "dead pixels masked" in report and zero.name in report
    capsys.readouterr()
    with fits.open(tmp_path / "clean" / "HARPS.2010-09-18T23:42:36.178_s1d_A_karaoke.fits") as h:
        topo = h["TOPOCENTRIC"].data
        assert h[0].header["BERV"] == pytest.approx(-23.5439, abs=1e-3)
        ok = (topo["QUAL"] & 1) == 0  # QUAL bit 1: no data
        assert ok.sum() > 900 and np.all(np.isfinite(topo["RECON"][ok]))
        np.testing.assert_allclose(topo["TELLURIC"][ok] * topo["RECON"][ok], topo["FLUX"][ok], rtol=1e-4, atol=1e-4)
    # the default backend on a CPU is ONNX Runtime; PyTorch gives the same product within float32 rounding
    assert (
        main(
            ["clean", str(tmp_path / "run"), str(good), "--out", str(tmp_path / "c3"), "--quiet", "--backend", "torch"]
        )
        == 0
    )
    name = "HARPS.2010-09-18T23:42:36.178_s1d_A_karaoke.fits"
    with fits.open(tmp_path / "clean" / name) as a, fits.open(tmp_path / "c3" / name) as b:
        for col in ("RECON", "TELLURIC_ERR", "FLUX_CORR"):
            x, y = a["SPECTRUM"].data[col], b["SPECTRUM"].data[col]
            fin = np.isfinite(x)
            assert fin.sum() > 900 and np.array_equal(fin, np.isfinite(y))
            np.testing.assert_allclose(x[fin], y[fin], rtol=1e-4, atol=1e-5 * np.abs(y[fin]).max())


def test_clean_with_the_authors_format_on_a_real_adp(tmp_path, capsys):
    torch.manual_seed(0)
    path = tmp_path / "model_14v3_128d_e116_i954k.pth.tar"
    torch.save({"state_dict": Karaoke(ModelConfig.paper()).state_dict()}, path)
    adp = shared("harps", "ADP.2014-09-16T11:04:45.123.fits")
    assert main(["clean", str(path), str(adp), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    with fits.open(tmp_path / "out" / "ADP.2014-09-16T11:04:45.123_karaoke.fits") as h:
        assert len(h["TOPOCENTRIC"].data["WAVE"]) == 327680
        assert h["SPECTRUM"].data["RECON"].shape == (327680,)


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "norun"), str(tmp_path / "nosurvey.npz")]) == 1
    assert "error" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train"])


def test_prepare_and_download_commands(tmp_path, capsys):
    import shutil

    from tests.httpserver import FileServer

    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(shared("harps", "ADP.2014-09-16T11:04:45.123.fits"), d)
    shutil.copy(shared("harps", "HARPS.2003-12-12T21:47:59.366_wave_A.fits"), d)  # a calibration, not a spectrum
    shutil.copy(shared("harps", "HARPS.2003-12-13T06:19:48.371_e2ds_A.fits"), d)  # a spectrum, but its blaze is missing
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
                "1024",
                "--quiet",
            ]
        )
        == 3
    )
    out = capsys.readouterr()
    report = json.loads(out.out.strip().splitlines()[-1])
    assert report["accepted"] == 1 and report["files"] == 2 and report["set_aside"] == 1
    assert "wave_A.fits" in out.err and "image" in out.err
    reasons = json.loads((tmp_path / "store" / "state.json").read_text())["meta"]
    assert any("blaze file" in m["reason"] for m in reasons)
    assert main(["download", "harps", "--out", str(tmp_path / "dl")]) == 2  # nothing asked for
    assert "nothing to download" in capsys.readouterr().err
    src = tmp_path / "m.pth"
    torch.save({"state_dict": Karaoke(ModelConfig.scaled(1024, 8, width=0.25)).state_dict()}, src)
    import karaoke.archive.download as dl

    with FileServer() as srv:
        srv.files[f"/d/{dl.AUTHORS_MODEL_FILE}"] = (src.read_bytes(), "ok")
        assert (
            main(["download", "model", "--out", str(tmp_path / "models"), "--base-url", f"{srv.url}/d/", "--quiet"])
            == 0
        )
    assert _json(capsys)["model"].endswith(dl.AUTHORS_MODEL_FILE)


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
    assert _json(capsys)["accepted"] == 4
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
    assert "note: " + str(tmp_path / "store") in cap.err and out["train_config"]["kl_weight"] == 0.03
    assert (tmp_path / "run" / "model.pt").exists()
    # evaluate reads the store too; copies of one exposure share one BERV, so the truth-free responses
    # cannot tell telluric from stellar lines, and it says so, naming the store
    rc = main(["evaluate", str(tmp_path / "run"), str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert rc == 1 and "store" in err and "BERVs span only" in err and "Traceback" not in err


def test_download_sdss_command(tmp_path, capsys):
    from tests.httpserver import FileServer
    from tests.sdss_files import write_spframe

    with FileServer() as srv:
        names = []
        for e in (11, 12):
            for p in write_spframe(tmp_path / "src", expid=e, gz=True)[:2]:
                srv.files[f"/sas/26/0412/{p.name}"] = (p.read_bytes(), "ok")
                names.append(p.name)
        srv.files["/sas/26/0412/"] = (" ".join(f'<a href="{n}">{n}</a>' for n in names).encode(), "ok")
        args = [
            "download",
            "sdss",
            "--plate",
            "412",
            "--out",
            str(tmp_path / "sdss"),
            "--base-url",
            f"{srv.url}/sas",
            "--quiet",
        ]
        assert main(args) == 0
        assert _json(capsys) == {
            "requested": 2,
            "ok": 2,
            "failed": 0,
            "manifest": str(tmp_path / "sdss" / "manifest.csv"),
        }
        assert main(args[:-1] + ["--exposures", "13", "--quiet"]) == 1  # not in the archive: reported (all failed)
        assert _json(capsys)["failed"] == 1
    assert main(["download", "sdss", "--out", str(tmp_path / "x")]) == 2
    assert "--plate" in capsys.readouterr().err


# ---- clear errors, exit codes and help (issue 10) ----


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A survey of 80 spectra on 1024 px and a network trained on it for one epoch (CLI)."""
    d = tmp_path_factory.mktemp("tiny")
    assert main(["synth", str(d / "s.npz"), "--n-spectra", "80", "--seed", "3", "--n-pixels", "1024", "--quiet"]) == 0
    assert (
        main(
            [
                "train",
                str(d / "s.npz"),
                "--out",
                str(d / "run"),
                "--latent",
                "8",
                "--epochs",
                "1",
                "--kl-weight",
                "0.03",
                "--quiet",
            ]
        )
        == 0
    )  # one plain run (the default would train the KL ladder)
    return d


def test_every_option_of_every_subcommand_has_help_and_the_exit_codes_are_documented(capsys):
    import argparse

    from karaoke.cli import build_parser

    p = build_parser()
    subs = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subs.choices) == {"synth", "train", "evaluate", "clean", "download", "prepare"}
    for name, sp in subs.choices.items():
        for a in sp._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            assert a.help and len(a.help) > 8, f"{name} {a.dest}: no help text"
            if a.option_strings and a.default not in (None, False) and a.type in (int, float):
                assert "default" in a.help, f"{name} {a.option_strings[0]}: help does not give the default"
        assert "exit status" in sp.format_help() and "130" in sp.format_help()
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0 and "km/s" in capsys.readouterr().out


def test_python_dash_m_karaoke_runs_the_cli():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "karaoke", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "synth" in r.stdout and "exit status" in r.stdout


@pytest.mark.parametrize("kind", ["file", "under-file", "read-only"])
def test_an_unwritable_out_is_a_clear_error_for_every_command(tiny_run, tmp_path, capsys, monkeypatch, kind):
    import karaoke._atomic as atomic

    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    out = {"file": blocker, "under-file": blocker / "sub", "read-only": tmp_path / "ro"}[kind]
    if kind == "read-only":  # root ignores permission bits, so the write itself is made to fail
        real = atomic.tempfile.mkstemp

        def refuse(*a, **k):
            if str(k.get("dir", "")).startswith(str(out)):
                raise PermissionError(13, "Permission denied", str(out))
            return real(*a, **k)

        monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    good = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    commands = {
        "synth": ["synth", str(out / "s.npz"), "--n-spectra", "4", "--n-pixels", "1024", "--quiet"],
        "train": ["train", str(tiny_run / "s.npz"), "--out", str(out), "--latent", "8", "--epochs", "1", "--quiet"],
        "prepare": ["prepare", str(good), "--out", str(out), "--grid-start", "6260", "--n-pixels", "1024", "--quiet"],
        "clean": ["clean", str(tiny_run / "run"), str(good), "--out", str(out), "--quiet"],
    }
    for name, argv in commands.items():
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 1, (name, err)
        assert err.startswith(f"karaoke {name}: error: ") and "Traceback" not in err, (name, err)
        assert str(blocker) in err or str(out) in err, (name, err)


def test_device_cuda_without_cuda_is_a_clear_error(tiny_run, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rc = main(["train", str(tiny_run / "s.npz"), "--out", str(tmp_path / "r"), "--device", "cuda", "--quiet"])
    assert rc == 1 and "no CUDA GPU" in capsys.readouterr().err


def test_ctrl_c_in_train_and_prepare_exits_130_with_a_resume_hint(tiny_run, tmp_path, capsys, monkeypatch):
    import karaoke.archive.prepare
    import karaoke.nn.training

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    import karaoke.evaluation.bottleneck

    monkeypatch.setattr(karaoke.nn.training, "train", interrupt)
    monkeypatch.setattr(karaoke.evaluation.bottleneck, "train", interrupt)
    for kl in ("0.1", "auto"):  # one network, or the ladder (the default here)
        rc = main(["train", str(tiny_run / "s.npz"), "--out", str(tmp_path / f"r{kl}"), "--kl-weight", kl, "--quiet"])
        err = capsys.readouterr().err
        assert rc == 130 and "resume" in err and "Traceback" not in err
    monkeypatch.setattr(karaoke.archive.prepare, "prepare_collection", interrupt)
    good = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    rc = main(["prepare", str(good), "--out", str(tmp_path / "st"), "--grid-start", "6260", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 130 and "resume" in err


def test_prepare_that_rejects_every_file_exits_1_and_some_exits_3(tmp_path, capsys):
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"not fits" * 400)
    good = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    grid = ["--grid-start", "6260", "--n-pixels", "1024", "--quiet"]
    assert main(["prepare", str(bad), "--out", str(tmp_path / "s1")] + grid) == 1
    assert main(["prepare", str(bad), str(good), "--out", str(tmp_path / "s2")] + grid) == 3
    assert main(["prepare", str(good), "--out", str(tmp_path / "s3")] + grid) == 0


def test_a_partly_trained_run_is_refused_unless_allowed(tiny_run, tmp_path, capsys):
    import shutil

    partial = tmp_path / "partial"
    partial.mkdir()
    # a run folder holding only the checkpoint of an unfinished training: epoch 0 of 1, mid-epoch
    ck = torch.load(tiny_run / "run" / "checkpoint.pt", weights_only=False)
    ck.update(epoch=0, epoch_step=1)
    torch.save(ck, partial / "checkpoint.pt")
    good = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    for argv in (
        ["clean", str(partial), str(good), "--out", str(tmp_path / "c"), "--quiet"],
        ["evaluate", str(partial), str(tiny_run / "s.npz")],
    ):
        assert main(argv) == 1
        assert "--allow-partial" in capsys.readouterr().err
        assert main(argv + ["--allow-partial"]) == 0
        assert "partly trained" in capsys.readouterr().err
    with fits.open(tmp_path / "c" / "HARPS.2010-09-18T23:42:36.178_s1d_A_karaoke.fits") as h:
        assert h[0].header["PARTIAL"] is True
    shutil.rmtree(partial)


@pytest.mark.parametrize(
    "change,match", [("shift", "trained on"), ("barycentric", "barycentric frame"), ("vacuum", "vacuum")]
)
def test_evaluate_refuses_a_survey_on_another_grid_frame_or_medium(tiny_run, tmp_path, capsys, change, match):
    from karaoke.spectra.survey import load_survey, save_survey

    s = load_survey(tiny_run / "s.npz")
    if change == "shift":
        s = type(s)(wave=s.wave + 500.0, flux=s.flux, transmission=s.transmission, stellar=s.stellar, meta=s.meta)
    elif change == "barycentric":
        s.frame = "barycentric"
    else:
        s.medium = "vacuum"
    save_survey(s, tmp_path / "other.npz")
    assert main(["evaluate", str(tiny_run / "run"), str(tmp_path / "other.npz")]) == 1
    assert match in capsys.readouterr().err


def test_evaluate_prints_valid_json_when_a_metric_is_undefined(tiny_run, tmp_path, capsys):
    from karaoke.spectra.survey import load_survey, save_survey

    s = load_survey(tiny_run / "s.npz")
    s.transmission = np.ones_like(s.transmission)  # no telluric pixels: Qt is undefined
    save_survey(s, tmp_path / "notell.npz")
    assert main(["evaluate", str(tiny_run / "run"), str(tmp_path / "notell.npz")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "NaN" not in line
    assert json.loads(line)["Qt"] is None


def test_written_files_follow_the_umask(tiny_run, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        assert main(["synth", str(tmp_path / "u.npz"), "--n-spectra", "4", "--n-pixels", "1024", "--quiet"]) == 0
        assert stat.S_IMODE((tmp_path / "u.npz").stat().st_mode) == 0o644
        os.umask(0o077)
        assert main(["synth", str(tmp_path / "v.npz"), "--n-spectra", "4", "--n-pixels", "1024", "--quiet"]) == 0
        assert stat.S_IMODE((tmp_path / "v.npz").stat().st_mode) == 0o600
    finally:
        os.umask(old)


# ---- the bottleneck chosen from the data (issue 11) ----


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
    res = _json(capsys)
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
    ev = _json(capsys)
    assert ev["held_out"] is True and "leakage_est" in ev and "Qt" in ev
    # a re-run trains nothing again and chooses the same
    before = (chosen / "history.csv").read_text()
    assert main(argv) == 0 and _json(capsys)["kl_choice"] == choice
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
    choice = _json(capsys)["kl_choice"]
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


def test_evaluate_without_truth_gives_the_estimated_responses(tiny_run, tmp_path, capsys):
    with np.load(tiny_run / "s.npz") as z:
        d = {k: z[k] for k in z.files if k not in ("transmission", "stellar")}
    np.savez(tmp_path / "archive.npz", **d)
    assert main(["evaluate", str(tiny_run / "run"), str(tmp_path / "archive.npz")]) == 0
    ev = _json(capsys)
    assert "Qt" not in ev and "leakage" not in ev
    assert 0 <= ev["leakage_est"] < 2 and 0 <= ev["stellar_response_est"] < 2
    d.pop("meta_berv")
    np.savez(tmp_path / "bare.npz", **d)
    rc = main(["evaluate", str(tiny_run / "run"), str(tmp_path / "bare.npz")])
    err = capsys.readouterr().err
    assert rc == 1 and "transmission" in err and "meta_berv" in err and "Traceback" not in err
