"""Run every notebook (``notebooks/NN_*.py``, jupytext percent format) through papermill.

    python -m karaoke.notebooks                      # the README's main job (preset regime)
    python -m karaoke.notebooks --preset ci --sync   # refresh the committed .ipynb (nbval reference)
    python -m karaoke.notebooks --preset ci --train-only  # the notebooks' networks, side by side, into the cache

Papermill does not read ``.py`` notebooks: each is converted with jupytext first.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import platform
import sys
import time
from pathlib import Path

from karaoke.paths import ensure, figures_dir, notebooks_dir


def notebook_sources(pattern: str = "[0-9][0-9]_*.py") -> list[Path]:
    return sorted(notebooks_dir().glob(pattern))


def notebook_parameters(src: Path) -> dict:
    """A notebook's default parameters: the literal assignments of its cell tagged ``parameters``.

    Parameters
    ----------
    src : Path
        A percent-format notebook (``notebooks/NN_*.py``).

    Returns
    -------
    dict
        Name -> value (empty when the notebook has no parameters cell).
    """
    import jupytext

    for cell in jupytext.read(src).cells:
        if "parameters" in cell.metadata.get("tags", []):
            return {
                node.targets[0].id: ast.literal_eval(node.value)
                for node in ast.parse(cell.source).body
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            }
    return {}


def notebook_networks(src: Path, preset: str, parameters: dict | None = None) -> list[tuple]:
    """The networks a notebook trains, as it declares them: its cell tagged ``networks`` run
    after its ``parameters`` cell (``preset`` and ``parameters`` overriding the defaults, as
    papermill does), which leaves them in ``networks`` as jobs of
    :func:`karaoke.nn.pool.train_many`. The notebook trains the same list; the runner reads it
    to train every notebook's networks side by side first, so that none is trained twice.

    Parameters
    ----------
    src : Path
        A percent-format notebook (``notebooks/NN_*.py``).
    preset : str
        The preset it is run at (its ``preset`` parameter).
    parameters : dict, optional
        Other parameter overrides.

    Returns
    -------
    list of (Survey, ModelConfig, TrainConfig)
        Empty for a notebook without a ``networks`` cell.

    Raises
    ------
    ValueError
        If the cell does not leave a list in ``networks``.
    """
    import jupytext

    cells = {tag: c.source for c in jupytext.read(src).cells for tag in c.metadata.get("tags", [])}
    if "networks" not in cells:
        return []
    ns: dict = {}
    exec(compile(cells.get("parameters", ""), f"{src}:parameters", "exec"), ns)
    ns.update({"preset": preset, **(parameters or {})})
    exec(compile(cells["networks"], f"{src}:networks", "exec"), ns)
    jobs = ns.get("networks")
    if not isinstance(jobs, list):
        raise ValueError(f"{src}: its 'networks' cell must leave a list of training jobs in `networks`")
    return jobs


def pretrain(preset: str, srcs) -> None:
    """Train the networks every notebook among ``srcs`` declares (:func:`notebook_networks`),
    side by side (those not in the cache; :func:`karaoke.nn.pool.train_many`). A failure is
    printed and left to the notebook that needs the network."""
    from karaoke.nn.pool import train_many

    jobs = [job for src in map(Path, srcs) for job in notebook_networks(src, preset)]
    if not jobs:
        return
    print(
        f"[karaoke] the {len(jobs)} networks of the notebooks (preset {preset}), trained side by side where not cached",
        flush=True,
    )
    try:
        train_many(jobs, progress=True)
    except Exception as exc:  # the notebook that needs the network reports it again
        print(f"[karaoke] training failed: {exc}", file=sys.stderr)


def to_ipynb(src: Path, dst: Path) -> Path:
    """Convert a percent-format ``.py`` into an ``.ipynb`` (kernel pinned to ``python3``)."""
    import jupytext

    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    jupytext.write(nb, dst)
    return dst


def run(src: Path, preset: str, out: Path, extra: dict | None = None, execution_timeout: int = 7200) -> Path:
    import papermill as pm

    tmp = out.with_suffix(".input.ipynb")
    to_ipynb(src, tmp)
    try:
        pm.execute_notebook(
            str(tmp),
            str(out),
            parameters={"preset": preset, **(extra or {})},
            kernel_name="python3",
            progress_bar=False,
            cwd=str(notebooks_dir()),
            execution_timeout=execution_timeout,
        )
    finally:
        tmp.unlink(missing_ok=True)
    return out


def build_parser() -> argparse.ArgumentParser:
    from karaoke.presets import DEFAULT_PRESET, PRESETS, harps_presets

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--preset",
        "--scale",
        dest="preset",
        default=DEFAULT_PRESET,
        choices=harps_presets(),
        help="preset (default %(default)s): " + "; ".join(f"{k}: {PRESETS[k].description}" for k in harps_presets()),
    )
    p.add_argument(
        "--sync",
        action="store_true",
        help="write executed notebooks next to their sources (the committed nbval references); use with --preset ci",
    )
    p.add_argument("--only", default=None, help="glob of notebooks to run, e.g. '03_*'")
    p.add_argument(
        "--train-only",
        action="store_true",
        help="only train the notebooks' networks (side by side) "
        "into the cache, e.g. before nbval runs the committed notebooks",
    )
    return p


def main(argv=None) -> int:
    p = build_parser()
    a = p.parse_args(argv)
    srcs = notebook_sources(f"{a.only}.py" if a.only else "[0-9][0-9]_*.py")
    if a.sync and a.preset != "ci":
        p.error("--sync writes the nbval references, which are executed at the ci preset")
    failed = []
    t0 = time.time()
    pretrain(a.preset, srcs)
    if a.train_only:
        return 0
    for src in srcs:
        out = src.with_suffix(".ipynb") if a.sync else ensure(figures_dir() / "notebooks") / f"{src.stem}.ipynb"
        print(f"[karaoke] {src.name} (preset {a.preset}) -> {out}", flush=True)
        try:
            run(src, a.preset, out)
        except Exception as exc:  # keep going, report at the end
            print(f"[karaoke] {src.name} failed: {exc}", file=sys.stderr)
            failed.append(src.name)
    if not a.sync:
        report_claims(a.preset, time.time() - t0, failed)
    if failed:
        print(f"[karaoke] failed notebooks: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"[karaoke] figures in {figures_dir()}")
    return 0


def machine() -> str:
    """This machine in a few words: CPU model (or GPU name), thread count and, when it is not the
    native one, the float path its environment sets (:func:`karaoke.nn.pool.current_float_path`)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from karaoke.nn.pool import current_float_path

    n = torch.get_num_threads()
    path = current_float_path()
    return f"CPU {cpu}, {n} thread" + ("s" if n != 1 else "") + ("" if path == "native" else f", {path} float path")


