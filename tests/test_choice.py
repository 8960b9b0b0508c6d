"""Automatic model choice (hotcarrier.analysis.choice, ``hotcarrier choose``)."""

import json
import math

import numpy as np
import pytest

import hotcarrier
from hotcarrier.analysis.choice import (Candidate, CandidateFit, _decide, candidates,
                                        choose_arrays)
from hotcarrier.cli import main
from hotcarrier.dataset import make_ta_dataset
from hotcarrier.errors import OptionError
from hotcarrier.io import save_ta

T = np.concatenate([np.linspace(-0.5, 1.0, 10, endpoint=False), np.geomspace(1.0, 300.0, 26)])
WL = np.linspace(500.0, 700.0, 12)
OPTS = ["--max-components", "3", "--baseline", "no", "--artifact", "no", "--starts", "2",
        "--folds", "4", "--irf-fwhm", "0.3", "--quiet"]


def simulate(kind, taus, seed, noise=0.003):
    """A map from the engine's own design matrix; spectra are smooth random bands."""
    rng = np.random.default_rng(seed)
    m = Candidate(len(taus)).model(taus, 0.25, 0.05, kind=kind)
    with hotcarrier.x64():
        C = np.asarray(m.matrix(m.parameters.physical(m.parameters.theta0()), 0, T, WL[:1]))[0]
    S = np.stack([np.cos((WL - 500) / (30 + 20 * i) + rng.uniform(0, 3)) for i in range(len(taus))])
    y = C @ S
    return y / np.abs(y).max() + noise * rng.normal(size=y.shape)


def test_candidates_and_equivalence():
    cs = candidates(2)
    assert [c.label for c in cs] == ["1 exp", "1 exp + artefact", "1 exp + baseline",
                                     "1 exp + baseline + artefact", "2 exp", "2 exp + artefact",
                                     "2 exp + baseline", "2 exp + baseline + artefact"]
    assert Candidate(1).equivalent == ["parallel"]
    assert Candidate(1, baseline=True).equivalent == ["parallel", "sequential", "branched"]
    m = Candidate(2, baseline=True, artifact=True).model([1.0, 10.0], 0.2)
    assert m.column_names == ["s1", "s2", "s3", "artifact0"]
    assert m.parameters["tau3"].fixed and not m.parameters["tau1"].fixed
    with pytest.raises(OptionError, match="max_components = 0"):
        candidates(0)
    with pytest.raises(OptionError, match="criterion 'x'"):
        choose_arrays(T, WL, np.zeros((1, T.size, WL.size)), criterion="x")


def _fake(n, bic, rows=None, flags=()):
    c = CandidateFit(Candidate(n), np.arange(1.0, n + 1), np.full(n, 0.1), 0.2, 0.0, 1.0, 1000,
                     10, 1.0, np.ones(20) if rows is None else rows, True, list(flags),
                     np.zeros((n, 3)), np.zeros(n + 2))
    c.bic = c.aic = bic
    return c


def test_undecided_within_the_criterion_noise():
    rng = np.random.default_rng(0)
    rows = lambda: 1.0 + 0.01 * rng.normal(size=20)  # noqa: E731
    close = _decide([_fake(2, 100.0, rows()), _fake(3, 101.5, rows())], "bic", 2.0, "", T, WL, 4)
    assert close.winner is None and "undecided" in close.verdict
    assert [c.candidate.n for c in close.leading] == [2, 3]
    clear = _decide([_fake(2, 100.0, rows()), _fake(3, 109.0, rows())], "bic", 2.0, "", T, WL, 4)
    assert clear.winner.candidate.n == 2 and "strong" in clear.verdict
    assert "sequential (EAS)" in clear.verdict  # the equivalence class is named
    # a flagged candidate never wins, even with the best BIC
    fl = _decide([_fake(3, 90.0, flags=["tau1 ≈ tau2"]), _fake(2, 100.0)], "bic", 2.0, "", T, WL,
                 0)
    assert fl.winner.candidate.n == 2 and fl.ranked[-1].candidate.n == 3
    # CV significantly against the BIC winner: undecided
    worse = _decide([_fake(2, 100.0, np.full(20, 2.0) + 0.01 * rng.normal(size=20)),
                     _fake(3, 120.0, rows())], "bic", 2.0, "", T, WL, 4)
    assert worse.winner is None and "cross-validated" in worse.verdict


