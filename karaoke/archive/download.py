"""Archive downloads: HARPS Phase-3 1D products (ADP) from the ESO archive through astroquery,
and the authors' released HARPS model.

Every file counts only once verified (it opens as the expected product); a second run fetches
only what is missing or failed verification; a manifest CSV records what was fetched and why
anything failed. Downloads run in parallel threads with a progress bar.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from karaoke._atomic import sha256sum, write_csv, write_text
from karaoke.spectra.io import SpectrumError, read_spectrum

#: Where the authors publish their released HARPS network (method-facts.md).
AUTHORS_MODEL_URL = "https://www.rawdataspeaks.org/wp-content/uploads/projects/karaoke/data/"
AUTHORS_MODEL_FILE = "model_14v3_128d_e116_i954k.pth.tar"


@dataclass
class ManifestRow:
    dataset: str
    file: str
    status: str  # "downloaded", "present" (verified earlier), "failed"
    reason: str = ""
    bytes: int = 0
    sha256: str = ""


def verify_adp(path) -> str:
    """Return '' if ``path`` is a usable ESO ADP 1D product, else the reason it is not."""
    try:
        s = read_spectrum(path)
    except SpectrumError as exc:
        return exc.reason
    if s.meta.get("kind") != "ESO ADP 1D":
        return f"not an ESO ADP 1D product ({s.meta.get('kind')})"
    return ""


def query_harps(
    target: str | None = None, start: str | None = None, end: str | None = None, max_rows: int | None = None, eso=None
) -> list[str]:
    """ADP identifiers of HARPS Phase-3 1D spectra in the ESO archive (astroquery).

    Parameters
    ----------
    target : str, optional
        Object name as in the archive (e.g. ``"HD128621"``).
    start, end : str, optional
        Observation date range, ISO (``"2012-01-01"``).
    max_rows : int, optional
    eso : astroquery.eso.EsoClass, optional
        A configured (or logged-in) instance; default ``astroquery.eso.Eso()``.
    """
    if eso is None:
        from astroquery.eso import Eso

        eso = Eso()
    if max_rows is not None:
        eso.ROW_LIMIT = max_rows
    kw = {}
    if target:
        kw["target"] = target
    if start:
        kw["box_start_date"] = start  # astroquery passes extra keywords to the archive's form
    if end:
        kw["box_end_date"] = end
    table = eso.query_surveys(surveys="HARPS", **kw)
    if table is None or len(table) == 0:
        return []
    for col in ("ARCFILE", "Dataset ID", "dp_id", "ARCFILE_ID"):
        if col in table.colnames:
            return [str(x).strip().removesuffix(".fits") for x in table[col]]
    raise ValueError(f"ESO answer has no dataset-id column (columns: {table.colnames})")


def _local_name(dataset: str) -> str:
    return dataset if dataset.endswith(".fits") else f"{dataset}.fits"


def download_harps(
    datasets, dest, workers: int = 4, progress: bool = True, eso_factory=None, manifest_name: str = "manifest.csv"
) -> list[ManifestRow]:
    """Download ADP files (resumable, verified, parallel) into ``dest``; returns the manifest.

    Parameters
    ----------
    datasets : sequence of str
        ESO ADP dataset ids (``ADP.2014-09-16T11:04:45.123``), e.g. from :func:`query_harps`.
    dest : path
        Folder for the files and the manifest (created).
    workers : int
        Parallel downloads.
    progress : bool
        Show a progress bar.
    eso_factory : callable, optional
        Builds one astroquery ``Eso`` per worker (default ``astroquery.eso.Eso``); tests point
        its ``DOWNLOAD_URL`` at a local server.
    manifest_name : str
        File name of the manifest CSV in ``dest``.

    Returns
    -------
    list of ManifestRow
        One row per dataset: status (``downloaded``, ``present`` when verified earlier,
        ``failed``), file, size in bytes, sha256 and the reason of a failure.
    """
    if eso_factory is None:
        from astroquery.eso import Eso as eso_factory
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    todo, rows = [], []
    for d in dict.fromkeys(str(x).strip() for x in datasets):  # unique, in order
        path = dest / _local_name(d)
        if path.exists():
            reason = verify_adp(path)
            if not reason:
                rows.append(ManifestRow(d, path.name, "present", "", path.stat().st_size, sha256sum(path)))
                continue
            path.unlink()  # incomplete or corrupt from an earlier run: fetch again
        todo.append(d)

    def fetch(d):
        eso = eso_factory()
        path = dest / _local_name(d)
        try:
            eso.retrieve_data([d.removesuffix(".fits")], destination=str(dest), unzip=True)
        except Exception as exc:  # astroquery raises on some HTTP errors, logs others
            return ManifestRow(d, path.name, "failed", f"download error: {type(exc).__name__}: {exc}")
        if not path.exists():
            return ManifestRow(d, path.name, "failed", "archive returned no file (HTTP error or access denied)")
        reason = verify_adp(path)
        if reason:
            bad = path.with_suffix(".fits.corrupt")
            os.replace(path, bad)
            return ManifestRow(d, path.name, "failed", f"verification failed: {reason} (kept as {bad.name})")
        return ManifestRow(d, path.name, "downloaded", "", path.stat().st_size, sha256sum(path))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(fetch, d) for d in todo]
        for f in tqdm(as_completed(futures), total=len(futures), desc="HARPS ADP", disable=not progress):
            rows.append(f.result())
    order = {d: i for i, d in enumerate(dict.fromkeys(str(x).strip() for x in datasets))}
    rows.sort(key=lambda r: order.get(r.dataset, 0))
    write_manifest(rows, dest / manifest_name)
    return rows


def write_manifest(rows, path) -> Path:
    return write_csv(path, [asdict(r) for r in rows], fieldnames=list(asdict(ManifestRow("", "", ""))))


def fetch_url(url: str, path, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``path`` through a ``.part`` file (atomic rename when complete);
    raises ValueError if the body is shorter than the announced Content-Length."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as fh:
        total = int(resp.headers.get("Content-Length") or 0)
        n = 0
        with tqdm(total=total or None, unit="B", unit_scale=True, desc=path.name, disable=not progress) as bar:
            for block in iter(lambda: resp.read(1 << 20), b""):
                fh.write(block)
                n += len(block)
                bar.update(len(block))
    if total and n != total:
        part.unlink(missing_ok=True)
        raise ValueError(f"{url}: received {n} of {total} bytes")
    os.replace(part, path)
    return path


def fetch_authors_model(dest, base_url: str = AUTHORS_MODEL_URL, progress: bool = True, validate=None) -> Path:
    """The authors' released HARPS model, downloaded once; its SHA-256 is recorded beside it at
    first download (``<file>.sha256``) and checked on every later call.

    ``validate(path)``, e.g. :func:`karaoke.nn.model.load_model` (this layer does not import the
    network), is called on a fresh download and must raise ``ValueError`` for a file that is
    not the model; the file is then set aside as ``.corrupt``.
    """
    dest = Path(dest)
    path = dest / AUTHORS_MODEL_FILE
    record = path.with_name(path.name + ".sha256")
    if not path.exists():
        fetch_url(base_url.rstrip("/") + "/" + AUTHORS_MODEL_FILE, path, progress=progress)
        try:
            if validate is not None:
                validate(path)
        except ValueError as exc:
            bad = path.with_suffix(".corrupt")
            os.replace(path, bad)
            raise ValueError(f"{path}: downloaded file is not the authors' model ({exc})") from exc
        if not record.exists():
            write_text(record, sha256sum(path) + "\n")
    digest = sha256sum(path)
    if record.exists() and record.read_text().split()[0] != digest:
        raise ValueError(
            f"{path}: checksum {digest[:12]}... differs from the one recorded at first download "
            f"({record.read_text()[:12]}...); delete both files to fetch it again"
        )
    if not record.exists():
        write_text(record, digest + "\n")
    return path


# --------------------------------------------------------------------------------------------
# SDSS (DR17, SEGUE / SEGUE-2): spFrame + spFluxcalib of one camera over HTTPS
# --------------------------------------------------------------------------------------------
#: The DR17 Science Archive Server tree of the SDSS-I/II spectroscopic reductions (SEGUE plates
#: are in RUN2D ``26``, ``103`` and ``104``). astroquery.sdss serves coadded spectra, not the
#: per-exposure spFrame files the paper uses, so these are fetched from the SAS directly.
SDSS_SAS_URL = "https://data.sdss.org/sas/dr17/sdss/spectro/redux"
SDSS_RUN2D = "26"
_SPFRAME_RE = r"spFrame-{camera}-(\d{{8}})\.fits(?:\.gz)?"


def sdss_frame_names(expid: int, camera: str = "r1") -> tuple[str, str]:
    """File names of an exposure's frame and its flux calibration (SDSS data model)."""
    expid = int(expid)
    return f"spFrame-{camera}-{expid:08d}.fits.gz", f"spFluxcalib-{camera}-{expid:08d}.fits.gz"


