"""Does a training recipe hold the paper's claims on every float path? One table, one CSV.

A result that holds on one CPU can fail on another: the order of a convolution's sums, and so
every rounding, depends on the kernels PyTorch picks for the CPU (``ATEN_CPU_CAPABILITY``,
``ONEDNN_MAX_CPU_ISA``), on the thread count and on the seed, and a recipe near an instability
edge lands on either side of it by chance. This benchmark trains the whitened (N = 30 km/s)
and topocentric networks of a preset under several such perturbations, one process per
network with the perturbation's environment and threads, and prints per perturbation the four
claims (:mod:`karaoke.evaluation.claims`), their margins, the largest rise of the held-out L1
during training (a collapse or divergence shows there) and the recipe guard's interventions;
last, the fraction of perturbations that hold every claim, and every claim with the margin.

Each perturbation trains into its own run cache (``data/cache/robustness/<path>/``; the run
key holds the configs, not the float path), so an interrupted benchmark resumes and a rerun
only scores::

    python benchmarks/robustness.py                            # regime, the preset's recipe
    python benchmarks/robustness.py --preset regime-h2o --runs native-1t:0 avx2-1t:0
    python benchmarks/robustness.py --recipe baseline           # the recipe as it was

For ``--recipe preset`` a network whose baseline run (``--recipe baseline``) is cached and in
which neither the collapse guard nor the gradient clipping would have acted is not trained
again: until either acts the two are the same run step for step (tests/nn/test_train.py checks
it), so that run is scored and the CSV says so (``baseline_same_run``).

The table goes to ``docs/results/robustness_<preset>_<recipe>.csv`` with the machine and its
PyTorch CPU capability; rows of perturbations not run this time (another path, seed or CPU) are
kept, so the table grows over sessions that have time for a few perturbations each, and the
summary (``robustness_summary.csv``) counts the whole table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _paths() -> dict:
    """Perturbations of the float path: ``<path>-<threads>t`` -> (environment, torch threads), for
    the float paths of :data:`karaoke.nn.pool.FLOAT_PATHS` on one and two threads. On this
    project's AMD EPYC (Zen 4), 60 steps of the regime network gave four different weight hashes
    under native-1t, native-2t, avx2-1t and default-1t (``ATEN_CPU_CAPABILITY=avx2`` alone, or
    ``ONEDNN_MAX_CPU_ISA=AVX512_CORE``, gave native-1t's)."""
    from karaoke.nn.pool import FLOAT_PATHS

    return {f"{name}-{t}t": (env, t) for name, env in FLOAT_PATHS.items() for t in (1, 2)}


PATHS = _paths()
#: The default perturbations (path:seed): four seeds, both thread counts, three kernel families.
DEFAULT_RUNS = (
    "native-1t:0",
    "native-1t:1",
    "native-1t:2",
    "native-1t:3",
    "native-2t:0",
    "avx2-1t:0",
    "avx2-1t:1",
    "avx2-1t:2",
    "default-1t:0",
    "avx2-2t:1",
)
#: Margins a robust recipe keeps on every perturbation (the claims' own thresholds are in
#: karaoke.evaluation.claims): whitened / topocentric Qt, whitened Qs, both stellar responses.
MARGIN = {"qt_ratio_max": 0.45, "qs_max": 0.32, "stellar_min": 0.65}
VELOCITIES = (30.0, 0.0)
#: File a run folder gets when its training diverged (the error message): the perturbation's
#: result, scored as holding no claim, and not trained again.
DIVERGED = "diverged.txt"


#: The recipes as they were before the collapse guard, the O2 window's gradient clipping, Adam's
#: beta2 of 0.95 and the free nats (``--recipe baseline``): TrainConfig overrides per preset.
BASELINE = {
    "regime": {"guard_rise": 0.0, "grad_clip": 0.0, "adam_betas": (0.9, 0.999), "kl_weight": 0.03, "kl_free": 0.0},
    "regime-h2o": {"guard_rise": 0.0, "grad_clip": 2e4, "adam_betas": (0.9, 0.999)},
}


#: Candidate recipes measured against the preset's (``--recipe NAME``): TrainConfig overrides on
#: top of the preset's recipe, each stating every field in which it differs from today's recipe,
#: so that a name keeps meaning the recipe that was measured under it.
_BEFORE_FREE_NATS = {"kl_weight": 0.03, "kl_free": 0.0}
TRIALS = {
    # the guarded recipe: clipping and the collapse guard, Adam's default beta2
    "guarded": {"adam_betas": (0.9, 0.999), **_BEFORE_FREE_NATS},
    # Adam's update is bounded by ~lr (1 - beta1) / sqrt(1 - beta2) per parameter: 3.2 lr at
    # beta2 0.999, 1.0 lr at 0.99, 0.46 lr at 0.95 (a spike in one gradient moves its weight less)
    "beta2-0.99": {"adam_betas": (0.9, 0.99), **_BEFORE_FREE_NATS},
    "beta2-0.95": dict(_BEFORE_FREE_NATS),
    # free nats: below the floor the KL term does not pull, against the early partial collapse
    # (the warm-up squeezing the code to 20-30 nats) after which a run converges slowly
    "free-40": {"kl_weight": 0.03, "kl_free": 40.0},
    "free-60": {"kl_weight": 0.03, "kl_free": 60.0},
    "free-60-kl0.04": {"kl_free": 60.0, "kl_weight": 0.04},  # the recipe (CONVERGED) today
    # Polyak averaging: the weights' moving average (window ~1000 steps, ~6 epochs of the regime
    # survey) is what is validated, guarded and saved; the raw trajectory is today's recipe's
    "ema-0.999": {"ema_decay": 0.999},
    # for regime-h2o (whose recipe keeps Adam's default beta2 0.999): the O2 window's beta2, against
    # the non-finite losses of its topocentric seed 1 after the learning rate's peak
    "h2o-beta2-0.95": {"adam_betas": (0.9, 0.95)},
    # the one-cycle schedule's peak learning rate (today 2e-3), lower: a gentler peak, where the
    # runs that miss the margin are decided
    "lr-1.5e-3": {"lr": 1.5e-3},
}
RECIPES = ("preset", "baseline", "unguarded", *TRIALS)


def recipe_train_kw(recipe: str, preset: str = "regime") -> dict:
    """TrainConfig overrides of a recipe name: ``preset`` (as the preset has it), ``baseline``
    (:data:`BASELINE`; ``unguarded`` is an older name of it) or a candidate of :data:`TRIALS`."""
    if recipe == "preset":
        return {}
    if recipe in ("baseline", "unguarded"):
        return dict(BASELINE[preset])
    if recipe in TRIALS:
        return dict(TRIALS[recipe])
    raise ValueError(f"unknown recipe {recipe!r} (one of {', '.join(RECIPES)})")


def native_already(path: str) -> bool:
    """Whether a perturbation's float path is this CPU's native one (``avx2`` on a CPU whose own
    kernels are AVX2, :func:`karaoke.nn.pool.other_float_path`): it would repeat that run."""
    from karaoke.nn.pool import other_float_path

    return path.rsplit("-", 1)[0] == "avx2" and other_float_path() == "default"


def parse_run(text: str) -> tuple[str, int]:
    path, _, seed = text.partition(":")
    if path not in PATHS or not seed.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give PATH:SEED with PATH one of {sorted(PATHS)}")
    return path, int(seed)


def cache_root(path: str) -> Path:
    from karaoke.paths import cache_dir

    return cache_dir() / "robustness" / path


def jobs_of(preset, recipe: str, seed: int, survey):
    from karaoke import presets

    kw = recipe_train_kw(recipe, preset)
    return presets.preset_jobs(preset, [{"velocity": v, "seed": seed, **kw} for v in VELOCITIES], survey)


def rung_jobs(preset, recipe: str, seed: int, survey) -> dict:
    """KL weight -> training job of each rung of the KL ladder (``karaoke train``'s default)
    built on this perturbation's whitened network; the rung at the recipe's own weight is that
    network (the same configuration, so the same run folder)."""
    from karaoke.evaluation.bottleneck import ladder_jobs

    s, mc, tc = jobs_of(preset, recipe, seed, survey)[VELOCITIES.index(30.0)]
    return {job[2].kl_weight: job for job in ladder_jobs(s, mc, tc)}


def job_of(preset, recipe: str, seed: int, v: float, kl, survey):
    """The training job of one network: the whitened (v = 30) or topocentric (0) one of the
    pair, or (``kl`` a weight) the whitened KL ladder's rung at that weight."""
    if kl is None:
        return jobs_of(preset, recipe, seed, survey)[VELOCITIES.index(v)]
    return rung_jobs(preset, recipe, seed, survey)[kl]


def worker(a) -> int:
    """One network in this process (started by :func:`main` with the path's environment)."""
    import torch

    from karaoke import presets
    from karaoke._atomic import write_text
    from karaoke.nn.training import TrainingDiverged, run_dir_for, train_cached

    torch.set_num_threads(a.threads)
    survey = presets.preset_survey(a.preset)
    job = job_of(a.preset, a.recipe, a.seed, a.velocity, a.kl_weight, survey)
    try:
        train_cached(*job, root=cache_root(a.path), device="cpu", progress=False)
    except TrainingDiverged as exc:  # a result of the recipe on this path: recorded, not retried
        write_text(run_dir_for(job[1], job[2], survey.data_hash(), cache_root(a.path)) / DIVERGED, f"{exc}\n")
        print(f"diverged: {exc}", flush=True)
        return 3
    return 0


def train_all(a, todo) -> None:
    """Train the missing networks, each in a process of its own, within the thread budget."""
    budget = a.threads
    queue = sorted(todo, key=lambda j: PATHS[j[0]][1])  # one-thread jobs first, two at a time
    running = []
    while queue or running:
        used = sum(PATHS[j[0]][1] for j, _ in running)
        while queue and (not running or used + PATHS[queue[0][0]][1] <= budget):
            path, seed, v, kl = queue.pop(0)
            env, threads = PATHS[path]
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                "--preset",
                a.preset,
                "--recipe",
                a.recipe,
                "--path",
                path,
                "--seed",
                str(seed),
                "--velocity",
                str(v),
                "--threads",
                str(threads),
            ] + (["--kl-weight", str(kl)] if kl is not None else [])
            full_env = {**os.environ, **env, "OMP_NUM_THREADS": str(threads)}
            print(f"training {path} seed {seed} N={v:g}" + (f" KL {kl:g}" if kl is not None else ""), flush=True)
            running.append(((path, seed, v, kl), subprocess.Popen(cmd, env=full_env)))
            used += threads
        time.sleep(2)
        for item in list(running):
            job, proc = item
            if proc.poll() is not None:
                running.remove(item)
                if proc.returncode:
                    print(f"FAILED {job}: exit {proc.returncode}", flush=True)


