"""A folder of FITS files -> one memory-mappable store, with resume and a rejection report."""

import json
import shutil

import numpy as np
from astropy.io import fits

from karaoke.archive.prepare import open_store, prepare_collection
from karaoke.nn.model import ModelConfig
from karaoke.nn.training import TrainConfig, train
from karaoke.spectra.grid import Grid
from tests.helpers import shared


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
    assert report["rejected"] == {"corrupt": 1, "nan": 1, "coverage": 1, "noise-like": 1, "frame": 0}
    assert json.loads((out / "report.json").read_text()) == report
    state = json.loads((out / "state.json").read_text())
    reasons = {m["file"]: m["reason"] for m in state["meta"]}
    assert "corrupt.fits" in reasons["corrupt.fits"]
    s = open_store(out)
    assert len(s) == 4 and s.attrs["normalised"]
    good = s.pixel_mask() > 0
    assert np.allclose(
        np.median(np.where(good, s.flux, np.nan), axis=1)[~np.isnan(np.median(np.where(good, s.flux, np.nan), axis=1))],
        1.0,
        atol=0.05,
    )
    # the store streams into training (memmap, no normalisation copy)
    all_rows = open_store(out, accepted_only=False)
    assert isinstance(all_rows.flux, np.memmap)
    model = train(
        s,
        ModelConfig.scaled(2048, 4, width=0.25),
        TrainConfig(epochs=1, batch_size=2, lr=1e-3, kl_warmup=(0, 1), holdout_fraction=0.25),
        tmp_path / "run",
        progress=False,
    )
    assert model.trained


def test_a_spectrum_with_an_impossible_berv_or_no_pixels_left_is_rejected_by_reason(tmp_path):
    src = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    d = tmp_path / "in"
    d.mkdir()
    for name, berv in (
        ("ok.fits", None),
        ("fast.fits", 1e6),
        ("slow.fits", -3e5),
        ("far.fits", 500.0),
        ("nokey.fits", "drop"),
    ):
        with fits.open(src) as h:
            if berv == "drop":
                del h[0].header["HIERARCH ESO DRS BERV"]
            elif berv is not None:
                h[0].header["HIERARCH ESO DRS BERV"] = berv
            h.writeto(d / name)
    report = prepare_collection(
        sorted(d.glob("*.fits")), tmp_path / "store", grid=Grid(6260.0, 0.01, 2048), workers=1, progress=False
    )
    assert report["accepted"] == 1 and report["rejected"]["frame"] == 4  # never counted as accepted
    reasons = {m["file"]: m["reason"] for m in json.loads((tmp_path / "store" / "state.json").read_text())["meta"]}
    assert "impossible" in reasons["fast.fits"] and "no BERV keyword" in reasons["nokey.fits"]
    # an explicit, recorded user choice for files without a BERV
    report = prepare_collection(
        [d / "nokey.fits"], tmp_path / "s2", grid=Grid(6260.0, 0.01, 2048), workers=1, progress=False, assume_berv=-23.5
    )
    assert report["accepted"] == 1
    meta = json.loads((tmp_path / "s2" / "state.json").read_text())["meta"][0]
    assert meta["berv"] == -23.5 and meta["berv_source"] == "user"


def test_coverage_is_counted_in_the_topocentric_frame():
    """A spectrum that covers the grid only before the shift to the topocentric frame has no
    usable pixel and is refused (it was written as an empty row before)."""
    from karaoke.archive.prepare import prepare_observation
    from karaoke.spectra.io import Spectrum, SpectrumError

    grid = Grid(6260.0, 0.01, 1000)
    w = np.arange(6255.0, 6270.0, 0.01)  # covers the grid
    spec = Spectrum(wave=w, flux=np.ones_like(w), berv=30.0, meta={"source": "x.fits"})
    flux, mask, _ = prepare_observation(spec, grid)
    assert mask.sum() > 900
    w = np.arange(6250.0, 6260.6, 0.01)  # covers the grid's first 60 px (6 %, enough) in the barycentric frame
    spec = Spectrum(wave=w, flux=np.ones_like(w), berv=30.0, meta={"source": "x.fits"})
    # V{x, -30 km/s} samples x at lam (1 + 1e-4), i.e. 0.63 A redder: nothing is left on the grid
    import pytest

    with pytest.raises(SpectrumError, match="covers only 0"):
        prepare_observation(spec, grid)


def test_a_zero_flux_block_is_masked_not_turned_into_tellurics():
    """The 2003 Gl 273 s1d has ~0 (slightly negative) flux over 6260-6272.6 A: those pixels are
    masked (dead_pixels), the rest of the ci grid is kept."""
    from karaoke.archive.prepare import prepare_observation
    from karaoke.spectra.io import read_spectrum

    spec = read_spectrum(shared("harps", "HARPS.2003-12-13T06:19:48.371_s1d_A.fits"))
    grid = Grid(6260.0, 0.01, 4096)
    flux, mask, _ = prepare_observation(spec, grid)
    topo_block = grid.wave < 6272.0  # the block, moved by -BERV (15 km/s ~ 0.3 A), stays below 6272.0
    assert mask[topo_block].sum() == 0 and np.all(flux[topo_block] == 0)
    assert mask[(grid.wave > 6273.5) & (grid.wave < 6300.5)].mean() > 0.99  # (the last 0.3 A: shifted off the grid)


def _pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] in "ZX"  # zombie: dead, waiting to be reaped
    except FileNotFoundError:
        return True


def test_workers_die_with_a_killed_parent(tmp_path):
    """SIGKILL of a running prepare leaves no worker process behind (they held ~180 MB each)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import pytest

    if not os.path.exists("/proc/self/stat"):
        pytest.skip("needs /proc (Linux) to follow the worker processes")
    pids = tmp_path / "pids"
    pids.mkdir()
    script = f"""
import os, time
import karaoke.archive.prepare as p
def slow(path, grid, **kw):
    open(os.path.join({str(pids)!r}, str(os.getpid())), "w").close()
    time.sleep(120)
p.process_file = slow
p.prepare_collection(["a.fits", "b.fits", "c.fits", "d.fits"], {str(tmp_path / "store")!r},
                     grid=p.Grid(6260.0, 0.01, 64), workers=2, chunk=4, progress=False)
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while len(list(pids.iterdir())) < 2 and time.time() < deadline:
        time.sleep(0.2)
    workers = [int(p.name) for p in pids.iterdir()]
    assert len(workers) == 2, "the workers did not start"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while not all(map(_pid_gone, workers)) and time.time() < deadline:
        time.sleep(0.2)
    alive = [w for w in workers if not _pid_gone(w)]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert not alive, f"worker processes {alive} outlived their parent"
