"""Section 5.8: time of a physics-based telluric fit against karaoke inference, same spectra.

The physics-based fit is karaoke.evaluation.telluric_fit (a HITRAN line-by-line transmission recomputed at
every iteration for airmass, water vapour, temperature and velocity, convolved and fitted with a
continuum: the molecfit workflow in miniature; PyMolFit is not installable offline here).
Karaoke inference uses the ci-scale network (4096 px) and the paper's network (327680 px).

    python benchmarks/telluric_fit_vs_karaoke.py [--n 5] [--full]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from karaoke.evaluation.telluric_fit import fit_transmission
from karaoke.nn.model import Karaoke, ModelConfig
from karaoke.synth.generator import SurveyConfig, make_survey


def per_spectrum_ms(model, x, batch):
    model.eval()
    with torch.inference_mode():
        model(torch.as_tensor(x[:batch]))
        t = time.perf_counter()
        for i in range(0, len(x), batch):
            model(torch.as_tensor(x[i : i + batch]))
    return 1e3 * (time.perf_counter() - t) / len(x)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=5, help="spectra to fit")
    p.add_argument("--full", action="store_true", help="also one spectrum on the 327680-px HARPS grid")
    a = p.parse_args(argv)
    print(f"machine: {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| grid | method | s / spectrum | ratio fit / karaoke |")
    print("|---|---|---|---|")
    cases = [
        (
            "4096 px (6260-6301 A)",
            SurveyConfig(n_spectra=max(a.n, 16), n_stars=4, grid_start=6260.0, n_pixels=4096),
            ModelConfig.scaled(4096, width=0.5),
            a.n,
        )
    ]
    if a.full:
        cases.append(
            (
                "327680 px (HARPS)",
                SurveyConfig(n_spectra=2, n_stars=2, grid_start=3709.11, n_pixels=327680),
                ModelConfig.paper(),
                1,
            )
        )
    for label, sc, mc, n_fit in cases:
        s, _ = make_survey(sc, progress=False).normalised()
        fits = [fit_transmission(s.wave, s.flux[i], s.pixel_mask(i)) for i in range(n_fit)]
        t_fit = float(np.mean([f.seconds for f in fits]))
        ms = per_spectrum_ms(Karaoke(mc), s.flux, batch=1)
        print(
            f"| {label} | LBL telluric fit ({np.mean([f.n_evaluations for f in fits]):.0f} evaluations) | "
            f"{t_fit:.2f} | |",
            flush=True,
        )
        print(f"| {label} | karaoke inference (batch 1) | {ms / 1e3:.4f} | {t_fit / (ms / 1e3):.0f} |", flush=True)


if __name__ == "__main__":
    main()