def reusable_baseline(preset, path: str, seed: int, v: float, survey):
    """The run folder of the baseline network of this perturbation when the preset's recipe would
    have followed it to the end (:func:`same_run`), else None."""
    from karaoke.nn.training import load_history, run_dir_for

    s, mc, tc = jobs_of(preset, "baseline", seed, survey)[VELOCITIES.index(v)]
    d = run_dir_for(mc, tc, s.data_hash(), cache_root(path))
    if not (d / "model.pt").exists():
        return None
    return d if same_run(load_history(d), presets_train(preset), tc) else None


def same_run(history, recipe, baseline) -> bool:
    """Whether a run of ``recipe`` is the ``baseline`` run whose per-epoch ``history`` is given:
    they differ only in the collapse guard and the gradient clipping threshold, and neither
    acted (the guard never tripped, :func:`karaoke.nn.training.guard_trip_epoch`; no step's
    gradient norm above a threshold that one of them has and the other has not or has higher).
    Until either acts the two are the same run step for step (tests/nn/test_train.py)."""
    from karaoke.nn.training import guard_trip_epoch

    if {k: v for k, v in recipe.to_dict().items() if k not in ("guard_rise", "grad_clip", "max_velocity", "seed")} != {
        k: v for k, v in baseline.to_dict().items() if k not in ("guard_rise", "grad_clip", "max_velocity", "seed")
    }:
        return False
    if (
        recipe.guard_rise > 0
        and guard_trip_epoch(
            [h["val_l1"] for h in history], recipe.guard_rise, [recipe.warmed_up(int(h["step"])) for h in history]
        )
        is not None
    ):
        return False
    clips = [c for c in (recipe.grad_clip, baseline.grad_clip) if c > 0]
    if recipe.grad_clip != baseline.grad_clip and clips:
        largest = max(h["grad_norm_max"] for h in history)
        if not largest < min(clips):
            return False
    return True


