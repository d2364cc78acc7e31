# %% [markdown]
# # 07 — Real HARPS validation: α Cen B, karaoke vs a wobble-style model (Fig. 10)
#
# 88 real HARPS spectra of α Cen B (barycentric, BERV −3.6…+18.3 km/s, airmass 1.17–1.55,
# humidity 7–66 %), from `../shared/data`. Reference: the shared standard-atmosphere telluric
# model (vacuum → air), scaled in depth per exposure, gives the telluric profile, the mask and
# the pseudo-truth of Section 5.2. Compared: karaoke trained on these spectra alone and mixed
# with the synthetic survey (unsupervised: the method may be trained on the set it cleans), a
# wobble-style joint fit (stellar template in the barycentric frame, telluric template in the
# observatory frame) and PCA. Karaoke alone is trained as `karaoke train` does by default: one
# network per KL weight of the preset's ladder, the best separated kept without truth
# (`karaoke.evaluation.ladder_cached`). The mixed network keeps the preset's weight: a ladder
# judged on the mixed survey's held-out stars, all synthetic, speaks for them and not for
# α Cen B (in the O2 window it would pick a tighter bottleneck that loses the real star;
# docs/history.md, session 11).
# Everything is evaluated in the topocentric frame. Besides Qt and
# Qs against the pseudo-truth, each method's telluric transmission (input / its telluric-free
# model) is compared with the reference over the telluric lines: an RMS that includes the photon
# noise, the figure line-fitting tools quote (PyMolFit against molecfit: 0.004-0.006).

# %% tags=["parameters"]
preset = "ci"
grid_start = None  # None: the grid of the preset's synthetic survey (needed for the mixed training)
n_pixels = None
velocity = 30.0
epochs_alone = 300
pca_components = 16
wobble_iterations = 400

# %% tags=["networks", "nbval-ignore-output"]
# The networks this notebook trains, declared once: the runner (karaoke.notebooks) reads this cell
# to train every notebook's networks side by side before running them.
# Karaoke alone: the preset's KL ladder on the star's spectra; mixed: with the synthetic survey.
from karaoke.archive.realdata import alpha_cen_b_path, alpha_cen_b_training
from karaoke.evaluation import ladder_jobs
from karaoke.presets import KL_LADDER, get_preset, preset_survey

cfg = get_preset(preset)
if grid_start is None:
    grid_start, n_pixels = cfg.survey.grid_start, cfg.survey.n_pixels
mc = cfg.model_config()
alone_config, mixed_config = cfg.train_config(velocity, epochs=epochs_alone), cfg.train_config(velocity)
networks = []
if alpha_cen_b_path().exists():
    real, mixed_survey = alpha_cen_b_training(grid_start, n_pixels, synth=preset_survey(preset).normalised()[0])
    networks = ladder_jobs(real, mc, alone_config, cfg.kl_ladder or KL_LADDER) + [(mixed_survey, mc, mixed_config)]

# %%
import csv
import time
from functools import partial

import numpy as np

from karaoke import plotting
from karaoke.archive.realdata import load_alpha_cen_b, telluric_reference, to_topocentric
from karaoke.evaluation import ladder_cached, score
from karaoke.evaluation.joint_fit import wobble_reconstruct
from karaoke.evaluation.metrics import PCABaseline, truth_spectra
from karaoke.evaluation.truthfree import RANK_CONFIG, line_templates
from karaoke.nn.training import train_cached
from karaoke.paths import figures_dir

plotting.use_style()
if not alpha_cen_b_path().exists():
    raise SystemExit(f"alpha Cen B data not found at {alpha_cen_b_path()} (../shared/data is absent)")
bary, rejected = load_alpha_cen_b(grid_start, n_pixels).normalised()
topo = to_topocentric(bary)
T = telluric_reference(bary)  # (88, L) topocentric transmission
print(f"{len(bary)} spectra, {len(rejected)} rejected, {bary.wave[0]:.2f}-{bary.wave[-1]:.2f} A (air)")

# %% tags=["nbval-ignore-output"]
alone, ladder = ladder_cached(real, mc, alone_config, cfg.kl_ladder or KL_LADDER,
                              progress=False)  # the CLI's default recipe
mixed = train_cached(mixed_survey, mc, mixed_config, progress=False)
wobble = partial(wobble_reconstruct, grid=topo.grid, berv=bary.meta["berv"], mask=bary.pixel_mask(),
                 airmass=bary.meta["airmass"], iterations=wobble_iterations)  # the per-object fit, on any inputs