def test_choose_cli_picks_two_components(tmp_path, capsys):
    files = []
    for seed in (1, 2):
        f = tmp_path / f"seq{seed}.nc"
        save_ta(make_ta_dataset(T, WL, simulate("sequential", [2.0, 40.0], seed)), f)
        files.append(str(f))
    assert main(["choose", *files, "--out", str(tmp_path / "out"), *OPTS]) == 0
    for seed in (1, 2):
        d = json.loads((tmp_path / "out" / f"seq{seed}" / "choice.json").read_text())
        assert d["decided"] and d["winner"] == "2 exp", d["verdict"]
        best = d["ranked"][0]
        assert best["equivalent_schemes"] == ["parallel", "sequential", "branched"]
        assert np.allclose(best["lifetimes_ps"], [2.0, 40.0], rtol=0.1)
        assert [r["rank"] for r in d["ranked"]] == [1, 2, 3] and best["delta_bic"] == 0.0
        assert math.isclose(sum(r["akaike_weight"] for r in d["ranked"]), 1.0)
        assert d["ranked"][1]["delta_bic"] > 10  # 1 or 3 components: clearly worse
        assert {"candidate", "members", "fitted"} <= set(d["equivalence_classes"][0])
        assert (tmp_path / "out" / f"seq{seed}" / "choice.png").stat().st_size > 0
        assert "2 exp" in (tmp_path / "out" / f"seq{seed}" / "choice.txt").read_text()
    assert main(["choose", files[0], "--out", str(tmp_path / "bad"), "--folds", "1"]) == 2
    assert "folds = 1" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["parallel", "sequential", "branched"])
def test_three_species_maps(kind):
    from hotcarrier.target.model import (IRF, DatasetModel, Parameter, ParameterSet,
                                        TargetModel, Transfer)

    if kind == "branched":  # s1 → s2 (60 %), s1 → s3 (40 %); s2, s3 → ground
        ps = ParameterSet([Parameter("k1", 1.0), Parameter("k2", 0.1), Parameter("k3", 0.01),
                           Parameter("t0", 0.05), Parameter("w", 0.25 / 2.3548)])
        m = TargetModel(["s1", "s2", "s3"], [Transfer("s1", "s2", "0.6*k1"),
                        Transfer("s1", "s3", "0.4*k1"), Transfer("s2", None, "k2"),
                        Transfer("s3", None, "k3")], {"s1": "1"}, ps,
                        [DatasetModel(irf=IRF(center="t0", width="w"))])
        rng = np.random.default_rng(0)
        with hotcarrier.x64():
            C = np.asarray(m.matrix(ps.physical(ps.theta0()), 0, T, WL[:1]))[0]
        maps = []
        for _ in range(2):
            y = C @ np.stack([np.cos((WL - 500) / (30 + 20 * i) + rng.uniform(0, 3))
                              for i in range(3)])
            maps.append(y / np.abs(y).max() + 0.003 * rng.normal(size=y.shape))
    else:
        maps = [simulate(kind, [1.0, 10.0, 100.0], s) for s in (3, 4)]
    res = choose_arrays(T, WL, np.stack(maps), max_components=4, artifact=False, irf_fwhm=0.3,
                        n_starts=3, folds=4)
    for r in res:
        assert r.winner is not None and r.winner.candidate.n == 3, r.table()
        assert kind in r.winner.candidate.equivalent


def test_compiled_design_matrix_equals_the_model_matrix():
    # the cached, cheaply compiled program (cross-validation, EAS) against the model's own
    # matrix evaluated by JAX op by op
    import jax

    from hotcarrier.analysis.choice import _design_matrix
    from hotcarrier.target.model import TargetModel

    model = TargetModel.from_scheme("sequential", [1.5, 40.0], irf_fwhm=0.15, baseline=True)
    t, wl = np.linspace(-1.0, 100.0, 57), np.array([500.0])
    with jax.enable_x64(True):
        p = np.asarray(model.parameters.physical(model.parameters.theta0()), float)
        want = np.asarray(model.matrix(p, 0, t, wl))
        got = _design_matrix(model, p, t, wl)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