def presets_train(preset):
    from karaoke import presets

    return presets.get_preset(preset).train


def max_val_rise(val_l1, warmed_up) -> float:
    """The largest relative rise of the held-out L1 over its best so far, over the epochs the
    collapse guard watches (those that end after the KL warm-up, where a rise is no design of the
    schedule); a non-finite epoch is an infinite rise (a divergence the guard turned back).

    Parameters
    ----------
    val_l1 : sequence of float
        Held-out L1 after each epoch (``history.csv``'s ``val_l1``).
    warmed_up : sequence of bool
        Per epoch, whether it ended after the KL warm-up (:meth:`TrainConfig.warmed_up`).
    """
    best, rise = math.inf, 0.0
    for v, watched in zip(val_l1, warmed_up, strict=True):
        if not watched:
            continue
        if not math.isfinite(v):
            rise = math.inf if best < math.inf else rise
            continue
        if best < math.inf:
            rise = max(rise, v / best - 1)
        best = min(best, v)
    return rise


def history_summary(run_dir) -> dict:
    """The largest rise of the held-out L1 after the KL warm-up (:func:`max_val_rise`), the
    guard's rollbacks and the training time of a run folder."""
    from karaoke.nn.training import TrainConfig, load_history

    hist = load_history(run_dir)
    cfg = TrainConfig.from_dict(json.loads((Path(run_dir) / "run.json").read_text())["train_config"])
    rise = max_val_rise([h["val_l1"] for h in hist], [cfg.warmed_up(int(h["step"])) for h in hist])
    rollbacks = int(sum(1 for h in hist if h.get("rolled_back", 0) == 1))
    return {"max_val_rise": rise, "rollbacks": rollbacks, "train_seconds": sum(h["seconds"] for h in hist)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="regime")
    p.add_argument("--recipe", default="preset", choices=RECIPES)
    p.add_argument(
        "--runs",
        type=parse_run,
        nargs="+",
        default=None,
        metavar="PATH:SEED",
        help=f"perturbations (default {' '.join(DEFAULT_RUNS)})",
    )
    p.add_argument("--threads", type=int, default=2, help="thread budget shared by the training processes")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--path", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    p.add_argument("--velocity", type=float, help=argparse.SUPPRESS)
    p.add_argument("--kl-weight", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--ladder",
        action="store_true",
        help="also train each perturbation's KL ladder (the whitened rungs) and check that its choice does not flip",
    )
    a = p.parse_args(argv)
    if a.worker:
        return worker(a)

    from karaoke import presets
    from karaoke.evaluation.claims import check_claims
    from karaoke.evaluation.sweeps import score_model, summarise
    from karaoke.nn.checkpoint import load_model
    from karaoke.nn.training import run_dir_for
    from karaoke.notebooks import machine

    runs = a.runs or [parse_run(r) for r in DEFAULT_RUNS]
    same = [f"{p}:{s}" for p, s in runs if native_already(p)]
    if same:  # e.g. an AMD Zen 2: AVX2 is its own path, so avx2-1t:0 is native-1t:0 bit for bit
        print(f"left out, the same float path as native on this CPU: {' '.join(same)}")
        runs = [(p, s) for p, s in runs if not native_already(p)]
    survey = presets.preset_survey(a.preset)
    test, _ = presets.heldout(survey, a.preset)
    todo, dirs, reused = [], {}, set()
    for path, seed in runs:
        for v, (s, mc, tc) in zip(VELOCITIES, jobs_of(a.preset, a.recipe, seed, survey)):
            dirs[path, seed, v] = run_dir_for(mc, tc, s.data_hash(), cache_root(path))
            if (dirs[path, seed, v] / "model.pt").exists() or (dirs[path, seed, v] / DIVERGED).exists():
                continue
            same = reusable_baseline(a.preset, path, seed, v, survey) if a.recipe == "preset" else None
            if same is not None:  # the guard would never have tripped: the same trajectory, not retrained
                dirs[path, seed, v] = same
                reused.add((path, seed, v))
            else:
                todo.append((path, seed, v, None))
    rungs = {}  # (path, seed) -> {KL weight: run folder}
    for path, seed in runs if a.ladder else ():
        rungs[path, seed] = {}
        own = job_of(a.preset, a.recipe, seed, 30.0, None, survey)[2].kl_weight
        for w, (s, mc, tc) in rung_jobs(a.preset, a.recipe, seed, survey).items():
            if w == own:  # the recipe's own rung is the pair's whitened network
                rungs[path, seed][w] = dirs[path, seed, 30.0]
                continue
            d = rungs[path, seed][w] = run_dir_for(mc, tc, s.data_hash(), cache_root(path))
            if not ((d / "model.pt").exists() or (d / DIVERGED).exists()):
                todo.append((path, seed, 30.0, w))
    train_all(a, todo)

    import torch

    cpu = machine().rsplit(",", 1)[0]
    isa = torch.backends.cpu.get_cpu_capability()  # one CPU name covers AVX2-only and AVX-512 EPYCs
    date = datetime.date.today().isoformat()
    print(f"\npreset {a.preset}, recipe {a.recipe}: {len(test)} held-out spectra; {cpu}; {date}")
    hdr = (
        f"{'path':>10} {'seed':>4} {'Qt ratio':>8} {'stellar w/t':>11} {'static':>6} {'Qs':>5} "
        f"{'rise w/t':>11} {'guard w/t':>9} {'claims':>6} {'margin':>6}"
    )
    print(hdr)
    rows = []
    for path, seed in runs:
        s, h, diverged = {}, {}, []
        for v in VELOCITIES:
            d = dirs[path, seed, v]
            if (d / DIVERGED).exists():
                diverged.append(v)
            elif not (d / "model.pt").exists():
                break
            else:
                model = load_model(d / "model.pt")
                (s[v],) = summarise(score_model(model, test, label=f"N={v:g}"))
                h[v] = history_summary(d)
        if diverged:
            which = "/".join(("w", "t")[VELOCITIES.index(v)] for v in diverged)
            why = (dirs[path, seed, diverged[0]] / DIVERGED).read_text().split(": ", 1)[-1]
            print(f"{path:>10} {seed:4d} diverged ({which}): {why[:80]}")
            rows.append(
                {
                    "preset": a.preset,
                    "recipe": a.recipe,
                    "path": path,
                    "seed": seed,
                    "diverged": which,
                    "all_claims": False,
                    "with_margin": False,
                    "machine": cpu,
                    "cpu_capability": isa,
                    "date": date,
                }
            )
            continue
        if len(s) < 2:
            print(f"{path:>10} {seed:4d} not trained (see the errors above)")
            continue
        w, t = s[30.0], s[0.0]
        held = check_claims(w, t)
        qt_ratio = w["Qt"] / t["Qt"]
        static_ratio = w["static_pattern"] / max(t["static_pattern"], 1e-12)
        margin = (
            qt_ratio <= MARGIN["qt_ratio_max"]
            and w["Qs"] <= MARGIN["qs_max"]
            and min(w["stellar_response"], t["stellar_response"]) >= MARGIN["stellar_min"]
        )
        row = {
            "preset": a.preset,
            "recipe": a.recipe,
            "path": path,
            "seed": seed,
            "qt_ratio": round(qt_ratio, 3),
            "stellar_w": round(w["stellar_response"], 3),
            "stellar_t": round(t["stellar_response"], 3),
            "static_ratio": round(static_ratio, 3),
            "qs_w": round(w["Qs"], 3),
            "qs_t": round(t["Qs"], 3),
            "max_val_rise_w": round(h[30.0]["max_val_rise"], 3),
            "max_val_rise_t": round(h[0.0]["max_val_rise"], 3),
            "rollbacks_w": h[30.0]["rollbacks"],
            "rollbacks_t": h[0.0]["rollbacks"],
            "diverged": "",
            "all_claims": all(held.values()),
            "with_margin": bool(margin and all(held.values())),
            "train_seconds": round(h[30.0]["train_seconds"] + h[0.0]["train_seconds"]),
            "baseline_same_run": "/".join(("w", "t")[i] for i, v in enumerate(VELOCITIES) if (path, seed, v) in reused),
            "machine": cpu,
            "cpu_capability": isa,
            "date": date,
        }
        rows.append(row)
        print(
            f"{path:>10} {seed:4d} {qt_ratio:8.2f} {w['stellar_response']:5.2f}/{t['stellar_response']:.2f} "
            f"{static_ratio:6.2f} {w['Qs']:5.2f} {h[30.0]['max_val_rise']:5.2f}/{h[0.0]['max_val_rise']:.2f} "
            f"{h[30.0]['rollbacks']:4d}/{h[0.0]['rollbacks']:<4d} {'yes' if row['all_claims'] else 'NO':>6} "
            f"{'yes' if row['with_margin'] else 'no':>6}",
            flush=True,
        )
    if not rows:
        return 1
    n_all = sum(r["all_claims"] for r in rows)
    n_margin = sum(r["with_margin"] for r in rows)
    if reused:
        print(
            f"{len(reused)} of the recipe's networks are their baseline runs (column baseline_same_run: "
            "neither the guard nor the clipping would have acted, so it is the same run)"
        )
    margins = f"Qt ratio <= {MARGIN['qt_ratio_max']}, Qs <= {MARGIN['qs_max']}, stellar >= {MARGIN['stellar_min']}"
    print(f"every claim holds in {n_all} of {len(rows)} perturbed runs; with the margin ({margins}) in {n_margin}")
    out = a.out or ROOT / "docs" / "results" / f"robustness_{a.preset}_{a.recipe}.csv"
    table = merge_rows(out, rows)
    n_all = sum(_true(r["all_claims"]) for r in table)
    n_margin = sum(_true(r["with_margin"]) for r in table)
    print(f"written {out}: {len(table)} runs, every claim in {n_all}, with the margin in {n_margin}")
    if a.out is None:
        write_summary(
            ROOT / "docs" / "results" / "robustness_summary.csv",
            {
                "preset": a.preset,
                "recipe": a.recipe,
                "runs": len(table),
                "all_claims": f"{n_all} of {len(table)}",
                "with_margin": f"{n_margin} of {len(table)}",
                "machine": "; ".join(dict.fromkeys(_machine_of(r) for r in table)),
                "date": max(r["date"] for r in table),
            },
        )
    if a.ladder:
        ladder = ladder_rows(a, runs, rungs, survey, {"machine": cpu, "cpu_capability": isa, "date": date})
        if ladder:
            out_dir = a.out.parent if a.out else ROOT / "docs" / "results"
            out = out_dir / f"robustness_ladder_{a.preset}_{a.recipe}.csv"
            table = merge_rows(out, ladder, key=LADDER_KEY)
            verdict, _ = ladder_verdict(table)
            print(f"written {out}: {len(table)} rungs\n{verdict}")
    return 0


