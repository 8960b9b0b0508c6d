"""Deterministic synthetic TA maps for the batch benchmarks (numpy only).

Imported by ``pyglotaran_batch.py`` (pyglotaran venv) and ``bench_batch.py`` (project venv), so
both tools fit exactly the same numbers. Nothing here depends on hotcarrier or pyglotaran.

Model: three compartments in sequence A -> B -> C -> ground (lifetimes 1, 10, 100 ps),
all population starting in A, Gaussian IRF (centre 0.0 ps, standard deviation 0.1 ps, unit area),
species-associated spectra made of Gaussian bands (ground-state bleach + excited-state absorption),
peak |ΔA| about 10 mOD, white Gaussian noise of 0.1 mOD (1 % of the peak) — a realistic
signal-to-noise ratio for a averaged pump-probe map.

Decay kernel (same convention as pyglotaran and hotcarrier), for rate k, IRF centre mu, width s:
    c(t) = 1/2 exp(-k (t - mu) + k^2 s^2 / 2) [1 + erf((t - mu - k s^2) / (s sqrt 2))]
evaluated here in a numerically stable form (scaled complementary error function).
"""

from __future__ import annotations

import math

import numpy as np

TRUE_RATES = (1.0, 0.1, 0.01)  # ps^-1 (lifetimes 1, 10, 100 ps)
TRUE_IRF_CENTER = 0.0  # ps
TRUE_IRF_WIDTH = 0.1  # ps (standard deviation)
NOISE_STD = 1e-4  # OD (0.1 mOD)

START_RATES = (0.7, 0.14, 0.007)  # deliberately off by 30-40 %
START_IRF_CENTER = 0.05
START_IRF_WIDTH = 0.13


def delays(n: int = 200) -> np.ndarray:
    """``n`` delays (ps): 30 % linear over -1…2 ps, the rest log-spaced 2…1000 ps."""
    n_lin = max(2, int(round(0.3 * n)))
    lin = np.linspace(-1.0, 2.0, n_lin, endpoint=False)
    log = np.geomspace(2.0, 1000.0, n - n_lin)
    return np.concatenate([lin, log])


def wavelengths(n: int = 100) -> np.ndarray:
    """``n`` wavelengths (nm), 450…750 nm."""
    return np.linspace(450.0, 750.0, n)


def _erfcx(x: np.ndarray) -> np.ndarray:
    # scaled complementary error function without scipy: exp(x^2) erfc(x)
    out = np.empty_like(x)
    small = x < 5.0
    xs = x[small]
    out[small] = np.exp(xs * xs) * np.vectorize(math.erfc)(xs)
    xl = x[~small]
    # asymptotic series, accurate to ~1e-10 for x >= 5
    inv2 = 1.0 / (2.0 * xl * xl)
    out[~small] = (1.0 - inv2 + 3.0 * inv2**2 - 15.0 * inv2**3) / (xl * math.sqrt(math.pi))
    return out


def decay_kernel(t: np.ndarray, k: float, mu: float, s: float) -> np.ndarray:
    """exp(-k t) convolved with a unit-area Gaussian (centre ``mu``, std ``s``).

    Two branches: erfcx form where z >= 0 (early tail), plain erfc form elsewhere.
    """
    tau = np.asarray(t, dtype=float) - mu
    z = (k * s * s - tau) / (s * math.sqrt(2.0))
    out = np.empty_like(tau)
    pos = z >= 0
    out[pos] = 0.5 * np.exp(-0.5 * (tau[pos] / s) ** 2) * _erfcx(z[pos])
    neg = ~pos
    out[neg] = 0.5 * np.exp(-k * tau[neg] + 0.5 * (k * s) ** 2) * np.vectorize(math.erfc)(z[neg])
    return out


def sequential_concentrations(t, rates, mu, s) -> np.ndarray:
    """(n_t, 3) concentrations of A -> B -> C -> ground, A(0) = 1 (distinct rates)."""
    k1, k2, k3 = rates
    e1, e2, e3 = (decay_kernel(t, k, mu, s) for k in rates)
    a = e1
    b = k1 / (k2 - k1) * (e1 - e2)
    c = k1 * k2 * (
        e1 / ((k2 - k1) * (k3 - k1)) + e2 / ((k1 - k2) * (k3 - k2)) + e3 / ((k1 - k3) * (k2 - k3))
    )
    return np.stack([a, b, c], axis=1)


def _band(w, centre, width, amp):
    return amp * np.exp(-0.5 * ((w - centre) / width) ** 2)


def species_spectra(w: np.ndarray) -> np.ndarray:
    """(3, n_w) species-associated spectra in OD."""
    bleach = _band(w, 520.0, 25.0, -6e-3)
    sa = bleach + _band(w, 650.0, 60.0, 8e-3)
    sb = bleach + _band(w, 600.0, 45.0, 5e-3) + _band(w, 710.0, 30.0, 2e-3)
    sc = 0.6 * bleach + _band(w, 560.0, 40.0, 3e-3)
    return np.stack([sa, sb, sc])


def make_map(n_delays: int = 200, n_wavelengths: int = 100, seed: int = 0):
    """One noisy map: returns ``(t, w, data)`` with ``data`` shaped (n_delays, n_wavelengths)."""
    t = delays(n_delays)
    w = wavelengths(n_wavelengths)
    c = sequential_concentrations(t, TRUE_RATES, TRUE_IRF_CENTER, TRUE_IRF_WIDTH)
    clean = c @ species_spectra(w)
    rng = np.random.default_rng(seed)
    return t, w, clean + NOISE_STD * rng.standard_normal(clean.shape)


def make_batch(n: int, n_delays: int = 200, n_wavelengths: int = 100, seed: int = 0):
    """``n`` maps with independent noise (seeds ``seed``…``seed+n-1``): ``(t, w, data[n, T, W])``."""
    t = delays(n_delays)
    w = wavelengths(n_wavelengths)
    clean = sequential_concentrations(t, TRUE_RATES, TRUE_IRF_CENTER, TRUE_IRF_WIDTH) @ species_spectra(w)
    data = np.empty((n, n_delays, n_wavelengths))
    for i in range(n):
        rng = np.random.default_rng(seed + i)
        data[i] = clean + NOISE_STD * rng.standard_normal(clean.shape)
    return t, w, data


if __name__ == "__main__":  # quick look
    t, w, d = make_map()
    print(d.shape, float(np.abs(d).max()), t[:3], t[-3:], w[[0, -1]])
