"""Tests of lambda_="evidence" and log_evidence against independent computations.

The references: MacKay's log evidence written out with numpy from
finite-difference Jacobians of z^(L) (a tiny network) or, with no hidden
layer, from the exact logistic-regression Hessian X^T diag(h (1 - h)) X per
output; a brute-force maximum over a fine grid of lambda_; repeated rows for
integer weights.
"""

import copy
import dataclasses
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from _reference import finite_difference_gauss_newton
from numpy.testing import assert_allclose, assert_array_equal
from scipy.linalg.lapack import dtrtri
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
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


def newton_mode(theta, X, Y, sizes, lambda_, steps=5):
    """The mode of S with no hidden layer: Newton's steps with the exact Hessian."""
    n, K = sizes
    Xbar = np.hstack([np.ones((X.shape[0], 1)), X])
    prior = np.where(mask_of(sizes), lambda_, BIAS_PRECISION)
    for _ in range(steps):
        Theta = theta.reshape((K, n + 1), order="F")
        h = 1 / (1 + np.exp(-Xbar @ Theta.T))
        g = ((h - Y.reshape(h.shape)).T @ Xbar).ravel(order="F") + prior * theta
        A = logistic_hessian(theta, X, sizes, np.ones(X.shape[0])) + np.diag(prior)
        theta = theta - np.linalg.solve(A, g)
    return theta


def summed_cost(theta, X, Y, sizes, lambda_, w):
    """``S = E_D + lambda_/2 |w|^2 + b/2 |bias|^2``, written out with numpy."""
    z = bp.feedforward(theta, X, sizes, return_z=True)
    # -[y log h + (1 - y) log(1 - h)] = log(1 + e^z) - y z
    E_D = float(np.sum(w[:, None] * (np.logaddexp(0, z) - Y * z)))
    mask = mask_of(sizes)
    return (
        E_D
        + lambda_ / 2 * theta[mask] @ theta[mask]
        + BIAS_PRECISION / 2 * theta[~mask] @ theta[~mask]
    )


def reference_evidence(
    theta, X, Y, sizes, lambda_, w=None, hessian=None, return_decrement=False
):
    """MacKay's log evidence of the mode and gamma, written out with numpy.

    The Laplace value at ``theta`` plus the Newton decrement ``1/2 g^T A^-1
    g``, ``g`` the gradient of ``S`` by central differences.
    """
    w = np.ones(X.shape[0]) if w is None else w
    Y = Y.reshape(X.shape[0], -1)
    mask = mask_of(sizes)
    H = hessian(theta, X, sizes, w)
    A = H + np.diag(np.where(mask, lambda_, BIAS_PRECISION))
    sign, logdet = np.linalg.slogdet(A)
    assert sign == 1
    k = mask.sum()
    value = (
        -summed_cost(theta, X, Y, sizes, lambda_, w)
        + k / 2 * np.log(lambda_)
        + (theta.size - k) / 2 * np.log(BIAS_PRECISION)
        - logdet / 2
    )
    g = np.empty(theta.size)
    for p, step in enumerate(np.eye(theta.size) * 1e-5):
        g[p] = (
            summed_cost(theta + step, X, Y, sizes, lambda_, w)
            - summed_cost(theta - step, X, Y, sizes, lambda_, w)
        ) / 2e-5
    decrement = g @ np.linalg.solve(A, g) / 2
    gamma = k - lambda_ * np.sum(np.diag(np.linalg.inv(A))[mask])
    if return_decrement:
        return value + decrement, gamma, decrement
    return value + decrement, gamma


def lanczos_over_seeds(curvature, theta, lambda_, n_seeds=20):
    """The matrix-free evidence at ``theta`` with seeds ``0 .. n_seeds - 1``."""
    return [
        _evidence.evidence_at(curvature, theta, lambda_, method="lanczos", seed=seed)
        for seed in range(n_seeds)
    ]


def targets(clf, y):
    """The fit's 0/1 targets (m, K) for y."""
    Y = clf._binarizer.transform(y).astype(float)
    return Y


def assert_kept_point_matches_finite_differences(clf, X, y):
    """The fit's ``log_evidence_`` and ``n_effective_params_`` against
    :func:`reference_evidence` at its weights, ``G`` by finite differences."""
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
@pytest.mark.filterwarnings("ignore:The log evidence still increases at")
def test_tiny_network_matches_finite_difference_evidence(iris):
    X, y = iris
    X, y = X[::5], y[::5]
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0).fit(X, y)
    assert_kept_point_matches_finite_differences(clf, X, y)
    assert_allclose(clf.log_evidence(X, y), clf.log_evidence_, rtol=1e-12)
    # The history: every lambda_ tried, the kept one the best.
    assert clf.lambdas_.shape == clf.scores_.shape and clf.lambdas_.size >= 3
    assert clf.fitted_lambda_ in clf.lambdas_
    assert clf.log_evidence_ == clf.scores_.max()
    assert np.all(np.isfinite(clf.scores_))
    assert clf.log_evidence_se_ == 0.0  # exact


