"""synth, train, evaluate and clean in one pass on a synthetic survey and real HARPS files."""

import numpy as np
import pytest
from astropy.io import fits

from karaoke.cli import main
from karaoke.presets import get_preset
from tests.helpers import last_json, shared


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
                "--preset",
                "o2-head",
                "--quiet",
            ]
        )
        == 0
    )
    info = last_json(capsys)
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
    trained = last_json(capsys)  # the preset's default: the KL weight chosen from the data by its ladder
    assert trained["kl_choice"]["kl_weights"] == sorted(get_preset("ci").kl_ladder) and "kl_note" not in trained
    assert trained["train_config"]["kl_weight"] == trained["kl_choice"]["chosen"]
    assert (tmp_path / "run" / "model.pt").exists()
    assert main(["evaluate", str(tmp_path / "run"), str(tmp_path / "s.npz")]) == 0
    ev = last_json(capsys)
    assert 0 <= ev["Qt"] <= 1 and ev["Qs"] >= 0 and ev["held_out"] is True
    assert 0 <= ev["leakage"] < 2 and 0 <= ev["stellar_response"] < 2  # exact truth: line responses too
    # clean: a real HARPS s1d (covering the model grid) and a bad file; the bad one is skipped
    good = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    bad = tmp_path / "bad.fits"
    bad.write_text("garbage")
    rc = main(["clean", str(tmp_path / "run"), str(bad), str(good), "--out", str(tmp_path / "clean"), "--quiet"])
    res = last_json(capsys)
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
