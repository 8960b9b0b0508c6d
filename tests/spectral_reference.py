"""Independent NumPy/SciPy reference of a small target model for the spectral-feature tests.

Sequential s1 → s2 → ground (rates k1, k2) convolved with a unit-area Gaussian IRF (centre mu,
standard deviation sig), written from the closed form
c(t) = ½·exp(−k(t − μ) + k²σ²/2)·[1 + erf((t − μ − kσ²)/(σ√2))] — nothing of hotcarrier.
"""

import numpy as np
from scipy.special import erf

T = np.concatenate([np.linspace(-1.0, 2.0, 24), np.geomspace(2.2, 300.0, 24)])  # ps
WL = np.linspace(450.0, 700.0, 12)  # nm
TRUE = {"k1": 0.5, "k2": 0.02, "mu": 0.0, "sig": 0.08}
START = {"k1": 0.3, "k2": 0.03, "mu": 0.05, "sig": 0.1}

BASE_TOML = """
transfers = [{from = "s1", to = "s2", rate = "k1"}, {from = "s2", to = "ground", rate = "k2"}]
EXTRA_TOP
[model]
compartments = ["s1", "s2"]
initial = {s1 = 1}
EXTRA_MODEL
[parameters]
k1 = 0.3
k2 = 0.03
mu = 0.05
sig = {value = 0.1, min = 0.01}
EXTRA_PARAMS
[irf]
center = "mu"
width = "sig"
"""


def toml(top="", model="", params=""):
    return (BASE_TOML.replace("EXTRA_TOP", top).replace("EXTRA_MODEL", model)
            .replace("EXTRA_PARAMS", params))


def exp_conv(t, k, mu, sig):
    return 0.5 * np.exp(-k * (t - mu) + 0.5 * (k * sig) ** 2) * (
        1.0 + erf((t - mu - k * sig * sig) / (sig * np.sqrt(2.0))))


def populations(k1, k2, mu, sig, t=T):
    """(T, 2) IRF-convolved populations of s1 → s2 → ground."""
    e1, e2 = exp_conv(t, k1, mu, sig), exp_conv(t, k2, mu, sig)
    return np.stack([e1, k1 / (k2 - k1) * (e1 - e2)], axis=1)


def gaussian(wl, amp, loc, fwhm):
    return amp * np.exp(-np.log(2.0) * (2.0 * (wl - loc) / fwhm) ** 2)


def simulate(spectra, seed=1, noise=0.01, true=TRUE):
    """Noisy (T, W) map with species spectra ``spectra`` (2, W)."""
    C = populations(true["k1"], true["k2"], true["mu"], true["sig"])
    return C @ spectra + np.random.default_rng(seed).normal(0.0, noise, (T.size, WL.size))


def gauss_newton_stderr(J, r, n_amplitudes):
    """pyglotaran-style standard errors: rmse·sqrt(diag((JᵀJ)⁻¹)), dof = N − p − n_amp
    (N counts the rows that carry data)."""
    n, p = J.shape
    rmse = np.sqrt(np.sum(r * r) / (n - p - n_amplitudes))
    return rmse * np.sqrt(np.diag(np.linalg.inv(J.T @ J)))


def fd_jacobian(fun, x, rel=1e-6):
    """Central finite differences of ``fun`` at ``x``."""
    x = np.asarray(x, float)
    cols = []
    for i in range(x.size):
        h = rel * max(abs(x[i]), 1e-3)
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        cols.append((fun(xp) - fun(xm)) / (2 * h))
    return np.stack(cols, axis=1)
