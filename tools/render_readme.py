"""Fill the result tables of README.md and docs/results.md from the CSV files that produced them
(numbers are never typed).

A block::

    <!-- table: docs/results/science_converged.csv columns=network,seed,Qt,Qs rows=seed=0 -->
    ...generated...
    <!-- /table -->

is replaced by a Markdown table of those columns of the CSV (all columns when ``columns`` is
absent), of the rows whose cells match every ``key=value`` of ``rows`` (joined by ``&``; all rows
when absent). Paths are relative to the project root. A number in prose is one cell::

    Qt <!-- value: docs/results/alpha_cen_b_regime-h2o.csv|method=karaoke (alone)|Qt|.2f -->0.34<!-- /value -->

the cell in column ``Qt`` of the row whose ``method`` is ``karaoke (alone)`` (several
``key=value`` conditions joined by ``&``), formatted with ``.2f`` (optional; the CSV's text
when absent). A condition that matches no row or several is an error. The README, a user guide,
quotes no such number (a test checks it): its results are whole tables. ``--check`` exits 1 when
a file differs from what the CSVs give (a test runs it).

    python tools/render_readme.py          # rewrite README.md and docs/results.md
    python tools/render_readme.py --check
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(
    r"(<!-- table: (?P<src>\S+)(?: columns=(?P<cols>\S+))?(?: rows=(?P<rows>\S+))? -->\n)"
    r"(?P<body>.*?)(<!-- /table -->)",
    re.S,
)
#: The files rendered, relative to the project root.
FILES = ("README.md", "docs/results.md")
HEADERS = {
    "stellar_response": "stellar response",
    "static_pattern": "static",
    "train_seconds": "train s",
    "ms_per_spectrum": "ms / spectrum",
    "x_floor": "x floor",
    "max_abs_diff": "max abs diff from PyTorch",
    "kl_weight": "KL weight",
    "leakage_est": "leakage (est.)",
    "stellar_response_est": "stellar response (est.)",
    "picked_by": "picked by",
    "transmission_rms": "transmission RMS",
    "ms_per_step": "ms / step",
    "steps_per_s": "steps/s",
    "spectra_per_s": "spectra/s",
    "vs_paper": "x paper",
}


VALUE = re.compile(r"(<!-- value: (?P<spec>[^>]*?) -->)(?P<body>[^<]*)(<!-- /value -->)")


def value(spec: str, root: Path = ROOT) -> str:
    """The CSV cell a ``src|key=value[&key=value]|column[|format]`` spec names."""
    parts = spec.split("|")
    if len(parts) not in (3, 4):
        raise ValueError(f"value spec {spec!r}: expected src|key=value|column[|format]")
    src, cond, col = parts[:3]
    want = dict(c.split("=", 1) for c in cond.split("&"))
    with open(root / src) as fh:
        rows = [r for r in csv.DictReader(fh) if all(r.get(k) == v for k, v in want.items())]
    if len(rows) != 1:
        raise ValueError(f"value spec {spec!r}: {len(rows)} rows of {src} match {want}, need exactly one")
    cell = rows[0][col]
    return format(float(cell), parts[3]) if len(parts) == 4 else cell


def table(src: Path, cols: list[str] | None, where: str | None = None) -> str:
    with open(src) as fh:
        rows = list(csv.DictReader(fh))
    if where:
        want = dict(c.split("=", 1) for c in where.split("&"))
        rows = [r for r in rows if all(r.get(k) == v for k, v in want.items())]
        if not rows:
            raise ValueError(f"table {src}: no row matches {want}")
    cols = cols or list(rows[0])
    out = ["| " + " | ".join(HEADERS.get(c, c) for c in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(r[c] for c in cols) + " |" for r in rows]
    return "\n".join(out) + "\n"


def render(text: str, root: Path = ROOT) -> str:
    def fill(m):
        cols = m.group("cols").split(",") if m.group("cols") else None
        return m.group(1) + table(root / m.group("src"), cols, m.group("rows")) + m.group(6)

    text = BLOCK.sub(fill, text)
    return VALUE.sub(lambda m: m.group(1) + value(m.group("spec"), root) + m.group(4), text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 if a file is not what the CSVs give")
    a = p.parse_args(argv)
    stale = []
    for name in FILES:
        path = ROOT / name
        old = path.read_text()
        new = render(old)
        if new != old:
            stale.append(name)
            if not a.check:
                path.write_text(new)
    if a.check and stale:
        print(
            f"{', '.join(stale)}: result tables differ from their CSV files; run python tools/render_readme.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
