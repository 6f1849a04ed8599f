"""Tests of lambda_="evidence" and log_evidence against independent computations.

The references: MacKay's log evidence written out with numpy from
finite-difference Jacobians of z^(L) (a tiny network) or, with no hidden
layer, from the exact logistic-regression Hessian X^T diag(h (1 - h)) X per
output; a brute-force maximum over a fine grid of lambda_; repeated rows for
integer weights.
"""

import copy
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from _reference import finite_difference_gauss_newton
from numpy.testing import assert_allclose
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from skbpnn import BackpropClassifier, TrainingInterruptedWarning, _evidence
from skbpnn import backprop as bp

BIAS_PRECISION = 1e-4


def mask_of(sizes):
    """Non-bias weights, written out from the column-major layout."""
    parts = []
    for s_next, cols in bp.layer_shapes(sizes):
        parts.append(np.r_[np.zeros(s_next, bool), np.ones(s_next * (cols - 1), bool)])
    return np.concatenate(parts)


def logistic_hessian(theta, X, sizes, w):
    """Exact Hessian of E_D with no hidden layer: X^T diag(w h(1-h)) X per output."""
    n, K = sizes
    Xbar = np.hstack([np.ones((X.shape[0], 1)), X])
    Theta = theta.reshape((K, n + 1), order="F")
    h = 1 / (1 + np.exp(-Xbar @ Theta.T))
    H = np.zeros((theta.size, theta.size))
    for k in range(K):
        idx = np.arange(n + 1) * K + k  # Theta[k, j] is theta[j K + k]
        H[np.ix_(idx, idx)] = Xbar.T @ (Xbar * (w * h[:, k] * (1 - h[:, k]))[:, None])
    return H


def reference_evidence(theta, X, Y, sizes, lambda_, w=None, hessian=None):
    """MacKay's log evidence and gamma, written out with numpy."""
    w = np.ones(X.shape[0]) if w is None else w
    Y = Y.reshape(X.shape[0], -1)
    z = bp.feedforward(theta, X, sizes, return_z=True)
    # -[y log h + (1 - y) log(1 - h)] = log(1 + e^z) - y z
    E_D = float(np.sum(w[:, None] * (np.logaddexp(0, z) - Y * z)))
    mask = mask_of(sizes)
    H = hessian(theta, X, sizes, w)
    A = H + np.diag(np.where(mask, lambda_, BIAS_PRECISION))
    sign, logdet = np.linalg.slogdet(A)
    assert sign == 1
    k = mask.sum()
    S = (
        E_D
        + lambda_ / 2 * theta[mask] @ theta[mask]
        + BIAS_PRECISION / 2 * theta[~mask] @ theta[~mask]
    )
    value = (
        -S
        + k / 2 * np.log(lambda_)
        + (theta.size - k) / 2 * np.log(BIAS_PRECISION)
        - logdet / 2
    )
    gamma = k - lambda_ * np.sum(np.diag(np.linalg.inv(A))[mask])
    return value, gamma


def targets(clf, y):
    """The fit's 0/1 targets (m, K) for y."""
    Y = clf._binarizer.transform(y).astype(float)
    return Y


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:, :6]
    return X[::3], y[::3]


# 30 iris rows are separable for a hidden layer: the evidence grows as
# lambda_ -> 0 (tested below); here only the values at the kept point count.
@pytest.mark.filterwarnings(
    "ignore:The network classifies every:sklearn.exceptions.ConvergenceWarning"
)
def test_tiny_network_matches_finite_difference_evidence(iris):
    X, y = iris
    X, y = X[::5], y[::5]
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0).fit(X, y)
    value, gamma = reference_evidence(
        clf.theta_,
        X,
        targets(clf, y),
        clf.layer_sizes_,
        clf.fitted_lambda_,
        hessian=finite_difference_gauss_newton,
    )
    assert_allclose(clf.log_evidence_, value, rtol=1e-6)
    assert_allclose(clf.n_effective_params_, gamma, rtol=1e-6)
    assert_allclose(clf.log_evidence(X, y), clf.log_evidence_, rtol=1e-12)
    # The history: every lambda_ tried, the kept one the best.
    assert clf.lambdas_.shape == clf.scores_.shape and clf.lambdas_.size >= 3
    assert clf.fitted_lambda_ in clf.lambdas_
    kept = np.flatnonzero(clf.lambdas_ == clf.fitted_lambda_)[-1]
    assert clf.scores_[kept] == clf.log_evidence_


