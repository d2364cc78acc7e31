"""``karaoke prepare`` and ``karaoke download``."""

import json

import torch

from karaoke.cli import main
from tests.helpers import last_json, shared, untrained_net


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
    torch.save({"state_dict": untrained_net().state_dict()}, src)
    import karaoke.archive.download as dl

    with FileServer() as srv:
        srv.files[f"/d/{dl.AUTHORS_MODEL_FILE}"] = (src.read_bytes(), "ok")
        assert (
            main(["download", "model", "--out", str(tmp_path / "models"), "--base-url", f"{srv.url}/d/", "--quiet"])
            == 0
        )
    assert last_json(capsys)["model"].endswith(dl.AUTHORS_MODEL_FILE)


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
        assert last_json(capsys) == {
            "requested": 2,
            "ok": 2,
            "failed": 0,
            "manifest": str(tmp_path / "sdss" / "manifest.csv"),
        }
        assert main(args[:-1] + ["--exposures", "13", "--quiet"]) == 1  # not in the archive: reported (all failed)
        assert last_json(capsys)["failed"] == 1
    assert main(["download", "sdss", "--out", str(tmp_path / "x")]) == 2
    assert "--plate" in capsys.readouterr().err


def test_prepare_that_rejects_every_file_exits_1_and_some_exits_3(tmp_path, capsys):
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"not fits" * 400)
    good = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    grid = ["--grid-start", "6260", "--n-pixels", "1024", "--quiet"]
    assert main(["prepare", str(bad), "--out", str(tmp_path / "s1")] + grid) == 1
    assert main(["prepare", str(bad), str(good), "--out", str(tmp_path / "s2")] + grid) == 3
    assert main(["prepare", str(good), "--out", str(tmp_path / "s3")] + grid) == 0