#: What makes two rows of the ladder table the same rung of the same perturbed run.
LADDER_KEY = ("preset", "recipe", "path", "seed", "kl_weight", "machine", "cpu_capability")


def ladder_rows(a, runs, rungs, survey, where: dict) -> list[dict]:
    """Rank each perturbation's KL ladder without truth (:func:`karaoke.evaluation.bottleneck.rank_ladder`,
    as ``karaoke train`` chooses); one row per rung: its truth-free leakage, stellar response and
    separation, and whether it was chosen. A diverged rung is left out, as the ladder does."""
    from karaoke.evaluation.bottleneck import rank_ladder
    from karaoke.nn.checkpoint import load_model

    rows = []
    print(f"\nKL ladder (whitened rungs), chosen without truth\n{'path':>10} {'seed':>4} {'chosen':>6}  ranking")
    for path, seed in runs:
        models = {w: load_model(d / "model.pt") for w, d in rungs[path, seed].items() if (d / "model.pt").exists()}
        if len(models) < 2:
            print(f"{path:>10} {seed:4d} fewer than two rungs trained; left out")
            continue
        tc = job_of(a.preset, a.recipe, seed, 30.0, None, survey)[2]
        choice = rank_ladder(survey, tc, models)
        ranked = "  ".join(f"{r['kl_weight']:g}: sep {r['separation']:.3f}" for r in choice["ranking"])
        print(f"{path:>10} {seed:4d} {choice['chosen']:6g}  {ranked}", flush=True)
        for r in choice["ranking"]:
            rows.append(
                {
                    "preset": a.preset,
                    "recipe": a.recipe,
                    "path": path,
                    "seed": seed,
                    "kl_weight": r["kl_weight"],
                    "leakage": r["leakage"],
                    "stellar_response": r["stellar_response"],
                    "separation": r["separation"],
                    "chosen": r["kl_weight"] == choice["chosen"],
                    **where,
                }
            )
    return rows