def test_newton_decrement_of_an_unconverged_fit_matches_the_reference(iris):
    """Away from the mode (5 iterations): the decrement is the reference's."""
    X, y = iris
    X, y = X[::5], y[::5]
    clf = BackpropClassifier((3,), lambda_=0.3, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    value, gamma, decrement = reference_evidence(
        clf.theta_,
        X,
        targets(clf, y),
        clf.layer_sizes_,
        0.3,
        hessian=finite_difference_gauss_newton,
        return_decrement=True,
    )
    curvature = clf._training_data(X, y, None, reset=False).curvature(clf.layer_sizes_)
    ev = _evidence.evidence_at(curvature, clf.theta_, 0.3, method="dense", seed=0)
    assert decrement > 0.1  # far enough from the mode to matter
    assert_allclose(ev.decrement, decrement, rtol=1e-6)
    assert_allclose(ev.log_evidence, value, rtol=1e-7)
    with pytest.warns(ConvergenceWarning, match="Newton decrement"):  # 14.5 nats
        assert_allclose(clf.log_evidence(X, y), value, rtol=1e-7)
    assert_allclose(ev.gamma, gamma, rtol=1e-6)
    # The matrix-free decrement: the Gauss quadrature from g, to its
    # convergence (S's condition number is small here).
    estimate = _evidence.evidence_at(
        curvature, clf.theta_, 0.3, method="lanczos", seed=0
    )
    assert_allclose(estimate.decrement, decrement, rtol=1e-4)


def test_the_decrement_brings_the_evidence_to_the_mode(cancer):
    """No hidden layer (G is the Hessian): from points off the mode, the
    decrement is the drop of S to the mode, and the corrected evidence is
    nearer the mode's than the uncorrected one."""
    X, y = cancer
    lambda_ = 0.5
    clf = BackpropClassifier((), lambda_=lambda_, tol=1e-10 / y.size, max_iter=5000)
    clf.fit(X, y)
    curvature = clf._training_data(X, y, None, reset=False).curvature(clf.layer_sizes_)
    # The fit leaves out the bias prior and stops at L-BFGS's tolerance
    # (scipy versions differ there): Newton's steps on S, written out with
    # numpy, take theta to the mode itself.
    clf.theta_ = newton_mode(clf.theta_, X, targets(clf, y), clf.layer_sizes_, lambda_)
    mode = _evidence.evidence_at(curvature, clf.theta_, lambda_, method="dense", seed=0)
    assert mode.decrement < 1e-12
    Y = targets(clf, y)
    S_mode = summed_cost(clf.theta_, X, Y, clf.layer_sizes_, lambda_, np.ones(y.size))
    rng = np.random.RandomState(0)
    for _ in range(5):
        direction = rng.randn(clf.theta_.size)
        theta = clf.theta_ + 0.4 * direction / np.linalg.norm(direction)
        off = _evidence.evidence_at(curvature, theta, lambda_, method="dense", seed=0)
        S = summed_cost(theta, X, Y, clf.layer_sizes_, lambda_, np.ones(y.size))
        # S less the decrement is the mode's S, to third order in the step;
        # log det A is taken at theta (its change is first order).
        assert off.decrement > 0.2
        assert abs(S - off.decrement - S_mode) < 0.1 * (S - S_mode)
        assert abs(off.log_evidence - mode.log_evidence) < abs(
            off.log_evidence - off.decrement - mode.log_evidence
        )


def test_the_gradient_test_tightens_with_small_lambda():
    assert _evidence.mode_gtol(1.0) == _evidence.MODE_GTOL == 1e-5
    assert _evidence.mode_gtol(_evidence.MODE_LAMBDA) == 1e-5
    assert_allclose(_evidence.mode_gtol(1e-4), 1e-7, rtol=1e-12)
    assert_allclose(_evidence.mode_gtol(1e-6), 1e-9, rtol=1e-12)


def test_nearly_separable_data_get_the_evidence_of_the_mode():
    """Wine, 5 hidden units: the evidence settles near lambda_ = 1e-5, where
    A is about lambda_ along many weights. Held to a gradient of 1e-5 nats
    there, the kept refit was 3.5 nats above the evidence of its own mode
    (a warm refit at fitted_lambda_ to tol=1e-12, as benchmarks/evidence.py
    (e) makes); mode_gtol holds it within 0.5."""
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = BackpropClassifier((5,), lambda_="evidence", random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    # The evidence is flat within about a nat below lambda_ = 2e-4: the
    # search may end at its limit of refits (16 with scipy 1.17, settled
    # after 13 with scipy 1.11), and says so if it does, and nothing else.
    assert clf.fitted_lambda_ < 1e-3
    for w in caught:
        assert w.category is ConvergenceWarning
        assert "did not settle in 16 refits" in str(w.message)
    mode = copy.deepcopy(clf).set_params(lambda_=clf.fitted_lambda_)
    mode.set_params(tol=1e-12, max_iter=5000, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mode.fit(X, y)
    assert abs(mode.log_evidence(X, y) - clf.log_evidence_) < 0.5


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
@pytest.mark.filterwarnings("ignore:The log evidence still increases at")
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


def test_weighted_evidence_is_the_reference_with_weights(cancer):
    """Sample weights in E_D and G, against the closed-form Hessian with
    them; weights scaled by c act as c times the data."""
    X, y = cancer
    w = np.random.RandomState(1).uniform(0.2, 3.0, y.size)
    clf = BackpropClassifier((), lambda_=0.7).fit(X, y, sample_weight=w)
    value, _ = reference_evidence(
        clf.theta_,
        X,
        targets(clf, y),
        clf.layer_sizes_,
        0.7,
        w=w,
        hessian=logistic_hessian,
    )
    assert_allclose(clf.log_evidence(X, y, sample_weight=w), value, rtol=1e-9)
    unweighted, _ = reference_evidence(
        clf.theta_, X, targets(clf, y), clf.layer_sizes_, 0.7, hessian=logistic_hessian
    )
    assert abs(unweighted - value) > 1.0  # the weights matter
    # Weights 2 are the data twice, in the evidence as in the cost.
    assert_allclose(
        clf.log_evidence(X, y, sample_weight=2 * w),
        clf.log_evidence(np.vstack([X, X]), np.r_[y, y], sample_weight=np.r_[w, w]),
        rtol=1e-10,
    )


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


@pytest.mark.parametrize("dense_max_params", [_evidence.DENSE_MAX_PARAMS, 0])
def test_log_evidence_after_lambda_zero_is_minus_inf_on_both_paths(
    iris, monkeypatch, quiet_fit, dense_max_params
):
    """An improper prior: -inf, documented, with a hidden layer fitted to
    convergence too (where ``A = G`` is singular: the factorization raised;
    the matrix-free case, which gave -inf before too, is a guard)."""
    X, y = iris
    zero = quiet_fit(BackpropClassifier((3,), lambda_=0.0, random_state=0), X, y)
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", dense_max_params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert zero.log_evidence(X, y) == -np.inf


def test_a_search_warm_from_lambda_zero_starts_at_the_lower_bound(iris, quiet_fit):
    X, y = iris
    clf = BackpropClassifier((3,), lambda_=0.0, max_iter=30, random_state=0)
    quiet_fit(clf, X, y)
    clf.set_params(lambda_="evidence", warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)  # np.log(0) warned
        clf.fit(X, y)
    assert clf.lambdas_[0] == _evidence.LAMBDA_BOUNDS[0]


def test_log_evidence_warns_where_theta_is_far_from_a_mode_of_the_data(iris, quiet_fit):
    """The evidence of data whose mode is far from ``theta_`` (here the
    labels permuted; as well, a forgotten scaler) is a long extrapolation
    (tens of thousands of nats of Newton decrement, a positive "log
    probability"): a warning, as ``fit`` gives for such a refit. The fit's
    own data give none."""
    X, y = iris
    clf = quiet_fit(BackpropClassifier((3,), lambda_="evidence", random_state=0), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_allclose(clf.log_evidence(X, y), clf.log_evidence_, rtol=1e-12)
    with pytest.warns(ConvergenceWarning, match="Newton decrement") as caught:
        clf.log_evidence(X, (y + 1) % 3)
    assert len(caught) == 1


@pytest.mark.parametrize(
    "lambda_, scale", [("evidence", 1e18), (1.0, 1e-200), ("evidence", 1e-200)]
)
def test_extreme_sample_weights_are_named_in_the_error(iris, quiet_fit, lambda_, scale):
    """Weights of 1e18 make G's scale too far from the bias prior's for the
    Cholesky factor (at the first point; 1e12 failed only further on, as
    rounding had it); weights summing to 1e-200 make the penalty, divided
    by their sum, overflow. The features, standardized here, were all the
    messages named."""
    X, y = iris
    clf = BackpropClassifier((3,), lambda_=lambda_, random_state=0)
    with pytest.raises(ValueError, match="sample weights"):
        quiet_fit(clf, X, y, sample_weight=np.full(len(y), scale))


def test_log_evidence_needs_the_fit_classes(iris):
    X, y = iris
    clf = BackpropClassifier((), lambda_=1.0, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="log_evidence needs y with the same classes"):
        clf.log_evidence(X[y < 2], y[y < 2])
    # The same classes as a one-hot matrix: the kind of target differs.
    with pytest.raises(ValueError, match=r"\(multiclass\), now .* \(multilabel"):
        clf.log_evidence(X, np.eye(3, dtype=int)[y])


def test_separable_data_warn_at_the_lower_bound_without_nan():
    rng = np.random.RandomState(0)
    X = rng.randn(40, 2)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = BackpropClassifier((), lambda_="evidence", random_state=0)
    with pytest.warns(ConvergenceWarning, match="lower bound.*separable data"):
        clf.fit(X, y)
    assert np.all(np.isfinite(clf.scores_)) and np.isfinite(clf.log_evidence_)
    assert clf.fitted_lambda_ == _evidence.LAMBDA_BOUNDS[0]
    assert clf.score(X, y) == 1.0


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_the_separable_warning_follows_the_search_not_the_features_scale(scale):
    """Separable data, scaled: the warning comes when, and only when, the
    evidence still rises at the lower bound (scaling X by s moves the
    evidence's curve by s^2 in lambda_: at 1e3 its maximum is inside the
    bounds), never from the value of lambda_ or the training accuracy."""
    rng = np.random.RandomState(0)
    X = rng.randn(40, 2) * scale
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    clf = BackpropClassifier((), lambda_="evidence", random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    warned = [w for w in caught if "separable data" in str(w.message)]
    at_bound = clf.fitted_lambda_ == _evidence.LAMBDA_BOUNDS[0]
    assert len(warned) == at_bound and clf.score(X, y) == 1.0
    assert at_bound == (scale < 1e3)


def test_overlapping_classes_settle_inside_the_bounds_without_a_warning():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 1)
    y = (X[:, 0] + rng.randn(60) > 0).astype(int)
    clf = BackpropClassifier((), lambda_="evidence", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    lo, hi = _evidence.LAMBDA_BOUNDS
    assert clf.score(X, y) < 1.0 and lo < clf.fitted_lambda_ < hi


def test_a_search_that_settles_inside_the_bounds_does_not_warn():
    """Digits with small features: a small lambda_ inside the bounds, fitted
    to every training sample, is a maximum, not separable data."""
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X[:400]) * 0.03
    # max_iter high enough for the refits to reach their modes (at 200 the
    # kept one stops at max_iter, and warns so).
    clf = BackpropClassifier((8,), lambda_="evidence", max_iter=1000, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y[:400])
    lo, hi = _evidence.LAMBDA_BOUNDS
    assert lo < clf.fitted_lambda_ < 1e-3 and clf.score(X, y[:400]) == 1.0
    # No separable warning; where the search settled (it does here with
    # numpy 2, not always with the oldest versions' rounding), no warning
    # at all.
    texts = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert not any("separable" in text for text in texts)
    assert all("did not settle" in text for text in texts)


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


class _ToyResult:
    def __init__(self, lambda_, theta=(0.0, 1.0)):
        self.theta = np.array(theta)
        self.loss, self.n_iter, self.stop_reason = 0.0, 1, "converged"
        self.lambda_ = lambda_


def _toy_search(curve, max_evaluations=_evidence.MAX_EVALUATIONS, lambda0=1.0):
    """search() on a known evidence curve ``curve(log lambda_)``; MacKay's
    update points at lambda_ = 1 (gamma = |w|^2 = 1)."""

    def fit_at(lambda_, theta_start):
        return _ToyResult(lambda_)

    def evidence(theta, lambda_, gamma_above=None):
        return _evidence.Evidence(curve(np.log(lambda_)), 1.0, lambda_, 1.0)

    return _evidence.search(
        fit_at, evidence, np.zeros(2), lambda0, max_evaluations=max_evaluations
    )


def test_the_search_asks_for_gamma_where_a_point_beats_the_best_so_far():
    """gamma is read at the first point (MacKay's step) and the kept one,
    which beat every point before it: the search passes the best score so
    far (None at the first), and the evidence may skip gamma below it."""
    asked = []

    def evidence(theta, lambda_, gamma_above):
        asked.append(gamma_above)
        score = _parabola(7.0)(np.log(lambda_))
        skip = gamma_above is not None and not score > gamma_above
        return _evidence.Evidence(score, np.nan if skip else 2.0, lambda_, 1.0)

    found = _evidence.search(
        lambda lam, theta: _ToyResult(lam), evidence, np.zeros(2), 1.0
    )
    scores = [p.score for p in found.points]
    assert found.best.lambda_ != 1.0 and len(scores) == len(asked) > 3
    assert asked == [None] + [max(scores[:i]) for i in range(1, len(scores))]
    assert found.best.evidence.gamma == 2.0
    assert any(np.isnan(p.evidence.gamma) for p in found.points)


def test_tied_scores_keep_the_first_which_has_gamma():
    """A flat curve: every score ties with the first's, so only the first
    gets gamma (none beats it), and the point kept is the first of the
    equal scores: its gamma is there."""

    def evidence(theta, lambda_, gamma_above):
        skip = gamma_above is not None and not 0.0 > gamma_above
        return _evidence.Evidence(0.0, np.nan if skip else 2.0, lambda_, 1.0)

    found = _evidence.search(
        lambda lam, theta: _ToyResult(lam), evidence, np.zeros(2), 1.0
    )
    assert len(found.points) > 2 and found.best is found.points[0]
    assert found.best.evidence.gamma == 2.0
    assert all(np.isnan(p.evidence.gamma) for p in found.points[1:])


def _parabola(peak):
    return lambda x: -5 * (x - np.log(peak)) ** 2


@pytest.mark.parametrize("peak", [1e-3, 0.3, 1.0, 7.0, 2e4])
def test_search_finds_the_maximum_of_a_known_curve(peak):
    found = _toy_search(_parabola(peak))
    assert found.settled and found.outcome == "settled"
    assert _evidence.message(found) is None
    assert abs(np.log(found.best.lambda_ / peak)) < 0.05
    assert len(found.points) <= 12
    assert_checked(found)


def assert_checked(found):
    """The local check: refits from the kept weights at lambda_ * 1.5 and
    / 1.5, both lower."""
    best = found.best
    for factor in (_evidence.CHECK_FACTOR, 1 / _evidence.CHECK_FACTOR):
        x = best.x + np.log(factor)
        checks = [
            p
            for p in found.points
            if p.start is best.result.theta and abs(p.x - x) < 1e-9
        ]
        assert checks and all(p.score < best.score for p in checks)


def test_search_that_does_not_settle_warns_and_keeps_the_best():
    found = _toy_search(_parabola(1e3), max_evaluations=3)
    assert not found.settled and found.outcome == "max_evaluations"
    text = _evidence.message(found)
    assert "did not settle in 3 refits" in text
    assert text.endswith("is kept.")  # the model is not constant: no more
    assert found.best.score == max(p.score for p in found.points)
    bound = _toy_search(_parabola(1e9))
    assert bound.outcome == "bound" and "upper bound" in _evidence.message(bound)
    assert "bound of the search (n_effective_params_=1)" in _evidence.message(bound)
    assert bound.best.lambda_ == _evidence.LAMBDA_BOUNDS[1]
    lower = _toy_search(_parabola(1e-9))
    assert lower.outcome == "bound" and "lower bound" in _evidence.message(lower)
    assert lower.best.lambda_ == _evidence.LAMBDA_BOUNDS[0]


@pytest.mark.parametrize("peak", [0.05, 0.3, 3.0, 40.0])
def test_the_kept_point_is_the_best_tried_on_rough_curves(peak):
    """A rough curve (a bump the check finds, -inf where refits diverge):
    the point kept is always the highest score tried, and never a NaN."""
    rng = np.random.RandomState(int(peak * 100))
    wiggles = rng.uniform(-0.5, 0.5, 200)

    def curve(x):
        if abs(x - np.log(peak) - 2.0) < 0.05:
            return -np.inf  # a diverged refit
        smooth = -0.3 * (x - np.log(peak)) ** 2
        return smooth + wiggles[int(abs(x) * 37) % 200]

    for max_evaluations in (2, 5, 9, 16):
        found = _toy_search(curve, max_evaluations=max_evaluations)
        scores = [p.score for p in found.points]
        assert found.best.score == max(scores)
        assert found.best is found.points[int(np.argmax(scores))]
        assert len(found.points) <= max_evaluations


def test_a_diverged_first_refit_ends_the_search():
    found = _toy_search(lambda x: -np.inf)
    assert found.outcome == "diverged" and len(found.points) == 1


def test_parabola_vertex_stays_inside_its_bracket():
    def point(x, score):
        return _evidence.Point(
            float(np.exp(x)),
            _ToyResult(np.exp(x)),
            _evidence.Evidence(score, 1.0, float(np.exp(x)), 1.0),
        )

    # -(x - 0.3)^2: the vertex 0.3, its gain over x = 0 is 0.09.
    a, b, c = point(-1.0, -1.69), point(0.0, -0.09), point(1.0, -0.49)
    x, gain = _evidence._parabola_vertex(a, b, c)
    assert_allclose([x, gain], [0.3, 0.09], rtol=1e-10)
    # A vertex beyond c is kept 0.9 of the way there.
    c = point(0.2, -0.01)
    x, gain = _evidence._parabola_vertex(a, b, c)
    assert_allclose(x, 0.18, rtol=1e-10)
    # A vertex beyond a, likewise 0.9 of the way there.
    x, gain = _evidence._parabola_vertex(point(-0.2, -0.01), b, point(1.0, -1.69))
    assert_allclose(x, -0.18, rtol=1e-10)
    # No maximum (a convex parabola, however slightly), or a -inf score: no
    # gain.
    assert _evidence._parabola_vertex(a, point(0.0, -2.0), c)[1] == 0.0
    slight = [point(x, 0.5 * x * x) for x in (-1.0, 0.0, 1.0)]
    assert _evidence._parabola_vertex(*slight) == (0.0, 0.0)
    assert _evidence._parabola_vertex(point(-1, -np.inf), b, c)[1] == 0.0


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
            method="lanczos",
            seed=0,
        )
        for curvature in curvatures
    )
    assert abs(theirs.log_evidence - ours.log_evidence) < 0.01 * ours.std
    assert abs(theirs.gamma - ours.gamma) < 0.01 * ours.gamma_std


def test_lambda_parameter_validation():
    X, y = np.array([[0.0], [1.0]]), np.array([0, 1])
    with pytest.raises(ValueError, match="lambda_"):
        BackpropClassifier(lambda_="mackay").fit(X, y)
    with pytest.raises(ValueError, match="lambda_"):
        BackpropClassifier(lambda_=-1.0).fit(X, y)


def test_matrix_free_path_estimates_the_dense_values(cancer):
    """The stochastic estimates against the exact values, within 4 of their
    standard errors (a 4-sigma band: a false failure about once in 10^4 for
    Gaussian errors; the quadrature's own bias is below a third of one
    standard error, tests/test_lanczos.py)."""
    X, y = cancer
    clf = BackpropClassifier((4,), lambda_=1.0, random_state=0).fit(X, y)
    curvature = clf._training_data(X, y, None, reset=False).curvature(clf.layer_sizes_)
    dense = _evidence.evidence_at(curvature, clf.theta_, 1.0, method="dense", seed=0)
    reference, gamma = reference_evidence(
        clf.theta_,
        X,
        targets(clf, y),
        clf.layer_sizes_,
        1.0,
        hessian=finite_difference_gauss_newton,
    )
    assert_allclose(dense.log_evidence, reference, rtol=1e-6)
    assert_allclose(dense.gamma, gamma, rtol=1e-6)
    assert dense.std == dense.gamma_std == 0.0
    for seed in range(3):
        estimate = _evidence.evidence_at(
            curvature, clf.theta_, 1.0, method="lanczos", seed=seed
        )
        assert 0 < estimate.std and 0 < estimate.gamma_std
        assert abs(estimate.log_evidence - reference) < 4 * estimate.std
        assert abs(estimate.gamma - gamma) < 4 * estimate.gamma_std


def test_matrix_free_fits_report_their_error_and_repeat_their_number(
    cancer, monkeypatch
):
    X, y = cancer
    # Above DENSE_MAX_PARAMS the estimator takes this path.
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", 0)
    fits = [
        BackpropClassifier((4,), lambda_="evidence", random_state=0).fit(X, y)
        for _ in range(2)
    ]
    assert_allclose(fits[0].scores_, fits[1].scores_, rtol=0)
    assert fits[0].log_evidence_se_ > 0
    # The same number twice, for any random_state: the fit's seed is kept.
    for random_state in (None, 3, np.random.RandomState(5)):
        clf = BackpropClassifier((4,), lambda_="evidence", random_state=random_state)
        clf.fit(X, y)
        # Equal to the rounding of BLAS kernels that fit's thread limits may
        # change (on a CUDA machine with 16 cores: 1e-15 relative).
        assert_allclose(clf.log_evidence(X, y), clf.log_evidence_, rtol=1e-12)
        assert clf.log_evidence(X, y) == clf.log_evidence(X, y)
        assert clf.log_evidence_ == clf.scores_.max()
    # And against the exact path at the kept weights: within 4 standard
    # deviations of the estimate, measured over 20 seeds (the reported
    # standard error, from 10 probes, is itself uncertain: by a factor up to
    # 3 here, from one seed to the next).
    best = fits[0]
    curvature = best._training_data(X, y, None, reset=False).curvature(
        best.layer_sizes_
    )
    exact = _evidence.evidence_at(
        curvature, best.theta_, best.fitted_lambda_, method="dense", seed=0
    )
    evidences = lanczos_over_seeds(curvature, best.theta_, best.fitted_lambda_)
    estimates = [ev.log_evidence for ev in evidences]
    # The reported standard error, averaged over the seeds, is the estimates'
    # spread (half the log det's: log evidence = ... - 1/2 log det A).
    ratio = np.mean([ev.std for ev in evidences]) / np.std(estimates)
    assert 0.6 < ratio < 1.6, ratio
    assert (
        abs(np.mean(estimates) - exact.log_evidence) < 4 * np.std(estimates) / 20**0.5
    )
    assert abs(best.log_evidence_ - exact.log_evidence) < 4 * np.std(estimates)


def test_the_difference_of_two_matrix_free_evidences_and_its_error(cancer):
    """Nearby modes with the same probes: the difference's standard error
    (paired probes) is a fraction of either estimate's, and it is the
    spread of the difference over seeds."""
    X, y = cancer
    a = BackpropClassifier((4,), lambda_=0.5, tol=1e-10, random_state=0).fit(X, y)
    b = clone(a).set_params(lambda_=0.75, warm_start=True)
    b.theta_, b.layer_sizes_ = a.theta_.copy(), a.layer_sizes_
    b._binarizer, b.classes_ = a._binarizer, a.classes_
    b.fit(X, y)
    curvature = a._training_data(X, y, None, reset=False).curvature(a.layer_sizes_)
    at_a = lanczos_over_seeds(curvature, a.theta_, 0.5)
    at_b = lanczos_over_seeds(curvature, b.theta_, 0.75)
    differences = np.subtract(
        [e.log_evidence for e in at_b], [e.log_evidence for e in at_a]
    )
    reported = [_evidence.difference_std(eb, ea) for ea, eb in zip(at_a, at_b)]
    ratio = np.mean(reported) / np.std(differences)
    assert 0.6 < ratio < 1.6, ratio
    assert np.mean(reported) < 0.5 * np.mean([e.std for e in at_a])
    # Written out: half the standard error of the mean of the paired
    # differences of the log det samples.
    ea, eb = at_a[0], at_b[0]
    d = np.array(ea.logdet_samples) - np.array(eb.logdet_samples)
    assert_allclose(
        _evidence.difference_std(ea, eb),
        0.5 * np.std(d, ddof=1) / np.sqrt(d.size),
        rtol=1e-12,
    )
    # Exact evidences differ exactly; an exact and an estimate, unpaired.
    exact = _evidence.evidence_at(curvature, a.theta_, 0.5, method="dense", seed=0)
    assert exact.logdet_samples == () and _evidence.difference_std(exact, exact) == 0
    assert _evidence.difference_std(exact, ea) == ea.std


def _noisy_toy_search(curve, noise, seed=0, lambda0=1.0):
    """search() on ``curve(log lambda_)`` plus estimates with per-probe log
    det samples of spread ``noise`` (nats of log evidence), drawn anew for
    every point (no common random numbers)."""
    rng = np.random.RandomState(seed)

    def fit_at(lambda_, theta_start):
        return _ToyResult(lambda_)

    def evidence(theta, lambda_, gamma_above=None):
        samples = 2 * noise * np.sqrt(10) * rng.standard_normal(10)
        value = curve(np.log(lambda_)) - 0.5 * samples.mean()
        return _evidence.Evidence(
            value, 1.0, lambda_, 1.0, std=noise, logdet_samples=tuple(samples)
        )

    return _evidence.search(fit_at, evidence, np.zeros(2), lambda0)


def test_the_search_does_not_follow_the_noise_of_the_estimates():
    """Differences within the noise of the estimates neither extend the
    walk nor refine nor re-check; the kept point is still the best tried."""
    flat = lambda x: -0.01 * (x - 1.0) ** 2  # noqa: E731
    exact = _toy_search(flat)
    assert len(exact.points) == 8
    for seed in range(8):
        noisy = _noisy_toy_search(flat, noise=1.0, seed=seed)
        assert noisy.outcome == "settled"
        # The start and the walk's first step each way (the start's check);
        # if noise put one of those above the start, its check as well.
        assert len(noisy.points) in (3, 5)
        # Kept: the best tried, even where it is higher only by noise (a
        # check's refit, then not checked in its turn).
        assert noisy.best.score == max(p.score for p in noisy.points)
    # Differences far above the noise are followed as on the exact path.
    steep = _noisy_toy_search(_parabola(30.0), noise=0.01)
    assert steep.outcome == "settled"
    assert abs(np.log(steep.best.lambda_ / 30.0)) < np.log(1.5)
    assert steep.best.score == max(p.score for p in steep.points)


@pytest.mark.parametrize("n_probes", [2, 4, 10])
def test_noise_counts_as_higher_at_the_stated_rate(n_probes):
    """Two estimates of the same value (paired samples of pure noise):
    "higher" beyond the noise margin at the normal law's rate for 2
    standard errors, 1 - Phi(2) = 2.3 %, whatever the probes. A plain
    factor 2 on standard errors from 4 samples gives 7.0 % (Student's t
    with 3 degrees of freedom), from 10 samples 3.8 %. Stochastic: 20000
    draws, the rate's own standard error about 0.1 %; the margin's factor
    lies between Student's tabled 97.5 % and 98 % quantiles."""
    rng = np.random.RandomState(0)
    higher = 0
    for _ in range(20000):
        a, b = rng.standard_normal((2, n_probes))
        ev_a, ev_b = (
            _evidence.Evidence(-0.5 * v.mean(), 1.0, 1.0, 1.0, logdet_samples=tuple(v))
            for v in (a, b)
        )
        higher += ev_a.log_evidence > ev_b.log_evidence + _evidence.noise_margin(
            ev_a, ev_b
        )
    assert 0.018 < higher / 20000 < 0.028
    factor = _evidence.noise_margin(ev_a, ev_b) / _evidence.difference_std(ev_a, ev_b)
    tabled = {2: (12.706, 15.895), 4: (3.182, 3.482), 10: (2.262, 2.398)}[n_probes]
    assert tabled[0] < factor < tabled[1]
    exact = _evidence.Evidence(-1.0, 1.0, 1.0, 1.0)
    assert _evidence.noise_margin(exact, exact) == 0


@pytest.mark.parametrize("lambda0", [1e6, 3e5, 1.0, 3e-6])
def test_a_noisy_search_says_bound_exactly_when_it_keeps_a_bound(lambda0):
    """The outcome (and so the warning) is that of the point kept, also
    where noise put a point above the walk's or the check's best."""
    flat = lambda x: -0.01 * (x - 1.0) ** 2  # noqa: E731
    bounds = np.log(_evidence.LAMBDA_BOUNDS)
    for seed in range(30):
        found = _noisy_toy_search(flat, noise=1.0, seed=seed, lambda0=lambda0)
        assert found.best.score == max(p.score for p in found.points)
        at_bound = found.best.x in bounds
        assert found.outcome in ("settled", "bound", "max_evaluations")
        if found.outcome != "max_evaluations":
            assert (found.outcome == "bound") == at_bound, (seed, found.outcome)


def _scored(x, score, samples):
    """A point at ``x`` with a matrix-free evidence: its log det samples."""
    ev = _evidence.Evidence(
        score, 1.0, float(np.exp(x)), 1.0, std=1.0, logdet_samples=tuple(samples)
    )
    return _evidence.Point(float(np.exp(x)), _ToyResult(np.exp(x)), ev)


def test_a_check_refit_kept_at_a_bound_by_noise_says_bound():
    """Near the upper bound, the check's refit at the bound scores higher
    than the best only within the noise: it is kept, so the outcome is
    "bound" (and its warning given), not "settled"."""
    hi = np.log(_evidence.LAMBDA_BOUNDS[1])
    step = np.log(_evidence.CHECK_FACTOR)
    loud = np.linspace(-1, 1, 10) * 10.0
    trials = _trials_with(lambda x: 0.0, [])
    trials.points[:] = [_scored(hi - step, 0.0, 0 * loud)]

    def evidence(theta, lambda_, gamma_above=None):
        x = np.log(lambda_)
        score = 0.5 if x == hi else -1.0  # the bound: higher, within noise
        return _evidence.Evidence(
            score, 1.0, lambda_, 1.0, std=1.0, logdet_samples=tuple(loud)
        )

    trials.evidence = evidence
    assert _evidence._check(trials) == "bound"
    assert trials.best().lambda_ == _evidence.LAMBDA_BOUNDS[1]


def test_refinement_needs_a_gain_above_the_noisier_neighbour():
    """The parabola's promised gain (here about 0.5 nats) must exceed twice
    the larger of the differences' standard errors to the two neighbours."""
    base = np.linspace(-1, 1, 10)
    quiet, loud = base * 0.01, base * 10.0  # std errors ~0.003 and ~3 nats
    for samples_above, refined in ((quiet, True), (loud, False)):
        trials = _trials_with(lambda x: 0.0, [])
        trials.points[:] = [
            _scored(-1.0, -2.5, quiet),
            _scored(0.0, 0.0, 0 * base),
            _scored(1.0, -0.5, samples_above),
        ]
        trials.fit_at = lambda lambda_, theta_start: _ToyResult(lambda_)
        trials.evidence = lambda theta, lambda_, gamma_above=None: _evidence.Evidence(
            -1.0, 1.0, lambda_, 1.0
        )
        _evidence._refine(trials, max_steps=1)
        assert (len(trials.points) == 4) == refined


def test_unsettled_lanczos_warns_once_per_fit_at_the_callers_line(cancer, monkeypatch):
    X, y = cancer
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", 0)
    monkeypatch.setattr(_evidence, "N_STEPS", 2)  # too few to settle
    clf = BackpropClassifier((4,), lambda_="evidence", random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    lanczos = [w for w in caught if "Lanczos" in str(w.message)]
    assert len(lanczos) == 1 and len(clf.lambdas_) > 1
    assert lanczos[0].filename == __file__
    with pytest.warns(ConvergenceWarning, match="Lanczos") as caught:
        clf.log_evidence(X, y)
    assert caught[0].filename == __file__


def test_n_iter_is_the_kept_refits_and_n_iter_total_the_searchs(cancer):
    X, y = cancer
    clf = BackpropClassifier((3,), lambda_="evidence", max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.n_iter_ <= clf.max_iter
    assert clf.n_iter_ == len(clf.loss_curve_)
    assert clf.n_iter_total_ >= clf.n_iter_ and clf.n_iter_total_ > clf.max_iter
    assert clf.loss_ == clf.loss_curve_[-1]


def test_sparse_and_dense_input_settle_alike():
    X, y = load_digits(return_X_y=True)
    X, y = StandardScaler().fit_transform(X[:500]), y[:500]
    dense = BackpropClassifier((8,), lambda_="evidence", random_state=0).fit(X, y)
    sparse = BackpropClassifier((8,), lambda_="evidence", random_state=0)
    sparse.fit(sp.csr_matrix(X), y)
    assert_allclose(sparse.fitted_lambda_, dense.fitted_lambda_, rtol=0.1)
    assert_allclose(sparse.log_evidence_, dense.log_evidence_, atol=0.5)
    for fit in (dense, sparse):  # both settled
        assert len(fit.lambdas_) < _evidence.MAX_EVALUATIONS


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


def test_factorize_and_masked_trace():
    # A C-ordered symmetric positive definite A, factorized in place: log det,
    # g^T A^-1 g and, from the factor, tr(A^-1 M) against numpy.
    rng = np.random.RandomState(0)
    n, lambda_ = 60, 0.7
    mask = rng.rand(n) < 0.8
    B = rng.randn(n, 2 * n)
    A = B @ B.T / n + np.diag(np.where(mask, lambda_, 1e-4))
    g = rng.randn(n)
    A_inv = np.linalg.inv(A)
    U, logdet, quadratic = _evidence._factorize(A.copy(), g)
    assert_allclose(logdet, np.linalg.slogdet(A)[1], rtol=1e-12)
    assert_allclose(quadratic, g @ np.linalg.solve(A, g), rtol=1e-10)
    trace = _evidence._masked_trace(U, mask)
    assert_allclose(trace, np.trace(A_inv[np.ix_(mask, mask)]), rtol=1e-10)
    # A ValueError (bad input's error) with numpy 1.x too, where LinAlgError
    # is not one.
    with pytest.raises(ValueError, match="not positive definite") as caught:
        _evidence._factorize(-A, g)
    assert isinstance(caught.value, np.linalg.LinAlgError)


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


def record_the_evidences(monkeypatch, interrupt_at=None):
    """A list of ``(n_probes, evidence)``, one for each evidence computed
    (``log_evidence``'s on ``N_PROBES``); with ``interrupt_at``, Ctrl-C
    (KeyboardInterrupt) while that call's evidence is computed, as a
    SIGINT in the main thread raises it there."""
    original, calls, attempts = _evidence.evidence_at, [], []

    def evidence_at(*args, **kwargs):
        attempts.append(1)
        if len(attempts) == interrupt_at:
            raise KeyboardInterrupt
        calls.append(
            (kwargs.get("n_probes", _evidence.N_PROBES), original(*args, **kwargs))
        )
        return calls[-1][1]

    monkeypatch.setattr(_evidence, "evidence_at", evidence_at)
    return calls


def ctrl_c_in_refit(number, at_iteration=2):
    """A callback that counts the L-BFGS iterations of a search's refits and
    raises KeyboardInterrupt (as Ctrl-C does) at ``at_iteration`` of refit
    ``number``; it keeps its count in ``callback.iterations``."""

    def callback(iteration, cost, theta):
        callback.refits += iteration == 1
        callback.iterations += 1
        if callback.refits == number and iteration == at_iteration:
            raise KeyboardInterrupt

    callback.refits = callback.iterations = 0
    return callback


def test_ctrl_c_in_a_later_refit_ends_the_search_at_once(iris, monkeypatch):
    """Ctrl-C in a refit: the fit returns without that refit's evidence
    (on the matrix-free path minutes at 784-256-10, spent on weights short
    of their mode), keeps the best point scored before it, warns once, and
    n_iter_total_ counts every iteration run."""
    X, y = iris
    evidences = record_the_evidences(monkeypatch)
    callback = ctrl_c_in_refit(4)
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.set_params(callback=callback).fit(X, y)
    interrupts = [w for w in caught if w.category is TrainingInterruptedWarning]
    assert len(interrupts) == 1, [str(w.message) for w in caught]
    assert "after 3 points scored" in str(interrupts[0].message)
    assert len(evidences) == 3 and clf.lambdas_.size == 3
    assert clf.log_evidence_ == clf.scores_.max()
    assert clf.n_iter_total_ == callback.iterations


def test_ctrl_c_in_the_first_refit_keeps_it_unscored(iris, monkeypatch):
    X, y = iris
    evidences = record_the_evidences(monkeypatch)
    callback = ctrl_c_in_refit(1, at_iteration=5)
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    with pytest.warns(TrainingInterruptedWarning, match="NaN") as caught:
        clf.set_params(callback=callback).fit(X, y)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert not evidences and clf.lambdas_.tolist() == [1.0]
    assert np.isnan(clf.log_evidence_) and np.isnan(clf.n_effective_params_)
    assert clf.n_iter_ == clf.n_iter_total_ == 5
    assert clf.stop_reason_ == "interrupted"


def test_ctrl_c_in_an_evidence_keeps_the_best_point_scored(iris, monkeypatch):
    """Ctrl-C while a later point's evidence is computed (on the
    matrix-free path most of a point's time): the search stops, the fit
    returns with the best of the points scored before it, and warns."""
    X, y = iris
    reference = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(X, y)
    record_the_evidences(monkeypatch, interrupt_at=3)
    callback = ctrl_c_in_refit(0)  # counts the iterations only
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    with pytest.warns(TrainingInterruptedWarning, match="log evidence") as caught:
        clf.set_params(callback=callback).fit(X, y)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert clf.n_iter_total_ == callback.iterations  # the unscored refit's too
    assert "lambda_=" in str(caught[0].message)
    np.testing.assert_array_equal(clf.lambdas_, reference.lambdas_[:2])
    np.testing.assert_array_equal(clf.scores_, reference.scores_[:2])
    kept = int(np.argmax(reference.scores_[:2]))
    assert clf.fitted_lambda_ == reference.lambdas_[kept]
    assert clf.log_evidence_ == reference.scores_[kept]
    assert clf.predict(X).shape == y.shape


def test_ctrl_c_in_the_first_evidence_keeps_the_first_refit(iris, monkeypatch):
    """Nothing scored yet: the first refit is kept (no work lost), its
    evidence unknown (NaN), and the user is told."""
    X, y = iris
    record_the_evidences(monkeypatch, interrupt_at=1)
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    with pytest.warns(TrainingInterruptedWarning, match="NaN"):
        clf.fit(X, y)
    assert clf.fitted_lambda_ == 1.0 and clf.lambdas_.tolist() == [1.0]
    assert np.isnan(clf.log_evidence_) and np.isnan(clf.n_effective_params_)
    assert np.isnan(clf.log_evidence_se_)
    assert clf.n_iter_ > 0 and clf.n_iter_total_ == clf.n_iter_
    assert clf.score(X, y) > 0.5


def test_the_matrix_free_search_compares_on_fewer_probes_and_keeps_all(
    iris, monkeypatch
):
    """Matrix-free, the search scores its points on SEARCH_PROBES common
    probes and the kept point again on all N_PROBES, whose first they are:
    log_evidence_ is that estimate (what log_evidence gives), the other
    scores keep their differences from it, and it stays the highest."""
    X, y = iris
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", 0)
    calls = record_the_evidences(monkeypatch)
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    clf.set_params(max_iter=1000).fit(X, y)
    *search, (n_final, final) = list(calls)
    assert n_final == _evidence.N_PROBES > _evidence.SEARCH_PROBES
    assert {n for n, _ in search} == {_evidence.SEARCH_PROBES}
    assert len(search) == len(clf.lambdas_) >= 3
    scores = np.array([ev.log_evidence for _, ev in search])
    kept = int(np.argmax(scores))
    assert clf.fitted_lambda_ == clf.lambdas_[kept]
    assert clf.log_evidence_ == final.log_evidence == clf.scores_.max()
    assert clf.log_evidence_se_ == final.std > 0
    assert clf.n_effective_params_ == final.gamma
    assert_allclose(clf.scores_ - clf.log_evidence_, scores - scores[kept], atol=1e-9)
    assert clf.scores_[kept] == clf.log_evidence_
    # (That the search's probes are the first of the final estimate's:
    # test_lanczos.py::test_fewer_probes_are_the_first_of_more.)
    assert clf.log_evidence(X, y) == clf.log_evidence_


def test_rescore_moves_every_score_by_the_kept_points_change(monkeypatch):
    """rescore on a made-up search: the kept point's evidence is the
    second estimate's (with its standard error and gamma, and unsettled
    if its search estimate was), every other score keeps its difference
    from the kept one, -inf stays -inf; the exact path and a search on
    all the probes are left as they are."""

    def point(score, converged=True):
        ev = _evidence.Evidence(score, 2.0, 1.0, 1.0, std=9.0, converged=converged)
        return _evidence.Point(1.0, _ToyResult(1.0), ev)

    final = _evidence.Evidence(-5.0, 7.0, 1.0, 1.0, std=3.0)
    calls = []

    def evidence_at(*args, **kwargs):
        calls.append(kwargs["n_probes"])
        return final

    monkeypatch.setattr(_evidence, "evidence_at", evidence_at)
    points = [point(-10.0), point(-8.0, converged=False), point(-np.inf), point(-9.0)]
    found = _evidence.SearchResult(points[1], points, "settled")
    rescored = _evidence.EvidenceFunction(None, "lanczos", 0).rescore(found)
    assert calls == [_evidence.N_PROBES]
    assert [p.score for p in rescored.points] == [-7.0, -5.0, -np.inf, -6.0]
    assert rescored.best is rescored.points[1] and rescored.outcome == "settled"
    kept = rescored.best.evidence
    assert (kept.std, kept.gamma, kept.converged) == (3.0, 7.0, False)
    assert [p.evidence.std for p in rescored.points] == [9.0, 3.0, 9.0, 9.0]
    for method, probes in (("dense", _evidence.SEARCH_PROBES), ("lanczos", 10)):
        monkeypatch.setattr(_evidence, "SEARCH_PROBES", probes)
        assert _evidence.EvidenceFunction(None, method, 0).rescore(found) is found
    assert len(calls) == 1


def test_ctrl_c_in_the_kept_points_second_estimate_keeps_the_search(iris, monkeypatch):
    """Ctrl-C while the kept point is estimated again on all the probes:
    the fit returns with the search's scores (the kept one on its 4
    probes), warns, and still has log_evidence_ == max(scores_)."""
    X, y = iris
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", 0)
    reference = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    reference.set_params(max_iter=1000).fit(X, y)
    record_the_evidences(monkeypatch, interrupt_at=reference.lambdas_.size + 1)
    clf = clone(reference)
    with pytest.warns(TrainingInterruptedWarning, match="again on all") as caught:
        clf.fit(X, y)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert_array_equal(clf.lambdas_, reference.lambdas_)
    assert clf.fitted_lambda_ == reference.fitted_lambda_
    assert clf.log_evidence_ == clf.scores_.max() != reference.log_evidence_
    # The differences are the search's, as in the reference.
    assert_allclose(
        clf.scores_ - clf.log_evidence_,
        reference.scores_ - reference.log_evidence_,
        atol=1e-9,
    )


def test_ctrl_c_in_the_second_estimate_keeps_the_searchs_warning(monkeypatch):
    """The search's own warning (here: the constant model of uninformative
    data) survives a Ctrl-C in the kept point's second estimate."""
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", 0)
    rng = np.random.RandomState(0)
    X, y = rng.randn(30, 3), rng.randint(0, 2, 30)
    clf = BackpropClassifier((2,), lambda_="evidence", random_state=0, max_iter=1000)
    with pytest.warns(ConvergenceWarning, match="determine none"):
        n_points = clone(clf).fit(X, y).lambdas_.size
    record_the_evidences(monkeypatch, interrupt_at=n_points + 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    texts = [str(w.message) for w in caught]
    assert any("determine none" in t for t in texts), texts
    assert any("again on all" in t for t in texts), texts


def test_the_matrix_free_search_after_ctrl_c_makes_no_second_estimate(
    iris, monkeypatch
):
    """Ctrl-C in a refit of a matrix-free search: the fit returns at once,
    without estimating the kept point again on all the probes."""
    X, y = iris
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", 0)
    calls = record_the_evidences(monkeypatch)
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    with pytest.warns(TrainingInterruptedWarning):
        clf.set_params(callback=ctrl_c_in_refit(3)).fit(X, y)
    assert (
        [n for n, _ in calls]
        == [_evidence.SEARCH_PROBES] * 2
        == [_evidence.SEARCH_PROBES] * clf.lambdas_.size
    )


def test_a_search_on_all_the_probes_makes_no_second_estimate(iris, monkeypatch):
    X, y = iris
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", 0)
    monkeypatch.setattr(_evidence, "SEARCH_PROBES", _evidence.N_PROBES)
    calls = record_the_evidences(monkeypatch)
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    clf.set_params(max_iter=1000).fit(X, y)
    assert [n for n, _ in calls] == [_evidence.N_PROBES] * clf.lambdas_.size
    assert clf.log_evidence(X, y) == clf.log_evidence_ == clf.scores_.max()


def test_verbose_reports_each_refit_of_the_search(iris, capsys):
    X, y = iris
    clf = BackpropClassifier((), lambda_="evidence", verbose=1, random_state=0)
    clf.fit(X, y)
    lines = [
        s for s in capsys.readouterr().out.splitlines() if s.startswith("Evidence")
    ]
    assert len(lines) == len(clf.lambdas_)
    assert lines[0] == f"Evidence refit  1 at lambda_={clf.lambdas_[0]:.4g}"
    for n, (line, lambda_) in enumerate(zip(lines[1:], clf.lambdas_[1:]), 2):
        best = int(np.argmax(clf.scores_[: n - 1]))
        assert line == (
            f"Evidence refit {n:2d} at lambda_={lambda_:.4g}, best so far "
            f"lambda_={clf.lambdas_[best]:.4g} ({clf.scores_[best]:.6g})"
        )


def test_posterior_precision_products_are_the_dense_matrixs(iris):
    """The matrix-free operator's four forms against A = G + diag with G
    from finite differences."""
    X, y = iris
    X, y = X[::5], y[::5]
    clf = BackpropClassifier((3,), lambda_=0.3, random_state=0).fit(X, y)
    curvature = clf._training_data(X, y, None, reset=False).curvature(clf.layer_sizes_)
    mask = mask_of(clf.layer_sizes_)
    diag = np.where(mask, 0.3, BIAS_PRECISION)
    A = finite_difference_gauss_newton(clf.theta_, X, clf.layer_sizes_) + np.diag(diag)
    operator = _evidence.PosteriorPrecision(curvature, clf.theta_, diag, mask)
    V = np.random.RandomState(0).randn(mask.size, 3)
    assert_allclose(operator(V), A @ V, rtol=1e-6, atol=1e-8)
    assert_allclose(operator(V[:, 0]), A @ V[:, 0], rtol=1e-6, atol=1e-8)
    out = np.ones_like(V)
    assert operator.add_into(V, out) is out
    assert_allclose(out, 1 + A @ V, rtol=1e-6, atol=1e-8)
    biases = np.flatnonzero(~mask)
    assert_array_equal(operator.bias_rows, biases)
    assert_allclose(operator.rows(V, biases), (A @ V)[biases], rtol=1e-6, atol=1e-8)
    some = np.array([0, 5, 7])
    assert_allclose(operator.rows(V, some), (A @ V)[some], rtol=1e-6, atol=1e-8)
    A_bb = operator.unmasked_block(biases)
    assert_allclose(A_bb, A[np.ix_(biases, biases)], rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="bias rows and columns only"):
        operator.unmasked_block(some)


def test_the_matrix_free_evidence_forms_the_bias_block_directly(
    iris, quiet_fit, monkeypatch
):
    """``A_bb`` from ``G``'s bias block in one pass over the rows (two hidden
    layers, weighted, merged rows of iris read through an index), as the
    unit-vector products gave it before: the same block to 1e-12, and the
    same estimates to the rounding that the Schur complement magnifies
    (measured: 1e-11 relative in the samples, 4e-11 nats in the Newton
    decrement of 0.41 nats, through ``v_b^T A_bb^-1 v_b``)."""
    X, y = iris
    w = np.random.RandomState(0).uniform(0.5, 2, y.size)
    clf = quiet_fit(BackpropClassifier((4, 3), lambda_=1.0, random_state=0), X, y, w)
    curvature = clf._training_data(X, y, w, reset=False).curvature(clf.layer_sizes_)
    assert curvature.rows is not None and curvature.w is not None
    mask = mask_of(clf.layer_sizes_)
    diag = np.where(mask, 1.0, BIAS_PRECISION)
    operator = _evidence.PosteriorPrecision(curvature, clf.theta_, diag, mask)
    biases = operator.bias_rows
    E = np.zeros((mask.size, biases.size))
    E[biases, np.arange(biases.size)] = 1.0
    by_products = operator.rows(E, biases)
    assert_allclose(
        operator.unmasked_block(biases),
        by_products,
        rtol=1e-12,
        atol=1e-12 * np.abs(by_products).max(),
    )

    blocks = []
    bias_block = curvature.gauss_newton_bias_block

    def counted(theta):
        blocks.append(theta)
        return bias_block(theta)

    monkeypatch.setattr(curvature, "gauss_newton_bias_block", counted)

    def estimate():
        return _evidence.evidence_at(
            curvature, clf.theta_, 1.0, method="lanczos", seed=0
        )

    direct = estimate()
    assert len(blocks) == 1
    monkeypatch.delattr(_evidence.PosteriorPrecision, "unmasked_block")
    products = estimate()
    assert len(blocks) == 1
    for name in ("log_evidence", "gamma", "std", "gamma_std"):
        assert_allclose(getattr(direct, name), getattr(products, name), rtol=1e-10)
    assert_allclose(direct.logdet_samples, products.logdet_samples, rtol=1e-10)
    assert abs(direct.decrement - products.decrement) < 1e-9


def test_float32_products_give_the_bias_block_too():
    """On float32 data the products run in float32; an exact (float64)
    ``A_bb`` beside their ``A_wb`` and ``A_ww`` is the Schur complement of
    no one matrix, and where ``A_bb`` is ill-conditioned (half the first
    hidden layer saturated) it made ``S`` indefinite (its least eigenvalue
    -0.012 where the exact one is about ``lambda_`` = 1e-4; on a 20-30-5
    network the log det was then 3.4 nats off, against 0.09 with the block
    from the products). The block then comes from the same products, as
    ``S`` needs; on float64 data it is formed directly."""
    rng = np.random.RandomState(1)
    sizes, m, lambda_ = (20, 16, 5), 5000, 1e-4
    shapes = bp.layer_shapes(sizes)
    P = sum(r * c for r, c in shapes)
    (s1, c1), (s2, c2) = shapes[:2]
    theta = 5.0 * rng.randn(P)
    first = theta[: s1 * c1].reshape(c1, s1).T  # Theta^(1), (s1, c1)
    first[: s1 // 2, 1:] *= 30  # half the first hidden layer saturated
    second = theta[s1 * c1 : s1 * c1 + s2 * c2].reshape(c2, s2).T
    second[:, 1 + s1 // 2 : 3 + s1 // 2] *= 1e-3
    theta[: s1 * c1] = first.T.ravel()
    theta[s1 * c1 : s1 * c1 + s2 * c2] = second.T.ravel()
    X = rng.randn(m, sizes[0]) * 3 + 5
    Y = np.eye(sizes[-1])[rng.randint(0, sizes[-1], m)]
    mask = mask_of(sizes)
    diag = np.where(mask, lambda_, BIAS_PRECISION)
    biases, weights = np.flatnonzero(~mask), np.flatnonzero(mask)
    for dtype in (np.float32, np.float64):
        curvature = _evidence.DataCurvature(
            X.astype(dtype), Y.astype(dtype), None, None, shapes, 512
        )
        operator = _evidence.PosteriorPrecision(curvature, theta, diag, mask)
        A = operator(np.eye(P))  # the products, in X's precision
        direct = getattr(operator, "unmasked_block", None)
        A_bb = A[np.ix_(biases, biases)] if direct is None else direct(biases)
        A_wb = A[np.ix_(weights, biases)]
        S = A[np.ix_(weights, weights)] - A_wb @ np.linalg.solve(A_bb, A_wb.T)
        assert np.linalg.eigvalsh((S + S.T) / 2).min() > 0.5 * lambda_
        assert (direct is None) == (dtype == np.float32)


def _skewed(peak):
    """Steep below the peak, flat above: a parabola through three points
    misplaces its maximum, and the local check finds a higher neighbour."""
    p = np.log(peak)
    return lambda x: -3 * (x - p) ** 2 if x < p else -0.02 * (x - p) ** 2


def test_a_higher_neighbour_at_the_check_is_refined_and_checked_again():
    checks = []
    check = _evidence._check

    def spy(trials):
        checks.append(check(trials))
        return checks[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_evidence, "_check", spy)
        found = _toy_search(_skewed(2.0))
    assert checks == ["bracketed", "settled"]
    assert found.outcome == "settled" and _evidence.message(found) is None
    assert_checked(found)


def _trials_with(curve, xs):
    """A search's trials holding refits at ``xs`` of the toy ``curve``."""

    def fit_at(lambda_, theta_start, tight=True):
        return _ToyResult(lambda_)

    def evidence(theta, lambda_, gamma_above=None):
        return _evidence.Evidence(curve(np.log(lambda_)), 1.0, lambda_, 1.0)

    trials = _evidence._Trials(fit_at, evidence, _evidence.LAMBDA_BOUNDS, 16)
    for x in xs:
        trials.at(x, np.zeros(2))
    return trials


def test_check_at_a_bound_and_refine_at_the_edge_of_the_points():
    hi = np.log(_evidence.LAMBDA_BOUNDS[1])
    # The best point at the upper bound, the one below it lower: a maximum
    # at the bound, checked on its one side only.
    trials = _trials_with(lambda x: x, [hi - 1.0, hi])
    assert _evidence._check(trials) == "bound"
    assert [p.x for p in trials.points] == [hi - 1.0, hi, hi - np.log(1.5)]
    # No neighbour above the best (or below): nothing to refine.
    for xs in ([0.0, 1.0], [1.0, 0.0]):
        trials = _trials_with(lambda x: x, xs)
        _evidence._refine(trials)
        assert len(trials.points) == 2
    # Neighbours on both sides: the parabola's vertex, refitted once per
    # step while it promises 0.01 nats and moves by log 1.05 or more.
    trials = _trials_with(lambda x: -((x - 0.3) ** 2), [-1.0, 0.0, 1.0])
    _evidence._refine(trials, max_steps=1)
    assert_allclose(trials.points[-1].x, 0.3, rtol=1e-10)
    # A vertex nearer than log 1.05 is not refitted, however much it gains.
    near = 5.0 + 0.8 * np.log(1.05)
    trials = _trials_with(lambda x: -1e4 * (x - near) ** 2, [4.5, 5.0, 5.5])
    _evidence._refine(trials)
    assert len(trials.points) == 3
    # Nor one that gains less than 0.01 nats, however far it is.
    trials = _trials_with(lambda x: -1e-3 * (x - 0.3) ** 2, [-1.0, 0.0, 1.0])
    _evidence._refine(trials)
    assert len(trials.points) == 3
    # Away from 0, a vertex log 1.05 or more away is refitted.
    trials = _trials_with(lambda x: -1e4 * (x - 5.1) ** 2, [4.5, 5.0, 5.5])
    _evidence._refine(trials, max_steps=1)
    assert len(trials.points) == 4


def test_the_check_refits_each_side_from_the_best_weights_unless_done():
    step = np.log(_evidence.CHECK_FACTOR)
    curve = lambda x: -((x - 3.0) ** 2)  # noqa: E731
    # Points within the factor, refitted from other weights: no check.
    trials = _trials_with(curve, [3.0, 3.0 - 0.9 * step, 3.0 + step])
    assert _evidence._check(trials) == "settled"
    assert len(trials.points) == 5
    best = trials.points[0]
    assert all(p.start is best.result.theta for p in trials.points[3:])
    assert_allclose([p.x for p in trials.points[3:]], [3.0 + step, 3.0 - step])
    # A side refitted from the best's weights at the factor (as the walk's
    # first step, x + log 1.5 rounded through lambda_) is not refitted again.
    trials = _trials_with(curve, [3.0])
    best = trials.points[0]
    trials.at(float(np.log(np.exp(3.0) * 1.5)), best.result.theta)
    assert _evidence._check(trials) == "settled"
    assert len(trials.points) == 3
    assert_allclose(trials.points[2].x, 3.0 - step, rtol=1e-12)
    # Nor is a refit from the best's weights nearer than the factor.
    trials = _trials_with(curve, [3.0])
    best = trials.points[0]
    trials.at(3.0 + 0.9 * step, best.result.theta)
    assert _evidence._check(trials) == "settled"
    assert_allclose([p.x for p in trials.points[2:]], [3.0 + step, 3.0 - step])
    # Nor is a best at its own lambda_ a check of itself.
    trials = _trials_with(curve, [3.0, 3.0])
    _evidence._check(trials)
    assert_allclose(sorted(p.x for p in trials.points[2:]), [3.0 - step, 3.0 + step])


def test_refinement_stops_after_three_steps():
    """A curve steep on one side, flat on the other: each parabola misses
    the maximum, and promises more; step 3 refines three times at most
    (five with more steps allowed)."""
    curve = lambda x: -(x**2) if x < 0 else -0.01 * x**2  # noqa: E731
    trials = _trials_with(curve, [-3.0, 0.1, 5.0])
    _evidence._refine(trials)
    assert len(trials.points) == 3 + 3
    trials = _trials_with(curve, [-3.0, 0.1, 5.0])
    _evidence._refine(trials, max_steps=10)
    assert len(trials.points) == 3 + 5


def test_neighbours_of_points_at_the_ends():
    trials = _trials_with(lambda x: -(x**2), [0.0, -1.0, 2.0, 1.0])
    below, above = trials.neighbours(trials.points[0])
    assert (below.x, above.x) == pytest.approx((-1.0, 1.0), abs=1e-12)
    assert trials.neighbours(trials.points[1]) == (None, trials.points[0])
    assert trials.neighbours(trials.points[2]) == (trials.points[3], None)


def test_constant_model_message():
    found = _toy_search(_parabola(1.0))
    constant = _evidence.SearchResult(
        _evidence.Point(
            1.0, _ToyResult(1.0), _evidence.Evidence(-3.0, 0.004, 1.0, 1.0)
        ),
        found.points,
        "settled",
    )
    text = _evidence.message(constant)
    assert text.startswith("The data determine none of the weights")
    assert "n_effective_params_=0.004 at lambda_=1)" in text
    # On that plateau the scores differ by rounding, and a search may use
    # up its refits there: the warning still says the model is constant.
    unsettled = dataclasses.replace(constant, outcome="max_evaluations")
    text = _evidence.message(unsettled)
    assert text.startswith("The search for lambda_ by the evidence did not settle")
    assert "The data determine none of the weights" in text
    # gamma of 0.01 (_CONSTANT_GAMMA) is not constant.
    edge = _evidence.Evidence(-3.0, _evidence._CONSTANT_GAMMA, 1.0, 1.0)
    point = dataclasses.replace(constant.best, evidence=edge)
    assert _evidence.message(dataclasses.replace(constant, best=point)) is None


def test_a_search_started_at_a_bound_looks_inside_before_it_warns():
    """A warm start at the lower bound, the maximum at lambda_ = 1: the walk
    cannot step outwards, so it walks inwards and settles there."""
    found = _toy_search(_parabola(1.0), lambda0=_evidence.LAMBDA_BOUNDS[0])
    assert found.outcome == "settled" and _evidence.message(found) is None
    assert abs(np.log(found.best.lambda_)) < 0.05
    # A maximum beyond the bound it starts at: the inner step loses, and
    # the bound is kept with the warning.
    found = _toy_search(_parabola(1e-9), lambda0=_evidence.LAMBDA_BOUNDS[0])
    assert found.outcome == "bound" and "lower bound" in _evidence.message(found)
    assert len(found.points) == 2  # the start and the inner step


def test_a_start_at_a_bound_with_mackay_outward_settles_inside():
    """Started at the lower bound, MacKay's update pointing below it, the
    maximum one nat of log lambda_ inside: the inward walk gains, and the
    search refines and checks there ("settled"; the bracket used to call
    this a maximum at the bound and warn)."""
    lo = np.log(_evidence.LAMBDA_BOUNDS[0])

    def fit_at(lambda_, theta_start):
        return _ToyResult(lambda_)

    def evidence(theta, lambda_, gamma_above=None):
        # gamma / |w|^2 = 1e-7: MacKay's update below the bound
        return _evidence.Evidence(
            -5 * (np.log(lambda_) - lo - 1.0) ** 2, 1.0, lambda_, 1e7
        )

    found = _evidence.search(fit_at, evidence, np.zeros(2), _evidence.LAMBDA_BOUNDS[0])
    assert found.outcome == "settled" and _evidence.message(found) is None
    assert abs(found.best.x - (lo + 1.0)) < 0.05
    assert_checked(found)


def test_log_evidence_of_a_model_that_kept_no_seed(cancer, monkeypatch):
    """A model unpickled from skbpnn 0.2 has no kept seed: log_evidence
    draws one from random_state, as 0.2 did."""
    X, y = cancer
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", 0)
    clf = BackpropClassifier((4,), lambda_=0.5, random_state=3).fit(X, y)
    kept = clf.log_evidence(X, y)
    del clf._evidence_seed
    assert clf.log_evidence(X, y) == kept  # random_state=3 drew the same seed


def test_fitted_lambda_does_not_depend_on_tol(cancer):
    X, y = cancer
    loose, tight = (
        BackpropClassifier((), lambda_="evidence", tol=tol, random_state=0).fit(X, y)
        for tol in (1e-4, 1e-8)
    )
    assert_allclose(loose.fitted_lambda_, tight.fitted_lambda_, rtol=1e-3)
    assert_allclose(loose.log_evidence_, tight.log_evidence_, atol=1e-3)


def test_a_fit_by_a_number_leaves_the_random_stream_alone(cancer):
    """Only log_evidence, when asked, draws the probes' seed: a fit by a
    number takes from random_state the initial weights alone."""
    X, y = cancer
    rng = np.random.RandomState(0)
    clf = BackpropClassifier((3,), lambda_=1.0, random_state=rng).fit(X, y)
    expected = np.random.RandomState(0)
    bp.init_weights((6, 3, 1), random_state=expected)
    assert rng.randint(1000) == expected.randint(1000)
    # log_evidence draws once and keeps it: the same number twice.
    assert clf.log_evidence(X, y) == clf.log_evidence(X, y)


def test_the_kept_refits_own_warning_wherever_it_stopped_abnormally(
    cancer, monkeypatch
):
    X, y = cancer
    # Out of evaluations: the refit's ConvergenceWarning, whatever its
    # distance from the mode.
    with pytest.warns(ConvergenceWarning, match="max_fun"):
        BackpropClassifier((5,), lambda_="evidence", max_fun=30, random_state=0).fit(
            X, y
        )
    # At max_iter: shown whatever the kept refit's Newton decrement (it was
    # shown only above MODE_DECREMENT, but a small decrement does not place
    # a refit near its mode: see the User guide), once.
    monkeypatch.setattr(_evidence, "MODE_DECREMENT", 1e9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = BackpropClassifier(
            (5,), lambda_="evidence", max_iter=15, random_state=0
        ).fit(X, y)
    assert clf.stop_reason_ == "max_iter"
    iterations = [w for w in caught if "iterations without" in str(w.message)]
    assert len(iterations) == 1


def test_a_refit_that_diverges_mid_search_scores_minus_infinity():
    """A refit whose weights or cost overflowed is the worst point: it is
    never kept, and the search goes on from the finite ones."""

    def fit_at(lambda_, theta_start):
        result = _ToyResult(lambda_)
        if 3.5 < lambda_ < 8:  # the weights overflow
            result.theta = np.array([np.nan, 1.0])
        elif lambda_ >= 8:  # the cost does
            result.loss = np.inf
        return result

    def evidence(theta, lambda_, gamma_above=None):
        assert np.all(np.isfinite(theta))  # never asked for a diverged refit
        return _evidence.Evidence(-((np.log(lambda_) - 1.0) ** 2), 1.0, lambda_, 1.0)

    found = _evidence.search(fit_at, evidence, np.zeros(2), 1.0)
    scores = np.array([p.score for p in found.points])
    diverged = np.array([p.lambda_ > 3.5 for p in found.points])
    assert diverged.any() and np.all(scores[diverged] == -np.inf)
    assert np.all(np.isfinite(scores[~diverged]))
    assert found.best.score == scores.max() and np.isfinite(found.best.score)
    assert abs(found.best.x - 1.0) < 0.05


@pytest.mark.parametrize(
    "lambda0, gamma, weight_norm2, second",
    [
        (1.0, 0.2, 1.0, 0.2),  # MacKay's update, within [log 1.5, log 10]
        (5.0, 1.0, 1.0, 1.0),  # from elsewhere than lambda_ = 1
        (1.0, 1.35, 1.0, 1.5),  # a short jump: at least log 1.5
        (1.0, 1e-6, 1.0, 0.1),  # a long jump: at most log 10
        (1.0, 2e3, 1.0, 10.0),
        (1.0, 0.0, 1.0, 10.0),  # no weight determined: towards large lambda_
        (1.0, 1.0, 0.0, 10.0),
    ],
)
def test_the_first_step_goes_to_mackays_update(lambda0, gamma, weight_norm2, second):
    lambdas = []

    def fit_at(lambda_, theta_start):
        lambdas.append(lambda_)
        return _ToyResult(lambda_)

    def evidence(theta, lambda_, **asked):  # gamma given whatever is asked
        return _evidence.Evidence(
            -((np.log(lambda_) - 9) ** 2), gamma, lambda_, weight_norm2
        )

    _evidence.search(fit_at, evidence, np.zeros(2), lambda0, max_evaluations=2)
    assert_allclose(lambdas[0], lambda0, rtol=1e-12)
    assert_allclose(lambdas[1], second, rtol=1e-12)


def test_a_stopped_refit_ends_the_search_as_stopped():
    def fit_at(lambda_, theta_start):
        result = _ToyResult(lambda_)
        result.stop_reason = "callback" if lambda_ != 1.0 else "converged"
        return result

    def evidence(theta, lambda_, gamma_above=None):
        return _evidence.Evidence(-((np.log(lambda_) - 3) ** 2), 1.0, lambda_, 1.0)

    found = _evidence.search(fit_at, evidence, np.zeros(2), 1.0)
    assert found.outcome == "stopped" and found.settled
    assert len(found.points) == 2 and _evidence.message(found) is None


def test_the_exact_path_up_to_dense_max_params():
    limit = _evidence.DENSE_MAX_PARAMS
    assert _evidence.choose_method(limit) == "dense"
    assert _evidence.choose_method(limit + 1) == "lanczos"


def test_a_settled_matrix_free_search_gives_no_lanczos_warning(cancer, monkeypatch):
    X, y = cancer
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", 0)
    clf = BackpropClassifier((4,), lambda_="evidence", random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*Lanczos")
        clf.fit(X, y)
    # gamma's standard error: that of lambda_ tr(A^-1 M), against its spread
    # over seeds.
    curvature = clf._training_data(X, y, None, reset=False).curvature(clf.layer_sizes_)
    evidences = lanczos_over_seeds(curvature, clf.theta_, clf.fitted_lambda_)
    gammas = [ev.gamma for ev in evidences]
    ratio = np.mean([ev.gamma_std for ev in evidences]) / np.std(gammas)
    assert 0.6 < ratio < 1.6, ratio


def test_the_dense_search_inverts_a_factor_where_gamma_may_be_read_only(
    cancer, monkeypatch
):
    """gamma is read at the search's first point (MacKay's first step) and
    at the kept one: the triangular inverse runs at the points that beat
    every point before them (the kept one among them), not at every point
    (about a third of the dense evidence's time on digits), and the kept
    point's gamma is the finite-difference one."""
    inverted = []

    def counted(U, **kwargs):
        inverted.append(U.shape)
        return dtrtri(U, **kwargs)

    monkeypatch.setattr(_evidence, "dtrtri", counted)
    X, y = cancer
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0).fit(X, y)
    scores = list(clf.scores_)
    records = sum(s > max(scores[:i], default=-np.inf) for i, s in enumerate(scores))
    assert clf.fitted_lambda_ != clf.lambdas_[0]
    assert len(inverted) == records < len(scores)
    assert_kept_point_matches_finite_differences(clf, X, y)
    # log_evidence reads no gamma: no inverse.
    clf.log_evidence(X, y)
    assert len(inverted) == records


def test_gamma_above_skips_the_trace_alone(cancer):
    """Dense: gamma computed only where the log evidence is above
    ``gamma_above`` (always without it), the log evidence and decrement the
    same to the last digit; the matrix-free estimate keeps its gamma (no
    cost there)."""
    X, y = cancer
    clf = BackpropClassifier((3,), lambda_=0.5, random_state=0).fit(X, y)
    curvature = clf._training_data(X, y, None, reset=False).curvature(clf.layer_sizes_)
    for method in ("dense", "lanczos"):
        evidence = _evidence.EvidenceFunction(curvature, method, seed=0)
        full = evidence(clf.theta_, 0.3)
        assert np.isfinite(full.gamma) and full.gamma > 0
        score = full.log_evidence
        for above, computed in ((score - 1e-9, True), (score, False), (np.inf, False)):
            lean = evidence(clf.theta_, 0.3, gamma_above=above)
            assert dataclasses.replace(lean, gamma=full.gamma) == full
            assert np.isnan(lean.gamma) == (method == "dense" and not computed)
