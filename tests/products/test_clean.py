"""FITS products of `clean`: one per input, frames from each instrument's BERV, masked dead
pixels, quality flags, and clear failures (issue 10)."""

import shutil

import numpy as np
import pytest
from astropy.io import fits

from karaoke.nn.checkpoint import load_model
from karaoke.nn.model import Karaoke, ModelConfig
from karaoke.products.clean import clean_files, product_names
from karaoke.products.fitsproduct import QUAL_GUARD, QUAL_NO_DATA, QUAL_T_RANGE
from karaoke.products.modelinfo import model_grid
from karaoke.spectra.grid import Grid
from tests.helpers import save_untrained_model, shared

GRID = Grid(6260.0, 0.01, 4096)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """An untrained network saved as a finished model on the ci grid (what clean needs is the
    product machinery, not a good reconstruction)."""
    path = save_untrained_model(tmp_path_factory.mktemp("model") / "model.pt", GRID, seed=0, guard_edge=65)
    return load_model(path)


def test_product_names_are_unique_for_inputs_that_share_a_file_name(tmp_path):
    a, b, c = tmp_path / "n1" / "spec.fits", tmp_path / "n2" / "spec.fits", tmp_path / "n2" / "other.fits"
    names = product_names([a, b, c])
    assert names[a] == "n1_spec_karaoke.fits" and names[b] == "n2_spec_karaoke.fits"
    assert names[c] == "other_karaoke.fits"
    deep = [tmp_path / "x" / "n" / "s.fits", tmp_path / "y" / "n" / "s.fits"]
    assert len(set(product_names(deep).values())) == 2
    same_folder = [tmp_path / "s.fits", tmp_path / "s.fits.gz"]
    assert len(set(product_names(same_folder).values())) == 2


def test_two_inputs_with_one_name_give_two_products(model, tmp_path):
    src = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    files = []
    for night, berv in (("n1", -23.5), ("n2", 10.0)):
        (tmp_path / night).mkdir()
        with fits.open(src) as h:
            h[0].header["HIERARCH ESO DRS BERV"] = berv
            h.writeto(tmp_path / night / "spec.fits")
        files.append(tmp_path / night / "spec.fits")
    res = clean_files(model, files, tmp_path / "out", progress=False)
    assert [r.status for r in res] == ["ok", "ok"] and res[0].product != res[1].product
    bervs = [fits.getheader(r.product)["BERV"] for r in res]
    assert bervs == [-23.5, 10.0]  # neither overwrote the other
    report = (tmp_path / "out" / "clean_report.csv").read_text()
    assert "n1_spec_karaoke.fits" in report and "n2_spec_karaoke.fits" in report


def test_espresso_product_carries_its_berv_airmass_and_frames(model, tmp_path):
    src = shared("espresso", "ESPRESSO_HD41248_S1D_A_crop5780-6930.fits")
    (r,) = clean_files(model, [src], tmp_path, progress=False)
    assert r.status == "ok", r.reason
    with fits.open(r.product) as h:
        assert h[0].header["BERV"] == pytest.approx(3.8270, abs=1e-3)
        assert h[0].header["BERVSRC"] == "HIERARCH ESO QC BERV"
        assert h[0].header["AIRMASS"] == pytest.approx(1.1895, abs=1e-4)
        assert h["TOPOCENTRIC"].header["SPECSYS"] == "TOPOCENT"
        assert h["SPECTRUM"].header["SPECSYS"] == "BARYCENT"


def test_zero_flux_block_is_masked_and_flagged_not_negative_tellurics(model, tmp_path):
    """Gl 273 (2003) has ~0 flux over 6260-6272.6 A: no TELLURIC < 0 there, QUAL says no data."""
    (r,) = clean_files(model, [shared("harps", "HARPS.2003-12-13T06:19:48.371_s1d_A.fits")], tmp_path, progress=False)
    assert r.status == "ok", r.reason
    with fits.open(r.product) as h:
        t = h["TOPOCENTRIC"].data
        block = t["WAVE"] < 6272.0
        assert np.all(t["TELLURIC"][block] == 1.0) and np.all(t["QUAL"][block] & QUAL_NO_DATA)
        assert np.all(t["QUAL"][:65] & QUAL_GUARD)
        good = t["QUAL"] == 0
        assert good.sum() > 1000  # (an untrained network: many reconstructions are off)
        assert np.all((t["TELLURIC"][good] >= 0) & (t["TELLURIC"][good] <= 1.1))
        out = (t["QUAL"] & QUAL_T_RANGE) > 0  # every out-of-range value is flagged
        assert np.all((t["TELLURIC"][out] < 0) | (t["TELLURIC"][out] > 1.1))


@pytest.mark.parametrize("berv", [1e6, -3e5, 500.0])
def test_impossible_berv_fails_with_its_reason(model, tmp_path, berv):
    src = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    with fits.open(src) as h:
        h[0].header["HIERARCH ESO DRS BERV"] = berv
        h.writeto(tmp_path / "bad.fits")
    (r,) = clean_files(model, [tmp_path / "bad.fits"], tmp_path / "out", progress=False)
    assert r.status == "failed" and "impossible" in r.reason and "bad.fits" in r.reason
    assert not list((tmp_path / "out").glob("*_karaoke.fits"))


def test_a_product_that_cannot_be_written_is_reported_and_the_batch_goes_on(model, tmp_path, monkeypatch):
    import karaoke.products.clean as clean

    src = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
    real = clean.write_product
    calls = []

    def flaky(path, *a, **k):
        calls.append(path)
        if len(calls) == 1:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(clean, "write_product", flaky)
    (tmp_path / "a").mkdir()
    shutil.copy(src, tmp_path / "a" / "x.fits")
    res = clean_files(model, [tmp_path / "a" / "x.fits", src], tmp_path / "out", progress=False)
    assert [r.status for r in res] == ["failed", "ok"] and "cannot write the product" in res[0].reason


def test_model_grid_of_the_authors_network_is_the_harps_grid():
    net = Karaoke(ModelConfig.paper(8))
    assert model_grid(net).n == 327680
