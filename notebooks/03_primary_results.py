# %% [markdown]
# # 03 — Primary results (Figs. 1, 5, 6 and the Qt/Qs table)
#
# Held-out stars of the synthetic survey (never seen in training) are reconstructed by the
# whitened network (N = 30 km/s) and by the topocentric one (N = 0). The metrics of Section 5.2
# are computed against the exact truth that the synthetic survey keeps and against the paper's
# pseudo-truth built from the transmission; PCA with as many components as latent dimensions
# (the paper's linear foil) and a plain low-pass filter are the baselines. Because the synthetic
# survey knows each spectrum's exact transmission and stellar spectrum, two more numbers separate
# what Qt mixes (tellurics kept, stellar lines missed inside the telluric mask): how much the
# output changes when the input's telluric lines are divided out (the *leakage*), and when its
# stellar lines are divided out (the *stellar response*), each relative to the input's change
# (`karaoke.evaluation.metrics.line_responses`; the identity gives 1 and 1, the paper's goal is 0 and 1);
# and a telluric pattern a network may output whatever its input holds (*static*: the depth of
# the survey's mean telluric lines in the output for telluric-free inputs, as a fraction of
# their mean depth; `karaoke.evaluation.metrics.static_telluric_pattern`).

# %% tags=["parameters"]
preset = "ci"
velocity = 30.0
latent_dim = 128

# %% tags=["networks", "nbval-ignore-output"]
# The networks this notebook trains, declared once: the runner (karaoke.notebooks) reads this cell
# to train every notebook's networks side by side before running them.
from karaoke.presets import preset_jobs

points = [{"velocity": velocity, "latent_dim": latent_dim}, {"velocity": 0.0, "latent_dim": latent_dim}]
networks = preset_jobs(preset, points)

# %%
import csv

import numpy as np

from karaoke import plotting
from karaoke.evaluation import score
from karaoke.evaluation.metrics import PCABaseline, lowpass_baseline, pseudo_truth, telluric_profile, truth_spectra
from karaoke.paths import figures_dir
from karaoke.presets import heldout, preset_models, preset_survey, split_indices

plotting.use_style()
survey = preset_survey(preset)
test, norm = heldout(survey, preset)
train_idx, _ = split_indices(norm, preset)
print(f"{len(test)} held-out spectra of {len(np.unique(test.meta['star_id']))} stars")

# %% tags=["nbval-ignore-output"]
whitened, topo = preset_models(preset, points, survey=survey)  # trained side by side
recon = {"VAE whitened": whitened.reconstruct(test.flux), "VAE topocentric": topo.reconstruct(test.flux)}
pca = PCABaseline(latent_dim).fit(norm.flux[train_idx[:4000]])
recon["PCA"] = pca.reconstruct(test.flux)
recon["low-pass"] = lowpass_baseline(test.flux)
methods = {"VAE whitened": whitened.reconstruct, "VAE topocentric": topo.reconstruct, "PCA": pca.reconstruct,
           "low-pass": lowpass_baseline}

# %% [markdown]
# ## Fig. 1 / Fig. 5 — input, reconstruction and truth
# Whole range, then two zooms: the 4 A of deepest telluric absorption (at `ci` and `regime` the
# O2 lines of the gamma band's tail among the stellar ones) and a region where stellar lines
# appear in some stars but not in others.

# %% tags=["nbval-ignore-output"]
scores = {k: score(methods[k], test, recon=r, static=True) for k, r in recon.items()}  # exact truth
lo, hi = test.wave[0], test.wave[-1]
zooms = [plotting.deepest_telluric_window(test.wave, test.transmission, 4.0),
         (lo + 0.15 * (hi - lo), lo + 0.15 * (hi - lo) + 4)]
print("telluric zoom: {:.1f}-{:.1f} A".format(*zooms[0]))
rows = np.argsort(test.meta["teff"])[[0, len(test) // 2, -1]]  # a cool, a mid and a hot star
labels = [f"Teff {test.meta['teff'][i]:.0f} K\nvsini {test.meta['vsini'][i]:.0f}" for i in rows]
fig = plotting.plot_reconstructions(test.wave, test.flux[rows], recon["VAE whitened"][rows],
                                    truth=truth_spectra(test.flux, test.wave, test.transmission, test.stellar)[rows], zooms=zooms, labels=labels)
plotting.savefig(fig, "fig5_reconstructions");

# %% [markdown]
# ## Fig. 6 — building the pseudo-truth
# Transmission → high-pass-filtered telluric profile T → input S divided by T → median-smoothed.

# %% tags=["nbval-ignore-output"]
i = rows[1]
prof = telluric_profile(test.transmission[i], survey.grid.step)[0]
fig = plotting.plot_pseudo_truth(test.wave, test.transmission[i], prof, test.flux[i], test.flux[i] / prof,
                                 pseudo_truth(test.flux[i], prof)[0], lim=zooms[0])
plotting.savefig(fig, "fig6_pseudo_truth");

# %% [markdown]
# ## Qt / Qs table (medians over held-out spectra; lower is better)

# %% tags=["nbval-ignore-output"]
table = []
for name, sc in scores.items():
    s = sc.summary()
    for truth_kind, suffix in (("exact", ""), ("pseudo", "_pseudo")):
        table.append({"method": name, "truth": truth_kind, "Qt": round(s["Qt" + suffix], 3),
                      "Qs": round(s["Qs" + suffix], 3), "leakage": round(s["leakage"], 3),
                      "stellar_response": round(s["stellar_response"], 3),
                      "static_pattern": round(s["static_pattern"], 3), "n": s["n"]})
out = figures_dir() / "table_primary_metrics.csv"
with open(out, "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=list(table[0]))
    w.writeheader()
    w.writerows(table)
for row in table:
    print(f"{row['method']:16s} {row['truth']:6s}  Qt {row['Qt']:.3f}  Qs {row['Qs']:.3f}  leakage {row['leakage']:.3f}  "
          f"stellar response {row['stellar_response']:.3f}  static {row['static_pattern']:.3f}")

# %% [markdown]
# Checked by nbval: only what holds for every seed and thread count measured at `ci`
# (`benchmarks/spread.py`: 3 seeds and 1 vs 2 threads; the trained networks' Qt and Qs spread
# between seeds there, so they are not compared). The claims on Qt, Qs and the line responses are
# checked by `tests/evaluation/test_science.py` at a preset trained to convergence.

# %%
by = {row["method"]: row for row in table if row["truth"] == "exact"}
print("PCA keeps the tellurics (Qt > 0.9):", by["PCA"]["Qt"] > 0.9)
print("the whitened network's fixed telluric pattern is at most half the topocentric one's:",
      by["VAE whitened"]["static_pattern"] <= 0.5 * by["VAE topocentric"]["static_pattern"])

# %% [markdown]
# **Reading the table.** With the converged preset (`-p preset regime`, the default of
# `make figures`) both networks follow the stellar lines of their input (stellar response near 1 is
# the identity, 0 a network that ignores its input), and only the topocentric one adds the survey's
# telluric lines as a fixed pattern (*static*): whitening lowers Qt by removing that pattern and the
# telluric response, as the paper describes. At `ci` (the same window and recipe cut to 8 epochs,
# what nbval runs) the networks are on their way there. PCA and the low-pass filter follow
# everything (responses ≈ 1), tellurics included.
#
# Numbers are not typed here: they depend on the preset and, at `ci`, on the seed and the CPU
# (`benchmarks/spread.py`). The table above and the CSV written to `figures/` hold this run's
# values; the README's result table is generated from `benchmarks/science.py`'s CSV.
