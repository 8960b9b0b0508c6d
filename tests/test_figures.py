"""Figures and readable output: spectra named for the scheme, robust scales, gaps at excluded
bands, trace choice, natural time units, plain-language lifetime warnings, ``FitResult.plot``."""

import warnings

import numpy as np
import pytest
from scipy.special import erfc

from hotcarrier import fit, make_ta_dataset
from hotcarrier import preprocess as pp
from hotcarrier.errors import ConvergenceWarning, LifetimeWarning
from hotcarrier.fitting.result import format_time, lifetime_warnings
from hotcarrier.plotting import pick_traces
from hotcarrier.target.model import TargetModel

SIG = 0.08  # ps, IRF σ
T = np.concatenate([np.linspace(-0.5, 2.0, 30), np.geomspace(2.2, 400.0, 30)])
W = np.linspace(450.0, 700.0, 26)


def _exp_irf(t, k):
    """exp(−kt) ⊗ Gaussian(σ), the analytic kernel."""
    return (0.5 * np.exp(-k * t + 0.5 * (k * SIG) ** 2)
            * erfc(-(t - k * SIG**2) / (SIG * np.sqrt(2))))


def _sequential_map(tau1=1.5, tau2=40.0, seed=0):
    k1, k2 = 1 / tau1, 1 / tau2
    a = _exp_irf(T, k1)
    b = k1 / (k2 - k1) * (_exp_irf(T, k1) - _exp_irf(T, k2))
    ea = -8e-3 * np.exp(-0.5 * ((W - 520) / 30) ** 2)
    eb = 6e-3 * np.exp(-0.5 * ((W - 640) / 35) ** 2)
    s = np.outer(a, ea) + np.outer(b, eb)
    s += np.random.default_rng(seed).normal(0, 1e-4, s.shape)
    return make_ta_dataset(T, W, s, signal_units="OD")


