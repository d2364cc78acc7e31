# %% [markdown]
# # 05 — Compression sweep (Fig. 9)
#
# Networks that differ only in the number of latent dimensions, from very small to ≥ 1024, at
# N = 30 km/s. Too few dimensions lose stellar lines (Qs rises); in the paper ≥ 1024 dimensions
# start to reconstruct tellurics too (Qt rises) and 128 is near the optimum.

# %% tags=["parameters"]
scale = "ci"
latent_dims = [8, 32, 128, 512, 1024]
velocity = 30
primary_latent = 128

# %%
from karaoke import plotting
from karaoke.paths import figures_dir
from karaoke.sweeps import run_sweep, summarise, write_table

plotting.use_style()
points = [{"velocity": velocity, "latent_dim": d} for d in latent_dims]

# %% tags=["nbval-ignore-output"]
rows = run_sweep(scale, points)
write_table(rows, figures_dir() / "table_fig9_compression_sweep.csv")
summary = summarise(rows, by="latent_dim")
write_table(summary, figures_dir() / "table_fig9_compression_summary.csv")
fig = plotting.plot_compression(summary, primary_latent)
plotting.savefig(fig, "fig9_compression_sweep");
for s in summary:
    print(f"latent {s['latent_dim']:5d}: Qt {s['Qt']:.3f}  Qs {s['Qs']:.3f}  leakage {s['leak']:.3f}  stellar response {s['stellar_response']:.3f}")

# %% [markdown]
# Rounded summary (checked by nbval):

# %%
for s in summary:
    print(f"latent {s['latent_dim']:5d}: Qt {s['Qt']:.1f}  Qs {s['Qs']:.1f}")

# %% tags=["nbval-ignore-output"]
qs = {s["latent_dim"]: s["Qs"] for s in summary}
qt = {s["latent_dim"]: s["Qt"] for s in summary}
smallest, largest = min(latent_dims), max(latent_dims)
print(f"smallest latent size loses the most stellar lines (highest Qs): {qs[smallest] == max(qs.values())}")
print(f"largest latent size reconstructs more tellurics than the primary (Qt rises): {qt[largest] > qt[primary_latent]}")

# %% [markdown]
# **What the `ci` scale does and does not reproduce of Fig. 9** (measured when this notebook was
# executed at `ci`): the largest latent sizes reconstruct more tellurics than the primary network
# (Qt 1.0 at 512 and 0.75 at 1024 against 0.43 at 128), as in the paper. The stellar side is not
# reproduced: after 10 CPU epochs no network reconstructs the stellar lines well (Qs 0.9-1.5 for
# every size) and the smallest size (8) is not the worst; the point-to-point scatter (Qt 0.98 at
# 32) shows that training noise dominates at this length. Run with `-p scale cpu` or `paper` for
# longer trainings.
