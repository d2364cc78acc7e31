"""Download code against a local HTTP server on 127.0.0.1 (never the internet)."""

import csv

import pytest
import torch

from karaoke.archive.download import (
    AUTHORS_MODEL_FILE,
    download_harps,
    fetch_authors_model,
    fetch_url,
    query_harps,
    verify_adp,
)
from karaoke.nn.checkpoint import load_model
from tests.helpers import shared, untrained_net
from tests.httpserver import FileServer

IDS = ["ADP.2014-09-16T11:04:45.123", "ADP.2014-09-16T11:04:45.124", "ADP.2014-09-16T11:04:45.125"]


def _eso_factory(server):
    from astroquery.eso import Eso

    def make():
        e = Eso()
        e.DOWNLOAD_URL = f"{server.url}/dataPortal/file/"
        return e

    return make


def _manifest(path):
    return {r["dataset"]: r for r in _manifest_rows(path)}


def test_parallel_download_verifies_resumes_and_reports(tmp_path):
    real = shared("harps", "ADP.2014-09-16T11:04:45.123.fits").read_bytes()
    with FileServer() as srv:
        # astroquery asks for the id without extension; the server names the file <id>.fits
        srv.files[f"/dataPortal/file/{IDS[0]}"] = (real, "ok")
        srv.files[f"/dataPortal/file/{IDS[1]}"] = (real, "truncated")
        srv.files[f"/dataPortal/file/{IDS[2]}"] = (b"SIMPLE  = garbage" * 1000, "ok")
        rows = download_harps(IDS, tmp_path, workers=3, progress=False, eso_factory=_eso_factory(srv))
        st = {r.dataset: r for r in rows}
        assert st[IDS[0]].status == "downloaded" and len(st[IDS[0]].sha256) == 64
        assert st[IDS[1]].status == "failed" and st[IDS[2]].status == "failed"
        assert "verification failed" in st[IDS[2]].reason or "no file" in st[IDS[2]].reason
        assert not (tmp_path / f"{IDS[2]}.fits").exists()  # a corrupt file is never left to be used
        man = _manifest(tmp_path / "manifest.csv")
        assert man[IDS[1]]["status"] == "failed" and man[IDS[1]]["reason"]
        # second run: the server now serves the two files correctly; only those are fetched again
        srv.files[f"/dataPortal/file/{IDS[1]}"] = (real, "ok")
        srv.files[f"/dataPortal/file/{IDS[2]}"] = (real, "ok")
        before = dict(srv.hits)
        rows2 = download_harps(IDS, tmp_path, workers=2, progress=False, eso_factory=_eso_factory(srv))
        st2 = {r.dataset: r.status for r in rows2}
        assert st2 == {IDS[0]: "present", IDS[1]: "downloaded", IDS[2]: "downloaded"}
        assert srv.hits[f"/dataPortal/file/{IDS[0]}"] == before[f"/dataPortal/file/{IDS[0]}"]
    assert all(verify_adp(tmp_path / f"{i}.fits") == "" for i in IDS)


def test_an_incomplete_local_file_is_fetched_again(tmp_path):
    real = shared("harps", "ADP.2014-09-16T11:04:45.123.fits").read_bytes()
    (tmp_path / f"{IDS[0]}.fits").write_bytes(real[:50000])  # interrupted earlier run
    with FileServer() as srv:
        srv.files[f"/dataPortal/file/{IDS[0]}"] = (real, "ok")
        rows = download_harps(IDS[:1], tmp_path, progress=False, eso_factory=_eso_factory(srv))
    assert rows[0].status == "downloaded" and verify_adp(tmp_path / f"{IDS[0]}.fits") == ""


def test_query_uses_astroquery_and_extracts_ids():
    from astropy.table import Table

    class FakeEso:
        ROW_LIMIT = 50

        def query_surveys(self, surveys, **kw):
            assert surveys == "HARPS" and kw["target"] == "HD128621"
            return Table({"ARCFILE": [IDS[0] + ".fits", IDS[1] + ".fits"], "Object": ["a", "b"]})

    assert query_harps("HD128621", max_rows=2, eso=FakeEso()) == IDS[:2]


def test_authors_model_checksum_recorded_and_checked(tmp_path):
    src = tmp_path / "srv.pth"
    torch.save({"state_dict": untrained_net().state_dict()}, src)
    with FileServer() as srv:
        srv.files[f"/data/{AUTHORS_MODEL_FILE}"] = (src.read_bytes(), "ok")
        path = fetch_authors_model(tmp_path / "models", base_url=f"{srv.url}/data/", progress=False)
        assert (path.parent / (path.name + ".sha256")).exists()
        assert fetch_authors_model(tmp_path / "models", base_url=f"{srv.url}/data/", progress=False) == path
        assert srv.hits[f"/data/{AUTHORS_MODEL_FILE}"] == 1  # not downloaded twice
        path.write_bytes(path.read_bytes()[:-10] + b"0123456789")  # tampered
        with pytest.raises(ValueError, match="checksum"):
            fetch_authors_model(tmp_path / "models", base_url=f"{srv.url}/data/", progress=False)
        srv.files[f"/other/{AUTHORS_MODEL_FILE}"] = (b"not a model" * 100, "ok")
        with pytest.raises(ValueError, match="not the authors' model"):
            fetch_authors_model(tmp_path / "m2", base_url=f"{srv.url}/other/", progress=False, validate=load_model)
        assert (tmp_path / "m2" / AUTHORS_MODEL_FILE).with_suffix(".corrupt").exists()
        srv.files["/data/short"] = (b"x" * 1000, "truncated")
        with pytest.raises(Exception):
            fetch_url(f"{srv.url}/data/short", tmp_path / "short.bin", progress=False)
        assert not (tmp_path / "short.bin").exists()


