"""Guidance spectra and the equal-area penalty, against an independent NumPy/SciPy model.

A separate fit (slow) carries both: a guide on s2 (extra rows w·(a_s2(λ) − g(λ)) in every
wavelength's least-squares problem, pyglotaran's linked ``clp-guide`` dataset) and an
equal-area penalty between s1 and s2 (one extra residual w·|Σ a_s1 − p·Σ a_s2| computed from
the amplitudes, as pyglotaran's ``equal_area`` penalty). The reference residual is written
here with numpy.linalg.lstsq; cost, amplitudes, optimum (scipy.optimize.least_squares),
Jacobian (central differences) and standard errors must agree.

The default run's real fit is the last one: every spectral option at once (NNLS, a guide, an
equal-area penalty and a Gaussian band) against its NumPy/SciPy reference.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import least_squares

import spectral_reference as ref
from hotcarrier import fit
from hotcarrier.dataset import make_ta_dataset
from hotcarrier.errors import ModelError
from hotcarrier.target.modelfile import parse_model
from hotcarrier.target.objective import build_problem

NAMES = ["k1", "k2", "mu", "sig"]
S_TRUE = np.stack([ref.gaussian(ref.WL, 1.0, 520.0, 80.0), ref.gaussian(ref.WL, 0.8, 620.0, 90.0)])
GUIDE_WL = np.linspace(470.0, 680.0, 8)  # coarser than the data, inside its range
GUIDE = 0.9 * ref.gaussian(GUIDE_WL, 0.8, 610.0, 100.0)  # an imperfect prior for s2
G_WEIGHT = 2.0
AREA = dict(src=(480.0, 560.0), tgt=(560.0, 700.0), weight=0.05, param=0.7)


def _guides_toml():
    return ("[[guides]]\nspecies = \"s2\"\nweight = %r\nwavelength = [%s]\nvalues = [%s]\n"
            % (G_WEIGHT, ", ".join(repr(float(v)) for v in GUIDE_WL),
               ", ".join(repr(float(v)) for v in GUIDE)))


def _area_toml():
    return ("[[equal_area]]\nsource = \"s1\"\ntarget = \"s2\"\nsource_intervals = [[%r, %r]]\n"
            "target_intervals = [[%r, %r]]\nparameter = %r\nweight = %r\n"
            % (*AREA["src"], *AREA["tgt"], AREA["param"], AREA["weight"]))


def _selection(lo, hi):
    """pyglotaran's interval rule: ends snap to the nearest wavelength, inclusive."""
    i0, i1 = np.argmin(np.abs(ref.WL - lo)), np.argmin(np.abs(ref.WL - hi))
    return np.arange(ref.WL.size)[i0:i1 + 1]


def _reference_residual(x, Y):
    C = ref.populations(*x)
    inside = (ref.WL >= GUIDE_WL[0]) & (ref.WL <= GUIDE_WL[-1])
    g = np.interp(ref.WL, GUIDE_WL, GUIDE)
    res, amps = [], []
    for j in range(ref.WL.size):
        A, b = C, Y[:, j]
        if inside[j]:
            A = np.vstack([C, [[0.0, G_WEIGHT]]])
            b = np.append(b, G_WEIGHT * g[j])
        a = np.linalg.lstsq(A, b, rcond=None)[0]
        amps.append(a)
        r = b - A @ a
        res.append(r)
    amps = np.array(amps)
    pen = AREA["weight"] * abs(amps[_selection(*AREA["src"]), 0].sum()
                               - AREA["param"] * amps[_selection(*AREA["tgt"]), 1].sum())
    return np.concatenate(res + [[pen]]), amps


@pytest.fixture(scope="module")
def guided_fit():
    Y = ref.simulate(S_TRUE, noise=0.01)
    with jax.enable_x64(True):
        model = parse_model(ref.toml(top=_guides_toml() + _area_toml()), source="guide test")
        res = fit(make_ta_dataset(ref.T, ref.WL, Y), model, ftol=1e-13, gtol=1e-10)
        J = np.asarray(res.setup.objective.jacobian(jnp.asarray(res.theta), res.setup.arrays))
        dphys = np.asarray(jax.jacfwd(model.parameters.physical)(jnp.asarray(res.theta)))
    return res, Y, J, dphys


