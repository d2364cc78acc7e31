import numpy as np
import pytest
from astropy.io import fits

from karaoke.spectra.io import SpectrumError, find_spectra, read_spectrum
from tests.helpers import shared


def test_reads_eso_adp_product():
    s = read_spectrum(shared("harps", "ADP.2014-09-16T11:04:45.123.fits"))
    assert s.meta["kind"] == "ESO ADP 1D"
    assert s.wave[0] == pytest.approx(3781.43, abs=0.01) and s.wave[-1] == pytest.approx(6912.66, abs=0.01)
    assert np.allclose(np.diff(s.wave), 0.01, atol=1e-6)
    assert s.berv == pytest.approx(-8.6859, abs=1e-3)
    assert s.object == "IC4651No9122" and s.airmass == pytest.approx(1.0785, abs=1e-3)
    assert s.frame == "barycentric" and s.medium == "air"
    assert s.err is None  # the file's ERR column is all NaN


@pytest.mark.parametrize(
    "name,berv,obj",
    [
        ("HARPS.2010-09-18T23:42:36.178_s1d_A.fits", -23.5439, "Gl581"),
        ("HARPS.2003-12-13T06:19:48.371_s1d_A.fits", 15.2577, "Gl273"),
    ],
)
def test_reads_harps_s1d(name, berv, obj):
    path = shared("harps", name)
    s = read_spectrum(path)
    h = fits.getheader(path)
    assert s.meta["kind"] == "HARPS DRS s1d"
    assert s.wave[0] == pytest.approx(h["CRVAL1"]) and s.wave.size == h["NAXIS1"]
    assert s.berv == pytest.approx(berv, abs=1e-3) and s.object == obj
    assert s.meta["date_obs"].startswith(name[6:16])


def _adp(path, wave, flux):
    cols = [
        fits.Column("WAVE", f"{wave.size}D", array=wave[None]),
        fits.Column("FLUX", f"{flux.size}E", array=flux[None]),
        fits.Column("ERR", f"{flux.size}E", array=np.full((1, flux.size), np.nan)),
    ]
    hdr = fits.Header()
    hdr["HIERARCH ESO DRS BERV"] = 1.5
    fits.HDUList([fits.PrimaryHDU(header=hdr), fits.BinTableHDU.from_columns(cols, name="SPECTRUM")]).writeto(path)
    return path


def test_synthetic_adp_roundtrip(tmp_path):
    w = 6000 + 0.01 * np.arange(1000)
    s = read_spectrum(_adp(tmp_path / "ok.fits", w, np.ones(1000)), require_range=(6001, 6005))
    assert s.berv == 1.5 and s.flux.size == 1000
    with pytest.raises(SpectrumError, match="not the required"):
        read_spectrum(tmp_path / "ok.fits", require_range=(5000, 6005))


@pytest.mark.parametrize(
    "case,match",
    [
        ("missing", "does not exist"),
        ("empty", "empty"),
        ("text", "not a readable FITS"),
        ("truncated", "ok.fits|truncated|FITS"),
        ("nan", "NaN"),
        ("nm", "plausible"),
        ("image2d", "1-D"),
        ("table", "neither"),
        ("decreasing", "increasing"),
    ],
)
def test_bad_files_raise_one_clear_error_naming_the_file(tmp_path, case, match):
    w = 6000 + 0.01 * np.arange(5000)
    path = tmp_path / f"{case}.fits"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("this is not a FITS file\n" * 100)
    elif case == "truncated":
        good = _adp(tmp_path / "ok.fits", w, np.ones(5000))
        data = good.read_bytes()
        path.write_bytes(data[: len(data) - 30000])
    elif case == "nan":
        _adp(path, w, np.full(5000, np.nan))
    elif case == "nm":
        _adp(path, w / 10, np.ones(5000))
    elif case == "image2d":
        hdr = fits.Header({"CRVAL1": 6000.0, "CDELT1": 0.01})
        fits.PrimaryHDU(np.ones((3, 100)), header=hdr).writeto(path)
    elif case == "table":
        fits.HDUList(
            [fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("X", "D", array=np.ones(3))])]
        ).writeto(path)
    elif case == "decreasing":
        _adp(path, w[::-1], np.ones(5000))
    with pytest.raises(SpectrumError, match=match) as info:
        read_spectrum(path)
    assert path.name in str(info.value)
    assert isinstance(info.value, ValueError)


