"""``karaoke download``: fetch HARPS, SDSS files or the authors' model."""

from __future__ import annotations

from pathlib import Path

from karaoke.cli._common import EXIT_OK, UsageError, batch_status, print_json


def add_parser(cmd, presets, default_preset):
    """Add the ``download`` subcommand (``cmd(name, help, description)`` makes a subparser)."""
    d = cmd(
        "download",
        "HARPS ADP spectra (ESO), SDSS spFrame/spFluxcalib pairs (SAS), or the authors' model",
        "Fetch archive data in parallel; a re-run fetches only what is missing or failed; OUT/manifest.csv "
        "says what was fetched and why anything failed.",
    )
    d.add_argument("what", choices=["harps", "sdss", "model"], help="what to download")
    d.add_argument("--out", type=Path, required=True, help="folder for the files and manifest.csv")
    d.add_argument("--target", default=None, help="object name for the ESO query (harps)")
    d.add_argument("--start", default=None, help="first observing date, YYYY-MM-DD (harps)")
    d.add_argument("--end", default=None, help="last observing date, YYYY-MM-DD (harps)")
    d.add_argument("--ids", default=None, help="text file with one ADP dataset id per line (harps)")
    d.add_argument("--max-rows", type=int, default=None, help="at most this many query results (harps; default all)")
    d.add_argument("--workers", type=int, default=4, help="parallel downloads (default 4)")
    d.add_argument("--plate", type=int, nargs="+", default=None, help="SDSS plate number(s) (sdss)")
    d.add_argument(
        "--exposures",
        type=int,
        nargs="+",
        default=None,
        help="SDSS exposure numbers (sdss; default: every exposure of each plate; with several "
        "plates the same numbers are tried on each)",
    )
    d.add_argument("--camera", default="r1", help="SDSS camera (sdss; default r1, the paper's)")
    d.add_argument("--run2d", default="26", help="SDSS reduction (sdss; SEGUE plates: 26, 103, 104; default 26)")
    d.add_argument(
        "--base-url", default=None, help="archive root for model/sdss (default: the authors' site / the DR17 SAS)"
    )
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=run)
    return d


def run(a):
    from karaoke.archive.download import AUTHORS_MODEL_URL, download_harps, fetch_authors_model, query_harps

    if a.what == "model":
        from karaoke.nn.checkpoint import load_model

        path = fetch_authors_model(
            a.out, base_url=a.base_url or AUTHORS_MODEL_URL, progress=not a.quiet, validate=load_model
        )
        print_json({"model": str(path)})
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
    from karaoke.archive.download import SDSS_SAS_URL, download_sdss, list_sdss_exposures

    base = a.base_url or SDSS_SAS_URL
    if not a.plate:
        raise UsageError("nothing to download: give --plate P [P ...] (and optionally --exposures)")
    pairs = []
    for plate in a.plate:
        exps = a.exposures or list_sdss_exposures(plate, a.camera, a.run2d, base)
        pairs += [(plate, e) for e in exps]
    rows = download_sdss(
        pairs, a.out, camera=a.camera, run2d=a.run2d, base_url=base, workers=a.workers, progress=not a.quiet
    )
    return _download_summary(len(pairs), len({r.dataset for r in rows if r.status == "failed"}), a.out)


def _download_summary(requested: int, failed: int, out) -> int:
    """Print a download's JSON summary; exit status 3 when some failed, 1 when all did."""
    print_json(
        {
            "requested": requested,
            "ok": requested - failed,
            "failed": failed,
            "manifest": str(Path(out) / "manifest.csv"),
        }
    )
    return batch_status(failed, requested) if requested else EXIT_OK
