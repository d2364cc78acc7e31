"""``karaoke clean``: remove tellurics from FITS spectra."""
from __future__ import annotations

import sys
from pathlib import Path

from karaoke.cli._common import _batch_status, _print_json, _warn_partial


def add_parser(cmd, presets, default_preset):
    """Add the ``clean`` subcommand (``cmd(name, help, description)`` makes a subparser)."""
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
    c.set_defaults(func=run)
    return c


def run(a):
    from karaoke.products.clean import clean_files
    from karaoke.nn.model import load_model

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
