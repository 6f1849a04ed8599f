"""Tests of skbpnn.backprop against numbers from outside the code.

Sources: the course exercise's published values (tests/data/README.md), a
per-sample loop written straight from the seed's equations, scikit-learn's
MLPClassifier on identical weights, and numerical gradients.
"""

import hashlib
import inspect
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from _reference import finite_difference_gauss_newton
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.io import loadmat
from scipy.optimize import check_grad
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from skbpnn import backprop as bp

DATA = Path(__file__).parent / "data" / "ex4weights.mat"
EX4_SHA256 = "7eb93f42e50219a15de2378c7f8e4ecdd71005fc19e0e519cd52d5ce4d74e1f5"


# --------------------------------------------------------------------------
# Helpers: the course's debugging network and a literal seed implementation
# --------------------------------------------------------------------------


def debug_initialize_weights(fan_out, fan_in):
    """The course's debugInitializeWeights: sin(1), sin(2), ... / 10, column-major."""
    n = fan_out * (1 + fan_in)
    return np.sin(np.arange(1, n + 1)).reshape((fan_out, 1 + fan_in), order="F") / 10


def course_debug_network():
    """checkNNGradients: 3 inputs, 5 hidden units, 3 labels, m = 5."""
    Theta1 = debug_initialize_weights(5, 3)
    Theta2 = debug_initialize_weights(3, 5)
    X = debug_initialize_weights(5, 2)  # 5 x 3
    y = 1 + np.arange(1, 6) % 3  # [2, 3, 1, 2, 3]
    Y = np.eye(3)[y - 1]  # output unit k stands for label k + 1
    return bp.unroll([Theta1, Theta2]), X, Y, (3, 5, 3)


def textbook_cost_and_gradient(thetas, X, Y, lambda_, w=None):
    """The seed's equations, one sample at a time, bias units concatenated."""
    m = X.shape[0]
    w = np.ones(m) if w is None else np.asarray(w, dtype=float)
    J = 0.0
    Deltas = [np.zeros_like(T) for T in thetas]
    for i in range(m):
        a = [np.asarray(X[i], dtype=float)]
        for Theta in thetas:
            z = Theta @ np.concatenate([[1.0], a[-1]])
            a.append(1 / (1 + np.exp(-z)))
        h, y = a[-1], Y[i]
        J += w[i] * -np.sum(y * np.log(h) + (1 - y) * np.log(1 - h))
        delta = h - y  # delta^(L) = a^(L) - y
        for l in range(len(thetas) - 1, -1, -1):
            Deltas[l] += w[i] * np.outer(delta, np.concatenate([[1.0], a[l]]))
            if l > 0:
                delta = (thetas[l].T @ delta)[1:] * a[l] * (1 - a[l])
    sw = w.sum()
    J = J / sw + lambda_ / (2 * sw) * sum(np.sum(T[:, 1:] ** 2) for T in thetas)
    grads = [D / sw for D in Deltas]
    for G, Theta in zip(grads, thetas):
        G[:, 1:] += lambda_ / sw * Theta[:, 1:]
    return J, bp.unroll(grads)


MLP_TAKES_SAMPLE_WEIGHT = (
    "sample_weight" in inspect.signature(MLPClassifier._loss_grad_lbfgs).parameters
)


