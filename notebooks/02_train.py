# %% [markdown]
# # 02 — Train the primary network (VAE, N = 30 km/s)
#
# Trains the paper's network family on the synthetic survey with velocity whitening applied on
# the device in every batch. The run is cached under `data/cache/runs/<hash>` (hash of the model
# config, training config and data), so re-running this notebook, or any notebook that needs
# the same network, reuses it; an interrupted run resumes from its checkpoint.

# %% tags=["parameters"]
preset = "ci"
velocity = 30.0
latent_dim = 128
variational = True

# %% tags=["networks", "nbval-ignore-output"]
# The networks this notebook trains, declared once: the runner (karaoke.notebooks) reads this cell
# to train every notebook's networks side by side before running them.
from karaoke.presets import preset_jobs

points = [{"velocity": velocity, "latent_dim": latent_dim, "variational": variational}]
networks = preset_jobs(preset, points)

# %%
from karaoke import plotting
from karaoke.nn.model import n_parameters
from karaoke.presets import get_preset, preset_models, preset_run_dir
from karaoke.nn.training import load_history

plotting.use_style()
config = get_preset(preset).model_config(latent_dim, variational)
print(f"preset {preset}: {config.n_pixels} px, latent {config.latent_dim}, "
      f"{'VAE' if variational else 'AE'}, N = {velocity:g} km/s")

# %% tags=["nbval-ignore-output"]
(model,) = preset_models(preset, points)
print("run folder:", preset_run_dir(preset, velocity, latent_dim, variational))

# %%
history = load_history(model.run_dir)
print(f"parameters: {n_parameters(model):,}; epochs trained: {len(history)}")
print("held-out L1 below the first epoch's:", history[-1]["val_l1"] < history[0]["val_l1"])

# %% tags=["nbval-ignore-output"]
fig = plotting.plot_history(history, title=f"{preset}: N = {velocity:g} km/s")
plotting.savefig(fig, "fig_training_history");