@pytest.mark.slow
def test_guided_fit_matches_reference(guided_fit):
    res, Y, J, _ = guided_fit
    sm = res.summary()
    x = np.array([sm["parameters"][n]["value"] for n in NAMES])
    r, amps = _reference_residual(x, Y)
    assert sm["cost"] == pytest.approx(0.5 * r @ r, rel=1e-9)
    np.testing.assert_allclose(res.dataset["sas"].values.T, amps, rtol=1e-7, atol=1e-10)
    # guide rows are data: N = T·W + (wavelengths inside the guide's range)
    n_guide = int(np.sum((ref.WL >= GUIDE_WL[0]) & (ref.WL <= GUIDE_WL[-1])))
    assert sm["n_data"] == ref.T.size * ref.WL.size + n_guide
    ls = least_squares(lambda v: _reference_residual(v, Y)[0],
                       np.array([ref.START[n] for n in NAMES]), x_scale="jac",
                       xtol=1e-12, ftol=1e-12)
    assert sm["cost"] == pytest.approx(ls.cost, rel=1e-7)
    np.testing.assert_allclose(x, ls.x, rtol=1e-4)
    # the guide and the penalty both act: without them the optimum differs
    assert abs(r[-1]) > 1e-4


@pytest.mark.slow
def test_guided_jacobian_and_stderr(guided_fit):
    res, Y, J, dphys = guided_fit
    sm = res.summary()
    x = np.array([sm["parameters"][n]["value"] for n in NAMES])
    Jfd = ref.fd_jacobian(lambda v: _reference_residual(v, Y)[0], x)
    # our rows: per wavelength T data rows + 1 guide row (weight 0 outside its range), then
    # the penalty; the reference has guide rows only inside the range
    inside = (ref.WL >= GUIDE_WL[0]) & (ref.WL <= GUIDE_WL[-1])
    keep = np.concatenate([np.append(np.ones(ref.T.size, bool), ok) for ok in inside] + [[True]])
    assert not np.any(J[~keep])
    J = J[keep]
    np.testing.assert_allclose(J, Jfd @ dphys, rtol=1e-5, atol=1e-6 * np.abs(J).max())
    # standard errors: data rows + guide rows count as data, the penalty row does not
    r = _reference_residual(x, Y)[0]
    n, p = Jfd.shape
    rmse = np.sqrt(r @ r / (n - 1 - p - sm["n_amplitudes"]))
    se = rmse * np.sqrt(np.diag(np.linalg.inv(Jfd.T @ Jfd)))
    got = np.array([sm["parameters"][n]["stderr"] for n in NAMES])
    np.testing.assert_allclose(got, se, rtol=1e-4)


@pytest.mark.slow
def test_guided_batch_equals_single_fit(guided_fit):
    """The batch path (vmapped Levenberg–Marquardt) reaches the single fit's optimum."""
    from hotcarrier.batch import fit_arrays

    res, Y, _, _ = guided_fit
    with jax.enable_x64(True):
        b = fit_arrays(res.setup.model, ref.T, ref.WL, Y[None], max_iter=300)
    sm = res.summary()
    assert float(b["cost"].values[0]) == pytest.approx(sm["cost"], rel=1e-8)
    for n in NAMES:
        assert float(b["value"].sel(param=n).values[0]) == pytest.approx(
            sm["parameters"][n]["value"], rel=1e-5)


def test_guide_arrays_and_area_selection():
    """Guide interpolated onto the fitted wavelengths (weight 0 outside its range); equal-area
    intervals follow pyglotaran's rule (nearest ends, inclusive; above the axis: nothing)."""
    text = ref.toml(top=_guides_toml() + _area_toml().replace(
        "[[%r, %r]]\nparameter" % AREA["tgt"], "[[560.0, 700.0], [900.0, 950.0]]\nparameter"))
    with jax.enable_x64(True):
        model = parse_model(text)
        prob = build_problem(model, [make_ta_dataset(ref.T, ref.WL, np.zeros((ref.T.size,
                                                                              ref.WL.size)))])
    inside = (ref.WL >= GUIDE_WL[0]) & (ref.WL <= GUIDE_WL[-1])
    np.testing.assert_allclose(np.asarray(prob.arrays["gy"][0])[:, 0],
                               np.where(inside, np.interp(ref.WL, GUIDE_WL, GUIDE), 0.0))
    np.testing.assert_array_equal(np.asarray(prob.arrays["gw"][0])[:, 0],
                                  np.where(inside, G_WEIGHT, 0.0))
    sel = np.asarray(prob.arrays["area"][0])
    for k, iv in ((0, AREA["src"]), (1, AREA["tgt"])):
        want = np.zeros(ref.WL.size)
        want[_selection(*iv)] = 1.0
        np.testing.assert_array_equal(sel[0, k], want)
    assert prob.shared == (False,)