@pytest.fixture(scope="module")
def seq_fit():
    ds = pp.exclude_band(_sequential_map(), 550.0, 575.0)  # a dropped band: a gap
    m = TargetModel.from_scheme("sequential", [1.0, 30.0], irf_fwhm=0.2, t0=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(ds, m)


def test_plot_names_eas_das_and_labels_lifetimes(seq_fit):
    from matplotlib.figure import Figure

    fig = seq_fit.plot(traces=[520, 640])
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert "evolution-associated spectra (EAS)" in titles  # a sequential scheme: EAS, not SAS
    assert "decay-associated spectra (DAS)" in titles
    das = next(ax for ax in fig.axes if ax.get_title().startswith("decay-associated"))
    labels = [t.get_text() for t in das.get_legend().get_texts()]
    assert any(" ps" in x and "±" in x for x in labels)
    assert das.get_ylabel() == "amplitude (OD)"
    tr = next(ax for ax in fig.axes if ax.get_title().startswith("traces"))
    assert tr.get_ylabel() == "ΔA (OD)"
    assert [t.get_text() for t in tr.get_legend().get_texts()] == ["520 nm", "640 nm"]
    # the EAS line has a NaN gap where 550–575 nm was dropped (not a straight bridge)
    eas = next(ax for ax in fig.axes if ax.get_title().startswith("evolution"))
    y = eas.get_lines()[0].get_ydata()
    assert np.isnan(y).sum() == 1
    # the recovered lifetimes (analytic simulation above) within 3σ
    for tau, true, se in zip(seq_fit.lifetimes_ps, (1.5, 40.0),
                             seq_fit.summary()["lifetimes_stderr_ps"]):
        assert abs(tau - true) < 3 * se


def test_plot_repr_and_warnings_for_a_run_away_lifetime(seq_fit):
    text = repr(seq_fit)
    assert "lifetimes: " in text and "ps" in text
    assert "tau1" in text and "TargetModel" in repr(seq_fit.setup.model)


def test_pick_traces_avoids_scatter_edges_and_duplicates():
    w = np.r_[np.arange(400.0, 500.0, 2.0), np.arange(520.0, 700.0, 2.0)]  # gap 500–520
    t = np.linspace(0, 10, 40)
    s = np.outer(np.exp(-t / 3), np.exp(-0.5 * ((w - 600) / 40) ** 2))  # one broad band
    s[:, (w > 495) & (w < 500)] *= 30  # scatter right at the excluded band: largest |ΔA|
    s += np.outer(np.exp(-t / 0.5), 0.5 * np.exp(-0.5 * ((w - 430) / 10) ** 2))
    picks = pick_traces(w, s, 3)
    assert not any(494 < w[j] < 526 for j in picks)  # not next to the gap
    assert any(abs(w[j] - 430) < 12 for j in picks)  # the fast band is shown
    assert min(np.diff(sorted(w[picks]))) >= (w.max() - w.min()) / 18  # not near-duplicates


def test_times_in_natural_units_with_uncertainty_digits():
    assert format_time(2543.0, 280.0) == "2.54 ± 0.28 ns"
    assert format_time(0.12) == "120 fs"
    assert format_time(4.089148, 0.045232) == "4.09 ± 0.05 ps"  # PDG: 452 → one digit
    assert format_time(1.8e5) == "180 ns"


def test_lifetime_warnings_in_plain_language():
    w = lifetime_warnings([6e-4, 4.0, 6.8e4], irf_fwhm_ps=0.12, first_delay_ps=0.3,
                          window_ps=1800.0)
    assert len(w) == 2
    assert "τ1 = 0.6 fs is far below the instrument response (FWHM 120 fs)" in w[0]
    assert "τ3 = 68 ns is far beyond the measured window (1.8 ns)" in w[1]
    w = lifetime_warnings([0.13, 20.0, 20.5], irf_fwhm_ps=0.1, first_delay_ps=0.5)
    assert "below the first fitted delay" in w[0] and "collapsed" in w[1]
    assert lifetime_warnings([0.13, 20.0], [True, False], first_delay_ps=0.5) == []


@pytest.mark.slow  # a second compilation (another iteration cap); the fixture fit runs by default
def test_fit_warnings_point_at_the_callers_line():
    ds = pp.exclude_band(_sequential_map(), 550.0, 575.0)  # the fixture's shapes: no recompile
    m = TargetModel.from_scheme("sequential", [1.0, 30.0], irf_fwhm=0.2, t0=0.0)
    with pytest.warns(ConvergenceWarning) as rec:
        fit(ds, m, max_iter=2)
    assert rec[0].filename == __file__


@pytest.mark.slow  # compiles a one-wavelength parallel fit
def test_single_wavelength_layout():
    ds = _sequential_map().isel(wavelength=[5])
    m = TargetModel.from_scheme("parallel", [1.0, 30.0], irf_fwhm=0.2, t0=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LifetimeWarning)
        res = fit(ds, m)
    fig = res.plot()
    titles = [ax.get_title() for ax in fig.axes]
    assert "trace and fit" in titles and "residual" in titles
    assert len([ax for ax in fig.axes if ax.axison]) == 4  # no empty map panels


# --- report.html ---------------------------------------------------------------------------

def _browser():
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_report_is_self_contained_and_renders_in_a_headless_browser(seq_fit, tmp_path):
    import io
    import re
    import subprocess

    from hotcarrier.plotting import save_figure
    from hotcarrier.report import write_report

    png = save_figure(seq_fit.plot(), tmp_path / "overview.png")
    page = write_report(seq_fit, tmp_path / "report.html", {"Overview": png})
    text = page.read_text(encoding="utf-8")
    assert "data:image/png;base64," in text
    assert not re.search(r'(src|href)="(?!data:)', text)  # nothing loaded from elsewhere
    assert "<script" not in text
    assert text.count(">determined<") == 4  # tau1, tau2, irf_fwhm, t0 all free and determined
    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium/Chrome found for the headless render check (apt-get install "
                    "chromium); the HTML checks above ran")
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.is_file(), proc.stderr[-2000:]
    assert "CONSOLE" not in proc.stderr, proc.stderr[-2000:]  # no console errors or messages
    from matplotlib import image

    img = image.imread(io.BytesIO(shot.read_bytes()))[..., :3]
    # the embedded overview decoded: its red/blue map pixels are on the screenshot
    red = (img[..., 0] > 0.6) & (img[..., 2] < 0.4)
    blue = (img[..., 2] > 0.6) & (img[..., 0] < 0.4)
    assert red.sum() > 500 and blue.sum() > 500