def mlp_cost_and_gradient(thetas, X, Y, lambda_, sample_weight=None):
    """MLPClassifier's own loss and gradient at the same weights, our layout."""
    hidden = tuple(T.shape[0] for T in thetas[:-1])
    mlp = MLPClassifier(
        hidden_layer_sizes=hidden,
        activation="logistic",
        solver="lbfgs",
        alpha=lambda_,
        max_iter=1,
    )
    y_fit = Y[:, 0] if Y.shape[1] == 1 else Y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y_fit)  # sets up _coef_indptr and the logistic output
    assert mlp.out_activation_ == "logistic"
    coefs = [np.ascontiguousarray(T[:, 1:].T) for T in thetas]
    intercepts = [T[:, 0].copy() for T in thetas]
    packed = np.hstack([c.ravel() for c in coefs] + intercepts)
    n = len(thetas) + 1
    # scikit-learn 1.7 added sample_weight to MLPClassifier and this method.
    weights = [sample_weight] if MLP_TAKES_SAMPLE_WEIGHT else []
    J, g = mlp._loss_grad_lbfgs(
        packed,
        X,
        Y.astype(bool),
        *weights,
        [X] + [None] * (n - 1),
        [None] * (n - 1),
        [np.empty_like(c) for c in coefs],
        [np.empty_like(b) for b in intercepts],
    )
    # theirs: [W1^T, W2^T, ..., b1, b2, ...] -> ours: Theta_l = [b_l, W_l]
    grads, start = [], 0
    for c in coefs:
        grads.append(g[start : start + c.size].reshape(c.shape).T)
        start += c.size
    for l, b in enumerate(intercepts):
        grads[l] = np.column_stack([g[start : start + b.size], grads[l]])
        start += b.size
    return J, bp.unroll(grads)


def random_problem(sizes, m=20, seed=0, weighted=False):
    rng = np.random.RandomState(seed)
    X = rng.randn(m, sizes[0])
    K = sizes[-1]
    if K == 1:
        Y = (rng.rand(m, 1) > 0.5).astype(float)
    else:
        Y = np.eye(K)[rng.randint(0, K, m)]
    theta = bp.init_weights(sizes, random_state=seed)
    w = rng.randint(0, 4, m).astype(float) + 0.5 * rng.rand(m) if weighted else None
    return theta, X, Y, w


ARCHITECTURES = [(4, 3), (4, 1), (4, 5, 3), (4, 5, 1), (4, 6, 5, 3)]


# --------------------------------------------------------------------------
# The course's published numbers
# --------------------------------------------------------------------------


def test_reference_weights_file_is_the_published_one():
    assert hashlib.sha256(DATA.read_bytes()).hexdigest() == EX4_SHA256


@pytest.fixture(scope="module")
def ex4():
    w = loadmat(DATA)
    return w["Theta1"], w["Theta2"]


def test_reference_weights_sums_and_layout(ex4):
    Theta1, Theta2 = ex4
    assert bp.layer_shapes((400, 25, 10)) == [Theta1.shape, Theta2.shape]
    theta = bp.unroll([Theta1, Theta2])
    # Published sums; the course unrolls column-major: [Theta1(:); Theta2(:)].
    assert_allclose(theta[:10025].sum(), 9.2426439281, atol=1e-9)
    assert_allclose(theta[10025:].sum(), -100.0834438493, atol=1e-9)
    assert_array_equal(theta[:25], Theta1[:, 0])
    assert_array_equal(theta[25:50], Theta1[:, 1])
    rolled = bp.roll(theta, (400, 25, 10))
    assert_array_equal(rolled[0], Theta1)
    assert_array_equal(rolled[1], Theta2)


@pytest.mark.parametrize("lambda_, penalty", [(1.0, 0.0961407), (3.0, 0.2884221)])
def test_reference_weights_penalty(ex4, lambda_, penalty):
    """lambda/(2m) * 961.406939 with m = 5000, from the cost itself."""
    theta = bp.unroll(ex4)
    rng = np.random.RandomState(0)
    X = rng.rand(5000, 400)
    Y = np.eye(10)[rng.randint(0, 10, 5000)]
    sizes = (400, 25, 10)
    J0, g0 = bp.cost_and_gradient(theta, X, Y, sizes, lambda_=0.0)
    J, g = bp.cost_and_gradient(theta, X, Y, sizes, lambda_=lambda_)
    assert_allclose(J - J0, penalty, atol=5e-8)
    assert_allclose((J - J0) * 2 * 5000 / lambda_, 961.406939, atol=1e-6)
    # The bias column takes no penalty: its gradient is unchanged.
    for G0, G, Theta in zip(bp.roll(g0, sizes), bp.roll(g, sizes), ex4):
        assert_array_equal(G[:, 0], G0[:, 0])
        assert_allclose(G[:, 1:] - G0[:, 1:], lambda_ / 5000 * Theta[:, 1:], atol=1e-16)