t0 = time.perf_counter()
wobble_out = wobble(topo.flux)
wobble_seconds = time.perf_counter() - t0
pca = PCABaseline(pca_components).fit(topo.flux)
recon = {"karaoke (alone)": alone.reconstruct(topo.flux), "karaoke (mixed)": mixed.reconstruct(topo.flux),
         "wobble-style": wobble_out,
         f"PCA ({pca_components})": pca.reconstruct(topo.flux)}
print(f"wobble-style fit: {wobble_seconds:.0f} s for the object ({len(bary)} epochs)")
print(f"karaoke alone: KL weight {ladder['chosen']:g} chosen from {ladder['kl_weights']} on "
      f"{ladder['n_spectra']} held-out spectra, no truth")

# %% tags=["nbval-ignore-output"]
# Qt and Qs against the pseudo-truth of the reference transmission; the telluric transmission each
# method implies (input / its telluric-free model) against that reference; how each method's output
# responds to the telluric lines of its input (leakage, against the reference) and to the star's
# lines (estimated from the 88 spectra alone, no truth). Every method's probes go through the same
# path as its output (the wobble-style fit is refitted on each probe).
methods = {"karaoke (alone)": alone.reconstruct, "karaoke (mixed)": mixed.reconstruct,
           "wobble-style": wobble, f"PCA ({pca_components})": pca.reconstruct}
one_star = np.zeros(len(topo), dtype=int)
templates = line_templates(topo.flux, topo.wave, bary.meta["berv"], one_star, RANK_CONFIG, mask=topo.pixel_mask())
scores = {k: score(f, topo, transmission=T, recon=recon[k], pixmask=topo.pixel_mask(), templates=templates,
                   star_id=one_star).summary() for k, f in methods.items()}
kl = {"karaoke (alone)": f"{ladder['chosen']:g} (chosen)",
      "karaoke (mixed)": f"{cfg.train_config(velocity).kl_weight:g}"}
rows = [{"method": k, "kl_weight": kl.get(k, ""), "Qt": round(q["Qt"], 3), "Qs": round(q["Qs"], 3),
         "transmission_rms": round(q["transmission_rms"], 4), "leakage": round(q["leakage"], 3),
         "stellar_response_est": round(q["stellar_response_est"], 3)} for k, q in scores.items()]
with open(figures_dir() / "table_fig10_alpha_cen_b.csv", "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
for r in rows:
    print(f"{r['method']:18s} Qt {r['Qt']:.3f}  Qs {r['Qs']:.3f}  transmission RMS {r['transmission_rms']:.4f}  "
          f"leakage {r['leakage']:.3f}  stellar response (est.) {r['stellar_response_est']:.3f}")

# %% [markdown]
# ## Fig. 10 — the 12 Å of the window's deepest telluric lines

# %% tags=["nbval-ignore-output"]
i = int(np.argmax(np.abs(bary.meta["berv"])))
truth = truth_spectra(topo.flux, topo.wave, T)  # the pseudo-truth
zoom = plotting.deepest_telluric_window(topo.wave, T, 12.0)
fig = plotting.plot_reconstructions(topo.wave, topo.flux[[i]], recon["karaoke (mixed)"][[i]], truth=truth[[i]],
                                    zooms=[zoom], labels=[f"BERV {bary.meta['berv'][i]:.1f} km/s"], n=1)
ax = fig.axes[1]
sel = plotting.region(topo.wave, *zoom)
ax.plot(topo.wave[sel], recon["wobble-style"][i][sel], color="C3", lw=0.7, label="wobble-style")
ax.legend(loc="lower left", fontsize=6)
plotting.savefig(fig, "fig10_wobble_comparison");

# %% tags=["nbval-ignore-output"]
best = min(scores, key=lambda k: scores[k]["Qt"])
print("best telluric rejection (lowest Qt):", best)

# %% [markdown]
# Checked by nbval: only results that do not depend on a trained network (whose scores spread
# between seeds at `ci`).

# %%
print("every method is evaluated on", len(topo), "real spectra")
print(f"the wobble-style fit rejects more tellurics than PCA ({pca_components}):",
      scores["wobble-style"]["Qt"] < scores[f"PCA ({pca_components})"]["Qt"])

# %% [markdown]
# **Reading the table.** With 88 epochs of one star spread over 22 km/s of BERV, a per-object
# stellar template plus a fixed telluric template (the wobble-style fit) is exactly the right
# model, and it wins clearly at this training length. Karaoke's advantage claimed by the paper --
# no per-object fit, milliseconds per spectrum once trained on a whole archive -- needs
# archive-scale training to be tested. PCA keeps every telluric line and reconstructs the input best.
#
# Numbers are not typed here: they depend on the preset and, at `ci`, on the seed and the CPU
# (`benchmarks/spread.py`). The table above and the CSV written to `figures/` hold this run's
# values; the README's result table is generated from `benchmarks/science.py`'s CSV.