def ladder_verdict(table: list[dict]) -> tuple[str, bool]:
    """Whether the ladder's choice holds across the perturbed runs of ``table`` (rows of
    :func:`ladder_rows`): the same rung everywhere, or a flip only between rungs whose mean
    separations differ by no more than the spread (the largest standard deviation of a rung's
    separation across the runs), i.e. rungs the data cannot tell apart. Returns (text, holds)."""
    import numpy as np

    runs = {(r["path"], str(r["seed"]), r.get("machine", ""), r.get("cpu_capability", "")) for r in table}
    chosen = sorted({float(r["kl_weight"]) for r in table if _true(r["chosen"])})
    if len(chosen) <= 1:
        return f"the ladder chose KL {chosen[0]:g} in all {len(runs)} perturbed runs" if chosen else "no choice", True
    sep = {}
    for r in table:
        sep.setdefault(float(r["kl_weight"]), []).append(float(r["separation"]))
    spread = max(float(np.std(v)) for v in sep.values() if len(v) > 1) if any(len(v) > 1 for v in sep.values()) else 0.0
    gap = max(abs(np.mean(sep[x]) - np.mean(sep[y])) for x in chosen for y in chosen)
    holds = bool(gap <= spread)
    counts = ", ".join(
        f"KL {w:g} in {sum(1 for r in table if _true(r['chosen']) and float(r['kl_weight']) == w)}" for w in chosen
    )
    return (
        f"the ladder's choice flips over {len(runs)} perturbed runs ({counts}): the chosen rungs' mean separations "
        f"differ by {gap:.3f}, {'within' if holds else 'MORE than'} the spread {spread:.3f}"
        + ("" if holds else ": the choice depends on the float path"),
        holds,
    )


