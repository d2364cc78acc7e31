"""The FITS product of `karaoke clean` in the conventions astronomers use: a SPECTRUM table
with units that specutils reads as it is, uncertainties, provenance, an ECSV export."""

import hashlib
import json

import numpy as np
import pytest
from astropy.io import fits

from karaoke.nn.checkpoint import load_model
from karaoke.products.clean import clean_files
from karaoke.products.fitsproduct import PRODUCT_COLUMNS, QUAL_NO_DATA, flux_unit
from karaoke.products.modelinfo import uncertainty_scale
from karaoke.products.noise import scatter_error
from karaoke.spectra.grid import Grid
from karaoke.spectra.io import read_spectrum
from tests.helpers import save_untrained_model, shared

GRID = Grid(6300.0, 0.01, 4096)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return save_untrained_model(
        tmp_path_factory.mktemp("model") / "model.pt", GRID, seed=1, train_config={"seed": 1, "epochs": 3}
    )


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def adp_product(model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("products")
    src = shared("harps", "ADP.2014-09-16T11:04:45.123.fits")
    (r,) = clean_files(load_model(model_path), [src], out, progress=False, samples=8, ecsv=True)
    assert r.status == "ok", r.reason
    return src, r.product


def test_specutils_reads_the_product_of_a_real_harps_file(adp_product):
    specutils = pytest.importorskip("specutils")
    import astropy.units as u

    read = getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
    spec = read.read(adp_product[1])  # no column mapping, no format name
    assert spec.spectral_axis.unit == u.AA and spec.flux.unit == u.adu
    assert spec.flux.shape == (GRID.n,) and spec.uncertainty is not None
    np.testing.assert_allclose(spec.spectral_axis.value, GRID.wave)


def test_every_column_has_its_unit_and_the_header_says_where_it_came_from(adp_product, model_path):
    src, product = adp_product
    with fits.open(product) as h:
        for ext in ("SPECTRUM", "TOPOCENTRIC"):
            cols = {c.name: c.unit for c in h[ext].columns}
            assert list(cols) == [c for c, _, _ in PRODUCT_COLUMNS]
            assert cols["WAVE"] == "Angstrom" and cols["FLUX"] == cols["ERR"] == cols["FLUX_CORR"] == "adu"
            assert cols["TELLURIC"] is None and cols["TELLURIC_ERR"] is None  # dimensionless
            assert "dimensionless" in h[ext].header.comments["TTYPE5"]
            assert h[ext].header["AIRORVAC"] == "air"
        assert h["SPECTRUM"].header["SPECSYS"] == "BARYCENT" and h["TOPOCENTRIC"].header["SPECSYS"] == "TOPOCENT"
        p = h[0].header
        assert p["MODELSHA"] == _sha(model_path) and p["SRCSHA"] == _sha(src)
        assert p["SOURCE"] == str(src.resolve()) and json.loads(p["TRAINCFG"]) == {"epochs": 3, "seed": 1}
        assert p["BERVSRC"] == "HIERARCH ESO DRS BERV" and p["DATE-OBS"].startswith("2006")
        assert p["NSAMPLES"] == 8 and p["ERRSCALE"] == 1.0 and p["FUNITSRC"] == "input"


def test_the_columns_agree_with_each_other(adp_product):
    with fits.open(adp_product[1]) as h:
        t = h["TOPOCENTRIC"].data
        ok = (t["QUAL"] & QUAL_NO_DATA) == 0
        assert ok.sum() > 3000
        np.testing.assert_allclose(t["TELLURIC"][ok] * t["RECON"][ok], t["FLUX"][ok], rtol=1e-4)
        np.testing.assert_allclose(t["FLUX_CORR"][ok], t["RECON"][ok], rtol=1e-4)  # F / T = R by construction
        assert np.all(t["TELLURIC_ERR"][ok] > 0) and np.all(t["ERR_CORR"][ok] >= 0)
        assert np.all(t["TELLURIC"][~ok] == 1) and np.all(t["TELLURIC_ERR"][~ok] == 0)
        # the input's own ERR, regridded (the shared ADP's ERR column is all NaN: ERR from the scatter)
        assert h[0].header["ERRSRC"] == "scatter" and np.all(t["ERR"][ok] > 0)


def test_ecsv_export_has_the_same_table_with_units(adp_product):
    from astropy.table import QTable

    tab = QTable.read(adp_product[1].replace(".fits", ".ecsv"), format="ascii.ecsv")
    assert str(tab["WAVE"].unit) == "Angstrom" and str(tab["FLUX"].unit) == "adu"
    assert tab.meta["BERVSRC"] == "HIERARCH ESO DRS BERV" and len(tab) == GRID.n


def test_a_calibration_beside_the_network_scales_the_uncertainties(model_path, tmp_path):
    (model_path.parent / "uncertainty.json").write_text(json.dumps({"scale": 1.7, "calibrated_on": "test"}))
    try:
        model = load_model(model_path)
        assert uncertainty_scale(model) == (1.7, "uncertainty.json: test")
        src = shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")
        (a,) = clean_files(model, [src], tmp_path / "a", progress=False, samples=4)
        (b,) = clean_files(model, [src], tmp_path / "b", progress=False, samples=4, err_scale=1.0)
        ea, eb = (
            fits.getdata(a.product, "SPECTRUM")["TELLURIC_ERR"],
            fits.getdata(b.product, "SPECTRUM")["TELLURIC_ERR"],
        )
        ok = eb > 0
        np.testing.assert_allclose(ea[ok], 1.7 * eb[ok], rtol=1e-5)
        assert fits.getheader(a.product)["ERRSCALE"] == 1.7
    finally:
        (model_path.parent / "uncertainty.json").unlink()


def test_flux_units_from_each_format():
    assert flux_unit(read_spectrum(shared("harps", "ADP.2014-09-16T11:04:45.123.fits"))) == ("adu", "input")
    unit, src = flux_unit(read_spectrum(shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")))
    assert unit == "adu" and "Relative Flux" in src


def test_scatter_error_recovers_white_noise():
    rng = np.random.default_rng(3)
    x = 1 + 0.01 * rng.normal(size=20000)
    e = scatter_error(x, np.ones(x.size, bool))
    assert np.median(e) == pytest.approx(0.01, rel=0.05)


def test_a_rerun_does_only_what_is_missing_and_batches_do_not_change_products(model_path, tmp_path):
    """Resumable: a second run keeps the products made from the same input by the same network
    and settings. Each input's posterior draws are seeded by its checksum, so a product is the
    same whether it was cleaned alone or in a batch read by two worker processes."""
    import shutil

    model = load_model(model_path)
    srcs = []
    for i, berv in enumerate((-23.5, 12.0)):
        with fits.open(shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits")) as h:
            h[0].header["HIERARCH ESO DRS BERV"] = berv
            h.writeto(tmp_path / f"s{i}.fits")
        srcs.append(tmp_path / f"s{i}.fits")
    both = clean_files(model, srcs, tmp_path / "both", progress=False, samples=4, workers=2)
    alone = clean_files(model, srcs[1:], tmp_path / "alone", progress=False, samples=4, workers=1)
    np.testing.assert_allclose(
        fits.getdata(both[1].product, "SPECTRUM")["TELLURIC_ERR"],
        fits.getdata(alone[0].product, "SPECTRUM")["TELLURIC_ERR"],
        rtol=1e-5,
        atol=1e-7,
    )
    # (equal draws; the network's float32 sums differ in the last bits with the batch size)
    again = clean_files(model, srcs, tmp_path / "both", progress=False, samples=4)
    assert [r.reason for r in again] == ["up to date (kept)"] * 2
    redo = clean_files(model, srcs, tmp_path / "both", progress=False, samples=2)  # other settings: redone
    assert [r.reason for r in redo] == ["", ""]
    shutil.copy(srcs[0], srcs[1])  # the input changed: redone
    assert [r.reason for r in clean_files(model, srcs, tmp_path / "both", progress=False, samples=2)] == [
        "up to date (kept)",
        "",
    ]
