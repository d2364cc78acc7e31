"""Command line: ``karaoke synth | train | evaluate | clean``.

    karaoke synth OUT --n-spectra N --seed S
    karaoke train SURVEY --out RUN --velocity 30 --latent 128 [--ae] --epochs E --preset regime
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
import sys

from karaoke.cli import clean, download, evaluate, prepare, synth, train
from karaoke.cli._common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_STATUS, EXIT_USAGE, UsageError  # noqa: F401

#: The subcommands, one module each, in the order ``--help`` lists them.
COMMANDS = (synth, train, evaluate, download, prepare, clean)


def build_parser() -> argparse.ArgumentParser:
    """The ``karaoke`` argument parser: one subparser per module of :data:`COMMANDS`."""
    from karaoke import __version__
    from karaoke.presets import DEFAULT_PRESET, PRESETS

    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="karaoke",
        description="Stellar Karaoke: telluric removal by velocity "
        "whitening and a convolutional VAE (Sedaghat et al. 2023).",
        epilog=EXIT_STATUS,
        formatter_class=fmt,
    )
    p.add_argument("--version", action="version", version=f"karaoke {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    presets = sorted(PRESETS)

    def cmd(name, help_, description=None):
        return sub.add_parser(
            name, help=help_, description=description or help_, epilog=EXIT_STATUS, formatter_class=fmt
        )

    for module in COMMANDS:
        module.add_parser(cmd, presets, DEFAULT_PRESET)
    return p


def main(argv=None) -> int:
    """Run one subcommand.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after ``karaoke`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status (:data:`EXIT_STATUS`).
    """
    from karaoke._atomic import OutputError

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
