"""Whitened vs topocentric networks in another window or training length, with every metric.

A recipe variant of a preset (its survey moved to another window, its training changed) is
trained through the same cache as the notebooks, and both networks are scored on the held-out
stars: Qt, Qs (exact truth), telluric leakage, stellar response and the static telluric pattern
(``karaoke.metrics``). Prints one table. Examples (the README's paper-like window, ~13 min on a
2-core CPU; the ``regime`` preset is the same configuration)::

    python tools/regime_trial.py --grid-start 6315 --epochs 100
    python tools/regime_trial.py --scale regime
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from karaoke import scales
from karaoke.train import load_history
from karaoke.metrics import evaluate_reconstruction, line_responses, static_telluric_pattern


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", default="ci", help="preset to start from (default ci)")
    p.add_argument("--grid-start", type=float, default=None, help="first pixel of the window (A)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--kl-weight", type=float, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--width", type=float, default=None, help="channel multiplier of the network")
    p.add_argument("--n-spectra", type=int, default=None)
    p.add_argument("--n-stars", type=int, default=None)
    p.add_argument("--velocity", type=float, default=30.0, help="N of the whitened network (km/s)")
    a = p.parse_args(argv)
    base = scales.get_scale(a.scale)
    survey_kw = {k: v for k, v in (("grid_start", a.grid_start), ("n_spectra", a.n_spectra),
                                   ("n_stars", a.n_stars)) if v is not None}
    survey_cfg = base.survey.replace(**survey_kw)
    train_kw = {k: v for k, v in (("epochs", a.epochs), ("kl_weight", a.kl_weight), ("lr", a.lr),
                                  ("batch_size", a.batch_size)) if v is not None}
    name = f"{a.scale}-trial"
    scales.SCALES[name] = dataclasses.replace(base, name=name, survey=survey_cfg,
                                              width=base.width if a.width is None else a.width)
    survey = scales.scale_survey(name)
    test, _ = scales.heldout(survey, name)
    print(f"{survey.wave[0]:.2f}-{survey.wave[-1]:.2f} A, {len(test)} held-out spectra, training {train_kw or 'as preset'}")
    print(f"{'network':>12} {'Qt':>6} {'Qs':>6} {'leak':>6} {'stellar':>8} {'static':>7} {'val L1':>7} {'s':>6}")
    for n in (a.velocity, 0.0):
        t = time.time()
        model = scales.scale_model(name, max_velocity=n, survey=survey, progress=True, **train_kw)
        recon = model.reconstruct(test.flux)
        s = evaluate_reconstruction(recon, test.flux, test.wave, test.transmission, stellar=test.stellar).summary()
        leak, star = line_responses(model.reconstruct, test.flux, test.wave, test.transmission, test.stellar,
                                    recon=recon)
        static = static_telluric_pattern(model.reconstruct, test.flux, test.wave, test.transmission)
        label = "topocentric" if n == 0 else f"N = {n:g}"
        print(f"{label:>12} {s['Qt']:6.2f} {s['Qs']:6.2f} {np.nanmedian(leak):6.2f} {np.nanmedian(star):8.2f} "
              f"{static:7.2f} {load_history(model.run_dir)[-1]['val_l1']:7.4f} {time.time() - t:6.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
