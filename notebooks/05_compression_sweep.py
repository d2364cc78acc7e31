# %% [markdown]
# # 05 — Compression sweep (Fig. 9)
#
# Networks that differ only in the number of latent dimensions, from very small to ≥ 1024, at
# N = 30 km/s. Too few dimensions lose stellar lines (Qs rises); in the paper ≥ 1024 dimensions
# start to reconstruct tellurics too (Qt rises) and 128 is near the optimum.

# %% tags=["parameters"]
preset = "ci"
latent_dims = [2, 8, 128, 512, 1024]
velocity = 30
primary_latent = 128

# %% tags=["networks", "nbval-ignore-output"]
# The networks this notebook trains, declared once: the runner (karaoke.notebooks) reads this cell
# to train every notebook's networks side by side before running them.
from karaoke.presets import preset_jobs

points = [{"velocity": velocity, "latent_dim": d} for d in latent_dims]
networks = preset_jobs(preset, points)

# %%
from karaoke import plotting
from karaoke.paths import figures_dir
from karaoke.evaluation.sweeps import run_sweep, summarise, write_table

plotting.use_style()

# %% tags=["nbval-ignore-output"]
rows = run_sweep(preset, points)
write_table(rows, figures_dir() / "table_fig9_compression_sweep.csv")
summary = summarise(rows, by="latent_dim")
write_table(summary, figures_dir() / "table_fig9_compression_summary.csv")
fig = plotting.plot_compression(summary, primary_latent)
plotting.savefig(fig, "fig9_compression_sweep");
for s in summary:
    print(f"latent {s['latent_dim']:5d}: Qt {s['Qt']:.3f}  Qs {s['Qs']:.3f}  leakage {s['leakage']:.3f}  stellar response {s['stellar_response']:.3f}  static {s['static_pattern']:.3f}")

# %% [markdown]
# Checked by nbval: what was trained and scored (at `ci`, partly trained, the medians spread
# between seeds, `benchmarks/spread.py`, and are not compared).

# %%
print("latent sizes:", ", ".join(str(s["latent_dim"]) for s in summary), f"({summary[0]['n']} held-out spectra each)")

# %% tags=["nbval-ignore-output"]
qs = {s["latent_dim"]: s["Qs"] for s in summary}
qt = {s["latent_dim"]: s["Qt"] for s in summary}
smallest, largest = min(latent_dims), max(latent_dims)
print(f"smallest latent size loses the most stellar lines (highest Qs): {qs[smallest] == max(qs.values())}")
print(f"largest latent size reconstructs more tellurics than the primary (Qt rises): {qt[largest] > qt[primary_latent]}")

# %% [markdown]
# **What to look for** (Fig. 9): too small a latent space loses the stellar lines (Qs and a low
# stellar response); in the paper a very large one starts to reconstruct tellurics (Qt rises).
# Run it with `-p preset regime`; at `ci` the networks are only partly trained (8 epochs).
#
# Numbers are not typed here: they depend on the preset and, at `ci`, on the seed and the CPU
# (`benchmarks/spread.py`). The table above and the CSV written to `figures/` hold this run's
# values; the README's result table is generated from `benchmarks/science.py`'s CSV.
