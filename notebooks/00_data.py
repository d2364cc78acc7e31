# %% [markdown]
# # 00 — Data: from the archives to training-ready stores
#
# Every later notebook starts from data made here:
#
# 1. **The embedded synthetic surveys** (the default data set: no download) for the chosen
#    `preset`, HARPS-like and SDSS-like, generated once and cached under `data/cache/surveys`.
# 2. **Real HARPS files → a store**: `karaoke.archive.prepare.prepare_collection` regrids, masks,
#    median-normalises and moves FITS spectra (ESO ADP or DRS s1d, barycentric) to the
#    topocentric frame on the preset's grid, in parallel, into a memory-mapped store that resumes
#    after an interruption; every rejected file is counted by reason. Offline, it runs on the real
#    HARPS files in `../shared/data/harps`.
# 3. **Archive downloads** (`download = True`; needs the internet): HARPS Phase-3 ADP spectra of
#    `harps_target` from the ESO archive (astroquery), then prepared as in 2; SDSS DR17 spFrame +
#    spFluxcalib pairs (camera r1, SKY fibres excluded) of `sdss_plates`, homogenised onto the
#    authors' 2048-px grid. The same steps from a shell:
#
# ```
# karaoke download harps --target HD128621 --max-rows 50 --out data/archive/harps
# karaoke prepare data/archive/harps --out data/stores/harps
# karaoke download sdss --plate 2887 --out data/archive/sdss
# ```

# %% tags=["parameters"]
preset = "ci"
download = False
harps_target = "HD128621"
harps_max_rows = 20
sdss_plates = []
workers = 2

# %%
from karaoke.archive.download import download_harps, download_sdss, list_sdss_exposures, query_harps
from karaoke.spectra.io import find_spectra
from karaoke.paths import data_dir, shared_data_dir
from karaoke.archive.prepare import open_store, prepare_collection
from karaoke.presets import get_preset, preset_survey
from karaoke.spectra.sdss import sdss_survey

sdss_preset = get_preset(preset).sdss  # the SDSS-like preset paired with this one
grid = get_preset(preset).survey.grid
print(f"preset {preset}: grid {grid.start:.2f}-{grid.stop:.2f} A, {grid.n} px")

# %% [markdown]
# ## 1. The embedded synthetic surveys

# %%
for name in (preset, sdss_preset):
    s = preset_survey(name)
    print(f"{name:9s} {len(s)} spectra of {len(set(s.meta['star_id']))} stars, {s.n_pixels} px "
          f"({s.wave[0]:.2f}-{s.wave[-1]:.2f} A, {s.medium}, {s.frame}), truth arrays: {s.has_truth}")

# %% [markdown]
# ## 2. Real HARPS files → a memory-mapped store (offline: `../shared/data/harps`)

# %%
real, others = find_spectra(shared_data_dir() / "harps", recursive=True)  # 1-D spectra, by their headers
print(f"{len(real)} spectra (1-D products and e2ds with their calibrations); set aside: {len(others)} other "
      "products (wave/blaze images, tables)")
store_dir = data_dir() / "stores" / f"shared-harps-{preset}"
report = prepare_collection(real, store_dir, grid=grid, workers=workers, progress=False)
print(f"{report['files']} files: {report['accepted']} accepted, rejected by reason:",
      {k: v for k, v in report["rejected"].items() if v} or "none")
store = open_store(store_dir)
print(f"store: {len(store)} spectra x {store.n_pixels} px, topocentric, normalised: {store.attrs['normalised']}")
for f, b in zip(store.meta["file"], store.meta["berv"]):
    print(f"  {f:45s} BERV {b:+6.2f} km/s")

# %% [markdown]
# ## 3. Archive downloads (set `download = True`; skipped offline)

# %%
archive = data_dir() / "archive"
if download:
    ids = query_harps(harps_target, max_rows=harps_max_rows)
    rows = download_harps(ids, archive / "harps", workers=workers)
    ok = [archive / "harps" / r.file for r in rows if r.status != "failed"]
    print(f"HARPS {harps_target}: {len(ok)} of {len(rows)} ADP files verified (manifest: harps/manifest.csv)")
    print(prepare_collection(ok, data_dir() / "stores" / f"harps-{harps_target}-{preset}", grid=grid,
                             workers=workers))
    if sdss_plates:
        pairs = [(p, e) for p in sdss_plates for e in list_sdss_exposures(p)]
        rows = download_sdss(pairs, archive / "sdss", workers=workers)
        print(f"SDSS: {sum(r.status != 'failed' for r in rows) // 2} of {len(pairs)} exposures verified")
        sdss, failures = sdss_survey(archive / "sdss")
        print(f"SDSS survey: {len(sdss)} spectra on the 2048-px grid; {len(failures)} frames failed")
else:
    print("download = False: archive downloads skipped (run with -p download True)")
