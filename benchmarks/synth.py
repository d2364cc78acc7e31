"""Survey generation speed: the numpy generator against the torch one (CPU, and CUDA when present).

Generates the same survey (``--n-spectra`` x ``--n-pixels`` of the HARPS-like grid) with each and
prints seconds, microseconds per pixel-spectrum and the time this gives for the paper's survey
(4000 x 327680), measured in one run so the ratios hold on any machine.

    python benchmarks/synth.py [--n-spectra 64] [--n-pixels 32768]
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None):
    import torch

    from karaoke.synth.device import make_survey_torch
    from karaoke.synth.generator import SurveyConfig, make_survey

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-spectra", type=int, default=64)
    p.add_argument("--n-pixels", type=int, default=32768)
    a = p.parse_args(argv)
    cfg = SurveyConfig(
        n_spectra=a.n_spectra, n_stars=max(1, a.n_spectra // 10), seed=0, grid_start=5000.0, n_pixels=a.n_pixels
    )
    runs = [
        ("numpy (CPU)", lambda: make_survey(cfg, progress=False)),
        ("torch (CPU)", lambda: make_survey_torch(cfg, device="cpu", progress=False)),
    ]
    if torch.cuda.is_available():
        runs.append(
            (f"torch ({torch.cuda.get_device_name()})", lambda: make_survey_torch(cfg, device="cuda", progress=False))
        )
    px = a.n_spectra * a.n_pixels
    print(f"{a.n_spectra} spectra x {a.n_pixels} px, {torch.get_num_threads()} CPU threads")
    print("| generator | s | us / pixel-spectrum | paper survey (4000 x 327680), min |")
    print("|---|---|---|---|")
    for name, fn in runs:
        t0 = time.perf_counter()
        fn()
        s = time.perf_counter() - t0
        print(f"| {name} | {s:.1f} | {1e6 * s / px:.3f} | {s / px * 4000 * 327680 / 60:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