def test_no_hidden_layer_reaches_the_brute_force_maximum(cancer):
    X, y = cancer
    clf = BackpropClassifier((), lambda_="evidence", random_state=0).fit(X, y)
    sizes = clf.layer_sizes_
    Y = targets(clf, y)
    value, gamma = reference_evidence(
        clf.theta_, X, Y, sizes, clf.fitted_lambda_, hessian=logistic_hessian
    )
    assert_allclose(clf.log_evidence_, value, rtol=1e-6)
    assert_allclose(clf.n_effective_params_, gamma, rtol=1e-6)
    # Convex: one mode per lambda_; the evidence over a fine grid (cold fits).
    grid = clf.fitted_lambda_ * np.exp(np.linspace(-2.5, 2.5, 41))
    scores = []
    for lambda_ in grid:
        # the mode to 1e-10 of the summed cost's gradient
        fit = BackpropClassifier((), lambda_=lambda_, tol=1e-10 / y.size, max_iter=5000)
        fit.fit(X, y)
        scores.append(
            reference_evidence(
                fit.theta_, X, Y, sizes, lambda_, hessian=logistic_hessian
            )[0]
        )
    # the grid brackets the maximum, and fitted_lambda_ is within 0.1 nats of it
    assert np.argmax(scores) not in (0, len(grid) - 1)
    assert clf.log_evidence_ >= max(scores) - 0.1
    # MacKay's fixed point about holds at the (flat) maximum:
    # lambda_ ~ gamma / |w|^2.
    w = clf.theta_[mask_of(sizes)]
    assert_allclose(clf.fitted_lambda_, gamma / (w @ w), rtol=0.3)


def test_fitted_lambda_is_a_local_maximum_of_warm_refits(cancer):
    X, y = cancer
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # it settles
        clf.fit(X, y)
    for factor in (1.5, 1 / 1.5):
        refit = copy.deepcopy(clf).set_params(
            lambda_=clf.fitted_lambda_ * factor, warm_start=True
        )
        refit.fit(X, y)
        assert refit.log_evidence(X, y) <= clf.log_evidence_ + 1e-6 * abs(
            clf.log_evidence_
        )


# 30 iris rows are separable for a hidden layer: the evidence grows as
# lambda_ -> 0 (tested below); here only the values at the kept point count.
@pytest.mark.filterwarnings(
    "ignore:The network classifies every:sklearn.exceptions.ConvergenceWarning"
)
def test_integer_weights_equal_repeated_rows(iris):
    X, y = iris
    X, y = X[::4], y[::4]
    rng = np.random.RandomState(0)
    counts = rng.randint(0, 4, X.shape[0])
    counts[:3] = 1  # every class keeps a row
    weighted = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    weighted.fit(X, y, sample_weight=counts)
    repeated = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    repeated.fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    assert_allclose(weighted.lambdas_, repeated.lambdas_, rtol=1e-10)
    assert_allclose(weighted.scores_, repeated.scores_, rtol=1e-10)
    assert_allclose(weighted.n_effective_params_, repeated.n_effective_params_)
    assert_allclose(
        weighted.log_evidence(X, y, sample_weight=counts),
        repeated.log_evidence(np.repeat(X, counts, axis=0), np.repeat(y, counts)),
        rtol=1e-10,
    )
    # The weights enter E_D and G: the evidence with them is not the one without.
    assert not np.isclose(weighted.log_evidence(X, y), weighted.log_evidence_)


def test_class_weight_equals_repeated_rows_of_a_class(iris):
    X, y = iris
    X, y = X[::5], y[::5]
    weighted = BackpropClassifier(
        (), lambda_="evidence", class_weight={0: 2, 1: 1, 2: 1}, random_state=0
    ).fit(X, y)
    twice = np.where(y == 0, 2, 1)
    repeated = BackpropClassifier((), lambda_="evidence", random_state=0)
    repeated.fit(np.repeat(X, twice, axis=0), np.repeat(y, twice))
    assert_allclose(weighted.fitted_lambda_, repeated.fitted_lambda_, rtol=1e-10)
    assert_allclose(weighted.log_evidence_, repeated.log_evidence_, rtol=1e-10)


