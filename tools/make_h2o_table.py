"""Regenerate ``karaoke/synth/data/h2o_lines.ecsv`` (the H2O line table of the synthetic survey).

Sources
-------
* HITRAN2020 H2O lines as shipped in ``../shared/data/telluric/Static_hitran_qt_H2O.fits``
  (Gordon et al. 2022; subset prepared by Allart et al. 2022, MIT): the lines with
  S(296 K) > 5e-26 cm/molecule up to the file's limit, 8000 A (vacuum).
* Beyond 8000 A the shared HITRAN excerpt has no lines, but the SDSS range (to 9175 A) holds the
  strong H2O bands at 8100-8400 and 8900-9200 A. There we place **pseudo-lines** at the centres of
  the telluric line segments of the SERVAL telluric mask atlas
  (``telluric_mask_atlas_short.dat``, air, to 8998 A; Zechmeister et al. 2018, MIT), with an
  intensity read from the segment's width through the width -> intensity relation measured on
  the same atlas where HITRAN lines exist (5800-7990 A: for each segment, its strongest
  HITRAN line; the median log-intensity per width bin, interpolated linearly in width), times
  one factor that gives the 6900-7400 A band HITRAN's equivalent width at R = 1800. Segments
  wider than the widest bin's median width (often blends) all get that bin's intensity. ``gamma_air`` and ``E''`` take the
  median HITRAN values. Positions are therefore real (to the atlas' 0.01 A); strengths are an
  empirical estimate, good enough for R ~ 1800 survey synthesis, and flagged ``source = 1``.

    python tools/make_h2o_table.py
"""

import numpy as np
from astropy.io import fits

from karaoke.paths import ROOT, shared_data_dir
from karaoke.spectra.grid import air_to_vacuum

THRESHOLD = 5e-26
HITRAN_LIMIT_A = 8000.0  # vacuum; the shared excerpt's last line is at 7999.9 A
WIDTH_BINS_A = np.array([0.0, 0.03, 0.05, 0.08, 0.12, 0.18, 0.26, 0.4, 10.0])


HEADER = """\
# %ECSV 1.0
# ---
# datatype:
# - {name: wavenumber, unit: 1 / cm, datatype: float64, description: vacuum wavenumber}
# - {name: intensity, unit: cm / molecule, datatype: float64, description: line intensity S at 296 K}
# - {name: gamma_air, unit: 1 / (atm cm), datatype: float64, description: air-broadened Lorentz HWHM}
# - {name: elower, unit: 1 / cm, datatype: float64, description: lower-state energy E''}
# - {name: source, datatype: int64, description: '0 HITRAN2020; 1 pseudo-line at a SERVAL atlas segment'}
# meta:
#   title: H2O lines of the karaoke synthetic telluric model
#   generator: tools/make_h2o_table.py
#   source_0: 'HITRAN2020 (Gordon et al. 2022, JQSRT 277, 107949), S(296 K) > @THRESHOLD@ cm/molecule, below @LIMIT@ A (vacuum), as shipped in Static_hitran_qt_H2O.fits (Allart et al. 2022, MIT)'
#   source_1: 'pseudo-lines at the telluric segments of the SERVAL mask atlas (Zechmeister et al. 2018, MIT) beyond @LIMIT@ A (to 8998 A), intensity from the segment width (see the tool)'
# schema: astropy-2.0
wavenumber intensity gamma_air elower source
"""


def write_ecsv(out, rows):
    """Write ``rows`` of (wavenumber, S, gamma_air, E'', source) as the package's ECSV table."""
    header = HEADER.replace("@THRESHOLD@", f"{THRESHOLD:g}").replace("@LIMIT@", f"{HITRAN_LIMIT_A:.0f}")
    text = header + "\n".join(f"{n:.4f} {s:.3e} {g:.4f} {e:.3f} {k}" for n, s, g, e, k in rows) + "\n"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(out)


def mask_segments(path):
    """(start, end) air wavelengths of the atlas' telluric segments (flag 1 runs)."""
    a = np.loadtxt(path, skiprows=1)
    w, f = a[:, 0], a[:, 1]
    segs, start, prev = [], None, None
    for wi, fi in zip(w, f):
        if fi > 0 and start is None:
            start = wi
        elif fi == 0 and start is not None:
            segs.append((start, prev))
            start = None
        prev = wi
    return np.array(segs)


