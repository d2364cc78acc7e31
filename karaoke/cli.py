"""Command line: ``karaoke synth | train | evaluate | clean``.

    karaoke synth OUT --n-spectra N --seed S
    karaoke train SURVEY --out RUN --velocity 30 --latent 128 [--ae] --epochs E --scale regime
    karaoke evaluate RUN SURVEY          # prints one JSON object (median Qt, Qs, ...)
    karaoke clean MODEL FILES... --out DIR
    karaoke download harps --target HD128621 --out DIR   |   karaoke download model --out DIR
    karaoke download sdss --plate 2887 [--exposures E ...] --out DIR
    karaoke prepare FOLDER --out STORE [--grid-start 6260 --n-pixels 4096]

Exit status, the same for every subcommand (see :data:`EXIT_STATUS`): 0 ok, 1 error,
2 usage error, 3 some inputs failed (the others were done; see the report), 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

#: The exit status scheme of every subcommand.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_STATUS = """exit status (every subcommand):
  0    success
  1    error (the message names the file and the problem); for clean/prepare/download: every input failed
  2    usage error (bad or missing options)
  3    some inputs failed, the others were done (see the report / manifest)
  130  interrupted (Ctrl-C); train and prepare resume where they stopped when run again"""


class UsageError(ValueError):
    """A command line that asks for nothing sensible (exit status 2)."""


def _batch_status(n_failed: int, n_total: int) -> int:
    """0 if nothing failed, 3 if some inputs failed, 1 if all did (or there were none)."""
    if n_total == 0:
        return EXIT_ERROR
    return EXIT_OK if n_failed == 0 else (EXIT_PARTIAL if n_failed < n_total else EXIT_ERROR)


def _print_json(obj):
    from ._atomic import json_safe

    print(json.dumps(json_safe(obj), allow_nan=False))


def _synth(a):
    from .scales import get_scale
    from .survey import save_survey
    from .synth import make_survey

    cfg = get_scale(a.scale).survey
    kw = {"n_spectra": a.n_spectra, "seed": a.seed}
    kw["n_stars"] = a.n_stars if a.n_stars else max(1, min(a.n_spectra, round(a.n_spectra * cfg.n_stars / cfg.n_spectra)))
    if a.n_pixels:
        kw["n_pixels"] = a.n_pixels
    if a.grid_start:
        kw["grid_start"] = a.grid_start
    cfg = cfg.replace(**kw)
    from ._atomic import check_output_dir

    check_output_dir(a.out.parent if a.out.parent != Path("") else Path("."), "folder of the survey file")
    if a.out.is_dir():
        raise ValueError(f"{a.out}: is a folder; give the survey file's name (e.g. {a.out / 'survey.npz'})")
    survey = make_survey(cfg, progress=not a.quiet)
    path = save_survey(survey, a.out)
    _print_json({"survey": str(path), "n_spectra": len(survey), "n_pixels": survey.n_pixels,
                 "grid": survey.grid.to_dict(), "config_hash": cfg.hash()})
    return 0


def _train(a):
    from .scales import get_scale
    from .survey import load_survey
    from .train import train

    from .train import pick_device

    sc = get_scale(a.scale)
    pick_device(a.device)  # an unavailable device is an error before any work
    survey = load_survey(a.survey)
    if survey.attrs.get("n_nonfinite_masked"):
        print(f"note: {a.survey}: {survey.attrs['n_nonfinite_masked']} NaN/inf pixels masked", file=sys.stderr)
    mc = sc.model_config(a.latent, not a.ae)
    if mc.n_pixels != survey.n_pixels:
        from .model import ModelConfig

        mc = ModelConfig.scaled(survey.n_pixels, a.latent, not a.ae, width=sc.width) \
            if survey.n_pixels != 327680 else ModelConfig.paper(a.latent, not a.ae)
    overrides = {k: v for k, v in {"epochs": a.epochs, "lr": a.lr, "batch_size": a.batch_size,
                                   "seed": a.seed}.items() if v is not None}
    tc = sc.train_config(a.velocity, not a.ae, **overrides)
    if a.kl_weight is not None and not a.ae:
        tc = tc.replace(kl_weight=a.kl_weight)
    try:
        train(survey, mc, tc, a.out, device=a.device, progress=not a.quiet)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"training interrupted; {a.out / 'checkpoint.pt'} holds the last finished epoch "
                                "(the partial epoch is lost): run the same command to resume") from None
    _print_json({"run": str(a.out), "model": str(Path(a.out) / "model.pt"),
                 "model_config": mc.to_dict(), "train_config": tc.to_dict()})
    return 0


def _evaluate(a):
    from .metrics import evaluate_reconstruction, line_responses
    from .model import load_model
    from .survey import load_survey

    from .clean import check_survey_matches_model

    model = load_model(a.run, allow_partial=a.allow_partial)
    _warn_partial(model)
    survey = load_survey(a.survey)
    meta = model.checkpoint_meta
    check_survey_matches_model(survey, model, a.survey)
    if survey.transmission is None:
        raise ValueError(f"{a.survey}: evaluation needs a 'transmission' array (telluric model per spectrum)")
    norm, rejected = survey.normalised(meta.get("train_config", {}).get("min_median", 50.0))
    held_out = meta.get("data_hash") == survey.data_hash()
    if held_out:
        _, idx = norm.split(meta["train_config"]["holdout_fraction"])
    else:
        idx = np.arange(len(norm))
    idx = idx[: a.max_spectra] if a.max_spectra else idx
    sub = norm.subset(idx)
    recon = model.reconstruct(sub.flux)
    truth = None if a.pseudo_truth else sub.stellar
    ev = evaluate_reconstruction(recon, sub.flux, sub.wave, sub.transmission, stellar=truth,
                                 pixmask=sub.pixel_mask())
    out = {"Qt": round(ev.summary()["Qt"], 4), "Qs": round(ev.summary()["Qs"], 4),
           "Qt_mean": round(ev.summary()["Qt_mean"], 4), "Qs_mean": round(ev.summary()["Qs_mean"], 4),
           "n_spectra": int(len(sub)), "held_out": bool(held_out), "n_rejected": len(rejected),
           "truth": "pseudo-truth" if truth is None else "exact", "run": str(a.run), "survey": str(a.survey)}
    if sub.stellar is not None:  # exact truth at hand: how the output responds to each kind of line
        leak, star = line_responses(model.reconstruct, sub.flux, sub.wave, sub.transmission, sub.stellar,
                                    recon=recon)
        out.update(leakage=round(float(np.nanmedian(leak)), 4), stellar_response=round(float(np.nanmedian(star)), 4))
    out["partial_model"] = bool(meta.get("partial"))
    _print_json(out)
    return 0


def _warn_partial(model):
    if model.checkpoint_meta.get("partial"):
        print(f"warning: {model.checkpoint_path} is a partly trained network (epoch "
              f"{model.checkpoint_meta.get('epoch')}), used because --allow-partial was given", file=sys.stderr)


def _clean(a):
    from .clean import clean_files
    from .model import load_model

    model = load_model(a.model, allow_partial=a.allow_partial)
    _warn_partial(model)
    results = clean_files(model, a.files, a.out, progress=not a.quiet, assume_berv=a.assume_berv)
    n_bad = sum(r.status != "ok" for r in results)
    for r in results:
        if r.status != "ok":
            print(f"skipped {r.reason}", file=sys.stderr)
    _print_json({"cleaned": len(results) - n_bad, "failed": n_bad, "out": str(a.out),
                 "report": str(Path(a.out) / "clean_report.csv")})
    return _batch_status(n_bad, len(results))


def _download(a):
    from .download import AUTHORS_MODEL_URL, download_harps, fetch_authors_model, query_harps

    if a.what == "model":
        path = fetch_authors_model(a.out, base_url=a.base_url or AUTHORS_MODEL_URL, progress=not a.quiet)
        _print_json({"model": str(path)})
        return 0
    if a.what == "sdss":
        return _download_sdss(a)
    ids = []
    if a.ids:
        ids = [x.strip() for x in Path(a.ids).read_text().split() if x.strip()]
    if a.target or a.start or a.end:
        ids += query_harps(a.target, a.start, a.end, max_rows=a.max_rows)
    if not ids:
        raise UsageError("nothing to download: give --target/--start/--end or --ids FILE")
    rows = download_harps(ids, a.out, workers=a.workers, progress=not a.quiet)
    return _download_summary(len(rows), len([r for r in rows if r.status == "failed"]), a.out)


def _download_sdss(a):
    from .download import SDSS_SAS_URL, download_sdss, list_sdss_exposures

    base = a.base_url or SDSS_SAS_URL
    if not a.plate:
        raise UsageError("nothing to download: give --plate P [P ...] (and optionally --exposures)")
    pairs = []
    for plate in a.plate:
        exps = a.exposures or list_sdss_exposures(plate, a.camera, a.run2d, base)
        pairs += [(plate, e) for e in exps]
    rows = download_sdss(pairs, a.out, camera=a.camera, run2d=a.run2d, base_url=base, workers=a.workers,
                         progress=not a.quiet)
    return _download_summary(len(pairs), len({r.dataset for r in rows if r.status == "failed"}), a.out)


def _download_summary(requested: int, failed: int, out) -> int:
    """Print a download's JSON summary; exit status 3 when some failed, 1 when all did."""
    _print_json({"requested": requested, "ok": requested - failed, "failed": failed,
                 "manifest": str(Path(out) / "manifest.csv")})
    return _batch_status(failed, requested) if requested else EXIT_OK


