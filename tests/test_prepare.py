"""A folder of FITS files -> one memory-mappable store, with resume and a rejection report."""
import json
import shutil

import numpy as np
from astropy.io import fits

from karaoke.grid import Grid
from karaoke.model import ModelConfig
from karaoke.prepare import open_store, prepare_collection
from karaoke.train import TrainConfig, train
from tests.conftest import shared


def _collection(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for name in ("ADP.2014-09-16T11:04:45.123.fits", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits"):
        shutil.copy(shared("harps", name), d / name)
    for name in ("HARPS.2012-03-24T08:37:45.581_s1d_A.fits", "HARPS.2012-05-31T00:50:34.120_s1d_A.fits"):
        shutil.copy(shared("harps", "alpha_cen_b", name), d / name)
    (d / "corrupt.fits").write_bytes(b"not fits" * 100)
    h = fits.open(d / "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    h[0].data = np.full_like(h[0].data, np.nan)
    h.writeto(d / "nan_s1d.fits")
    h[0].data = np.zeros_like(h[0].data)
    h.writeto(d / "zero_s1d.fits")  # noise-like
    h[0].header["CRVAL1"] = 8000.0
    h[0].data = np.ones_like(h[0].data)
    h.writeto(d / "red_s1d.fits")  # outside the grid
    return sorted(d.glob("*.fits"))


def test_store_resume_report_and_streamed_training(tmp_path):
    files = _collection(tmp_path)
    grid = Grid(6260.0, 0.01, 2048)
    out = tmp_path / "store"
    part = prepare_collection(files, out, grid=grid, workers=2, chunk=3, progress=False, max_chunks=1)
    assert not part["complete"] and part["processed"] == 3  # "interrupted" after one chunk
    report = prepare_collection(files, out, grid=grid, workers=2, chunk=3, progress=False)
    assert report["complete"] and report["files"] == 8
    assert report["accepted"] == 4
    assert report["rejected"] == {"corrupt": 1, "nan": 1, "coverage": 1, "noise-like": 1}
    assert json.loads((out / "report.json").read_text()) == report
    state = json.loads((out / "state.json").read_text())
    reasons = {m["file"]: m["reason"] for m in state["meta"]}
    assert "corrupt.fits" in reasons["corrupt.fits"]
    s = open_store(out)
    assert len(s) == 4 and s.attrs["normalised"]
    good = s.pixel_mask() > 0
    assert np.allclose(np.median(np.where(good, s.flux, np.nan), axis=1)[~np.isnan(np.median(
        np.where(good, s.flux, np.nan), axis=1))], 1.0, atol=0.05)
    # the store streams into training (memmap, no normalisation copy)
    all_rows = open_store(out, accepted_only=False)
    assert isinstance(all_rows.flux, np.memmap)
    model = train(s, ModelConfig.scaled(2048, 4, width=0.25),
                  TrainConfig(epochs=1, batch_size=2, lr=1e-3, kl_warmup=(0, 1), holdout_fraction=0.25),
                  tmp_path / "run", progress=False)
    assert model.trained
