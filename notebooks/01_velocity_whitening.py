# %% [markdown]
# # 01 — Velocity whitening (Figs. 3 and 4)
#
# Telluric lines sit at fixed topocentric wavelengths, so across observations they are highly
# correlated: their variance lives in one mode. A random virtual radial velocity
# $v \sim U(-N, N)$ per spectrum, $x'(\lambda) = x(\lambda(1 - v/c))$, decorrelates them
# ("whitens" the telluric process) while stellar lines, already spread by their radial
# velocities, stay as random as before. Data: the embedded synthetic survey.

# %% tags=["parameters"]
preset = "ci"
velocity = 30.0
n_examples = 6
n_cov = 90
region_lo, region_hi = None, None  # air A; None: the 10 A of the survey's deepest telluric lines
seed = 0

# %%
import numpy as np
import torch
from IPython.display import display

import karaoke
from karaoke import plotting
from karaoke.presets import preset_survey
from karaoke.nn.whitening import leading_mode_fraction

plotting.use_style()
survey, _ = preset_survey(preset).normalised()
if region_lo is None or region_hi is None:
    region_lo, region_hi = plotting.deepest_telluric_window(survey.wave, survey.transmission[:200], 10.0)
sel = plotting.region(survey.wave, region_lo, region_hi)
flux = survey.flux[:n_cov]
print(f"{len(survey)} spectra of {survey.n_pixels} px, {survey.frame} frame, {survey.medium} wavelengths")

# %% [markdown]
# ## Fig. 3 — exemplar spectra before and after randomisation

# %% tags=["nbval-ignore-output"]
v = karaoke.random_velocities(n_cov, velocity, torch.Generator().manual_seed(seed))
whitened, _ = karaoke.velocity_shift(torch.as_tensor(flux), v, survey.grid)
whitened = whitened.numpy()
# the deepest fixed telluric line and the deepest stellar line of the first spectrum in the region
tell_line = survey.wave[sel][np.argmin(survey.transmission[0][sel])]
stellar_line = survey.wave[sel][np.argmin(survey.stellar[0][sel] / np.median(survey.stellar[0][sel]))]
fig = plotting.plot_exemplars(survey.wave[sel], flux[:n_examples, sel], whitened[:n_examples, sel],
                              telluric_line=tell_line, stellar_line=stellar_line)
plotting.savefig(fig, "fig3_exemplar_spectra");

# %% [markdown]
# ## Fig. 4 — covariance of 90 spectra in the region above, before and after whitening

# %% tags=["nbval-ignore-output"]
cov_before, cov_after = np.cov(flux[:, sel].T), np.cov(whitened[:, sel].T)
ext = (region_lo, region_hi, region_lo, region_hi)
fig = plotting.plot_covariance(cov_before, cov_after, extent=ext)
plotting.savefig(fig, "fig4_covariance");

# %% [markdown]
# The spectra's variance in this window is mostly stellar (different stars and radial
# velocities), which whitening leaves as random as before. The telluric part alone -- the
# survey's exact transmission, shifted by the same velocities -- lives in one mode before
# whitening (its depth follows airmass and water vapour) and is spread over many after.

# %% tags=["nbval-ignore-output"]
trans = survey.transmission[:n_cov].astype(np.float32)
trans_whitened = karaoke.velocity_shift(torch.as_tensor(trans), v, survey.grid)[0].numpy()
before, after = leading_mode_fraction(flux[:, sel]), leading_mode_fraction(whitened[:, sel])
t_before, t_after = leading_mode_fraction(trans[:, sel]), leading_mode_fraction(trans_whitened[:, sel])
print(f"variance in the leading mode, spectra: topocentric {before:.3f}, whitened {after:.3f}")
print(f"variance in the leading mode, telluric transmission: topocentric {t_before:.3f}, whitened {t_after:.3f}")

# %%
print("whitening spreads the telluric variance over more modes:", t_after < t_before)

# %% [markdown]
# ## Explorer: how much velocity is enough?
# Move the slider: the spectra and the covariance matrix are redrawn for the new N.

# %% tags=["nbval-ignore-output"]
explorer = plotting.WhiteningExplorer(flux, survey.grid, region_lo, region_hi, seed=seed, max_velocity=velocity)
display(explorer.widget())