def test_numeric_lambda_sets_fitted_lambda_and_log_evidence_is_the_reference(cancer):
    X, y = cancer
    clf = BackpropClassifier((), lambda_=0.5, random_state=0).fit(X, y)
    assert clf.fitted_lambda_ == 0.5
    assert not hasattr(clf, "log_evidence_") and not hasattr(clf, "scores_")
    value, _ = reference_evidence(
        clf.theta_, X, targets(clf, y), clf.layer_sizes_, 0.5, hessian=logistic_hessian
    )
    assert_allclose(clf.log_evidence(X, y), value, rtol=1e-9)
    # A numeric refit drops the attributes of an earlier fit by the evidence.
    clf.set_params(lambda_="evidence").fit(X, y)
    assert hasattr(clf, "log_evidence_")
    clf.set_params(lambda_=2.0).fit(X, y)
    assert not hasattr(clf, "n_effective_params_") and clf.fitted_lambda_ == 2.0
    # lambda_ = 0: an improper prior, -inf and no NaN.
    zero = BackpropClassifier((), lambda_=0.0, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        zero.fit(X, y)
    assert zero.log_evidence(X, y) == -np.inf


def test_log_evidence_needs_the_fit_classes(iris):
    X, y = iris
    clf = BackpropClassifier((), lambda_=1.0, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="classes of the fit"):
        clf.log_evidence(X[y < 2], y[y < 2])


def test_separable_data_warn_at_the_lower_bound_without_nan():
    rng = np.random.RandomState(0)
    X = rng.randn(40, 2)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = BackpropClassifier((), lambda_="evidence", random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert np.all(np.isfinite(clf.scores_)) and np.isfinite(clf.log_evidence_)
    assert clf.fitted_lambda_ < 0.05  # the evidence asks for ever weaker priors
    if clf.fitted_lambda_ == _evidence.LAMBDA_BOUNDS[0]:
        assert any("lower bound" in m for m in messages)
    else:  # where the refits stop reaching their modes
        assert any("separable data" in m for m in messages)
    assert clf.score(X, y) == 1.0


def test_separable_one_feature_warns_and_overlapping_classes_do_not():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    with pytest.warns(ConvergenceWarning, match="separable data"):
        clf = BackpropClassifier((), lambda_="evidence", random_state=0)
        clf.fit(X, [0, 0, 1, 1])
    assert clf.fitted_lambda_ < _evidence.SEPARABLE_LAMBDA
    # Overlapping classes: a finite maximum, no warning.
    rng = np.random.RandomState(0)
    X = rng.randn(60, 1)
    y = (X[:, 0] + rng.randn(60) > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.score(X, y) < 1.0 and clf.fitted_lambda_ > _evidence.SEPARABLE_LAMBDA


def test_tiny_data_prefer_a_constant_model():
    X = np.array([[0.1, -0.3], [0.4, 0.2], [-0.2, 0.5], [0.3, -0.1]])
    y = np.array([0, 1, 0, 1])
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    with pytest.warns(ConvergenceWarning, match="constant model"):
        clf.fit(X, y)
    assert clf.fitted_lambda_ >= 1e4
    assert clf.n_effective_params_ < 0.01
    assert np.all(np.isfinite(clf.scores_))
    # The weights are about zero: a constant model.
    assert np.abs(np.concatenate([c.ravel() for c in clf.coefs_])).max() < 1e-3


def _toy_search(peak, max_evaluations=_evidence.MAX_EVALUATIONS, noise=None):
    """search() on a known evidence curve: -(log lambda - log peak)^2 * 5."""

    class Result:
        def __init__(self, lambda_):
            self.theta = np.array([0.0, 1.0])
            self.loss, self.n_iter, self.stop_reason = 0.0, 1, "converged"
            self.lambda_ = lambda_

    def fit_at(lambda_, theta_start):
        return Result(lambda_)

    def evidence(theta, lambda_, need_gamma):
        value = -5 * (np.log(lambda_) - np.log(peak)) ** 2
        return _evidence.Evidence(value, 1.0 if need_gamma else None, "dense")

    return _evidence.search(
        fit_at,
        evidence,
        np.zeros(2),
        1.0,
        np.array([False, True]),
        max_evaluations=max_evaluations,
    )


@pytest.mark.parametrize("peak", [1e-3, 0.3, 1.0, 7.0, 2e4])
def test_search_finds_the_maximum_of_a_known_curve(peak):
    found = _toy_search(peak)
    assert found.settled and found.message is None
    assert abs(np.log(found.best.lambda_ / peak)) < 0.05
    assert len(found.points) <= 12
    assert found.best.evidence.gamma == 1.0  # computed for the point kept


def test_search_that_does_not_settle_warns_and_keeps_the_best():
    found = _toy_search(1e3, max_evaluations=3)
    assert not found.settled
    assert "did not settle in 3 refits" in found.message
    assert found.best.score == max(p.score for p in found.points)
    bound = _toy_search(1e9)
    assert "upper bound" in bound.message
    assert bound.best.lambda_ == pytest.approx(_evidence.LAMBDA_BOUNDS[1])


def test_dask_input_gives_the_in_memory_evidence(cancer):
    da = pytest.importorskip("dask.array")
    X, y = cancer
    w = np.random.RandomState(0).randint(1, 3, y.size).astype(float)
    params = dict(lambda_="evidence", tol=1e-8, random_state=0)
    in_memory = BackpropClassifier((), **params).fit(X, y, sample_weight=w)
    Xd, yd, wd = (da.from_array(a, chunks=50) for a in (X, y, w))
    chunked = BackpropClassifier((), **params).fit(Xd, yd, sample_weight=wd)
    # Convex: the same search; the chunk sums differ only by rounding.
    assert_allclose(chunked.lambdas_, in_memory.lambdas_, rtol=1e-8)
    assert_allclose(chunked.scores_, in_memory.scores_, rtol=1e-9)
    assert_allclose(chunked.n_effective_params_, in_memory.n_effective_params_)
    assert_allclose(
        chunked.log_evidence(Xd, yd, wd), in_memory.log_evidence(X, y, w), rtol=1e-9
    )
    # The matrix-free path's products (the bias rows alone, and into the
    # recurrence's array) summed over the chunks: the same estimates, to
    # the rounding that Lanczos magnifies, far below their standard errors.
    from skbpnn._dask import DaskCurvature, training_data

    sizes = in_memory.layer_sizes_
    curvatures = [
        in_memory._training_data(X, y, w, reset=False).curvature(sizes),
        training_data(chunked, Xd, yd, wd, reset=False).curvature(sizes),
    ]
    assert isinstance(curvatures[1], DaskCurvature)
    ours, theirs = (
        _evidence.evidence_at(
            curvature,
            in_memory.theta_,
            in_memory.fitted_lambda_,
            need_gamma=True,
            method="lanczos",
            seed=0,
        )
        for curvature in curvatures
    )
    assert abs(theirs.log_evidence - ours.log_evidence) < 0.01 * ours.logdet_std
    assert abs(theirs.gamma - ours.gamma) < 0.01 * ours.trace_std


def test_lambda_parameter_validation():
    X, y = np.array([[0.0], [1.0]]), np.array([0, 1])
    with pytest.raises(ValueError, match="lambda_"):
        BackpropClassifier(lambda_="mackay").fit(X, y)
    with pytest.raises(ValueError, match="lambda_"):
        BackpropClassifier(lambda_=-1.0).fit(X, y)


def test_matrix_free_path_estimates_the_dense_values(cancer, monkeypatch):
    X, y = cancer
    clf = BackpropClassifier((4,), lambda_=1.0, random_state=0).fit(X, y)
    curvature = clf._training_data(X, y, None, reset=False).curvature(clf.layer_sizes_)
    dense = _evidence.evidence_at(
        curvature, clf.theta_, 1.0, need_gamma=True, method="dense", seed=0
    )
    reference, gamma = reference_evidence(
        clf.theta_,
        X,
        targets(clf, y),
        clf.layer_sizes_,
        1.0,
        hessian=finite_difference_gauss_newton,
    )
    assert_allclose(dense.log_evidence, reference, rtol=1e-6)
    estimate = _evidence.evidence_at(
        curvature, clf.theta_, 1.0, need_gamma=True, method="lanczos", seed=0
    )
    # log evidence = ... - 1/2 log det A: half the log det's standard error.
    assert 0 < estimate.logdet_std
    assert abs(estimate.log_evidence - reference) < 4 * 0.5 * estimate.logdet_std
    assert abs(estimate.gamma - gamma) < 4 * estimate.trace_std + 1e-9
    # Above DENSE_MAX_PARAMS the estimator takes this path, seeded by
    # random_state: the same seed, the same estimates.
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", 0)
    fits = [
        BackpropClassifier((4,), lambda_="evidence", random_state=0).fit(X, y)
        for _ in range(2)
    ]
    assert_allclose(fits[0].scores_, fits[1].scores_, rtol=0)
    assert np.all(np.isfinite(fits[0].scores_))
    assert 0 <= fits[0].n_effective_params_ <= mask_of(fits[0].layer_sizes_).sum()
    assert_allclose(fits[0].log_evidence(X, y), fits[0].log_evidence_, rtol=1e-12)


def test_warm_start_resumes_the_search_and_callback_stops_it(cancer):
    X, y = cancer
    clf = BackpropClassifier((), lambda_="evidence", random_state=0).fit(X, y)
    previous = clf.fitted_lambda_
    clf.set_params(warm_start=True).fit(X, y)
    assert clf.lambdas_[0] == previous  # the search starts where it ended
    # A callback returning True stops the refit and the search with it.
    stopped = BackpropClassifier(
        (), lambda_="evidence", random_state=0, callback=lambda i, J, t: True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        stopped.fit(X, y)
    assert stopped.lambdas_.size == 1 and stopped.stop_reason_ == "callback"
    assert np.isfinite(stopped.log_evidence_) and stopped.n_effective_params_ > 0


def test_log_det_and_gamma_from_the_cholesky_factor():
    # A C-ordered symmetric positive definite A, factorized in place: log det
    # and gamma (exact from the inverse, estimated from probes) against numpy.
    rng = np.random.RandomState(0)
    n, lambda_ = 60, 0.7
    mask = rng.rand(n) < 0.8
    B = rng.randn(n, 2 * n)
    A = B @ B.T / n + np.diag(np.where(mask, lambda_, 1e-4))
    A_inv = np.linalg.inv(A)
    gamma = mask.sum() - lambda_ * np.trace(A_inv[np.ix_(mask, mask)])
    U, logdet = _evidence._cholesky_logdet(A.copy())
    assert_allclose(logdet, np.linalg.slogdet(A)[1], rtol=1e-12)
    assert_allclose(U.T @ U, A, rtol=1e-12, atol=1e-12)
    assert_allclose(_evidence._estimate_gamma(U, mask, lambda_), gamma, rtol=0.1)
    assert_allclose(_evidence._gamma_from_factor(U, mask, lambda_), gamma, rtol=1e-10)
    # Not positive definite: no factor, the caller falls back.
    assert _evidence._cholesky_logdet(-A.copy()) == (None, None)


def test_fits_in_a_thread_pool_leave_the_warnings_filters_alone(iris):
    """Overlapping evidence fits (short refits that warn) in a persistent
    pool: the global warnings state is what it was (catch_warnings in each
    refit, being process-wide, used to leave an "always" filter behind)."""
    X, y = iris

    def fit(i):
        clf = BackpropClassifier((3,), lambda_="evidence", max_iter=5 + i)
        clf.set_params(random_state=i).fit(X, y)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filters, show = list(warnings.filters), warnings.showwarning
        with ThreadPoolExecutor(4) as pool:
            for _ in range(4):
                list(pool.map(fit, range(4)))
        assert warnings.filters == filters
        assert warnings.showwarning is show


def test_ctrl_c_in_a_later_refit_is_reported(iris):
    """Ctrl-C in a refit that is not the best point: the search stops, keeps
    its best point, and the user still hears of the interrupt."""
    X, y = iris
    refits = []

    def interrupt(iteration, cost, theta):
        if iteration == 1:
            refits.append(cost)
            if len(refits) == 4:
                raise KeyboardInterrupt

    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    clf.set_params(callback=interrupt)
    with pytest.warns(TrainingInterruptedWarning, match="KeyboardInterrupt"):
        clf.fit(X, y)
    assert clf.lambdas_.size == 4 and np.isfinite(clf.log_evidence_)
    assert clf.fitted_lambda_ != clf.lambdas_[-1]  # the interrupted one is not kept
