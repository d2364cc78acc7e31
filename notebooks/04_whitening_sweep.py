# %% [markdown]
# # 04 — Whitening level sweep (Fig. 7)
#
# Networks that differ only in the whitening level N (v ~ U(−N, N) km/s; N = 0 is the
# topocentric network), everything else fixed. Each point is trained once and cached under
# `data/cache/runs` (keyed by its full configuration and the data); re-running reuses finished
# points and resumes an interrupted one. Metrics on held-out stars against the exact truth.

# %% tags=["parameters"]
scale = "ci"
velocities = [0, 5, 15, 30]
latent_dim = 128
primary_velocity = 30

# %%
from karaoke import plotting
from karaoke.paths import figures_dir
from karaoke.sweeps import point_label, run_sweep, summarise, write_table

plotting.use_style()
points = [{"velocity": v, "latent_dim": latent_dim} for v in velocities]
labels = [point_label(v, latent_dim, True) for v in velocities]

# %% tags=["nbval-ignore-output"]
rows = run_sweep(scale, points)
write_table(rows, figures_dir() / "table_fig7_whitening_sweep.csv")
fig = plotting.plot_metric_distributions(rows, labels, title=f"whitening level ({scale})",
                                         primary=point_label(primary_velocity, latent_dim, True))
plotting.savefig(fig, "fig7_whitening_sweep");

# %% tags=["nbval-ignore-output"]
summary = summarise(rows)
for s in summary:
    print(f"{s['label']:16s} Qt {s['Qt']:.3f}  Qs {s['Qs']:.3f}  leakage {s['leak']:.3f}  stellar response {s['stellar_response']:.3f}  static {s['static_pattern']:.3f}  (n = {s['n']})")

# %% [markdown]
# Checked by nbval: what was trained and scored, and the one result that holds for every seed
# and thread count measured at `ci` (`benchmarks/spread.py`); the medians above spread by up to
# 0.6 between seeds there and are not compared.

# %%
print("networks:", ", ".join(s["label"] for s in summary), f"({summary[0]['n']} held-out spectra each)")
by = {s["label"]: s for s in summary}
topo, primary = by[labels[0]], by[point_label(primary_velocity, latent_dim, True)]
print("whitening removes most of the fixed telluric pattern:",
      primary["static_pattern"] <= 0.5 * topo["static_pattern"])

# %% [markdown]
# **What the `ci` scale reproduces** (4096 px, 3000 spectra, 10 CPU epochs; measured when this
# notebook was executed): Qt falls steadily with N (0.71, 0.62, 0.47, 0.40 for N = 0, 5, 15,
# 30 km/s), the trend of Fig. 7, but the topocentric Qt is 1.8 times the N = 30 one, not the
# ≥ 2 of the target, and Qs is poor for every network (> 1). The line responses say why: no
# network here follows the lines of its input (stellar response 0.05-0.08, telluric leakage
# 0.02-0.04, where the identity gives 1 and 1). Each outputs a smooth pattern learnt from the
# survey as a whole; the topocentric pattern holds the mean telluric lines at their fixed
# wavelengths (at 0.35 of their mean depth, even for a telluric-free input) and whitening smears
# them (0.23, 0.09, 0.04 for N = 5, 15, 30): the Qt trend follows that pattern, not a
# network that reconstructs each star and rejects its tellurics, which is the paper's
# mechanism. With `-p scale regime` (the `ci` recipe in a window with the paper's telluric
# share, 100 epochs, ~6.5 min per network on 2 CPU cores; README) Fig. 7 appears as in the
# paper: every network follows the stellar lines (stellar response 0.66-0.73), Qt falls from
# 0.96 through 0.64 to 0.39 (N = 0, 5, 15) and plateaus at N = 30 (0.40), Qs stays at
# 0.40-0.46, and the fixed telluric pattern shrinks in step (0.73, 0.38, 0.14, 0.09). The
# `paper` preset holds the GPU configuration.