def _prepare(a):
    from .grid import Grid, harps_grid
    from .io import find_spectra
    from .prepare import prepare_collection

    files, others = [], []
    for f in a.files:  # a folder contributes its 1-D spectra; a named file is always tried
        spectra, other = find_spectra(f) if f.is_dir() else ([f], [])
        files += spectra
        others += other
    for f, why in others:
        print(f"set aside {f}: {why}", file=sys.stderr)
    if not files:
        raise ValueError(f"no 1-D spectra among {', '.join(map(str, a.files))}")
    grid = harps_grid() if a.grid_start is None else Grid(a.grid_start, 0.01, a.n_pixels)
    try:
        report = prepare_collection(files, a.out, grid=grid, workers=a.workers, progress=not a.quiet,
                                    assume_berv=a.assume_berv)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"prepare interrupted; the finished chunks are kept in {a.out}: run the same "
                                "command to resume") from None
    _print_json({**report, "set_aside": len(others)})
    return _batch_status(report["processed"] - report["accepted"], report["processed"])


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .scales import DEFAULT_SCALE, SCALES

    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="karaoke", description="Stellar Karaoke: telluric removal by velocity "
                                "whitening and a convolutional VAE (Sedaghat et al. 2023).",
                                epilog=EXIT_STATUS, formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"karaoke {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scales = sorted(SCALES)

    def cmd(name, help_, description=None):
        return sub.add_parser(name, help=help_, description=description or help_, epilog=EXIT_STATUS,
                              formatter_class=fmt)

    s = cmd("synth", "write a synthetic survey file (.npz) with its exact truth",
            "Generate the embedded synthetic survey of a preset (stars x tellurics, topocentric, air "
            "wavelengths) and write it as one .npz file (format: karaoke/survey.py).")
    s.add_argument("out", type=Path, help="survey file to write (.npz is appended if missing)")
    s.add_argument("--n-spectra", type=int, default=3000, help="number of spectra (default 3000)")
    s.add_argument("--n-stars", type=int, default=None,
                   help="number of stars (default: the preset's spectra-per-star ratio)")
    s.add_argument("--seed", type=int, default=0, help="random seed of the survey (default 0)")
    s.add_argument("--scale", choices=scales, default=DEFAULT_SCALE,
                   help=f"preset giving grid and survey (default {DEFAULT_SCALE}; see karaoke.scales)")
    s.add_argument("--n-pixels", type=int, default=None, help="pixels of the grid (default: the preset's)")
    s.add_argument("--grid-start", type=float, default=None,
                   help="first pixel, air Angstrom, topocentric (default: the preset's)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_synth)

    t = cmd("train", "train a network on a survey file",
            "Train (or resume) a network on a survey (.npz, topocentric). Writes RUN/checkpoint.pt after "
            "every epoch, RUN/model.pt when done, RUN/history.csv and RUN/run.json. Run the same command "
            "again to resume an interrupted training.")
    t.add_argument("survey", type=Path, help="survey file (.npz)")
    t.add_argument("--out", type=Path, required=True, help="run folder (resumed if it holds a checkpoint)")
    t.add_argument("--velocity", type=float, default=30.0,
                   help="whitening level N in km/s: virtual velocities v ~ U(-N, N); 0 trains the topocentric "
                        "network (default 30)")
    t.add_argument("--latent", type=int, default=128, help="latent dimensions of the bottleneck (default 128)")
    t.add_argument("--ae", action="store_true", help="deterministic autoencoder instead of the VAE (KL weight 0)")
    t.add_argument("--epochs", type=int, default=None, help="passes over the training spectra (default: the preset's)")
    t.add_argument("--scale", choices=scales, default=DEFAULT_SCALE,
                   help=f"preset giving network width and training recipe (default {DEFAULT_SCALE}: the converged "
                        "recipe; see karaoke.scales)")
    t.add_argument("--kl-weight", type=float, default=None, help="weight of the KL term (default: the preset's)")
    t.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the preset's)")
    t.add_argument("--batch-size", type=int, default=None, help="spectra per step (default: the preset's)")
    t.add_argument("--seed", type=int, default=None, help="training seed (default: the preset's, 0)")
    t.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda or cuda:N "
                                                    "(default auto)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=_train)

    e = cmd("evaluate", "Qt/Qs of a trained network on a survey file (one JSON object)",
            "Score a trained network on a survey with its telluric transmission: median Qt, Qs (exact "
            "truth where the survey has it, else the paper's pseudo-truth), and with exact truth the "
            "telluric leakage and stellar response. The survey must be on the model's grid, frame and "
            "medium. Held-out stars only when the survey is the training survey.")
    e.add_argument("run", type=Path, help="run folder or checkpoint file")
    e.add_argument("survey", type=Path, help="survey file (.npz) with a 'transmission' array")
    e.add_argument("--max-spectra", type=int, default=None, help="score at most this many spectra (default all)")
    e.add_argument("--pseudo-truth", action="store_true",
                   help="use the paper's pseudo-truth from the transmission instead of the exact truth")
    e.add_argument("--allow-partial", action="store_true",
                   help="accept a run whose training has not finished (refused by default)")
    e.set_defaults(func=_evaluate)

    d = cmd("download", "HARPS ADP spectra (ESO), SDSS spFrame/spFluxcalib pairs (SAS), or the authors' model",
            "Fetch archive data in parallel; a re-run fetches only what is missing or failed; OUT/manifest.csv "
            "says what was fetched and why anything failed.")
    d.add_argument("what", choices=["harps", "sdss", "model"], help="what to download")
    d.add_argument("--out", type=Path, required=True, help="folder for the files and manifest.csv")
    d.add_argument("--target", default=None, help="object name for the ESO query (harps)")
    d.add_argument("--start", default=None, help="first observing date, YYYY-MM-DD (harps)")
    d.add_argument("--end", default=None, help="last observing date, YYYY-MM-DD (harps)")
    d.add_argument("--ids", default=None, help="text file with one ADP dataset id per line (harps)")
    d.add_argument("--max-rows", type=int, default=None, help="at most this many query results (harps; default all)")
    d.add_argument("--workers", type=int, default=4, help="parallel downloads (default 4)")
    d.add_argument("--plate", type=int, nargs="+", default=None, help="SDSS plate number(s) (sdss)")
    d.add_argument("--exposures", type=int, nargs="+", default=None,
                   help="SDSS exposure numbers (sdss; default: every exposure of each plate; with several "
                        "plates the same numbers are tried on each)")
    d.add_argument("--camera", default="r1", help="SDSS camera (sdss; default r1, the paper's)")
    d.add_argument("--run2d", default="26", help="SDSS reduction (sdss; SEGUE plates: 26, 103, 104; default 26)")
    d.add_argument("--base-url", default=None,
                   help="archive root for model/sdss (default: the authors' site / the DR17 SAS)")
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=_download)

    pr = cmd("prepare", "homogenise a folder of FITS spectra into a memory-mapped store",
             "Regrid, mask, median-normalise and move 1-D spectra (barycentric, air) to the topocentric "
             "frame on one grid; writes OUT/flux.f32 and OUT/mask.u8 (memmaps), OUT/state.json (resume "
             "point) and OUT/report.json (accepted and rejected counts by reason). Resumable.")
    pr.add_argument("files", type=Path, nargs="+", help="FITS files or folders of them (folders: 1-D spectra "
                                                         "by header; e2ds/wave/blaze images are set aside)")
    pr.add_argument("--out", type=Path, required=True, help="store folder")
    pr.add_argument("--grid-start", type=float, default=None,
                    help="first pixel of a 0.01-A grid, air Angstrom (default: the 327680-px HARPS grid)")
    pr.add_argument("--n-pixels", type=int, default=4096, help="pixels of that grid (with --grid-start; default 4096)")
    pr.add_argument("--workers", type=int, default=2, help="parallel worker processes (default 2)")
    pr.add_argument("--assume-berv", type=float, default=None, metavar="KMS",
                    help="BERV in km/s for files whose header gives none (default: such files are rejected)")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=_prepare)

    c = cmd("clean", "remove tellurics from FITS spectra",
            "Apply a trained network to 1-D FITS spectra (HARPS/ESPRESSO, barycentric, air). Writes one "
            "OUT/<name>_karaoke.fits per input (inputs sharing a file name get their folder prefixed) with "
            "extensions TOPOCENTRIC (tellurics at rest) and BARYCENTRIC (stellar lines at rest), each with "
            "WAVE (air Angstrom), FLUX (median-normalised input), RECON (telluric-free reconstruction), "
            "TELLURIC (FLUX / RECON) and QUAL (bit flags: 1 no data, 2 guard band, 4 TELLURIC out of range), "
            "and OUT/clean_report.csv.")
    c.add_argument("model", type=Path, help="run folder, karaoke checkpoint or the authors' .pth.tar")
    c.add_argument("files", type=Path, nargs="+", help="FITS spectra")
    c.add_argument("--out", type=Path, required=True, help="folder for the products and clean_report.csv")
    c.add_argument("--assume-berv", type=float, default=None, metavar="KMS",
                   help="BERV in km/s for files whose header gives none (recorded as BERVSRC = 'user'; "
                        "default: such files are rejected)")
    c.add_argument("--allow-partial", action="store_true",
                   help="accept a run whose training has not finished (refused by default)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=_clean)
    return p


def main(argv=None) -> int:
    """Run one subcommand; returns the exit status (:data:`EXIT_STATUS`)."""
    from ._atomic import OutputError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"karaoke {args.command}: usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        print(f"karaoke {args.command}: {exc.args[0] if exc.args else 'interrupted'}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, FileNotFoundError, RuntimeError, OutputError) as exc:
        print(f"karaoke {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # disk full, permissions: name the file, no traceback
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"karaoke {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
