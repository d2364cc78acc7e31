"""Figures of the paper, one function each, and the velocity-whitening explorer widget.

Notebooks call :func:`use_style` once and then these functions; no styling lives in cells.
Colours follow Fig. 5: input grey, reconstruction orange, (pseudo-)truth green.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from karaoke.nn.whitening import leading_mode_fraction
from karaoke.paths import ensure, figures_dir
from karaoke.spectra.grid import Grid

STYLE = Path(__file__).with_name("karaoke.mplstyle")
COLORS = {"input": "0.55", "recon": "C1", "truth": "C2", "telluric": "C0"}


def use_style():
    """Apply the project's matplotlib style."""
    import matplotlib.pyplot as plt

    plt.style.use(str(STYLE))


def savefig(fig, name: str) -> Path:
    """Save ``fig`` as ``figures/<name>.png`` atomically; returns the path."""
    out = ensure(figures_dir()) / f"{name}.png"
    from karaoke._atomic import atomic_path

    with atomic_path(out, suffix=".tmp.png") as tmp:
        fig.savefig(tmp)
    return out


def region(wave, lo, hi):
    """Boolean selection of ``wave`` in [lo, hi] (Angstrom)."""
    wave = np.asarray(wave)
    return (wave >= lo) & (wave <= hi)


def deepest_telluric_window(wave, transmission, width: float = 4.0, margin: float = 1.0):
    """The ``width``-Angstrom window where the mean telluric *line* absorption is largest (a zoom
    that follows the preset's wavelength range).

    Line absorption is measured against the transmission's own continuum
    (:func:`karaoke.evaluation.metrics.telluric_profile`), so a broad slope (Rayleigh scattering,
    a band's wing) at the grid's edge does not win; the window keeps ``margin`` from both edges
    (whitening shifts of 30 km/s move the spectrum by ~0.6 A, filling the edges with padding).

    Parameters
    ----------
    wave : array (L,)
        Uniform wavelength grid (Angstrom).
    transmission : array (L,) or (N, L)
        Telluric transmission on ``wave`` (rows are averaged).
    width : float
        Window width, Angstrom.
    margin : float
        Distance kept from the first and last pixel, Angstrom.

    Returns
    -------
    (lo, hi) : floats, Angstrom, inside ``wave``.
    """
    from karaoke.evaluation.metrics import telluric_profile

    wave = np.asarray(wave, dtype=float)
    trans = np.asarray(transmission, dtype=float)
    if wave.ndim != 1 or wave.size < 2 or trans.shape[-1] != wave.size or trans.ndim > 2:
        raise ValueError(
            f"transmission of shape {trans.shape} does not match a wavelength grid of "
            f"shape {wave.shape}; expected (L,) or (N, L)"
        )
    step = float(wave[1] - wave[0])
    if width + 2 * margin >= wave[-1] - wave[0]:
        return float(wave[0]), float(wave[-1])
    mean = trans.reshape(-1, wave.size).mean(0)[None]  # (1, L)
    absorb = 1.0 - telluric_profile(mean, step)[0]  # (L,) line depth against the continuum
    n = max(1, int(round(width / step)))
    run = np.convolve(absorb, np.ones(n), mode="valid")  # (L - n + 1,) absorption of each window
    starts = wave[: run.size]
    run[(starts < wave[0] + margin) | (starts + (n - 1) * step > wave[-1] - margin)] = -np.inf
    i = int(np.argmax(run))
    return float(wave[i]), float(wave[i + n - 1])


def plot_exemplars(
    wave, before, after, telluric_line=None, stellar_line=None, offset=0.6, title=("topocentric", "velocity-whitened")
):
    """Fig. 3: stacked exemplar spectra before and after randomisation. Arrays (n, L)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 4.5), sharey=True)
    for ax, data, t in zip(axes, (before, after), title):
        for i, f in enumerate(data):
            ax.plot(wave, f + offset * i, color="k", lw=0.6)
        if telluric_line is not None:
            ax.axvline(telluric_line, color="C3", ls=":", lw=1)
        if stellar_line is not None:
            ax.axvline(stellar_line, color="C2", ls=":", lw=1)
        ax.set_title(t)
        ax.set_xlabel("wavelength (air, A)")
    axes[0].set_ylabel("normalised flux + offset")
    return fig


def plot_covariance(cov_before, cov_after, extent=None):
    """Fig. 4: covariance matrices before and after whitening (symmetric colour scale)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
    vmax = np.nanpercentile(np.abs(cov_before), 99.5)
    for ax, c, t in zip(axes, (cov_before, cov_after), ("topocentric", "whitened")):
        im = ax.imshow(c, vmin=-vmax, vmax=vmax, extent=extent, origin="lower")
        ax.set_title(f"{t}: leading mode {_lmf_from_cov(c):.0%} of variance")
        ax.set_xlabel("wavelength (A)")
    fig.colorbar(im, ax=axes, shrink=0.8, label="covariance")
    return fig


