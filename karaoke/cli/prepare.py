"""``karaoke prepare``: homogenise FITS spectra into a store."""

from __future__ import annotations

import sys
from pathlib import Path

from karaoke.cli._common import batch_status, print_json


def add_parser(cmd, presets, default_preset):
    """Add the ``prepare`` subcommand (``cmd(name, help, description)`` makes a subparser)."""
    pr = cmd(
        "prepare",
        "homogenise a folder of FITS spectra into a memory-mapped store",
        "Regrid, mask, median-normalise and move 1-D spectra (barycentric, air) to the topocentric "
        "frame on one grid; writes OUT/flux.f32 and OUT/mask.u8 (memmaps), OUT/state.json (resume "
        "point) and OUT/report.json (accepted and rejected counts by reason). Resumable.",
    )
    pr.add_argument(
        "files",
        type=Path,
        nargs="+",
        help="FITS files or folders of them (folders: 1-D spectra by header; e2ds/wave/blaze images are set aside)",
    )
    pr.add_argument("--out", type=Path, required=True, help="store folder")
    pr.add_argument(
        "--grid-start",
        type=float,
        default=None,
        help="first pixel of a 0.01-A grid, air Angstrom (default: the 327680-px HARPS grid)",
    )
    pr.add_argument("--n-pixels", type=int, default=4096, help="pixels of that grid (with --grid-start; default 4096)")
    pr.add_argument("--workers", type=int, default=2, help="parallel worker processes (default 2)")
    pr.add_argument(
        "--assume-berv",
        type=float,
        default=None,
        metavar="KMS",
        help="BERV in km/s for files whose header gives none (default: such files are rejected)",
    )
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=run)
    return pr


def run(a):
    from karaoke.archive.prepare import prepare_collection
    from karaoke.spectra.grid import Grid, harps_grid
    from karaoke.spectra.io import find_spectra

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
        report = prepare_collection(
            files, a.out, grid=grid, workers=a.workers, progress=not a.quiet, assume_berv=a.assume_berv
        )
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"prepare interrupted; the finished chunks are kept in {a.out}: run the same command to resume"
        ) from None
    print_json({**report, "set_aside": len(others)})
    return batch_status(report["processed"] - report["accepted"], report["processed"])