def test_an_image_that_names_no_calibration_is_not_an_e2ds(tmp_path):
    """A 2-D image is an e2ds only when it names its blaze file (tests/spectra/test_e2ds.py)."""
    fits.PrimaryHDU(np.ones((72, 400))).writeto(tmp_path / "img.fits")
    with pytest.raises(SpectrumError, match="neither"):
        read_spectrum(tmp_path / "img.fits")


def test_find_spectra_sets_aside_other_products_by_header_and_keeps_corrupt_files(tmp_path):
    w = 6000 + 0.01 * np.arange(500)
    _adp(tmp_path / "a_adp.fits", w, np.ones(500))
    fits.PrimaryHDU(np.ones(500), header=fits.Header({"CRVAL1": 6000.0, "CDELT1": 0.01})).writeto(
        tmp_path / "b_s1d.fits"
    )
    fits.PrimaryHDU(np.ones((72, 400))).writeto(tmp_path / "c_e2ds.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("X", "D", array=np.ones(3))])]).writeto(
        tmp_path / "d_table.fits"
    )
    (tmp_path / "e_broken.fits").write_text("not FITS at all\n" * 50)
    (tmp_path / "notes.txt").write_text("ignored")
    sub = tmp_path / "sub"
    sub.mkdir()
    _adp(sub / "f_adp.fits", w, np.ones(500))
    spectra, others = find_spectra(tmp_path)
    assert [p.name for p in spectra] == ["a_adp.fits", "b_s1d.fits", "e_broken.fits"]
    reasons = {p.name: r for p, r in others}
    assert set(reasons) == {"c_e2ds.fits", "d_table.fits"}
    assert "400x72 image" in reasons["c_e2ds.fits"] and "WAVE/FLUX" in reasons["d_table.fits"]
    assert [p.name for p in find_spectra(tmp_path, recursive=True)[0]][-1] == "f_adp.fits"
    with pytest.raises(SpectrumError, match="e_broken.fits"):  # kept, so the reader names its fault
        read_spectrum(spectra[-1])


def test_find_spectra_on_the_shared_harps_folder():
    spectra, others = find_spectra(shared("harps"), recursive=True)
    names = {p.name for p in spectra}
    assert "ADP.2014-09-16T11:04:45.123.fits" in names and len(names) == 7
    assert "HARPS.2003-12-13T06:19:48.371_e2ds_A.fits" in names  # an e2ds with its calibrations beside it
    assert all(("wave" in p.name or "blaze" in p.name or p.name.startswith("cenB")) for p, _ in others)


# ---- the frame of a spectrum: each instrument's BERV keyword, never a silent 0 (issue 10) ----


def test_espresso_berv_and_airmass_come_from_its_own_keywords():
    path = shared("espresso", "ESPRESSO_HD41248_S1D_A_crop5780-6930.fits")
    h = fits.getheader(path)
    s = read_spectrum(path)
    assert s.meta["kind"] == "ESPRESSO S1D"
    assert s.berv == pytest.approx(h["HIERARCH ESO QC BERV"], abs=1e-9) and abs(s.berv - 3.83) < 0.01
    assert s.meta["berv_source"] == "HIERARCH ESO QC BERV"
    # ESPRESSO states the airmass of the unit telescope used (TEL3 here), not ESO TEL
    assert s.airmass == pytest.approx((h["HIERARCH ESO TEL3 AIRM START"] + h["HIERARCH ESO TEL3 AIRM END"]) / 2)


