"""The physical model's visible map: its structured Jacobian against forward mode, and a fit.

``PhysicalObjective.residual_jacobian`` assembles the residual's Jacobian by structure (one
shared kinetics evaluation, the time zeros by the chain rule, the Golub–Pereyra projection);
it must agree with the forward-mode Jacobian of the plain residual (``WithJacobian.both``)
to rounding, with and without the reference, with κ held and with artefact amplitudes.
"""

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hotcarrier.physics import simulate
from hotcarrier.physics.fit import WithJacobian, control, fit_physical, objective_for
from hotcarrier.physics.modelfile import CANDIDATES, PHI, PhysicalModel
from hotcarrier.physics.objective import collect_data

CHIRP = {"chirp_c1_ps_nm": (-5e-3, 5e-3), "chirp_c2_ps_nm2": (-2e-5, 2e-5)}
TRUE_CHIRP = {"chirp_c1_ps_nm": -1.2e-3, "chirp_c2_ps_nm2": 4e-6}  # simulate.py
TRUE_PHI = 0.4812  # the clean preset (spec V1)


def _model(free=None, **changes):
    """The clean rigid-chain model file with the visible map, the chirp free from zero."""
    m = PhysicalModel.from_toml("fits/au_cds_clean/model_rigid.toml")
    return dataclasses.replace(
        m, probes=("midir", "visible"), free={**m.free, **CHIRP, **(free or {})},
        obs=dataclasses.replace(m.obs, chirp_c1_ps_nm=0.0, chirp_c2_ps_nm2=0.0), **changes)


@pytest.fixture(scope="module")
def clean_bundle():
    """The clean preset's data (the seed of the former bundled file) with its visible map."""
    with jax.enable_x64(True):
        return simulate.simulate_bundle("clean", seed=20240601)


def _every(bundle, step):
    """``bundle`` with every ``step``-th wavelength of its visible map."""
    return dict(bundle, visible=bundle["visible"].isel(wavelength=slice(None, None, step)))


@pytest.mark.slow  # compiles both Jacobians of two objectives (~30 s CPU)
def test_structured_jacobian_matches_forward_mode(clean_bundle):
    b = _every(clean_bundle, 10)
    rng = np.random.default_rng(3)
    for has_ref, artefact in ((True, False), (False, True)):
        m = _model(free={"r_T": (0.0, 1.0), "tau_ref_ps": (5.0, 2000.0)},
                   midir_artefact=artefact)
        data_b = b if has_ref else {k: v for k, v in b.items()
                                    if v.attrs.get("hotcarrier_role") != "reference"}
        data, _, _ = collect_data(data_b, m.probes)
        objective, col_on, _ = objective_for(m, has_ref, True)
        data["col_on"] = jnp.asarray(col_on)
        ctrl, x0, _ = control(m)
        fn = WithJacobian(objective)
        # at the start, and off it with Φ_inj pinned (a profile point)
        i = CANDIDATES.index(PHI)
        pinned = dict(ctrl, pin=ctrl["pin"].at[i].set(True),
                      pinval=ctrl["pinval"].at[i].set(0.45))
        for c, x in ((ctrl, x0), (pinned, x0 + 0.2 * rng.standard_normal(x0.size))):
            args = (jnp.asarray(x), c, m.params, m.obs, data)
            J0, aux0 = jax.jit(jax.jacfwd(fn.both, has_aux=True))(*args)
            r1, J1, aux1 = jax.jit(objective.residual_jacobian)(*args)
            scale = np.max(np.abs(np.asarray(J0)), axis=0)
            assert np.any(scale > 0)
            np.testing.assert_allclose(np.asarray(J1), np.asarray(J0), rtol=0,
                                       atol=1e-12 * max(scale.max(), 1.0))
            # per column, relative to the column (the small chirp columns too)
            err = np.max(np.abs(np.asarray(J1) - np.asarray(J0)), axis=0)
            assert np.all(err <= 1e-11 * np.where(scale > 0, scale, 1.0)), (err, scale)
            assert np.all(np.asarray(J1)[:, np.asarray(c["pin"])] == 0.0)
            np.testing.assert_allclose(np.asarray(r1), np.asarray(aux0["r"]), rtol=0,
                                       atol=1e-11 * float(np.max(np.abs(aux0["r"]))))
            for k in ("c", "fit", "c_vis", "fit_vis"):
                np.testing.assert_allclose(np.asarray(aux1[k]), np.asarray(aux0[k]),
                                           rtol=1e-9, atol=1e-12, err_msg=k)


def test_visible_map_fit_recovers_yield_and_chirp(clean_bundle):
    # the default run's visible-map fit: a fifth of the white-light map's wavelengths
    # (11 × 90), the chirp free and started at zero, Wald interval; the generating Φ_inj and
    # chirp (simulate.py) recovered
    res = fit_physical(_every(clean_bundle, 5), _model(profile=False))
    assert res.converged
    d = res.derived[PHI]
    assert abs(d["value"] - TRUE_PHI) < min(0.02, 3 * d["stderr"])
    for name, truth in TRUE_CHIRP.items():
        p = res.parameters[name]
        assert abs(p["value"] - truth) < 4 * p["stderr"] + 0.1 * abs(truth), (name, p)
    fit = res.dataset["visible_fit"].values
    sig = res.dataset["visible_signal"].values
    assert fit.shape == sig.shape == (90, 11)
    assert 0.7 < res.rmse < 1.3  # weights 1/σ_noise ⇒ χ²_red ≈ 1


def test_model_file_sets_the_chirp(tmp_path):
    # a visible map's chirp start (or fixed value) and reference wavelength from [parameters]
    text = Path("fits/au_cds_clean/model_rigid.toml").read_text(encoding="utf-8")
    f = tmp_path / "m.toml"
    f.write_text(text.replace("[parameters]\n", "[parameters]\nchirp_c1_ps_nm = -1e-3\n"
                              "chirp_c2_ps_nm2 = 0.0\nlambda_ref_nm = 600.0\n"), encoding="utf-8")
    o = PhysicalModel.from_toml(f).obs
    assert (o.chirp_c1_ps_nm, o.chirp_c2_ps_nm2, o.lambda_ref_nm) == (-1e-3, 0.0, 600.0)
