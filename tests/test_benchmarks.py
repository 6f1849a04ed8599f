"""The benchmarks' own machinery, where a package change can break it silently.

No timing here: the benchmarks measure, these tests check that what they
measure still exists. Run from a checkout (the sdist has no ``benchmarks/``,
and leaves this file out).
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name):
    """A script of ``benchmarks/`` as a module (it is not a package); the
    ``sys.path`` entry it adds for running from a checkout is taken back."""
    path = BENCHMARKS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    saved, modules = list(sys.path), set(sys.modules)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
        # The scripts import each other by name (``import evidence``).
        for name in set(sys.modules) - modules:
            if (BENCHMARKS / f"{name}.py").exists():
                del sys.modules[name]
    return module


def iris_evidence_fit(recording):
    """An evidence fit on iris (3 hidden units, ``random_state=0``) inside
    the context manager ``recording``, the refits' ConvergenceWarning
    hidden: the benchmarks' recorders wrap the package while it runs."""
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning

    from skbpnn import BackpropClassifier

    X, y = load_iris(return_X_y=True)
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with recording:
            clf.fit(X, y)
    return clf


def test_the_time_split_finds_every_function_it_times():
    """A function renamed in the package would drop out of
    ``benchmarks/evidence.py``'s time split (listed as "not found, so not
    timed"), its time moving to "everything else" in the Performance
    page's tables: every name of ``SPLIT_TARGETS`` must be there."""
    evidence = load("evidence")
    split = evidence.TimeSplit()
    with split.timed():
        pass
    assert split.missing == []


