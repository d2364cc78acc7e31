"""``python -m karaoke ...``: the command line (see :mod:`karaoke.cli`)."""

import sys

from karaoke.cli import main

if __name__ == "__main__":
    sys.exit(main())
