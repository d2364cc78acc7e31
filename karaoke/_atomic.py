"""Atomic writes: write to a temporary name in the same folder, then rename."""
from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path


def write_text(path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_csv(path, rows: list[dict], fieldnames=None) -> Path:
    """Rows (dicts) as CSV; ``fieldnames`` default to the first row's keys."""
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fieldnames or rows[0]))
    w.writeheader()
    w.writerows(rows)
    return write_text(path, buf.getvalue())
