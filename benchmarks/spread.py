"""Spread of trained scores across seeds and thread counts: what a test or notebook may compare.

The same networks of a preset are trained with several seeds, and with seed 0 once more on one
thread (other floating-point reduction order, as on another CPU), and scored on the held-out
stars (:func:`karaoke.evaluation.sweeps.score_model`). Prints one row per run and, per network, the
range of each median over the runs; writes ``docs/results/spread_<preset>.csv``.

    python benchmarks/spread.py --preset ci                   # ~12 min on a 2-core CPU
    python benchmarks/spread.py --preset ci --seeds 0 1 --no-threads

Run on one thread in a separate process with its own data folder (the cache key does not
include the thread count), so the 1-thread networks never reuse the 2-thread ones.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

POINTS = [{"velocity": 30.0}, {"velocity": 0.0}, {"velocity": 30.0, "variational": False}]
METRICS = ("Qt", "Qs", "leakage", "stellar_response", "static_pattern")


def _runs(preset: str, seeds, threads: int | None) -> list[dict]:
    import torch

    from karaoke.evaluation.sweeps import run_sweep, summarise

    if threads:
        torch.set_num_threads(threads)
    out = []
    for seed in seeds:
        rows = run_sweep(preset, [dict(p, seed=seed) for p in POINTS], workers=1)  # every thread on one network
        for s in summarise(rows):
            out.append(
                {
                    "label": s["label"],
                    "seed": seed,
                    "threads": torch.get_num_threads(),
                    **{m: round(s[m], 4) for m in METRICS},
                }
            )
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", "--scale", dest="preset", default="ci", help="preset (default ci)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    p.add_argument("--no-threads", action="store_true", help="skip the 1-thread rerun of the first seed")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:  # the 1-thread rerun, in its own process and data folder
        print(json.dumps(_runs(a.preset, a.seeds[:1], threads=1)))
        return 0
    rows = _runs(a.preset, a.seeds, threads=None)
    if not a.no_threads:
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, KARAOKE_DATA=tmp, OMP_NUM_THREADS="1")
            res = subprocess.run(
                [sys.executable, __file__, "--child", "--preset", a.preset, "--seeds", str(a.seeds[0])],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            rows += json.loads(res.stdout.strip().splitlines()[-1])
    from karaoke._atomic import write_csv
    from karaoke.paths import ROOT

    write_csv(ROOT / "docs" / "results" / f"spread_{a.preset}.csv", rows)
    print(f"{'network':16s} {'seed':>4} {'thr':>3} " + " ".join(f"{m[:8]:>8}" for m in METRICS))
    for r in rows:
        print(f"{r['label']:16s} {r['seed']:4d} {r['threads']:3d} " + " ".join(f"{r[m]:8.3f}" for m in METRICS))
    print("range (max - min) over the runs above:")
    for lab in dict.fromkeys(r["label"] for r in rows):
        rs = [r for r in rows if r["label"] == lab]
        print(
            f"{lab:16s} {len(rs):4d} runs "
            + " ".join(f"{max(r[m] for r in rs) - min(r[m] for r in rs):8.3f}" for m in METRICS)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