#: What makes two rows the same perturbed run: a rerun replaces its row, other rows are kept.
ROW_KEY = ("preset", "recipe", "path", "seed", "machine", "cpu_capability")


def _true(value) -> bool:
    return value is True or str(value) == "True"


def _machine_of(row: dict) -> str:
    isa = row.get("cpu_capability", "")
    return f"{row['machine']} ({isa})" if isa else row["machine"]


def merge_rows(path: Path, rows: list[dict], key: tuple = ROW_KEY) -> list[dict]:
    """Write ``rows`` into the CSV at ``path``, keeping its rows of other perturbed runs
    (:data:`ROW_KEY`: another path, seed, recipe or CPU), so that a table grows over sessions
    whose time allows a few perturbations each. Returns the table as written, in the order
    path, seed, machine."""
    import csv

    from karaoke._atomic import write_csv

    def of(r):
        return tuple(str(r.get(k, "")) for k in key)

    old = list(csv.DictReader(open(path))) if path.exists() else []
    new = {of(r) for r in rows}
    table = [r for r in old if of(r) not in new] + rows
    fields = list(dict.fromkeys(k for r in sorted(table, key=lambda r: -len(r)) for k in r))
    order = {p: i for i, p in enumerate(PATHS)}
    table.sort(
        key=lambda r: (order.get(r["path"], len(order)), int(r["seed"]), _machine_of(r), float(r.get("kl_weight", 0)))
    )
    write_csv(path, [{k: r.get(k, "") for k in fields} for r in table], fields)
    return table


def write_summary(path: Path, row: dict) -> None:
    """Put one (preset, recipe) line into the summary table, keeping the others."""
    import csv

    from karaoke._atomic import write_csv

    rows = list(csv.DictReader(open(path))) if path.exists() else []
    rows = [r for r in rows if (r["preset"], r["recipe"]) != (row["preset"], row["recipe"])] + [row]
    write_csv(path, sorted(rows, key=lambda r: (r["preset"], r["recipe"] != "preset", r["recipe"])), list(row))


if __name__ == "__main__":
    sys.exit(main())
