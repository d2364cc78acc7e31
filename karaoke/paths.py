"""Every path the project uses, in one place (no path is hard-coded anywhere else).

``KARAOKE_DATA``, ``KARAOKE_FIGURES`` and ``KARAOKE_SHARED`` override the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Root of the project checkout (the folder that holds ``karaoke/``).
ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Folder for generated and downloaded data and checkpoints (``data/``, git-ignored)."""
    return Path(os.environ.get("KARAOKE_DATA", ROOT / "data"))


def figures_dir() -> Path:
    """Folder where notebooks write figures and result tables (``figures/``)."""
    return Path(os.environ.get("KARAOKE_FIGURES", ROOT / "figures"))


def cache_dir() -> Path:
    """Content-addressed cache of surveys and trained runs (``data/cache``)."""
    return data_dir() / "cache"


def shared_data_dir() -> Path:
    """Read-only real reference data (``../shared/data`` beside the checkout)."""
    return Path(os.environ.get("KARAOKE_SHARED", ROOT.parent / "shared" / "data"))


def notebooks_dir() -> Path:
    return ROOT / "notebooks"


def ensure(path: Path) -> Path:
    """Create ``path`` (a folder) if needed and return it."""
    path.mkdir(parents=True, exist_ok=True)
    return path