def test_sigmoid_gradient_published_values():
    z = [-1, -0.5, 0, 0.5, 1]
    expected = [0.196612, 0.235004, 0.250000, 0.235004, 0.196612]
    assert_allclose(bp.sigmoid_gradient(z), expected, atol=5e-7)
    assert bp.sigmoid_gradient(0.0) == 0.25
    assert_allclose(bp.sigmoid([-1, 0, 1]), [0.268941421, 0.5, 0.731058579])


@pytest.mark.parametrize("lambda_", [0.0, 3.0])
def test_course_gradient_check_network(lambda_):
    theta, X, Y, sizes = course_debug_network()
    diff = bp.gradient_check(theta, X, Y, sizes, lambda_=lambda_)
    assert diff < 1e-9
    # and the cost is the seed's formula to the last digits
    J, grad = bp.cost_and_gradient(theta, X, Y, sizes, lambda_=lambda_)
    J_ref, grad_ref = textbook_cost_and_gradient(bp.roll(theta, sizes), X, Y, lambda_)
    assert_allclose(J, J_ref, rtol=1e-14)
    assert_allclose(grad, grad_ref, rtol=1e-12, atol=1e-16)


# --------------------------------------------------------------------------
# Cost and gradient against independent implementations
# --------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", ARCHITECTURES)
@pytest.mark.parametrize("lambda_", [0.0, 0.7, 3.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_cost_and_gradient_match_textbook_loops(sizes, lambda_, weighted):
    theta, X, Y, w = random_problem(sizes, weighted=weighted)
    J, grad = bp.cost_and_gradient(theta, X, Y, sizes, lambda_, w)
    J_ref, grad_ref = textbook_cost_and_gradient(
        bp.roll(theta, sizes), X, Y, lambda_, w
    )
    assert_allclose(J, J_ref, rtol=1e-13)
    assert_allclose(grad, grad_ref, rtol=1e-11, atol=1e-15)
    assert bp.cost(theta, X, Y, sizes, lambda_, w) == J


@pytest.mark.parametrize("sizes", [(4, 1), (4, 5, 1), (4, 5, 3), (4, 6, 5, 3), (4, 3)])
@pytest.mark.parametrize("lambda_", [0.0, 1.0, 3.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_cost_and_gradient_match_mlpclassifier(sizes, lambda_, weighted):
    """Binary (K = 1) and multilabel/one-hot targets: MLPClassifier's cost."""
    if weighted and not MLP_TAKES_SAMPLE_WEIGHT:
        pytest.skip(
            "MLPClassifier takes sample_weight from scikit-learn 1.7 on; this is "
            f"scikit-learn {sklearn.__version__}"
        )
    theta, X, Y, w = random_problem(sizes, weighted=weighted)
    if sizes[-1] > 1:  # multilabel: several labels per row
        Y = (np.random.RandomState(1).rand(*Y.shape) > 0.5).astype(float)
    J, grad = bp.cost_and_gradient(theta, X, Y, sizes, lambda_, w)
    J_mlp, grad_mlp = mlp_cost_and_gradient(bp.roll(theta, sizes), X, Y, lambda_, w)
    assert_allclose(J, J_mlp, rtol=1e-13)
    assert_allclose(grad, grad_mlp, rtol=1e-11, atol=1e-15)


def test_numerical_gradient_is_central_differences():
    f = lambda t: float(np.sum(t**3))  # noqa: E731
    t = np.array([1.0, -2.0, 0.5])
    # central differences of t^3: 3 t^2 + e^2 exactly (up to rounding)
    assert_allclose(bp.numerical_gradient(f, t, epsilon=1e-2), 3 * t**2 + 1e-4)
    assert_array_equal(t, [1.0, -2.0, 0.5])  # not modified


def test_cost_stays_finite_when_outputs_saturate():
    sizes = (4, 5, 3)
    theta, X, Y, _ = random_problem(sizes)
    theta = theta * 1e4  # every unit saturates: h is exactly 0 or 1
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        J, grad = bp.cost_and_gradient(theta, X, Y, sizes, lambda_=1.0)
        z = bp.feedforward(theta, X, sizes, return_z=True)
    assert np.isfinite(J) and np.all(np.isfinite(grad))
    h = bp.feedforward(theta, X, sizes)
    assert np.any(h == 1.0) and np.any(h == 0.0)  # log(h), log(1-h) would be -inf
    # -[y log h + (1-y) log(1-h)] = log(1 + e^z) - y z, here from logaddexp
    data = np.sum(np.logaddexp(0, z) - Y * z) / X.shape[0]
    reg = (
        1.0
        / (2 * X.shape[0])
        * sum(np.sum(T[:, 1:] ** 2) for T in bp.roll(theta, sizes))
    )
    assert_allclose(J, data + reg, rtol=1e-12)


def test_cost_is_exact_for_moderate_saturation():
    # z = 30: 1 - h is 9.4e-14 and the textbook log(1 - h) loses digits; the
    # stable form still gives log(1 + e^30) - 0 * 30 to full precision.
    theta = np.array([30.0, 0.0])  # one input, no hidden layer: z = 30
    J = bp.cost(theta, np.zeros((1, 1)), [[0.0]], (1, 1))
    assert_allclose(J, np.logaddexp(0, 30.0), rtol=1e-15)


# --------------------------------------------------------------------------
# Shapes, unroll/roll, initialization, feedforward
# --------------------------------------------------------------------------


def test_roll_returns_views_and_round_trips():
    sizes = (3, 4, 2)
    theta = np.arange(sum(r * c for r, c in bp.layer_shapes(sizes)), dtype=float)
    thetas = bp.roll(theta, sizes)
    assert [T.shape for T in thetas] == [(4, 4), (2, 5)]
    for T in thetas:
        assert np.shares_memory(T, theta)
        assert T.base is not None
    thetas[1][0, 0] = -1.0
    assert theta[16] == -1.0
    assert_array_equal(bp.unroll(thetas), theta)


@settings(max_examples=50, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    seed=st.integers(0, 2**31 - 1),
)
def test_unroll_roll_round_trip_property(sizes, seed):
    n = sum(r * c for r, c in bp.layer_shapes(sizes))
    theta = np.random.RandomState(seed).randn(n)
    thetas = bp.roll(theta, sizes)
    assert all(np.shares_memory(T, theta) for T in thetas)
    assert_array_equal(bp.unroll(thetas), theta)
    assert_array_equal(bp.roll(bp.unroll(thetas), sizes)[-1], thetas[-1])


@settings(max_examples=40, deadline=None)
@given(
    hidden=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    n_in=st.integers(1, 4),
    K=st.integers(1, 3),
    m=st.integers(1, 8),
    lambda_=st.floats(0, 10),
    weighted=st.booleans(),
    container=st.sampled_from([np.asarray, sp.csr_matrix, sp.csc_array]),
    seed=st.integers(0, 2**31 - 1),
)
def test_gradient_matches_numerical_gradient_on_random_networks(
    hidden, n_in, K, m, lambda_, weighted, container, seed
):
    sizes = (n_in, *hidden, K)
    rng = np.random.RandomState(seed)
    X = container(rng.randn(m, n_in) * (rng.rand(m, n_in) > 0.3))
    Y = (rng.rand(m, K) > 0.5).astype(float)
    w = rng.rand(m) * 3 + 0.01 if weighted else None
    theta = bp.init_weights(sizes, random_state=rng)
    J, grad = bp.cost_and_gradient(theta, X, Y, sizes, lambda_, w)

    def f(t):
        return bp.cost(t, X, Y, sizes, lambda_, w)

    def g(t):
        return bp.cost_and_gradient(t, X, Y, sizes, lambda_, w)[1]

    numgrad = bp.numerical_gradient(f, theta)
    assert np.isfinite(J)
    assert_allclose(grad, numgrad, rtol=1e-6, atol=1e-8)
    # scipy's own check, forward differences: error of order sqrt(eps)
    assert check_grad(f, g, theta) < 1e-6 * max(1.0, np.linalg.norm(grad))


def test_roll_rejects_wrong_length():
    with pytest.raises(ValueError, match="theta must be a 1-D vector of 9"):
        bp.roll(np.zeros(8), (2, 2, 1))
    with pytest.raises(ValueError, match="layer_sizes"):
        bp.layer_shapes((3,))
    with pytest.raises(ValueError, match="layer_sizes"):
        bp.layer_shapes((3, 0, 2))


def test_init_weights_ranges_and_reproducibility():
    sizes = (400, 25, 10)
    theta = bp.init_weights(sizes, random_state=0)
    for (s_next, cols), T in zip(bp.layer_shapes(sizes), bp.roll(theta, sizes)):
        eps = np.sqrt(6) / np.sqrt((cols - 1) + s_next)
        assert np.abs(T).max() <= eps
        assert np.abs(T).max() > 0.95 * eps  # the whole interval is used
        assert abs(T.mean()) < 0.1 * eps
    assert_array_equal(theta, bp.init_weights(sizes, random_state=0))
    assert not np.array_equal(theta, bp.init_weights(sizes, random_state=1))
    fixed = bp.init_weights(sizes, epsilon_init=0.12, random_state=0)
    assert 0.11 < np.abs(fixed).max() <= 0.12
    gen = bp.init_weights(sizes, random_state=np.random.default_rng(0))
    assert gen.shape == theta.shape
    for bad in (0, -0.1, np.inf, np.nan, "0.1"):
        with pytest.raises(ValueError, match="epsilon_init"):
            bp.init_weights(sizes, epsilon_init=bad)
    for bad in ("0", 1.5, object()):
        with pytest.raises(ValueError, match="random_state must be None, an int"):
            bp.init_weights(sizes, random_state=bad)


def test_feedforward_matches_textbook():
    theta, X, Y, sizes = course_debug_network()
    Theta1, Theta2 = bp.roll(theta, sizes)
    a2 = bp.sigmoid(np.column_stack([np.ones(5), X]) @ Theta1.T)
    z3 = np.column_stack([np.ones(5), a2]) @ Theta2.T
    assert_allclose(bp.feedforward(theta, X, sizes), bp.sigmoid(z3), rtol=1e-15)
    assert_allclose(bp.feedforward(theta, X, sizes, return_z=True), z3, rtol=1e-14)


def test_bad_arguments_give_value_errors():
    theta, X, Y, sizes = course_debug_network()
    with pytest.raises(ValueError, match="features"):
        bp.cost(theta, X[:, :2], Y, sizes)
    with pytest.raises(ValueError, match="Y must have shape"):
        bp.cost(theta, X, Y[:, :2], sizes)
    with pytest.raises(ValueError, match="sample_weight"):
        bp.cost(theta, X, Y, sizes, sample_weight=np.zeros(5))
    with pytest.raises(ValueError, match="sample_weight"):
        bp.cost(theta, X, Y, sizes, sample_weight=-np.ones(5))
    with pytest.raises(ValueError, match="lambda_"):
        bp.cost(theta, X, Y, sizes, lambda_=-1.0)
    with pytest.raises(ValueError, match="no rows"):
        bp.cost(theta, X[:0], Y[:0], sizes)


# --------------------------------------------------------------------------
# The evidence terms: Gauss-Newton matrix, log evidence, gamma
# --------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(3, 4, 3, 2), (3, 4, 1), (2, 3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_gauss_newton_matrix_matches_finite_difference_jacobians(sizes, weighted):
    rng = np.random.RandomState(0)
    X = rng.randn(7, sizes[0])
    w = rng.rand(7) * 2 if weighted else None
    theta = bp.init_weights(sizes, epsilon_init=2.0, random_state=1)
    G = bp.gauss_newton_matrix(theta, X, sizes, sample_weight=w)
    expected = finite_difference_gauss_newton(theta, X, sizes, w)
    assert_allclose(G, expected, rtol=1e-6, atol=1e-8 * np.abs(expected).max())
    assert_array_equal(G, G.T)
    # Sparse and float32 X: the same matrix (float32 up to its rounding).
    G_sparse = bp.gauss_newton_matrix(theta, sp.csr_matrix(X), sizes, w)
    assert_allclose(G_sparse, G, rtol=1e-12, atol=1e-12 * np.abs(G).max())
    G32 = bp.gauss_newton_matrix(theta, X.astype(np.float32), sizes, w)
    assert G32.dtype == np.float64
    assert_allclose(G32, G, rtol=1e-5, atol=1e-6 * np.abs(G).max())


def test_gauss_newton_matrix_in_row_blocks_and_column_pieces(monkeypatch):
    # Rows read through an index, 3 at a time, the products abar abar^T cut
    # in pieces of one column j: the finite-difference matrix of those rows.
    from skbpnn import _evaluation

    sizes = (5, 4, 3, 2)
    rng = np.random.RandomState(2)
    X = rng.randn(11, sizes[0])
    w = rng.rand(11)
    rows = rng.permutation(11)[:8]
    theta = bp.init_weights(sizes, epsilon_init=2.0, random_state=3)
    shapes = [(t, s + 1) for s, t in zip(sizes[:-1], sizes[1:])]
    monkeypatch.setattr(_evaluation, "GAUSS_NEWTON_BLOCK_BYTES", 1)
    G = _evaluation.gauss_newton_matrix_blocked(
        theta, X, shapes, w[rows], 3, _evaluation.Workspace(), rows
    )
    expected = finite_difference_gauss_newton(theta, X[rows], sizes, w[rows])
    assert_allclose(G, expected, rtol=1e-6, atol=1e-8 * np.abs(expected).max())
    assert_array_equal(G, G.T)


def test_gauss_newton_matrix_is_the_logistic_regression_hessian():
    # No hidden layer: z = Theta [1; x] is linear in theta, so G is the exact
    # Hessian of E_D, X^T diag(h_k (1 - h_k)) X for each output k and zero
    # between outputs.
    rng = np.random.RandomState(1)
    m, n, K = 30, 4, 3
    X = rng.randn(m, n)
    theta = rng.randn((n + 1) * K)
    G = bp.gauss_newton_matrix(theta, X, (n, K))
    Xbar = np.hstack([np.ones((m, 1)), X])
    Theta = theta.reshape((K, n + 1), order="F")
    h = 1 / (1 + np.exp(-Xbar @ Theta.T))
    # theta index of Theta[k, j] is j K + k (column-major)
    for k in range(K):
        for k2 in range(K):
            block = G[k::K, k2::K]
            if k == k2:
                expected = Xbar.T @ (Xbar * (h[:, k] * (1 - h[:, k]))[:, None])
                assert_allclose(block, expected, rtol=1e-12)
            else:
                assert_array_equal(block, 0)
    # ... and the numerical Hessian of E_D = m J (lambda_ = 0).
    Y = (rng.rand(m, K) > 0.5).astype(float)

    def grad(t):
        return m * bp.cost_and_gradient(t, X, Y, (n, K))[1]

    H = np.stack(
        [
            bp.numerical_gradient(lambda t, i=i: grad(t)[i], theta)
            for i in range(theta.size)
        ]
    )
    assert_allclose(G, H, rtol=1e-6, atol=1e-6)


def test_weight_mask_marks_the_penalized_weights():
    sizes = (3, 4, 2)
    mask = bp.weight_mask(sizes)
    assert mask.sum() == 3 * 4 + 4 * 2 and mask.size == 4 * 4 + 2 * 5
    # The penalty lambda_/2 |w|^2 (times 1/m) of cost() is exactly over the mask.
    theta = np.random.RandomState(0).randn(mask.size)
    X, Y = np.zeros((1, 3)), np.zeros((1, 2))
    penalty = bp.cost(theta, X, Y, sizes, 2.0) - bp.cost(theta, X, Y, sizes, 0.0)
    assert_allclose(penalty, theta[mask] @ theta[mask])


@pytest.mark.parametrize("sizes", [(3, 4, 2), (3, 1)])
@pytest.mark.parametrize("bias_precision", [None, 0.5])
def test_log_evidence_matches_an_independent_dense_computation(sizes, bias_precision):
    # None: the default, BIAS_PRECISION, written here as the number 1e-4.
    rng = np.random.RandomState(2)
    m = 12
    X = rng.randn(m, sizes[0])
    Y = np.eye(max(sizes[-1], 2))[rng.randint(0, max(sizes[-1], 2), m)][:, : sizes[-1]]
    w = rng.randint(1, 4, m).astype(float)
    lambda_ = 0.7
    theta = bp.init_weights(sizes, epsilon_init=1.0, random_state=0)
    kwargs = {} if bias_precision is None else {"bias_precision": bias_precision}
    value, gamma = bp.log_evidence(
        theta, X, Y, sizes, lambda_, w, return_n_effective_params=True, **kwargs
    )
    # MacKay's formula written out, from finite-difference Jacobians.
    h = bp.feedforward(theta, X, sizes)
    E_D = -np.sum(w[:, None] * (Y * np.log(h) + (1 - Y) * np.log(1 - h)))
    mask = np.zeros(theta.size, bool)
    start = 0
    for s_next, cols in bp.layer_shapes(sizes):
        mask[start + s_next : start + s_next * cols] = True
        start += s_next * cols
    k, b = mask.sum(), 1e-4 if bias_precision is None else bias_precision
    A = finite_difference_gauss_newton(theta, X, sizes, w) + np.diag(
        np.where(mask, lambda_, b)
    )
    S = (
        E_D
        + lambda_ / 2 * theta[mask] @ theta[mask]
        + b / 2 * theta[~mask] @ theta[~mask]
    )
    sign, logdet = np.linalg.slogdet(A)
    expected = (
        -S + k / 2 * np.log(lambda_) + (theta.size - k) / 2 * np.log(b) - logdet / 2
    )
    assert sign == 1
    assert_allclose(value, expected, rtol=1e-9)
    assert_allclose(
        gamma, k - lambda_ * np.trace(np.linalg.solve(A, np.diag(mask))), rtol=1e-8
    )
    assert 0 < gamma < k
    # The evidence is computed in float64 whatever the dtypes of theta and X:
    # float32 ones give the value of their float64 copies.
    theta32, X32 = theta.astype(np.float32), X.astype(np.float32)
    assert bp.log_evidence(theta32, X32, Y, sizes, lambda_, w, **kwargs) == (
        bp.log_evidence(
            theta32.astype(float), X32.astype(float), Y, sizes, lambda_, w, **kwargs
        )
    )
    # lambda_ = 0 is an improper prior: -inf, not NaN, and no log(0) warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bp.log_evidence(theta, X, Y, sizes, 0.0) == -np.inf


def test_posterior_precision_and_gamma_in_float64_from_float32_input():
    # A float32 G (or A) is taken in float64: the priors' precisions, down
    # to 1e-4 beside entries of 1e5, are added in full (in float32 they
    # would vanish: its rounding of 1e5 is 8e-3), and tr(A^-1 M) is taken
    # from float64 arithmetic on the same numbers (float32's would be wrong
    # by about A's condition number times 1e-7).
    sizes = (3, 4, 2)
    mask = bp.weight_mask(sizes)
    J = 100 * np.random.RandomState(0).randn(10, mask.size)  # G of rank 10
    G32 = (J.T @ J).astype(np.float32)
    A = bp.posterior_precision(G32, sizes, 0.3)
    assert A.dtype == np.float64
    assert_allclose(
        np.diag(A) - np.diag(G32).astype(np.float64),
        np.where(mask, 0.3, 1e-4),
        rtol=0,
        atol=1e-10,
    )
    A32 = A.astype(np.float32)
    assert np.linalg.cond(A32.astype(np.float64)) > 1e6
    assert_allclose(
        bp.n_effective_params(A32, mask, 0.3),
        bp.n_effective_params(A32.astype(np.float64), mask, 0.3),
        rtol=1e-12,
    )


# The Gauss-Newton-vector product against a finite-difference Jacobian
# --------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(4, 5, 6, 1), (4, 5, 6, 3), (4, 3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_gauss_newton_product_equals_finite_difference_jacobians(sizes, weighted):
    theta, X, _, w = random_problem(sizes, m=9, weighted=weighted)
    G = finite_difference_gauss_newton(theta, X, sizes, w)
    V = np.random.RandomState(1).randn(theta.size, 3)
    GV = bp.gauss_newton_product(theta, X, sizes, V, sample_weight=w)
    assert GV.shape == V.shape and GV.dtype == np.float64
    assert_allclose(GV, G @ V, rtol=1e-7, atol=1e-8 * np.abs(G @ V).max())
    # One vector gives the same as a column of V.
    Gv = bp.gauss_newton_product(theta, X, sizes, V[:, 1], sample_weight=w)
    assert_allclose(Gv, GV[:, 1], rtol=1e-13, atol=1e-14)
    # One row is data too.
    w1 = None if w is None else w[:1]
    G1V = finite_difference_gauss_newton(theta, X[:1], sizes, w1) @ V
    GV = bp.gauss_newton_product(theta, X[:1], sizes, V, sample_weight=w1)
    assert_allclose(GV, G1V, rtol=1e-7, atol=1e-8 * np.abs(G1V).max())


def test_gauss_newton_product_is_the_hessian_without_hidden_layers():
    # With no hidden layer z^(L) is linear in theta: G is the exact Hessian
    # of E_D = m J(lambda_=0), here from finite differences of its gradient.
    sizes = (4, 3)
    theta, X, Y, w = random_problem(sizes, m=15, weighted=True)
    m_w = w.sum()
    v = np.random.RandomState(2).randn(theta.size)
    eps = 1e-6
    grad_plus = bp.cost_and_gradient(theta + eps * v, X, Y, sizes, 0.0, w)[1]
    grad_minus = bp.cost_and_gradient(theta - eps * v, X, Y, sizes, 0.0, w)[1]
    Hv = m_w * (grad_plus - grad_minus) / (2 * eps)
    Gv = bp.gauss_newton_product(theta, X, sizes, v, sample_weight=w)
    assert_allclose(Gv, Hv, rtol=1e-6, atol=1e-8 * np.abs(Hv).max())


@pytest.mark.parametrize("fmt", ["dense32", "csr", "csc"])
def test_gauss_newton_product_float32_and_sparse(fmt):
    sizes = (4, 5, 3)
    theta, X, _, w = random_problem(sizes, m=9, weighted=True)
    X[X < 0] = 0.0
    V = np.random.RandomState(1).randn(theta.size, 2)
    expected = finite_difference_gauss_newton(theta, X, sizes, w) @ V
    if fmt == "dense32":
        X_in, rtol = X.astype(np.float32), 1e-4
    else:
        X_in, rtol = sp.csr_matrix(X).asformat(fmt), 1e-7
    GV = bp.gauss_newton_product(theta, X_in, sizes, V, sample_weight=w)
    assert GV.dtype == np.float64
    assert_allclose(GV, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    if fmt == "dense32":
        # Computed in float32, as documented: its rounding (1e-7 relative)
        # shows against the float64 product of the same numbers, which
        # float64's alone (1e-16) would not.
        GV64 = bp.gauss_newton_product(
            theta, X_in.astype(np.float64), sizes, V, sample_weight=w
        )
        assert np.abs(GV - GV64).max() > 1e-10 * np.abs(GV64).max()


def test_gauss_newton_product_bad_arguments():
    theta, X, _, sizes = course_debug_network()
    with pytest.raises(ValueError, match="V must have shape"):
        bp.gauss_newton_product(theta, X, sizes, np.ones(theta.size + 1))
    with pytest.raises(ValueError, match="V must have shape"):
        bp.gauss_newton_product(theta, X, sizes, np.ones((theta.size, 2, 1)))
    with pytest.raises(ValueError, match=r"^V must be finite\.$"):
        bp.gauss_newton_product(theta, X, sizes, np.full(theta.size, np.nan))
    with pytest.raises(
        ValueError, match=r"^X has no rows: the Gauss-Newton matrix needs data\.$"
    ):
        bp.gauss_newton_product(theta, X[:0], sizes, np.ones(theta.size))
    with pytest.raises(ValueError, match="sample_weight"):
        bp.gauss_newton_product(
            theta, X, sizes, np.ones(theta.size), sample_weight=-np.ones(5)
        )