def _lmf_from_cov(c):
    ev = np.linalg.eigvalsh(c)
    return float(ev[-1] / ev.sum())


def plot_reconstructions(wave, flux, recon, truth=None, zooms=(), labels=None, n=3):
    """Figs. 1/5: rows of spectra, whole range then zoomed regions; arrays (N, L)."""
    import matplotlib.pyplot as plt

    n = min(n, len(flux))
    ncol = 1 + len(zooms)
    fig, axes = plt.subplots(
        n, ncol, figsize=(3.2 * ncol + 1, 1.9 * n), squeeze=False, gridspec_kw={"width_ratios": [2] + [1] * len(zooms)}
    )
    for i in range(n):
        for j, lim in enumerate([None] + list(zooms)):
            ax = axes[i, j]
            sel = slice(None) if lim is None else region(wave, *lim)
            ax.plot(wave[sel], flux[i][sel], color=COLORS["input"], label="input")
            if truth is not None:
                ax.plot(wave[sel], truth[i][sel], color=COLORS["truth"], label="truth")
            ax.plot(wave[sel], recon[i][sel], color=COLORS["recon"], label="reconstruction")
            if lim is None:
                for z in zooms:
                    ax.axvspan(*z, color="0.9", zorder=0)
                if labels is not None:
                    ax.set_ylabel(str(labels[i]), fontsize=7)
    axes[0, 0].legend(loc="lower left", ncol=3)
    for ax in axes[-1]:
        ax.set_xlabel("wavelength (air, A)")
    fig.tight_layout()
    return fig


def plot_pseudo_truth(wave, transmission, profile, flux, divided, truth, lim=None):
    """Fig. 6: transmission, its high-passed telluric profile, and S -> S/T -> smoothed S~."""
    import matplotlib.pyplot as plt

    sel = slice(None) if lim is None else region(wave, *lim)
    fig = plt.figure(figsize=(8, 5))
    a1, a2 = fig.add_subplot(2, 2, 1), fig.add_subplot(2, 2, 2)
    a3 = fig.add_subplot(2, 1, 2)
    a1.plot(wave[sel], transmission[sel], color=COLORS["telluric"])
    a1.set_title("transmission")
    a2.plot(wave[sel], profile[sel], color=COLORS["telluric"])
    a2.set_title("telluric profile T (continuum removed)")
    a3.plot(wave[sel], flux[sel], color=COLORS["input"], label="input S")
    a3.plot(wave[sel], divided[sel], color="C3", lw=0.6, label="S / T")
    a3.plot(wave[sel], truth[sel], color=COLORS["truth"], label="pseudo-truth (median-smoothed)")
    a3.legend(loc="lower left", ncol=3)
    a3.set_xlabel("wavelength (air, A)")
    fig.tight_layout()
    return fig


