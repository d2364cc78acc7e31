# %% [markdown]
# # 06 — Deterministic AE vs VAE (Fig. 8)
#
# The same network with and without the variational bottleneck (latent-loss weight a
# parameter), both at N = 30 km/s. The paper found that the AE reconstructs slightly better but
# rejects far fewer tellurics than the VAE with latent weight 0.1.

# %% tags=["parameters"]
scale = "ci"
velocity = 30
latent_dim = 128
kl_weight = None  # None: the scale preset's weight

# %%
from karaoke import plotting
from karaoke.paths import figures_dir
from karaoke.sweeps import point_label, run_sweep, summarise, write_table

plotting.use_style()
vae = {"velocity": velocity, "latent_dim": latent_dim, "variational": True}
if kl_weight is not None:
    vae["kl_weight"] = kl_weight
points = [{"velocity": velocity, "latent_dim": latent_dim, "variational": False}, vae]
labels = [point_label(velocity, latent_dim, False), point_label(velocity, latent_dim, True)]

# %% tags=["nbval-ignore-output"]
rows = run_sweep(scale, points)
write_table(rows, figures_dir() / "table_fig8_ae_vs_vae.csv")
fig = plotting.plot_metric_distributions(rows, labels, title=f"AE vs VAE ({scale})", primary=labels[1])
plotting.savefig(fig, "fig8_ae_vs_vae");
summary = {s["label"]: s for s in summarise(rows)}
for lab in labels:
    print(f"{lab:16s} Qt {summary[lab]['Qt']:.3f}  Qs {summary[lab]['Qs']:.3f}  "
          f"leakage {summary[lab]['leak']:.3f}  stellar response {summary[lab]['stellar_response']:.3f}  "
          f"static {summary[lab]['static_pattern']:.3f}")

# %% [markdown]
# Checked by nbval: what was trained and scored. At `ci` the AE and VAE medians spread by up to
# 0.6 between seeds (`benchmarks/spread.py`) and their order changes with the seed, so no
# comparison is printed here; `regime` and the README give the converged result.

# %%
print("networks:", ", ".join(labels), f"({summary[labels[0]]['n']} held-out spectra each)")

# %% [markdown]
# **Measured at `ci`** (when this notebook was executed): the AE reconstructs the stars better
# (median Qs 0.83 against 1.44) but keeps the tellurics (Qt 0.94), while the VAE with latent
# weight 0.01 has the lower Qt (0.40) -- the direction the paper found with weight 0.1 (AE
# slightly better reconstruction, far fewer tellurics rejected). The line responses qualify
# this: the AE follows its input (stellar response 0.41) and passes the telluric lines through
# (leakage 0.99); the VAE follows neither (0.08 and 0.03), so its low Qt is not yet a selective
# rejection. The `ci` preset uses weight 0.01 because 0.1 collapses the posterior in 10 CPU
# epochs (the output becomes the mean spectrum). With `-p scale regime` (100 epochs in a window
# with the paper's telluric share; README) the selective rejection is there and the result is
# the paper's: the AE reconstructs slightly better (Qs 0.39 against 0.45) but rejects far fewer
# tellurics (Qt 0.65 against 0.40), following its input's telluric lines three times as much
# (leakage 0.44 against 0.14; stellar response 0.77 and 0.70).
