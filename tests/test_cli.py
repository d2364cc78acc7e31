import json

import numpy as np
import pytest
import torch
from astropy.io import fits

from karaoke.cli import main
from karaoke.model import Karaoke, ModelConfig
from tests.conftest import shared


def _json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_synth_train_evaluate_clean_end_to_end(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "s.npz"), "--n-spectra", "80", "--seed", "3", "--n-pixels", "1024",
                 "--quiet"]) == 0
    info = _json(capsys)
    assert info["n_spectra"] == 80 and info["n_pixels"] == 1024
    assert main(["train", str(tmp_path / "s.npz"), "--out", str(tmp_path / "run"), "--velocity", "30",
                 "--latent", "8", "--epochs", "1", "--scale", "ci", "--quiet"]) == 0
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
    # a spectrum whose flux in the model's range is ~0 (Gl 273, 2003) is rejected as noise-like, by name
    zero = shared("harps", "HARPS.2003-12-13T06:19:48.371_s1d_A.fits")
    assert main(["clean", str(tmp_path / "run"), str(zero), "--out", str(tmp_path / "c2"), "--quiet"]) == 1
    report = (tmp_path / "c2" / "clean_report.csv").read_text()
    assert "noise-like" in report and zero.name in report
    capsys.readouterr()
    with fits.open(tmp_path / "clean" / "HARPS.2010-09-18T23:42:36.178_s1d_A_karaoke.fits") as h:
        topo = h["TOPOCENTRIC"].data
        assert h[0].header["BERV"] == pytest.approx(-23.5439, abs=1e-3)
        ok = topo["MASK"] > 0
        assert ok.sum() > 900 and np.all(np.isfinite(topo["RECON"][ok]))
        np.testing.assert_allclose(topo["TELLURIC"][ok] * topo["RECON"][ok], topo["FLUX"][ok], rtol=1e-4, atol=1e-4)


def test_clean_with_the_authors_format_on_a_real_adp(tmp_path, capsys):
    torch.manual_seed(0)
    path = tmp_path / "model_14v3_128d_e116_i954k.pth.tar"
    torch.save({"state_dict": Karaoke(ModelConfig.paper()).state_dict()}, path)
    adp = shared("harps", "ADP.2014-09-16T11:04:45.123.fits")
    assert main(["clean", str(path), str(adp), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    with fits.open(tmp_path / "out" / "ADP.2014-09-16T11:04:45.123_karaoke.fits") as h:
        assert len(h["TOPOCENTRIC"].data["WAVE"]) == 327680
        assert h["BARYCENTRIC"].data["RECON"].shape == (327680,)


def test_errors_are_reported_not_raised(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "norun"), str(tmp_path / "nosurvey.npz")]) == 2
    assert "error" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train"])


def test_prepare_and_download_commands(tmp_path, capsys):
    import shutil

    from tests.httpserver import FileServer

    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(shared("harps", "ADP.2014-09-16T11:04:45.123.fits"), d)
    shutil.copy(shared("harps", "HARPS.2003-12-13T06:19:48.371_e2ds_A.fits"), d)  # not a 1-D spectrum
    assert main(["prepare", str(d), "--out", str(tmp_path / "store"), "--grid-start", "6260", "--n-pixels",
                 "1024", "--quiet"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out.strip().splitlines()[-1])
    assert report["accepted"] == 1 and report["files"] == 1 and report["set_aside"] == 1
    assert "e2ds_A.fits" in out.err and "image" in out.err
    assert main(["download", "harps", "--out", str(tmp_path / "dl")]) == 2  # nothing asked for
    assert "nothing to download" in capsys.readouterr().err
    src = tmp_path / "m.pth"
    torch.save({"state_dict": Karaoke(ModelConfig.scaled(1024, 8, width=0.25)).state_dict()}, src)
    import karaoke.download as dl

    with FileServer() as srv:
        srv.files[f"/d/{dl.AUTHORS_MODEL_FILE}"] = (src.read_bytes(), "ok")
        assert main(["download", "model", "--out", str(tmp_path / "models"), "--base-url", f"{srv.url}/d/",
                     "--quiet"]) == 0
    assert _json(capsys)["model"].endswith(dl.AUTHORS_MODEL_FILE)


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
        args = ["download", "sdss", "--plate", "412", "--out", str(tmp_path / "sdss"), "--base-url",
                f"{srv.url}/sas", "--quiet"]
        assert main(args) == 0
        assert _json(capsys) == {"requested": 2, "ok": 2, "failed": 0,
                                 "manifest": str(tmp_path / "sdss" / "manifest.csv")}
        assert main(args[:-1] + ["--exposures", "13", "--quiet"]) == 3  # not in the archive: reported
        assert _json(capsys)["failed"] == 1
    assert main(["download", "sdss", "--out", str(tmp_path / "x")]) == 2
    assert "--plate" in capsys.readouterr().err