# ---- SDSS spFrame / spFluxcalib over HTTP(S), against 127.0.0.1 ---------------------------------
def _sdss_server_files(srv, tmp_path, plate, expids, objtypes=None):
    from tests.sdss_files import OBJTYPES, write_spframe

    index = []
    for e in expids:
        fr, cal, _ = write_spframe(tmp_path / "src", expid=e, gz=True, objtypes=objtypes or OBJTYPES)
        for p in (fr, cal):
            srv.files[f"/sas/26/{plate:04d}/{p.name}"] = (p.read_bytes(), "ok")
            index.append(f'<a href="{p.name}">{p.name}</a>')
    index.append('<a href="spFrame-b1-00000001.fits.gz">blue camera</a>')  # another camera: not listed
    srv.files[f"/sas/26/{plate:04d}/"] = (("<html>" + "\n".join(index) + "</html>").encode(), "ok")


def test_sdss_lists_downloads_verifies_and_resumes(tmp_path):
    from karaoke.archive.download import download_sdss, list_sdss_exposures, verify_sdss_pair

    with FileServer() as srv:
        base = f"{srv.url}/sas"
        _sdss_server_files(srv, tmp_path, 2887, [1001, 1002, 1003])
        exps = list_sdss_exposures(2887, base_url=base)
        assert exps == [1001, 1002, 1003]
        with pytest.raises(ValueError, match="plate 9999"):
            list_sdss_exposures(9999, base_url=base)
        # exposure 1002's calibration arrives truncated, 1003's frame is not a FITS file
        key2 = "/sas/26/2887/spFluxcalib-r1-00001002.fits.gz"
        good2 = srv.files[key2][0]
        srv.files[key2] = (good2, "truncated")
        key3 = "/sas/26/2887/spFrame-r1-00001003.fits.gz"
        good3 = srv.files[key3][0]
        srv.files[key3] = (b"not a fits file" * 100, "ok")
        rows = download_sdss([(2887, e) for e in exps], tmp_path / "sdss", base_url=base, workers=3, progress=False)
        st = {r.dataset: r.status for r in rows}
        assert st == {"2887-00001001": "downloaded", "2887-00001002": "failed", "2887-00001003": "failed"}
        bad = {r.dataset: r.reason for r in rows if r.status == "failed"}
        assert "bytes" in bad["2887-00001002"] and "verification failed" in bad["2887-00001003"]
        folder = tmp_path / "sdss" / "2887"
        assert not (folder / "spFrame-r1-00001003.fits.gz").exists()  # never left to be used
        assert (folder / "spFrame-r1-00001003.fits.gz.corrupt").exists()
        assert verify_sdss_pair(folder / "spFrame-r1-00001001.fits.gz", folder / "spFluxcalib-r1-00001001.fits.gz") == (
            "",
            4,
        )  # SKY fibre excluded
        man = _manifest_rows(tmp_path / "sdss" / "manifest.csv")
        assert len(man) == 6 and all(len(r["sha256"]) == 64 for r in man if r["status"] == "downloaded")
        # second run: the archive serves them correctly now; only the two failed pairs are fetched
        srv.files[key2], srv.files[key3] = (good2, "ok"), (good3, "ok")
        before = dict(srv.hits)
        rows2 = download_sdss([(2887, e) for e in exps], tmp_path / "sdss", base_url=base, progress=False)
        assert {r.dataset: r.status for r in rows2} == {
            "2887-00001001": "present",
            "2887-00001002": "downloaded",
            "2887-00001003": "downloaded",
        }
        first = "/sas/26/2887/spFrame-r1-00001001.fits.gz"
        assert srv.hits[first] == before[first]


def test_sdss_frame_with_only_sky_fibres_is_rejected(tmp_path):
    from karaoke.archive.download import download_sdss

    with FileServer() as srv:
        _sdss_server_files(srv, tmp_path, 3000, [7], objtypes=("SKY", "SKY"))
        rows = download_sdss([(3000, 7)], tmp_path / "out", base_url=f"{srv.url}/sas", progress=False)
    assert {r.status for r in rows} == {"failed"} and "all SKY" in rows[0].reason


def _manifest_rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))