def test_the_probe_count_reaches_every_estimate_and_is_restored(monkeypatch):
    """``benchmarks/search_probes.py`` sets ``_evidence.SEARCH_PROBES`` and
    wraps ``_lanczos.logdet_and_trace`` (which checks the count each call
    asks for): a fit on the matrix-free path must score its points with
    the count set and the kept one again on ``N_PROBES``, and both
    attributes must be back afterwards."""
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning

    from skbpnn import BackpropClassifier, _evidence, _lanczos

    search_probes = load("search_probes")
    original, saved = _lanczos.logdet_and_trace, _evidence.SEARCH_PROBES
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", 0)  # matrix-free
    X, y = load_iris(return_X_y=True)
    counts = []
    monkeypatch.setattr(
        _lanczos,
        "logdet_and_trace",
        lambda *args, **kwargs: (
            counts.append(kwargs["n_probes"]) or original(*args, **kwargs)
        ),
    )
    counting, seconds = _lanczos.logdet_and_trace, []
    clf = BackpropClassifier((3,), lambda_="evidence", max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short refits
        with search_probes.probes(3, seconds):
            clf.fit(X, y)
    assert len(seconds) == len(clf.lambdas_) + 1 > 2
    assert counts == [3] * len(clf.lambdas_) + [_evidence.N_PROBES]
    assert _evidence.SEARCH_PROBES == saved
    assert _lanczos.logdet_and_trace is counting


def test_the_loose_refits_record_every_point_and_restore_the_search():
    """``benchmarks/loose_refits.py`` replaces ``_evidence.search`` (and
    ``_evidence.mode_gtol`` while it refits a point loose): a fit must
    record one entry per point tried, in order, with its margin below the
    best before it, the points that did not score higher than all before
    it marked as losers, every point refit loose (in no more iterations
    than the mode's test asks, some losers in fewer), and both attributes
    must be back afterwards."""
    from skbpnn import _evidence

    loose_refits = load("loose_refits")
    search, mode_gtol = _evidence.search, _evidence.mode_gtol
    points, extra = [], []
    clf = iris_evidence_fit(loose_refits.recorded(points, extra))
    assert [p["lambda_"] for p in points] == list(clf.lambdas_)
    assert [p["score"] for p in points] == list(clf.scores_)
    losers = [p for p in points if p["loser"]]
    assert losers and len(extra) == 1
    for i, p in enumerate(points):
        best_before = max([-np.inf] + list(clf.scores_[:i]))
        assert p["loser"] == (p["score"] <= best_before)
        assert p["below"] == best_before - p["score"]
        assert np.isfinite(p["loose_score"]) and p["loose_estimate"] > 0
    # From the same start, the looser test stops no later (both at
    # max_iter where neither fires: a loser at lambda_ 1e-3 on iris).
    assert all(p["loose_n_iter"] <= p["n_iter"] for p in points)
    assert any(p["loose_n_iter"] < p["n_iter"] for p in losers)
    assert _evidence.search is search and _evidence.mode_gtol is mode_gtol


def test_the_loose_refits_totals_follow_their_definitions(capsys):
    """``loose_refits.summarize`` on made-up points with known answers: a
    loser whose loose score is far below the best stays loose (its refit
    and estimate at their loose times), a later point whose loose score
    is within ``delta`` of the best is tightened (its loose estimate paid
    on top), the first point and a diverged one (no loose refit) are left
    out of both."""
    loose_refits = load("loose_refits")

    def point(first, loser, below, score, refit, estimate, loose=None):
        p = dict(first=first, loser=loser, below=below, score=score)
        p.update(refit=refit, estimate=estimate)
        if loose is not None:
            p.update(zip(("loose", "loose_estimate", "loose_score"), loose))
        return p

    points = [
        [
            point(True, False, -np.inf, -10.0, 2.0, 0.5, (1.5, 0.5, -30.0)),
            point(False, True, 40.0, -50.0, 1.0, 0.5, (0.2, 0.4, -45.0)),
            point(False, False, -5.0, -5.0, 1.0, 0.5, (0.2, 0.7, -8.0)),
            point(False, True, 6.0, -11.0, 1.0, 0.6, (0.4, 0.8, -6.0)),
            point(False, True, np.inf, -np.inf, 1.0, 0.0),  # diverged
        ]
    ]
    loose_refits.summarize(points, 10.0, 20.0)
    out = capsys.readouterr().out
    assert "1 fits, 5 points, 2 losers" in out
    assert "0.50x (refits alone 0.30x)" in out
    # search less the losers' refits saved (1.0 - 0.2 and 1.0 - 0.4)
    assert "every loser loose: 0.43x (refits alone 0.23x)" in out
    assert "the first points' -20.00 to -20.00, the others' -3.00 to +5.00" in out
    # delta 3 (the first point's -20 left out): the loser 35 below (loose)
    # stays loose (10 - 0.8 - (0.5 - 0.4)), the one 1 below (loose) and
    # the winner pay their loose estimates (+ 0.7 + 0.8).
    assert "delta 3.00 nats (the largest error): 1 points stay loose, 2 are " in out
    assert "0.70 to 0.80 s): 0.53x" in out
    # The least delta that keeps the winner (5 above the best, -3 loose:
    # 2 above loose) tightened is 0: the loser 1 below (loose) stays loose
    # too (10 - 0.8 - 0.1 - 0.6 - (0.6 - 0.8)), the winner pays 0.7.
    assert "delta 0.00 nats (the least keeping no winner loose): 2 points" in out
    assert "0.70 to 0.70 s): 0.47x" in out


def _sign_vectors(n):
    """Every vector of n signs, as rows: Rademacher probes enumerated."""
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    return 1.0 - 2.0 * bits


def test_the_deflated_variances_are_those_of_every_sign_vector():
    """``benchmarks/deflation.py``'s per-probe standard deviations, from an
    eigendecomposition, against the variance of ``z^T P B P z`` over all
    ``2^n`` sign vectors ``z`` (Hutchinson's Rademacher probes, enumerated:
    no formula shared), for one matrix's function and for the difference
    of two, with 0 to ``n`` directions taken out; and Hutch++'s
    accounting on a made-up remainder."""
    deflation = load("deflation")
    rng = np.random.RandomState(0)
    n = 10
    Z = _sign_vectors(n)

    def enumerated_sd(B):
        return float(np.std(np.einsum("pi,ij,pj->p", Z, B, Z)))

    def spd():
        J = rng.randn(3 * n, n) * rng.gamma(1.0, size=n)
        return J.T @ J + 0.1 * np.eye(n)

    S1, S2 = spd(), spd()
    theta, V = np.linalg.eigh(S1)
    theta, V = theta[::-1], V[:, ::-1]
    values = np.log(theta / 0.1)
    B1 = (V * values) @ V.T
    C = B1 - 2.0 * (S2 / np.trace(S2))
    sds = deflation.difference_sds(C, V, range(n + 1))
    for k in range(n + 1):
        P = np.eye(n) - V[:, :k] @ V[:, :k].T
        expected = enumerated_sd(P @ B1 @ P)
        assert np.isclose(deflation.rademacher_sd(V, values, k), expected)
        assert np.isclose(sds[k], enumerated_sd(P @ C @ P), atol=1e-6)
    assert deflation.rademacher_sd(V, values, n) == 0.0
    assert np.isclose(deflation.dense_sd(C), enumerated_sd(C))
    # Hutch++ at 12 recurrences: 4 probes on the remainder after 4
    # directions; plain Hutchinson on 12.
    remainder = {0: 6.0, 4: 2.0}
    hutchpp, plain = deflation.hutchpp(remainder.__getitem__, 12)
    assert np.isclose(hutchpp, 1.0) and np.isclose(plain, 6.0 / np.sqrt(12))
    # At 4 recurrences: 1 sketch column, 1 for its part, 2 probes.
    remainder[1] = 3.0
    hutchpp, plain = deflation.hutchpp(remainder.__getitem__, 4)
    assert np.isclose(hutchpp, 3.0 / np.sqrt(2)) and np.isclose(plain, 3.0)
    # 4 directions for 4 products at 2 a recurrence, 4 probes: 6 in all.
    deflated, plain = deflation.priced(remainder.__getitem__, 4, 4, 2)
    assert np.isclose(deflated, 1.0) and np.isclose(plain, 6.0 / np.sqrt(6))


def test_the_tables_halve_the_log_dets_errors_and_read_the_estimator():
    """``deflation.errors``, a row of the Hutch++ and priced tables, on
    made-up standard deviations: the log evidence's standard errors are
    half those of ``log det``, one point's from ``log det``'s column and
    the difference's from its own, with the scheme's arguments in order;
    ``measured_sds`` reads the estimator's samples and ``gamma_std``."""
    from types import SimpleNamespace

    deflation = load("deflation")
    sd = {
        "log det": {0: 12.0, 4: 2.0},
        "gamma": {0: 100.0, 4: 100.0},
        "difference": {0: 3.0, 4: 1.0},
    }
    # priced: 4 directions, 4 probes, 2 products a recurrence: a cost of 6.
    row = deflation.errors(sd, deflation.priced, 4, 4, 2)
    expected = [12 / np.sqrt(6) / 2, 2 / 2 / 2, 12 / np.sqrt(6) / 2]
    expected += [3 / np.sqrt(6) / 2, 1 / 2 / 2, 3 / np.sqrt(6) / 2 / 0.25]
    expected[2] = expected[0] / expected[1]
    assert np.allclose([float(v) for v in row], expected, atol=0.006)
    ev = SimpleNamespace(logdet_samples=(1.0, 3.0, 5.0, 7.0), gamma_std=0.5)
    near = SimpleNamespace(logdet_samples=(0.0, 3.0, 4.0, 8.0))
    measured = deflation.measured_sds(ev, near)
    assert np.isclose(measured["log det"], np.std([1, 3, 5, 7], ddof=1))
    assert np.isclose(measured["gamma"], 0.5 * 2)
    assert np.isclose(measured["difference"], np.std([1, 0, 1, -1], ddof=1))


def _kfac_dense(factors, lambda_):
    """``S_kfac = blockdiag(kron(A_l, C_l)) + lambda_ I``, formed."""
    from scipy.linalg import block_diag

    S = block_diag(*(np.kron(A, C) for A, C in factors))
    return S + lambda_ * np.eye(len(S))


def _function(S, f):
    """``f(S)`` for symmetric ``S``, by its eigendecomposition."""
    w, V = np.linalg.eigh(S)
    return (V * f(w)) @ V.T


def test_the_deflation_records_every_evidence_and_reads_its_matrix():
    """``benchmarks/deflation.py`` wraps ``EvidenceFunction.__call__``: a
    fit must record every evidence (the search's with ``n_probes`` None),
    the method restored after. At the kept point, ``S``'s eigenvalues
    (decreasing) must give the exact evidence's ``gamma`` (dense path: a
    triangular inverse) and ``log det A`` by the Schur complement's
    identity; and the report's per-probe standard deviations must be those
    of the matrices formed here another way (``S`` as the inverse of
    ``A^-1``'s weight block, its functions and K-FAC's by numpy), plain,
    deflated, of the difference and with K-FAC."""
    from skbpnn import _evidence

    deflation = load("deflation")
    call = _evidence.EvidenceFunction.__call__
    calls = []
    clf = iris_evidence_fit(deflation.recorded(calls))
    assert _evidence.EvidenceFunction.__call__ is call
    assert [c["lambda_"] for c in calls] == list(clf.lambdas_)
    assert all(c["n_probes"] is None and c["seconds"] > 0 for c in calls)
    kept, near = deflation.kept_and_nearest(calls)
    assert kept["lambda_"] == clf.fitted_lambda_
    for c in (kept, near):
        c["seed"] = 0
    point, other = deflation.Decomposed(kept), deflation.Decomposed(near)
    assert np.all(np.diff(point.eigenvalues) <= 0)
    assert np.isclose(point.gamma, clf.n_effective_params_, rtol=1e-8)
    exact, seconds = deflation.exact_point(kept)
    assert exact.log_evidence == clf.log_evidence_ and seconds > 0

    def S_of(c):
        A = c["curvature"].gauss_newton(c["theta"])
        A[np.diag_indices_from(A)] += np.where(point.mask, c["lambda_"], 1e-4)
        w = np.flatnonzero(point.mask)
        return A, np.linalg.inv(np.linalg.inv(A)[np.ix_(w, w)])

    A, S = S_of(kept)
    assert np.isclose(point.logdet, np.linalg.slogdet(A)[1], rtol=1e-10)
    lam, lam_near = kept["lambda_"], near["lambda_"]
    L = _function(S, lambda v: np.log(v / lam))
    L_near = _function(S_of(near)[1], lambda v: np.log(v / lam_near))
    gamma_B = np.eye(len(S)) - lam * np.linalg.inv(S)
    reported = deflation.report(point, other, 8)
    sd, kfac = reported["sd"], reported["kfac"]
    steps, probes = reported["steps"], _evidence.SEARCH_PROBES
    assert steps != probes  # (else their order could not be told)
    assert reported["tables"]["priced"] == [
        [str(k), *deflation.errors(sd, deflation.priced, k, probes, steps)]
        for k in deflation.PRICED
    ]
    assert reported["tables"]["hutchpp"] == [
        [str(m), *deflation.errors(sd, deflation.hutchpp, m)] for m in deflation.BUDGETS
    ]
    dense_sd = deflation.dense_sd
    assert np.isclose(sd["log det"][0], dense_sd(L), rtol=1e-6)
    assert np.isclose(sd["gamma"][0], dense_sd(gamma_B), rtol=1e-6)
    assert np.isclose(sd["difference"][0], dense_sd(L - L_near), rtol=1e-6)
    top = np.linalg.eigh(S)[1][:, ::-1][:, :4]
    P = np.eye(len(S)) - top @ top.T
    assert np.isclose(sd["log det"][4], dense_sd(P @ L @ P), rtol=1e-6)
    assert np.isclose(sd["difference"][4], dense_sd(P @ (L - L_near) @ P), rtol=1e-6)
    assert sd["log det"][3000] == 0.0  # every direction taken out

    def kfac_of(c, f):
        factors = deflation.kfac_factors(c["curvature"], c["theta"])
        return _function(_kfac_dense(factors, c["lambda_"]), f)

    R = L - kfac_of(kept, lambda v: np.log(v / lam))
    R_near = L_near - kfac_of(near, lambda v: np.log(v / lam_near))
    assert np.isclose(kfac["log det"], dense_sd(R), rtol=1e-6)
    assert np.isclose(kfac["difference"], dense_sd(R - R_near), rtol=1e-6)
    R_gamma = gamma_B - kfac_of(kept, lambda v: 1 - lam / v)
    assert np.isclose(kfac["gamma"], dense_sd(R_gamma), rtol=1e-6)


def test_the_kept_point_is_the_one_estimated_again():
    """``deflation.kept_and_nearest`` on made-up calls: the kept point is
    the search's point whose weights the second estimate (``n_probes``
    given) used, not the highest score; without a second estimate, the
    highest; the nearest is the nearest in ``log lambda_``, the first of
    equal ones."""
    from types import SimpleNamespace

    deflation = load("deflation")

    def call(lambda_, score, theta, n_probes=None):
        ev = SimpleNamespace(log_evidence=score)
        return dict(lambda_=lambda_, evidence=ev, theta=theta, n_probes=n_probes)

    thetas = [np.full(3, float(i)) for i in range(4)]
    calls = [
        call(1.0, -10.0, thetas[0]),
        call(4.0, -5.0, thetas[1]),
        call(2.0, -6.0, thetas[2]),
        call(8.0, -7.0, thetas[3]),
        call(2.0, -6.5, thetas[2].copy(), n_probes=10),
    ]
    kept, near = deflation.kept_and_nearest(calls)
    # 1 and 4 are equally near 2 (log 2 either side): the first is taken.
    assert kept is calls[2] and near is calls[0]
    kept, near = deflation.kept_and_nearest(calls[:4])
    assert kept is calls[1] and near is calls[2]  # 2 and 8: the first


def test_the_kfac_control_variate_is_exact_on_one_row():
    """``benchmarks/deflation.py``'s K-FAC factors: on one row of data the
    Kronecker product is no approximation (nor on one row repeated, with
    weights), so each layer's ``kron(A, C)``
    must equal the weight block of ``G`` that the package forms (its own
    blocked products, not these factors); and the dense ``log(S_kfac /
    lambda_)`` and its trace must be those of ``S_kfac``'s
    eigendecomposition."""
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning

    from skbpnn import BackpropClassifier, _evidence

    deflation = load("deflation")
    X, y = load_iris(return_X_y=True)
    clf = BackpropClassifier((3,), lambda_=0.1, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    Y = np.eye(3)[y]
    shapes = [(3, 5), (3, 4)]
    theta = clf.theta_
    mask = _evidence.weight_mask(shapes)
    for row, w in ((0, None), (70, None), (149, None), (70, [0.5, 2.0, 0.25])):
        # One row, or one repeated with weights (not summing to the count).
        rows = np.array([row] * (1 if w is None else len(w)))
        w = None if w is None else np.array(w)
        one = _evidence.DataCurvature(X, Y, w, rows, shapes, 16)
        G = one.gauss_newton(theta)[np.ix_(mask, mask)]
        factors = deflation.kfac_factors(one, theta)
        start = 0
        for A, C in factors:
            block = np.kron(A, C)
            end = start + block.shape[0]
            assert np.allclose(block, G[start:end, start:end], rtol=1e-10, atol=0)
            start = end
        assert start == G.shape[0]
    # Two hidden layers (the Jacobian's recursion run twice), random weights.
    deep = [(3, 5), (2, 4), (3, 3)]
    theta_deep = np.random.RandomState(1).randn(sum(r * c for r, c in deep))
    one = _evidence.DataCurvature(X, Y, None, np.array([42]), deep, 16)
    G = one.gauss_newton(theta_deep)
    G = G[np.ix_(_evidence.weight_mask(deep), _evidence.weight_mask(deep))]
    start = 0
    for A, C in deflation.kfac_factors(one, theta_deep):
        end = start + len(A) * len(C)
        assert np.allclose(np.kron(A, C), G[start:end, start:end], rtol=1e-10)
        start = end
    assert start == len(G)
    # Integer weights act as repeated rows, in both factors.
    rows, w = np.array([3, 60, 140]), np.array([1.0, 3.0, 2.0])
    weighted = _evidence.DataCurvature(X, Y, w, rows, shapes, 16)
    repeated = _evidence.DataCurvature(
        X, Y, None, np.repeat(rows, [1, 3, 2]), shapes, 16
    )
    for (A, C), (A_r, C_r) in zip(
        deflation.kfac_factors(weighted, theta),
        deflation.kfac_factors(repeated, theta),
    ):
        assert np.allclose(A, A_r, rtol=1e-12) and np.allclose(C, C_r, rtol=1e-12)
    full = _evidence.DataCurvature(X, Y, None, None, shapes, 16)
    factors = deflation.kfac_factors(full, theta)
    S = _kfac_dense(factors, 0.1)
    w, V = np.linalg.eigh(S)
    L, trace = deflation.kfac_matrix(factors, lambda s: np.log1p(s / 0.1))
    assert np.allclose(L, (V * np.log(w / 0.1)) @ V.T, atol=1e-10)
    assert np.isclose(trace, np.sum(np.log(w / 0.1)), rtol=1e-12)


def test_the_start_dependence_refits_at_the_kept_lambda_from_every_point():
    """``benchmarks/start_dependence.py`` wraps ``_evidence.search``: after
    a fit's search it must refit at the kept ``lambda_`` from every other
    point's weights, once each, the search restored after; the refit from
    the weights the kept point's own refit started from is that refit
    again, so its difference is exactly 0 (a refit at the other point's
    ``lambda_``, or from its start, would not be)."""
    from skbpnn import _evidence

    start_dependence = load("start_dependence")
    search = _evidence.search
    fits = []
    clf = iris_evidence_fit(start_dependence.recorded(fits))
    assert _evidence.search is search
    (fit,) = fits
    kept, refits = fit["kept"], fit["refits"]
    assert kept.lambda_ == clf.fitted_lambda_ and kept.score == clf.log_evidence_
    others = [lam for lam in clf.lambdas_ if lam != clf.fitted_lambda_]
    assert [r["lambda_"] for r in refits] == others and len(others) > 2
    assert [lam for lam, _, _ in fit["path"]] == list(clf.lambdas_)
    assert [score for _, score, _ in fit["path"]] == list(clf.scores_)
    (own,) = [r for r in refits if r["started_kept"]]
    assert own["difference"] == 0.0
    assert (own["n_iter"], own["stop"]) == (
        kept.result.n_iter,
        kept.result.stop_reason,
    )
    assert any(r["difference"] != 0.0 for r in refits)
    assert all(r["margin"] == 0.0 for r in refits)  # exact path
    with pytest.raises(RuntimeError), start_dependence.recorded([]):
        raise RuntimeError
    assert _evidence.search is search


def test_the_start_dependence_totals_count_what_they_say(capsys):
    """``start_dependence.summarize`` on made-up refits: higher beyond the
    margin counted, the largest difference of all and of those converged."""
    from types import SimpleNamespace

    start_dependence = load("start_dependence")
    result = SimpleNamespace(n_iter=10, stop_reason="converged")
    kept = SimpleNamespace(lambda_=0.5, score=-10.0, result=result)

    def refit(difference, margin, stop):
        return {
            "lambda_": 1.0,
            "n_iter": 5,
            "stop": stop,
            "difference": difference,
            "margin": margin,
            "started_kept": False,
        }

    fits = [
        {
            "kept": kept,
            "path": [(0.5, -10.0, 10)],
            "refits": [refit(0.3, 0.1, "converged"), refit(2.0, 3.0, "max_iter")],
        },
        {
            "kept": kept,
            "path": [(1.0, -12.0, 7), (0.5, -10.0, 10)],
            "refits": [
                refit(-1.0, 0.0, "converged"),
                refit(0.5, 0.0, "max_iter"),
                refit(0.0, 0.0, "converged"),  # the kept point's start: not higher
            ],
        },
    ]
    totals = start_dependence.summarize(fits)
    assert totals == {
        "refits": 5,
        "higher": 2,
        "largest": 2.0,
        "largest_converged": 0.3,
    }
    out = capsys.readouterr().out
    assert "the search: 1 (-12.00, 7), 0.5 (-10.00, 10)\n" in out
    assert "5 refits at the kept lambda_" in out
