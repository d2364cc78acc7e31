"""Real alpha Cen B data: frames, telluric reference and the wobble-style baseline."""

import numpy as np
import pytest

from karaoke.archive.realdata import (
    alpha_cen_b_path,
    fit_depth_scaling,
    load_alpha_cen_b,
    model_transmission,
    telluric_reference,
    to_topocentric,
)
from karaoke.evaluation.joint_fit import fit_wobble
from karaoke.evaluation.metrics import evaluate_reconstruction
from karaoke.spectra.grid import C_KMS, doppler_shift


@pytest.fixture(scope="module")
def cenb():
    if not alpha_cen_b_path().exists():
        pytest.skip(f"alpha Cen B data not available at {alpha_cen_b_path()} (../shared/data absent)")
    bary, _ = load_alpha_cen_b(6270.0, 2048).normalised()
    return bary


def test_loader_and_frames(cenb):
    assert len(cenb) == 88 and cenb.frame == "barycentric" and cenb.wave[0] == pytest.approx(6270.0)
    assert cenb.meta["berv"].min() == pytest.approx(-3.6, abs=0.1) and cenb.meta["berv"].max() == pytest.approx(
        18.3, abs=0.1
    )
    topo = to_topocentric(cenb)
    # in the topocentric frame the deepest telluric line sits at the same pixel in every exposure
    t = model_transmission(cenb.wave)
    j = int(np.argmin(t[200:-200])) + 200
    lo, hi = cenb.meta["berv"].argmin(), cenb.meta["berv"].argmax()
    win = slice(j - 15, j + 16)
    assert abs(np.argmin(topo.flux[lo, win]) - np.argmin(topo.flux[hi, win])) <= 1
    # while in the barycentric frame it moves by the BERV difference
    dv = cenb.meta["berv"][hi] - cenb.meta["berv"][lo]
    moved = np.argmin(cenb.flux[hi, j - 60 : j + 61]) - np.argmin(cenb.flux[lo, j - 60 : j + 61])
    assert abs(moved - dv / C_KMS * cenb.wave[j] / 0.01) <= 2
    with pytest.raises(ValueError, match="outside"):
        load_alpha_cen_b(7000.0, 100)


def test_telluric_depth_follows_airmass(cenb):
    k = fit_depth_scaling(cenb, model_transmission(cenb.wave))
    assert np.all((k > 0.2) & (k < 3)) and np.corrcoef(k, cenb.meta["airmass"])[0, 1] > 0.3
    T = telluric_reference(cenb)
    topo = to_topocentric(cenb)
    ev = evaluate_reconstruction(topo.flux, topo.flux, topo.wave, T, pixmask=topo.pixel_mask())
    assert np.allclose(ev.qt, 1.0) and np.percentile(ev.truth[:, 100:-100], 99.9) < 1.15  # no division spikes


def test_wobble_style_baseline_removes_tellurics(cenb):
    fit = fit_wobble(cenb.flux, cenb.pixel_mask(), cenb.grid, cenb.meta["berv"], cenb.meta["airmass"], iterations=300)
    topo = to_topocentric(cenb)
    T = telluric_reference(cenb)
    st = doppler_shift(topo.wave, fit.stellar, -cenb.meta["berv"])
    ev = evaluate_reconstruction(st, topo.flux, topo.wave, T, pixmask=topo.pixel_mask())
    assert np.nanmedian(ev.qt) < 0.5 and fit.template_t.max() <= 0
    assert np.corrcoef(fit.amplitude, cenb.meta["airmass"])[0, 1] > 0


def test_wobble_reconstruct_works_on_topocentric_inputs_like_a_network(cenb):
    from karaoke.evaluation.joint_fit import wobble_reconstruct

    topo = to_topocentric(cenb)
    T = telluric_reference(cenb)
    rec = wobble_reconstruct(
        topo.flux, topo.grid, cenb.meta["berv"], cenb.pixel_mask(), cenb.meta["airmass"], iterations=300
    )
    assert rec.shape == topo.flux.shape and rec.dtype == np.float32
    ev = evaluate_reconstruction(rec, topo.flux, topo.wave, T, pixmask=topo.pixel_mask())
    assert np.nanmedian(ev.qt) < 0.5  # the tellurics removed, in the input's (topocentric) frame
    # the same as fitting the barycentric spectra and shifting the fit (away from the grid's ends)
    fit = fit_wobble(
        doppler_shift(topo.wave, topo.flux, cenb.meta["berv"], fill=1.0),
        cenb.pixel_mask(),
        cenb.grid,
        cenb.meta["berv"],
        cenb.meta["airmass"],
        iterations=300,
    )
    ref = doppler_shift(topo.wave, fit.stellar, -cenb.meta["berv"], fill=1.0)
    assert np.nanmedian(np.abs(rec[:, 200:-200] - ref[:, 200:-200])) < 2e-3
    with pytest.raises(ValueError, match="berv"):
        wobble_reconstruct(topo.flux, topo.grid, cenb.meta["berv"][:3])


def test_mix_with_synthetic_labels_the_object_and_checks_grids():
    from karaoke.archive.realdata import mix_with_synthetic
    from karaoke.spectra.survey import Survey

    wave = 6000 + 0.01 * np.arange(64)
    real = Survey(wave=wave, flux=np.ones((3, 64)), meta={"berv": np.zeros(3)}, frame="topocentric")
    synth = Survey(
        wave=wave, flux=np.full((5, 64), 2.0), meta={"berv": np.ones(5), "star_id": np.arange(5)}, frame="topocentric"
    )
    mixed = mix_with_synthetic(real, synth)
    assert len(mixed) == 8 and mixed.attrs["normalised"]
    assert list(mixed.meta["star_id"]) == [-1, -1, -1, 0, 1, 2, 3, 4]
    assert mixed.flux[0, 0] == 1 and mixed.flux[-1, 0] == 2
    other = Survey(wave=wave + 1, flux=synth.flux, meta=synth.meta, frame="topocentric")
    with pytest.raises(ValueError, match="another grid"):
        mix_with_synthetic(real, other)
    with pytest.raises(ValueError, match="topocentric"):
        mix_with_synthetic(Survey(wave=wave, flux=real.flux, meta=real.meta, frame="barycentric"), synth)
