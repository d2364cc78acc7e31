"""Calibration of the telluric uncertainty (TELLURIC_ERR) on held-out synthetic spectra.

For a preset's whitened network, K posterior reconstructions of each held-out spectrum give
T = F / R and sigma_T (``karaoke.products.uncertainty``), with the photon noise of each pixel as
the flux error. Against the exact transmission of the synthetic survey it reports the fraction
of telluric pixels (line depth > 1 %, below the transmission's smooth continuum) with
|T - T_true| <= sigma_T -- 68 % if sigma_T were calibrated
-- and the factor s that makes s * sigma_T cover 68 %, fitted on half of the held-out stars and
checked on the other half, overall and by line depth. It writes the factor beside the network
(``RUN/uncertainty.json``), where ``karaoke clean`` finds it, and the table to
``docs/results/uncertainty_<preset>.csv``.

    python benchmarks/uncertainty.py [--preset regime] [--samples 16]
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEPTH_BINS = ((0.01, 0.05), (0.05, 0.2), (0.2, 1.0))


def main(argv=None):
    from karaoke import presets
    from karaoke._atomic import write_csv, write_json
    from karaoke.evaluation.metrics import telluric_profile
    from karaoke.products.uncertainty import calibration_scale, coverage, telluric_estimate

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=presets.DEFAULT_TEST_PRESET, help="preset (default: %(default)s)")
    p.add_argument("--samples", type=int, default=16, help="posterior draws K (default 16)")
    p.add_argument("--velocity", type=float, default=30.0, help="whitening N of the network (default 30)")
    p.add_argument("--out", type=Path, default=None, help="CSV (default docs/results/uncertainty_<preset>.csv)")
    a = p.parse_args(argv)

    survey = presets.preset_survey(a.preset)
    test, _ = presets.heldout(survey, a.preset)
    model = presets.preset_model(a.preset, max_velocity=a.velocity, survey=survey)
    samples = model.reconstruct_samples(test.flux, n_samples=a.samples, seed=0)  # (K, N, L)
    med = np.asarray(test.meta["median"], np.float64)[:, None]
    err = np.sqrt(np.maximum(test.flux * med, 1.0)) / med  # photon noise, normalised like the flux
    valid = (test.pixel_mask() > 0) & (np.asarray(model.input_guard) > 0)[None]
    est = telluric_estimate(test.flux, err, samples, valid)
    # the truth: the transmission's lines, divided by its smooth continuum (Rayleigh scattering and
    # the far wings are part of the continuum normalisation, which the network reproduces)
    t_true = telluric_profile(np.asarray(test.transmission, np.float64), test.grid.step)
    depth = 1 - t_true
    stars = np.asarray(test.meta["star_id"])
    fit_half = np.isin(stars, np.unique(stars)[::2])[:, None]  # calibrate on half the stars, check on the rest
    tell = valid & (depth > 0.01)
    scale = calibration_scale(est["telluric"], est["telluric_err"], t_true, tell & fit_half)
    date = datetime.date.today().isoformat()
    rows = []
    print(
        f"preset {a.preset}, N = {a.velocity:g} km/s, K = {a.samples}: {len(test)} held-out spectra; "
        f"scale fitted on {int(fit_half[:, 0].sum())} of them: s = {scale:.2f}"
    )
    print(f"{'pixels':>22} {'n':>8} {'cov raw':>8} {'cov s':>7} {'median sigma':>12} {'median |dT|':>11}")
    for lo, hi in ((0.01, 1.0),) + DEPTH_BINS:
        w = valid & (depth > lo) & (depth <= hi) & ~fit_half
        if not w.any():
            continue  # no line that deep in this window
        raw = coverage(est["telluric"], est["telluric_err"], t_true, w)
        cal = coverage(est["telluric"], est["telluric_err"], t_true, w, scale=scale)
        sig = float(np.median(scale * est["telluric_err"][w])) if w.any() else float("nan")
        dt = float(np.median(np.abs(est["telluric"] - t_true)[w])) if w.any() else float("nan")
        label = f"depth {lo:g}-{hi:g} (check)"
        rows.append(
            {
                "pixels": label,
                "n": int(w.sum()),
                "coverage_raw": f"{raw:.3f}",
                "coverage_scaled": f"{cal:.3f}",
                "scale": f"{scale:.2f}",
                "median_sigma": f"{sig:.4f}",
                "median_abs_error": f"{dt:.4f}",
                "preset": a.preset,
                "samples": a.samples,
                "date": date,
            }
        )
        print(f"{label:>22} {int(w.sum()):8d} {raw:8.3f} {cal:7.3f} {sig:12.4f} {dt:11.4f}")
    out = a.out or ROOT / "docs" / "results" / f"uncertainty_{a.preset}.csv"
    write_csv(out, rows)
    write_json(
        Path(model.run_dir) / "uncertainty.json",
        {
            "scale": scale,
            "level": 0.6827,
            "samples": a.samples,
            "preset": a.preset,
            "coverage_raw": float(rows[0]["coverage_raw"]),
            "coverage_scaled": float(rows[0]["coverage_scaled"]),
            "calibrated_on": "held-out synthetic spectra with exact truth (half of the stars)",
            "date": date,
        },
    )
    print(f"written {out} and {Path(model.run_dir) / 'uncertainty.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