def report_claims(preset: str, seconds: float, failed=()) -> Path:
    """Print which of the paper's claims the figures just made show and write them to
    ``figures/claims_<preset>.csv`` (:func:`karaoke.evaluation.claims.figure_claims` on the tables
    the notebooks wrote; a claim whose notebook did not run is left undecided), and the run's
    time and machine to ``figures/run_<preset>.csv``."""
    from karaoke._atomic import write_csv
    from karaoke.evaluation.claims import figure_claims
    from karaoke.evaluation.sweeps import figure_tables

    rows = figure_claims(figure_tables(figures_dir()))
    stamp = {
        "preset": preset,
        "minutes": round(seconds / 60, 1),
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
        "failed_notebooks": " ".join(failed) or "none",
    }
    out = write_csv(figures_dir() / f"claims_{preset}.csv", rows)
    write_csv(figures_dir() / f"run_{preset}.csv", [stamp])
    when = f"preset {preset}, {stamp['minutes']} min, {stamp['machine']}"
    print(f"[karaoke] the paper's claims in these figures ({when}):")
    for r in rows:
        word = {True: "holds", False: "does NOT hold", None: "not decided (its notebook did not run)"}[r["holds"]]
        print(f"[karaoke]   {r['figure']:9s} {r['claim']}: {word}")
    return out


if __name__ == "__main__":
    sys.exit(main())