def sdss_plate_url(plate: int, run2d: str = SDSS_RUN2D, base_url: str = SDSS_SAS_URL) -> str:
    return f"{base_url.rstrip('/')}/{run2d}/{int(plate):04d}/"


def list_sdss_exposures(
    plate: int, camera: str = "r1", run2d: str = SDSS_RUN2D, base_url: str = SDSS_SAS_URL, timeout: float = 60.0
) -> list[int]:
    """Exposure numbers of a plate that have an spFrame of ``camera`` (from the SAS directory index).

    Parameters
    ----------
    plate : int
        SDSS plate number.
    camera : str
        Spectrograph camera (``b1``, ``b2``, ``r1``, ``r2``).
    run2d : str
        Reduction version (SEGUE plates: 26, 103, 104).
    base_url : str
        Root of the SAS ``spectro/redux`` tree.
    timeout : float
        Seconds to wait for the server.

    Returns
    -------
    list of int, sorted

    Raises
    ------
    ValueError
        If the plate directory does not exist or lists no frame of that camera.
    """
    url = sdss_plate_url(plate, run2d, base_url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            html = resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        raise ValueError(f"{url}: plate {plate} not found in RUN2D {run2d} (HTTP {exc.code})") from exc
    found = sorted({int(m) for m in re.findall(_SPFRAME_RE.format(camera=re.escape(camera)), html)})
    if not found:
        raise ValueError(f"{url}: no spFrame-{camera} files listed for plate {plate}")
    return found


def verify_sdss_pair(frame_path, calib_path) -> tuple[str, int]:
    """('', number of science fibres) if the pair is usable, else (reason, 0).

    Usable: the frame reads as an spFrame (flux, inverse variance, Legendre wavelength solution,
    plug map), the calibration as an spFluxcalib of the same shape, and at least one fibre is not
    SKY (the paper excludes SKY fibres; so does :func:`karaoke.spectra.sdss.read_spframe`).
    """
    from karaoke.spectra.sdss import read_spframe

    try:
        fr = read_spframe(frame_path, calib_path, exclude_sky=True)
    except SpectrumError as exc:
        return f"{Path(exc.path).name}: {exc.reason}", 0
    if fr.flux.shape[0] == 0:
        return "no science fibres (all SKY)", 0
    return "", int(fr.flux.shape[0])


def download_sdss(
    exposures,
    dest,
    camera: str = "r1",
    run2d: str = SDSS_RUN2D,
    base_url: str = SDSS_SAS_URL,
    workers: int = 4,
    progress: bool = True,
    manifest_name: str = "manifest.csv",
    timeout: float = 60.0,
) -> list[ManifestRow]:
    """Download spFrame + spFluxcalib pairs (resumable, verified, parallel) into ``dest/PLATE/``.

    Parameters
    ----------
    exposures : iterable of (plate, expid)
        E.g. from :func:`list_sdss_exposures`.
    dest : path
        Output folder; files land in ``dest/<plate:04d>/`` as named in the archive.
    camera, run2d, base_url : str
        Camera (the paper: ``r1``), reduction and archive root.
    workers : int
        Parallel downloads.
    progress : bool
        Show a progress bar.
    manifest_name : str
        File name of the manifest CSV in ``dest``.
    timeout : float
        Seconds to wait for the server.

    Returns
    -------
    list of ManifestRow
        Two rows per exposure (frame, calibration), ``dataset`` = ``"PLATE-EXPID"``; also written
        to ``dest/manifest.csv``. A pair counts only when both files are complete (announced size)
        and verify (:func:`verify_sdss_pair`); a failed file is kept as ``*.corrupt``, never used.
        A second run fetches only pairs that are missing or failed.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    wanted = list(dict.fromkeys((int(p), int(e)) for p, e in exposures))

    def rows_for(key, paths, status, reason=""):
        out = []
        for p in paths:
            ok = p.exists() and status != "failed"
            out.append(
                ManifestRow(
                    key,
                    f"{p.parent.name}/{p.name}",
                    status,
                    reason,
                    p.stat().st_size if ok else 0,
                    sha256sum(p) if ok else "",
                )
            )
        return out

    def one(item):
        plate, expid = item
        key = f"{plate:04d}-{expid:08d}"
        folder = dest / f"{plate:04d}"
        paths = [folder / n for n in sdss_frame_names(expid, camera)]
        if all(p.exists() for p in paths):
            reason, _ = verify_sdss_pair(*paths)
            if not reason:
                return rows_for(key, paths, "present")
        for p in paths:
            p.unlink(missing_ok=True)  # incomplete or corrupt from an earlier run: fetch both again
        url = sdss_plate_url(plate, run2d, base_url)
        try:
            for p in paths:
                fetch_url(url + p.name, p, timeout=timeout, progress=False)
        except Exception as exc:  # HTTP errors, short bodies, timeouts
            for p in paths:
                p.unlink(missing_ok=True)
            return rows_for(key, paths, "failed", f"download error: {type(exc).__name__}: {exc}")
        reason, _ = verify_sdss_pair(*paths)
        if reason:
            for p in paths:
                os.replace(p, p.with_name(p.name + ".corrupt"))
            return rows_for(key, paths, "failed", f"verification failed: {reason} (kept as *.corrupt)")
        return rows_for(key, paths, "downloaded")

    rows = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(one, item): item for item in wanted}
        for f in tqdm(as_completed(futures), total=len(futures), desc=f"SDSS {camera}", disable=not progress):
            rows.extend(f.result())
    rows.sort(key=lambda r: (r.dataset, r.file))
    write_manifest(rows, dest / manifest_name)
    return rows
