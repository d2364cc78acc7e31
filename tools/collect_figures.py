"""Copy what ``make figures`` measured into docs/results, for the README's tables.

Reads the figures folder of a finished run (``figures/`` or ``$KARAOKE_FIGURES``) and writes

* ``docs/results/figures_<preset>_claims.csv``: the paper's claims and whether they held
  (:func:`karaoke.evaluation.claims.figure_claims`, as the runner printed them);
* ``docs/results/figures_<preset>_run.csv``: the run's minutes, machine and date;
* ``docs/results/figures_<preset>_sweeps.csv``: medians of every network of Figs. 5-9 (held-out
  spectra, exact truth), one row each.

    python tools/collect_figures.py regime [--figures DIR] [--name NAME]
    python tools/render_readme.py

``--name`` writes ``figures_<NAME>_*.csv`` instead (e.g. a run on a perturbed float path kept
beside the native one: ``--name regime-avx2``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    from karaoke._atomic import atomic_path, write_csv
    from karaoke.evaluation.sweeps import figure_tables
    from karaoke.paths import figures_dir

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("preset")
    p.add_argument("--figures", type=Path, default=None, help="figures folder of the run (default figures/)")
    p.add_argument("--name", default=None, help="stem of the CSVs written (default: the preset)")
    a = p.parse_args(argv)
    name = a.name or a.preset
    src = a.figures or figures_dir()
    out = ROOT / "docs" / "results"
    for kind in ("claims", "run"):
        f = src / f"{kind}_{a.preset}.csv"
        if not f.exists():
            p.error(f"{f} not found: run make figures PRESET={a.preset} first")
        with atomic_path(out / f"figures_{name}_{kind}.csv") as tmp:
            shutil.copyfile(f, tmp)
    t = figure_tables(src)
    rows = []
    names = {
        "primary": ("Figs. 5-6", lambda k: f"VAE {k}"),
        "velocity": ("Fig. 7", lambda v: f"VAE N = {v:g} km/s"),
        "variational": ("Fig. 8", lambda v: "VAE" if v else "AE"),
        "latent": ("Fig. 9", lambda d: f"latent {d}"),
    }
    for key, (fig, label) in names.items():
        for k, s in t.get(key, {}).items():
            rows.append(
                {
                    "figure": fig,
                    "network": label(k),
                    **{m: f"{s[m]:.2f}" for m in ("Qt", "Qs", "leakage", "stellar_response", "static_pattern")},
                }
            )
    write_csv(out / f"figures_{name}_sweeps.csv", rows)
    print(f"written {out}/figures_{name}_{{claims,run,sweeps}}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