def width_relation(segs_vac, nu, S):
    """Median log10 S of the strongest HITRAN line per segment-width bin (overlap region)."""
    lam = 1e8 / nu
    widths, logs = [], []
    for lo, hi in segs_vac:
        if not 5800 < lo < HITRAN_LIMIT_A - 10:
            continue
        inside = (lam >= lo - 0.01) & (lam <= hi + 0.01)
        if inside.any():
            widths.append(hi - lo)
            logs.append(np.log10(S[inside].max()))
    widths, logs = np.array(widths), np.array(logs)
    idx = np.digitize(widths, WIDTH_BINS_A) - 1
    med = np.array([np.median(logs[idx == i]) if np.any(idx == i) else np.nan for i in range(WIDTH_BINS_A.size - 1)])
    med = np.maximum.accumulate(np.nan_to_num(med, nan=np.nanmin(med)))  # wider -> not weaker
    return med, widths, logs


def main():
    tel = shared_data_dir() / "telluric"
    d = fits.getdata(tel / "Static_hitran_qt_H2O.fits", 1)
    nu, S = np.asarray(d["wave_number"], float), np.asarray(d["Intensity"], float)
    gam, epp = np.asarray(d["gamma_air"], float), np.asarray(d["Epp"], float)
    keep = (S > THRESHOLD) & (1e8 / nu < HITRAN_LIMIT_A)
    rows = [(n, s, g, e, 0) for n, s, g, e in zip(nu[keep], S[keep], gam[keep], epp[keep])]

    segs = mask_segments(tel / "telluric_mask_atlas_short.dat")
    segs_vac = air_to_vacuum(segs)
    med, widths, _ = width_relation(segs_vac, nu, S)
    g0, e0 = float(np.median(gam[keep])), float(np.median(epp[keep]))

    # log10 S interpolated linearly in segment width between the bins' median widths
    centres = np.array(
        [
            np.median(widths[(widths >= a) & (widths < b)])
            if np.any((widths >= a) & (widths < b))
            else 0.5 * (a + min(b, 1.0))
            for a, b in zip(WIDTH_BINS_A[:-1], WIDTH_BINS_A[1:])
        ]
    )

    def pseudo(sel):
        n = sel.shape[0]
        logs = np.interp(sel[:, 1] - sel[:, 0], centres, med)
        return {
            "wavenumber": 1e8 / sel.mean(1),
            "intensity": 10**logs,
            "gamma_air": np.full(n, g0),
            "elower": np.full(n, e0),
        }

    # one global factor: the pseudo-lines of the 6900-7400 A band (where HITRAN exists) must give the
    # same equivalent width at R = 1800 as HITRAN's lines there (airmass 1.2, 5 mm)
    from karaoke.spectra.grid import vacuum_to_air
    from karaoke.synth.telluric import H2O_COLUMN_PER_MM, convolve_to_resolution, optical_depth

    w = np.arange(6900.0, 7400.0, 0.02)
    lam_air = vacuum_to_air(1e8 / nu)
    band = keep & (lam_air > 6895) & (lam_air < 7405)
    ref = {"wavenumber": nu[band], "intensity": S[band], "gamma_air": gam[band]}
    sel = segs_vac[(vacuum_to_air(segs_vac[:, 0]) > 6895) & (vacuum_to_air(segs_vac[:, 1]) < 7405)]

    def ew(lines, k=1.0):
        tau = optical_depth(
            w, {**lines, "intensity": lines["intensity"] * k}, H2O_COLUMN_PER_MM * 5.0 * 1.2, 18.0, pressure=0.8
        )
        return float(np.sum(1 - convolve_to_resolution(w, np.exp(-tau), 1800.0)) * 0.02)

    target = ew(ref)
    ks = 10 ** np.linspace(-1, 2.5, 36)
    k = float(ks[np.argmin([abs(ew(pseudo(sel), kk) - target) for kk in ks])])
    print(f"EW(6900-7400 A, R 1800): HITRAN {target:.2f} A; atlas pseudo-lines x{k:.2f} {ew(pseudo(sel), k):.2f} A")
    beyond = segs_vac[segs_vac[:, 0] > HITRAN_LIMIT_A + 1.0]
    ps = pseudo(beyond)
    for n, s in zip(ps["wavenumber"], ps["intensity"] * k):
        rows.append((n, s, g0, e0, 1))
    rows.sort()
    out = ROOT / "karaoke" / "synth" / "data" / "h2o_lines.ecsv"
    write_ecsv(out, rows)
    print(f"wrote {sum(r[4] == 0 for r in rows)} HITRAN lines and {len(beyond)} atlas pseudo-lines to {out}")
    print("width bins (A):", WIDTH_BINS_A[:-1], "-> median log10 S:", np.round(med, 2))


if __name__ == "__main__":
    main()