@pytest.mark.parametrize("extra, message", [
    ('[[guides]]\nspecies = "s9"\nwavelength = [1, 2]\nvalues = [1, 2]\n', "unknown compartment"),
    ('[[guides]]\nspecies = "s1"\nwavelength = [1, 2]\nvalues = [1]\n', "two (wavelength"),
    ('[[guides]]\nspecies = "s1"\nfile = "missing.csv"\n', "cannot read guide file"),
    ('[[equal_area]]\nsource = "s1"\ntarget = "s2"\nsource_intervals = [[1, 2]]\n',
     "missing ['target_intervals']"),
    ('[[equal_area]]\nsource = "s1"\ntarget = "s2"\nsource_intervals = [1]\n'
     'target_intervals = [[1, 2]]\n', "list of [lo, hi] pairs"),
    ('[[equal_area]]\nsource = "s1"\ntarget = "s2"\nsource_intervals = [[1, 2]]\n'
     'target_intervals = [[1, 2]]\nparameter = "nope"\n', "undefined parameter"),
])
def test_model_file_errors(extra, message):
    with pytest.raises(ModelError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_model(ref.toml(top=extra), source="bad.toml")


def test_guide_file(tmp_path):
    (tmp_path / "g.csv").write_text("# wavelength, value\n450, 0.1\n700, 0.3\n")
    (tmp_path / "m.toml").write_text(ref.toml(top='[[guides]]\nspecies = "s1"\nfile = "g.csv"\n'))
    from hotcarrier.target.modelfile import load_target_model

    g = load_target_model(tmp_path / "m.toml").guides[0]
    assert g.wavelength == (450.0, 700.0) and g.values == (0.1, 0.3) and g.weight == 1.0


# ---------------------------------------------------------------- all options in one fit
# The default run's real fit of every spectral option at once (one compilation): s2 is a
# Gaussian band (amplitude, position, FWHM fitted), s1's amplitudes are non-negative and
# guided, and an equal-area penalty ties s1 to s2. The separate fits above are marked slow.
ALL_NAMES = NAMES + ["amp", "loc", "fwhm"]
S1_GUIDE_WL = np.array([450.0, 700.0])
S1_GUIDE = np.array([0.6, -0.2])  # a crude straight-line prior, negative in the red
ALL_TOML = dict(
    top=('[[shapes]]\nspecies = "s2"\ntype = "gaussian"\namplitude = "amp"\n'
         'location = "loc"\nwidth = "fwhm"\n'
         '[[guides]]\nspecies = "s1"\nweight = 1.5\nwavelength = [450.0, 700.0]\n'
         'values = [0.6, -0.2]\n'
         '[[equal_area]]\nsource = "s1"\ntarget = "s2"\nsource_intervals = [[450, 700]]\n'
         'target_intervals = [[450, 700]]\nparameter = 1\nweight = 0.02\n'),
    model="non_negative = true",
    params='amp = 0.6\nloc = {value = 610.0, min = 450, max = 750}\n'
           'fwhm = {value = 80.0, min = 10}\n')


def _all_reference_residual(x, Y):
    """NumPy/SciPy: known s2 part subtracted, then a 1-column NNLS for s1 with its guide row
    at every wavelength, then the equal-area row."""
    from scipy.optimize import nnls

    k1, k2, mu, sig, amp, loc, fwhm = x
    C = ref.populations(k1, k2, mu, sig)
    f2 = ref.gaussian(ref.WL, amp, loc, fwhm)
    g = np.interp(ref.WL, S1_GUIDE_WL, S1_GUIDE)
    A = np.vstack([C[:, :1], [[1.5]]])
    res, a1 = [], []
    for j in range(ref.WL.size):
        b = np.append(Y[:, j] - C[:, 1] * f2[j], 1.5 * g[j])
        a = nnls(A, b)[0]
        a1.append(a[0])
        res.append(b - A @ a)
    pen = 0.02 * abs(np.sum(a1) - np.sum(f2))
    return np.concatenate(res + [[pen]]), np.array(a1)


@pytest.fixture(scope="module")
def all_fit():
    S = np.stack([0.8 * np.cos((ref.WL - 450.0) / 80.0), ref.gaussian(ref.WL, 0.7, 600.0, 70.0)])
    Y = ref.simulate(S, noise=0.01)
    with jax.enable_x64(True):
        model = parse_model(ref.toml(**ALL_TOML), source="all options")
        res = fit(make_ta_dataset(ref.T, ref.WL, Y), model, ftol=1e-13, gtol=1e-10)
        J = np.asarray(res.setup.objective.jacobian(jnp.asarray(res.theta), res.setup.arrays))
        dphys = np.asarray(jax.jacfwd(model.parameters.physical)(jnp.asarray(res.theta)))
    return res, Y, J, dphys


def test_all_options_fit_matches_reference(all_fit):
    res, Y, J, dphys = all_fit
    sm = res.summary()
    x = np.array([sm["parameters"][n]["value"] for n in ALL_NAMES])
    r, a1 = _all_reference_residual(x, Y)
    assert 2 <= np.sum(a1 == 0) <= ref.WL.size - 2  # NNLS active at some wavelengths
    assert sm["cost"] == pytest.approx(0.5 * r @ r, rel=1e-9)
    np.testing.assert_allclose(res.dataset["sas"].sel(species="s1").values, a1, atol=1e-10)
    np.testing.assert_allclose(res.dataset["sas"].sel(species="s2").values,
                               ref.gaussian(ref.WL, *x[4:]), rtol=1e-12)
    assert sm["n_amplitudes"] == int(np.sum(a1 > 0))
    assert sm["nnls_zero_amplitudes"] == int(np.sum(a1 == 0))
    assert sm["n_data"] == ref.T.size * ref.WL.size + ref.WL.size  # + one guide row per λ
    x0 = np.array([ref.START[n] for n in NAMES] + [0.6, 610.0, 80.0])
    ls = least_squares(lambda v: _all_reference_residual(v, Y)[0], x0, x_scale="jac",
                       xtol=1e-12, ftol=1e-12)
    assert sm["cost"] == pytest.approx(ls.cost, rel=1e-7)
    np.testing.assert_allclose(x, ls.x, rtol=1e-4)
    # Jacobian (active set fixed) = central differences; Gauss–Newton standard errors
    Jfd = ref.fd_jacobian(lambda v: _all_reference_residual(v, Y)[0], x)
    np.testing.assert_allclose(J, Jfd @ dphys, rtol=1e-5, atol=1e-6 * np.abs(J).max())
    n, p = Jfd.shape
    rmse = np.sqrt(r @ r / (n - 1 - p - sm["n_amplitudes"]))  # the penalty row is not data
    se = rmse * np.sqrt(np.diag(np.linalg.inv(Jfd.T @ Jfd)))
    got = np.array([sm["parameters"][n]["stderr"] for n in ALL_NAMES])
    np.testing.assert_allclose(got, se, rtol=1e-4)


def test_cli_spectral_options(tmp_path):
    """``--non-negative`` and ``--guide SPECIES=FILE@W`` map onto the model (no fit)."""
    import argparse

    from hotcarrier.commands.fit import add_model_arguments, build_model

    (tmp_path / "g.txt").write_text("450 0.1\n600 0.2\n700 0.3\n")
    p = argparse.ArgumentParser()
    p.add_argument("data", nargs="+")
    add_model_arguments(p)
    args = p.parse_args(["x.csv", "--scheme", "sequential", "--lifetimes", "1,10",
                         "--non-negative", "--guide", f"s2={tmp_path / 'g.txt'}@2.5"])
    model = build_model(args)
    assert model.non_negative is True and model.per_wavelength
    g = model.guides[0]
    assert (g.species, g.weight, g.wavelength, g.values) == ("s2", 2.5, (450.0, 600.0, 700.0),
                                                             (0.1, 0.2, 0.3))
    with pytest.raises(ModelError, match="unknown compartment"):
        build_model(p.parse_args(["x.csv", "--scheme", "parallel", "--lifetimes", "1",
                                  "--guide", f"s7={tmp_path / 'g.txt'}"]))
    with pytest.raises(ModelError, match="SPECIES=FILE"):
        build_model(p.parse_args(["x.csv", "--scheme", "parallel", "--lifetimes", "1",
                                  "--guide", "nothing"]))