def plot_history(history, title=""):
    """Training curves from a run's history (list of dicts)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    ep = [h["epoch"] for h in history]
    ax[0].plot(ep, [h["l1"] for h in history], label="train L1", color="C1")
    ax[0].plot(ep, [h["val_l1"] for h in history], label="held-out L1", color="C2")
    ax[0].set_xlabel("epoch")
    ax[0].legend()
    ax[1].plot(ep, [h["kl"] for h in history], color="C0")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("KL")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


class WhiteningExplorer:
    """Interactive view of velocity whitening: a slider for N (km/s) redraws the spectra and the
    covariance matrix of a region.

    Parameters
    ----------
    flux : array (n, L)
        Normalised topocentric spectra on ``grid``.
    grid : Grid
    lo, hi : float
        Region shown (Angstrom).
    seed : int
        Seed of the random velocities (the same draw is rescaled as N changes).
    """

    def __init__(
        self, flux, grid: Grid, lo: float, hi: float, seed: int = 0, n_show: int = 6, max_velocity: float = 30.0
    ):
        import torch

        self.flux = torch.as_tensor(np.asarray(flux, dtype=np.float32))
        self.grid = grid
        self.sel = region(grid.wave, lo, hi)
        self.n_show = n_show
        g = torch.Generator().manual_seed(seed)
        self._unit = 2 * torch.rand(self.flux.shape[0], generator=g) - 1  # U(-1, 1)
        self.velocity = None
        self.shifted = None
        self.cov = None
        self._fig = None
        self.image = None
        self.update(max_velocity)

    def update(self, max_velocity: float):
        """Recompute the whitened spectra and the covariance for N = ``max_velocity``."""
        from karaoke.nn.whitening import velocity_shift

        self.velocity = float(max_velocity)
        v = self._unit * self.velocity
        shifted, _ = velocity_shift(self.flux, v, self.grid)
        self.shifted = shifted.numpy()[:, self.sel]
        self.cov = np.cov(self.shifted.T)
        self.leading_mode = leading_mode_fraction(self.shifted)
        if self._fig is not None:
            self._draw()
        return self

    def _draw(self):
        ax1, ax2 = self._fig.axes[:2]
        ax1.clear()
        ax2.clear()
        w = self.grid.wave[self.sel]
        for i in range(min(self.n_show, len(self.shifted))):
            ax1.plot(w, self.shifted[i] + 0.5 * i, color="k", lw=0.6)
        ax1.set_title(f"N = {self.velocity:.0f} km/s")
        vmax = np.nanpercentile(np.abs(self.cov), 99.5)
        ax2.imshow(self.cov, vmin=-vmax, vmax=vmax, origin="lower", cmap="RdBu_r", extent=(w[0], w[-1], w[0], w[-1]))
        ax2.set_title(f"covariance; leading mode {self.leading_mode:.0%}")
        if self.image is not None:
            buf = io.BytesIO()
            self._fig.savefig(buf, format="png", dpi=80)
            self.image.value = buf.getvalue()

    def widget(self):
        """An ipywidgets VBox: an IntSlider for N and the figure as an Image widget.

        The figure is rendered to PNG bytes rather than shown through an ``Output`` widget:
        capturing output in widgets can leave notebook runners (papermill/nbclient) waiting
        forever for a cell to finish (jupyter/nbclient#312), which we saw on this machine.
        """
        import ipywidgets as widgets
        from matplotlib.figure import Figure

        self.slider = widgets.IntSlider(
            value=int(self.velocity), min=0, max=60, step=5, description="N (km/s)", continuous_update=False
        )
        self.image = widgets.Image(format="png")
        self._fig = Figure(figsize=(9, 3.5), layout="constrained")  # no pyplot: nothing shown twice
        self._fig.subplots(1, 2)
        self._draw()
        self.slider.observe(lambda change: self.update(change["new"]), names="value")
        return widgets.VBox([self.slider, self.image])


def plot_metric_distributions(rows, order, title="", primary=None):
    """Figs. 7 and 8: box plots of Qt and Qs per network over the test spectra.

    ``rows``: tidy rows (``label``, ``Qt``, ``Qs``); ``order``: labels left to right; the
    ``primary`` label is starred.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, key, name in zip(axes, ("Qt", "Qs"), ("telluric rejection Qt", "stellar reconstruction Qs")):
        data = [[r[key] for r in rows if r["label"] == lab and np.isfinite(r[key])] for lab in order]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(order) + 1))
        ax.set_xticklabels([f"{lab}*" if lab == primary else lab for lab in order], rotation=30, ha="right")
        ax.set_title(f"{name} (lower is better)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_compression(summary, primary_latent=128):
    """Fig. 9: median Qs and Qt (with interquartile bars) against the latent size."""
    import matplotlib.pyplot as plt

    d = np.array([s["latent_dim"] for s in summary], dtype=float)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for key, color in (("Qs", "C2"), ("Qt", "C3")):
        y = np.array([s[key] for s in summary])
        e = np.array([s[f"{key}_iqr"] for s in summary]) / 2
        ax.errorbar(d, y, yerr=e, marker="o", color=color, label=key, capsize=2)
    ax.axvline(primary_latent, color="0.6", ls=":", label="primary network")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("latent dimensions")
    ax.set_ylabel("median metric (lower is better)")
    ax.legend()
    fig.tight_layout()
    return fig
