"""The one atomic writer: every file the project writes goes through :func:`atomic_path`.

A file is written under a temporary name in its own folder, given the permissions the user's
umask allows (``tempfile.mkstemp`` alone would leave 0600), then renamed over the target, so a
reader never sees a half-written file and an interruption leaves the old file intact.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import math
import os
import tempfile
from pathlib import Path


def current_umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output_dir(path, what: str = "output folder") -> Path:
    """Create ``path`` as a folder (with parents) or raise a clear error.

    Raises
    ------
    OutputError
        If ``path`` is a file, lies under a file, cannot be created or is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(path, f"{what} is a file, not a folder")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(path, f"{what} lies under {parent}, which is a file")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(path, f"cannot create the {what} ({exc.strerror or exc})") from exc
    try:  # a real probe: os.access says yes to root on read-only folders and mounts
        fd, probe = tempfile.mkstemp(dir=path, prefix=".karaoke-probe-")
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise OutputError(path, f"cannot write in the {what} ({exc.strerror or exc})") from exc
    return path


class OutputError(OSError):
    """An output path that cannot be written; the message names the path and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(errno.EIO, f"{path}: {reason}")

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@contextlib.contextmanager
def atomic_path(path, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    The temporary file gets mode ``0666 & ~umask`` (what ``open()`` would give); on an
    exception it is removed and ``path`` is left as it was.

    Examples
    --------
    >>> with atomic_path(out / "model.pt") as tmp:   # doctest: +SKIP
    ...     torch.save(obj, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~current_umask())
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            fh.write(text)
    return Path(path)


def write_json(path, obj, indent: int | None = 1) -> Path:
    """``obj`` as strict JSON (NaN and inf become ``null``), atomically."""
    return write_text(path, json.dumps(json_safe(obj), indent=indent, allow_nan=False))


def json_safe(obj):
    """A copy of ``obj`` that ``json.dumps(..., allow_nan=False)`` accepts: NaN/inf -> None,
    numpy scalars and arrays -> Python numbers and lists."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_csv(path, rows: list[dict], fieldnames=None) -> Path:
    """Rows (dicts) as CSV; ``fieldnames`` default to the first row's keys."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fieldnames or rows[0]))
    w.writeheader()
    w.writerows(rows)
    return write_text(path, buf.getvalue())


def sha256sum(path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks.

    Parameters
    ----------
    path : path
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
