"""What every subcommand shares: the exit status scheme, usage errors, JSON output."""

from __future__ import annotations

import json
import sys

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


def batch_status(n_failed: int, n_total: int) -> int:
    """0 if nothing failed, 3 if some inputs failed, 1 if all did (or there were none)."""
    if n_total == 0:
        return EXIT_ERROR
    return EXIT_OK if n_failed == 0 else (EXIT_PARTIAL if n_failed < n_total else EXIT_ERROR)


def print_json(obj):
    from karaoke._atomic import json_safe

    print(json.dumps(json_safe(obj), allow_nan=False))


def warn_partial(model):
    if model.meta.partial:
        print(
            f"warning: {model.meta.path} is a partly trained network (epoch "
            f"{model.meta.saved.get('epoch')}), used because --allow-partial was given",
            file=sys.stderr,
        )
