"""Download code against a local HTTP server on 127.0.0.1 (never the internet)."""
import csv

import pytest
import torch

from karaoke.download import (AUTHORS_MODEL_FILE, download_harps, fetch_authors_model, fetch_url, query_harps,
                              verify_adp)
from karaoke.model import Karaoke, ModelConfig
from tests.conftest import shared
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
    with open(path) as fh:
        return {r["dataset"]: r for r in csv.DictReader(fh)}


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
    torch.save({"state_dict": Karaoke(ModelConfig.scaled(1024, 8, width=0.25)).state_dict()}, src)
    with FileServer() as srv:
        srv.files[f"/data/{AUTHORS_MODEL_FILE}"] = (src.read_bytes(), "ok")
        path = fetch_authors_model(tmp_path / "models", base_url=f"{srv.url}/data/", progress=False)
        assert (path.parent / (path.name + ".sha256")).exists()
        assert fetch_authors_model(tmp_path / "models", base_url=f"{srv.url}/data/", progress=False) == path
        assert srv.hits[f"/data/{AUTHORS_MODEL_FILE}"] == 1  # not downloaded twice
        path.write_bytes(path.read_bytes()[:-10] + b"0123456789")  # tampered
        with pytest.raises(ValueError, match="checksum"):
            fetch_authors_model(tmp_path / "models", base_url=f"{srv.url}/data/", progress=False)
        srv.files["/data/short"] = (b"x" * 1000, "truncated")
        with pytest.raises(Exception):
            fetch_url(f"{srv.url}/data/short", tmp_path / "short.bin", progress=False)
        assert not (tmp_path / "short.bin").exists()