@pytest.mark.parametrize(
    "value,match",
    [
        (None, "no BERV keyword"),
        ("fast", "not a number"),
        (1e6, "impossible"),
        (-3e5, "impossible"),
        (500.0, "impossible"),
        ("NaN", "impossible"),
    ],
)
def test_missing_non_numeric_or_impossible_berv_is_an_error_naming_the_file(tmp_path, value, match):
    w = 6000 + 0.01 * np.arange(1000)
    path = _adp(tmp_path / "ok.fits", w, np.ones(1000))
    with fits.open(path, mode="update") as h:
        if value is None:
            del h[0].header["HIERARCH ESO DRS BERV"]
        else:
            h[0].header["HIERARCH ESO DRS BERV"] = value
    with pytest.raises(SpectrumError, match=match) as err:
        read_spectrum(path)
    assert "ok.fits" in str(err.value)


def test_a_user_given_berv_is_used_only_where_the_file_has_none_and_is_recorded(tmp_path):
    w = 6000 + 0.01 * np.arange(1000)
    path = _adp(tmp_path / "ok.fits", w, np.ones(1000))
    assert read_spectrum(path, berv=-7.0).berv == 1.5  # the file's own keyword wins
    with fits.open(path, mode="update") as h:
        del h[0].header["HIERARCH ESO DRS BERV"]
    s = read_spectrum(path, berv=-7.0)
    assert s.berv == -7.0 and s.meta["berv_source"] == "user"
    with pytest.raises(SpectrumError, match="impossible"):
        read_spectrum(path, berv=90.0)


def _valid(s):
    assert s.wave.ndim == 1 and s.wave.shape == s.flux.shape and s.wave.size > 0
    assert np.all(np.isfinite(s.wave)) and np.all(np.diff(s.wave) > 0)
    assert np.isfinite(s.flux).any()
    assert np.isfinite(s.berv) and abs(s.berv) <= 35.0
    assert s.err is None or s.err.shape == s.flux.shape


def test_fuzzed_real_files_end_in_a_spectrum_error_or_a_valid_spectrum(tmp_path):
    """Random truncations and byte flips (seeded, 300 cases over three formats): every case ends
    in SpectrumError naming the file, or in a valid Spectrum, never in another exception."""
    import random

    sources = [
        shared("harps", "ADP.2014-09-16T11:04:45.123.fits"),
        shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits"),
        shared("espresso", "ESPRESSO_HD41248_S1D_A_crop5780-6930.fits"),
    ]
    rng = random.Random(20261126)
    outcomes = {"error": 0, "valid": 0}
    for case in range(300):
        src = sources[case % len(sources)]
        data = bytearray(src.read_bytes())
        kind = rng.choice(["truncate", "flip", "flip-header"])
        if kind == "truncate":
            data = data[: rng.randrange(0, len(data))]
        else:
            span = 2880 * 12 if kind == "flip-header" else len(data)  # the headers are in the first blocks
            for _ in range(rng.randint(1, 40)):
                i = rng.randrange(0, min(span, len(data)))
                data[i] = rng.randrange(256)
        path = tmp_path / f"fuzz{case}.fits"
        path.write_bytes(bytes(data))
        try:
            s = read_spectrum(path)
        except SpectrumError as exc:
            assert path.name in str(exc), exc
            outcomes["error"] += 1
        else:
            _valid(s)
            outcomes["valid"] += 1
        path.unlink()
    assert outcomes["error"] > 50 and outcomes["valid"] > 20  # both outcomes are exercised


def test_readers_in_threads_leave_the_warning_filters_as_they_were():
    """read_spectrum sets warning filters for its own checks; readers in threads (the download
    pool verifies files so) once interleaved and left an 'error on *truncated*' filter behind,
    which then failed an unrelated FITS write ("comment will be truncated")."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    before = list(warnings.filters)
    files = [
        shared("harps", "HARPS.2010-09-18T23:42:36.178_s1d_A.fits"),
        shared("espresso", "ESPRESSO_HD41248_S1D_A_crop5780-6930.fits"),
    ] * 8
    with ThreadPoolExecutor(4) as pool:
        assert len(list(pool.map(read_spectrum, files))) == 16
    assert warnings.filters == before
