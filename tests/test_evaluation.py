"""The evaluation's variants agree with the plain float64 dense one.

Chunked (row blocks), float32, sparse (CSR and CSC) and workspace-reusing
evaluations of ``cost_and_gradient`` must give the same cost and gradient as
one dense float64 evaluation of all rows at once, to a tolerance fit for their
precision. No timing here: speed is measured by ``benchmarks/run.py``.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from _reference import finite_difference_gauss_newton

from skbpnn import backprop
from skbpnn._data import MAX_BLOCK_BYTES, rows_per_block
from skbpnn._evaluation import (
    Workspace,
    gauss_newton_bias_block,
    gauss_newton_matrix_blocked,
    gauss_newton_product_blocked,
)

SIZES = [(6, 5, 3), (6, 5, 1), (6, 7, 4, 3), (6, 3)]


def problem(sizes, m=37, seed=0, weighted=False, sparse_density=None):
    rng = np.random.RandomState(seed)
    X = rng.randn(m, sizes[0])
    if sparse_density is not None:
        X[rng.rand(*X.shape) > sparse_density] = 0.0
    K = sizes[-1]
    if K == 1:
        Y = rng.randint(0, 2, size=(m, 1)).astype(float)
    else:
        Y = np.eye(K)[rng.randint(0, K, size=m)]
    # Weights large enough that some outputs saturate.
    theta = backprop.init_weights(sizes, epsilon_init=1.5, random_state=rng)
    w = rng.uniform(0.1, 3.0, size=m) if weighted else None
    return theta, X, Y, w


def reference(theta, X, Y, sizes, lambda_, w):
    return backprop.cost_and_gradient(theta, X, Y, sizes, lambda_, w)


def assert_close(J, grad, J_ref, grad_ref, rtol):
    assert abs(J - J_ref) <= rtol * abs(J_ref)
    scale = np.max(np.abs(grad_ref))
    np.testing.assert_allclose(grad, grad_ref, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("block_rows", [1, 2, 5, 16, 36, 37, 1000])
def test_chunked_equals_unchunked(sizes, weighted, block_rows):
    theta, X, Y, w = problem(sizes, weighted=weighted)
    J_ref, grad_ref = reference(theta, X, Y, sizes, 0.7, w)
    J, grad = backprop.cost_and_gradient(
        theta, X, Y, sizes, 0.7, w, block_rows=block_rows
    )
    assert grad.dtype == np.float64
    assert_close(J, grad, J_ref, grad_ref, 1e-12)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("block_rows", [None, 7])
def test_sparse_equals_dense(sizes, weighted, fmt, block_rows, monkeypatch):
    theta, X, Y, w = problem(sizes, weighted=weighted, sparse_density=0.3)
    J_ref, grad_ref = reference(theta, X, Y, sizes, 0.7, w)
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    # The sparse input is used as it is, never densified: make densifying fail.
    for cls in type(Xs).__mro__:
        for name in ("toarray", "todense", "__array__"):
            if name in vars(cls):
                monkeypatch.setattr(cls, name, _refuse_densifying)
    J, grad = backprop.cost_and_gradient(
        theta, Xs, Y, sizes, 0.7, w, block_rows=block_rows
    )
    assert_close(J, grad, J_ref, grad_ref, 1e-12)


def _refuse_densifying(self, *args, **kwargs):
    raise AssertionError("the sparse input was densified")


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("block_rows", [None, 5])
@pytest.mark.parametrize("sparse", [False, True])
def test_float32_close_to_float64(sizes, weighted, block_rows, sparse):
    theta, X, Y, w = problem(sizes, weighted=weighted, sparse_density=0.5)
    J_ref, grad_ref = reference(theta, X, Y, sizes, 0.7, w)
    X32 = X.astype(np.float32)
    if sparse:
        X32 = sp.csr_matrix(X32)
    J, grad = backprop.cost_and_gradient(
        theta, X32, Y, sizes, 0.7, w, block_rows=block_rows
    )
    assert grad.dtype == np.float32  # computed in float32 throughout
    # X rounded to float32 already moves the result by ~1e-7 relative.
    assert_close(J, grad, J_ref, grad_ref, 1e-5)


def test_float32_stays_float32_in_every_array():
    sizes = (6, 5, 3)
    theta, X, Y, _ = problem(sizes)
    workspace = backprop.Workspace()
    backprop.cost_and_gradient(
        theta, X.astype(np.float32), Y, sizes, 1.0, workspace=workspace
    )
    assert workspace._arrays
    assert {a.dtype for a in workspace._arrays.values()} == {np.dtype(np.float32)}


def test_float32_sigmoid_saturates_without_warnings():
    sizes = (2, 3, 1)
    X = np.array([[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0]], dtype=np.float32)
    theta = backprop.init_weights(sizes, epsilon_init=1.0, random_state=0)
    with np.errstate(all="raise"):
        J, grad = backprop.cost_and_gradient(theta, X, [1, 0, 1], sizes)
    assert np.isfinite(J) and np.all(np.isfinite(grad))
    h = backprop.feedforward(theta, X, sizes)
    assert np.all((h >= 0) & (h <= 1))


def test_workspace_reused_across_shapes_and_dtypes():
    """One workspace through a sequence of calls of different shapes, dtypes,
    block sizes and input formats gives the results of a fresh workspace."""
    workspace = backprop.Workspace()
    calls = []
    for seed, (sizes, m, dtype, block_rows, sparse, weighted) in enumerate(
        [
            ((6, 5, 3), 37, np.float64, None, False, False),
            ((6, 5, 3), 12, np.float64, None, False, True),  # fewer rows
            ((6, 5, 3), 37, np.float32, 10, False, False),  # another dtype
            ((6, 7, 4, 3), 50, np.float64, 9, True, False),  # other layers
            ((6, 5, 1), 80, np.float64, None, False, True),  # more rows
            ((6, 5, 3), 37, np.float64, None, False, False),  # the first again
            ((6, 5, 3), 37, np.float32, 10, True, True),
        ]
    ):
        theta, X, Y, w = problem(sizes, m=m, seed=seed, weighted=weighted)
        X = X.astype(dtype)
        if sparse:
            X = sp.csr_matrix(X)
        calls.append((theta, X, Y, sizes, 0.5, w, block_rows))
    for theta, X, Y, sizes, lambda_, w, block_rows in calls + calls[::-1]:
        J, grad = backprop.cost_and_gradient(
            theta, X, Y, sizes, lambda_, w, block_rows=block_rows, workspace=workspace
        )
        J_fresh, grad_fresh = backprop.cost_and_gradient(
            theta, X, Y, sizes, lambda_, w, block_rows=block_rows
        )
        assert J == J_fresh
        np.testing.assert_array_equal(grad, grad_fresh)
        # The returned gradient is the caller's, not a workspace array.
        assert not any(np.shares_memory(grad, a) for a in workspace._arrays.values())


def test_repeated_evaluation_with_workspace_is_identical():
    sizes = (6, 7, 4, 3)
    theta, X, Y, w = problem(sizes, weighted=True)
    workspace = backprop.Workspace()
    first = backprop.cost_and_gradient(
        theta, X, Y, sizes, 1.0, w, block_rows=8, workspace=workspace
    )
    for _ in range(3):
        J, grad = backprop.cost_and_gradient(
            theta, X, Y, sizes, 1.0, w, block_rows=8, workspace=workspace
        )
        assert J == first[0]
        np.testing.assert_array_equal(grad, first[1])


def test_rows_per_block_follows_working_memory():
    import sklearn

    sizes = (784, 256, 10)
    with sklearn.config_context(working_memory=1):
        small = rows_per_block(sizes, np.float64)
    with sklearn.config_context(working_memory=16):
        larger = rows_per_block(sizes, np.float64)
    assert 1 <= small < larger
    # Per row: activations and delta per hidden unit, three arrays per output.
    assert larger == 16 * 2**20 // ((2 * 256 + 3 * 10) * 8)
    assert (
        rows_per_block(sizes, np.float32) >= 2 * rows_per_block(sizes, np.float64) - 1
    )
    # However much working memory, a block holds at most MAX_BLOCK_BYTES.

    with sklearn.config_context(working_memory=1 << 20):
        huge = rows_per_block(sizes, np.float64)
    assert huge * (2 * 256 + 3 * 10) * 8 <= MAX_BLOCK_BYTES
    with sklearn.config_context(working_memory=0.0001):
        assert rows_per_block(sizes, np.float64) == 1


# --------------------------------------------------------------------------
# The blocked Gauss-Newton-vector product
# --------------------------------------------------------------------------


def blocked_product(
    theta, X, sizes, w, block_rows, V, rows=None, workspace=None, **kwargs
):
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    return gauss_newton_product_blocked(
        theta.astype(dtype),
        X,
        backprop.layer_shapes(sizes),
        None if w is None else w.astype(dtype),
        block_rows,
        Workspace() if workspace is None else workspace,
        V,
        rows,
        **kwargs,
    )


GN_SIZES = [(6, 5, 4, 1), (6, 5, 4, 3), (6, 3)]


@pytest.mark.parametrize("sizes", GN_SIZES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("block_rows", [1, 5, 1000])
@pytest.mark.parametrize("r", [None, 1, 4])
def test_gauss_newton_blocked_equals_finite_differences(sizes, weighted, block_rows, r):
    theta, X, _, w = problem(sizes, m=13, weighted=weighted)
    G = finite_difference_gauss_newton(theta, X, sizes, w)
    rng = np.random.RandomState(1)
    V = rng.randn(theta.size) if r is None else rng.randn(theta.size, r)
    GV = blocked_product(theta, X, sizes, w, block_rows, V)
    assert GV.shape == V.shape and GV.dtype == np.float64
    expected = G @ V
    np.testing.assert_allclose(
        GV, expected, rtol=1e-7, atol=1e-8 * np.abs(expected).max()
    )


@pytest.mark.parametrize("sizes", GN_SIZES)
@pytest.mark.parametrize("kind", ["float32", "csr", "float32-csr"])
@pytest.mark.parametrize("gathered", [False, True])
def test_gauss_newton_blocked_float32_sparse_and_rows(sizes, kind, gathered):
    theta, X, _, w = problem(sizes, m=13, weighted=True, sparse_density=0.4)
    V = np.random.RandomState(1).randn(theta.size, 3)
    # rows: a permutation with repeats, as the fit's index of merged rows.
    rows = np.random.RandomState(2).randint(0, 13, size=17) if gathered else None
    X_ref = X if rows is None else X[rows]
    w_ref = w if rows is None else np.random.RandomState(3).uniform(0.1, 3, 17)
    expected = finite_difference_gauss_newton(theta, X_ref, sizes, w_ref) @ V
    X_in = X.astype(np.float32) if kind.startswith("float32") else X
    if kind.endswith("csr"):
        X_in = sp.csr_matrix(X_in)
    GV = blocked_product(theta, X_in, sizes, w_ref, 4, V, rows)
    assert GV.dtype == np.float64
    rtol = 1e-4 if kind.startswith("float32") else 1e-7
    np.testing.assert_allclose(
        GV, expected, rtol=rtol, atol=rtol * np.abs(expected).max()
    )


def test_gauss_newton_blocked_shares_a_workspace_with_the_cost():
    # Alternating with cost evaluations in one workspace changes nothing.
    sizes = (6, 5, 4, 3)
    theta, X, Y, w = problem(sizes, weighted=True)
    V = np.random.RandomState(1).randn(theta.size, 2)
    workspace = Workspace()
    first = blocked_product(theta, X, sizes, w, 7, V, workspace=workspace)
    J_ref, grad_ref = reference(theta, X, Y, sizes, 0.7, w)
    J, grad = backprop.cost_and_gradient(
        theta, X, Y, sizes, 0.7, w, block_rows=5, workspace=workspace
    )
    assert_close(J, grad, J_ref, grad_ref, 1e-12)
    again = blocked_product(theta, X, sizes, w, 7, V, workspace=workspace)
    np.testing.assert_array_equal(again, first)


def test_gauss_newton_blocked_on_bias_directions():
    # V zero on every weight (its products are skipped) or on one layer's.
    sizes = (6, 5, 4, 3)
    theta, X, _, w = problem(sizes, m=13, weighted=True)
    G = finite_difference_gauss_newton(theta, X, sizes, w)
    shapes = backprop.layer_shapes(sizes)
    V = np.random.RandomState(1).randn(theta.size, 2)
    start = 0
    for s_next, cols in shapes:
        V[start + s_next : start + s_next * cols] = 0.0  # biases only
        start += s_next * cols
    V_half = np.random.RandomState(2).randn(theta.size, 2)
    V_half[: shapes[0][0] * shapes[0][1]] = 0.0  # nothing on the first layer
    for V_ in (V, V_half):
        expected = G @ V_
        np.testing.assert_allclose(
            blocked_product(theta, X, sizes, w, 5, V_),
            expected,
            rtol=1e-7,
            atol=1e-8 * np.abs(expected).max(),
        )


@pytest.mark.parametrize("sizes", GN_SIZES)
@pytest.mark.parametrize("kind", ["float64", "float32-csr-gathered"])
@pytest.mark.parametrize("r", [None, 3])
def test_gauss_newton_blocked_into_out_and_on_bias_rows(sizes, kind, r):
    # out: G V added to what out holds, in out itself; biases_only: the bias
    # rows of G V, layer by layer, as the finite-difference G gives them.
    theta, X, _, w = problem(sizes, m=13, weighted=True, sparse_density=0.4)
    rows = None
    if kind != "float64":
        X = sp.csr_matrix(X.astype(np.float32))
        rows = np.random.RandomState(2).randint(0, 13, size=17)
        w = np.random.RandomState(3).uniform(0.1, 3, 17)
    rng = np.random.RandomState(1)
    V = rng.randn(theta.size) if r is None else rng.randn(theta.size, r)
    X_ref = X.toarray().astype(np.float64) if sp.issparse(X) else X
    X_ref = X_ref if rows is None else X_ref[rows]
    expected = finite_difference_gauss_newton(theta, X_ref, sizes, w) @ V
    rtol = 1e-7 if kind == "float64" else 1e-4
    atol = rtol * np.abs(expected).max()

    held = rng.randn(*V.shape)
    out = held.copy()
    returned = blocked_product(theta, X, sizes, w, 4, V, rows, out=out)
    assert returned.base is out or returned is out
    np.testing.assert_allclose(out - held, expected, rtol=rtol, atol=atol)

    biases = ~backprop.weight_mask(sizes)
    GV_b = blocked_product(theta, X, sizes, w, 4, V, rows, biases_only=True)
    assert GV_b.shape == (biases.sum(), *V.shape[1:]) and GV_b.dtype == np.float64
    np.testing.assert_allclose(GV_b, expected[biases], rtol=rtol, atol=atol)


# --------------------------------------------------------------------------
# The Gauss-Newton matrix's bias block, formed directly
# --------------------------------------------------------------------------

# Two hidden layers of different widths (so that a block of layers (l, l')
# and its transpose differ in shape), one, and none; K = 1 and K = 3.
BIAS_SIZES = [(6, 5, 4, 3), (6, 5, 4, 1), (6, 5, 3), (6, 3)]


def bias_problem(sizes, kind, gathered):
    """theta, the input X (of ``kind``), rows, their weights, and the float64
    rows of X those stand for (what the references read)."""
    theta, X, _, w = problem(sizes, m=13, weighted=True, sparse_density=0.4)
    rows = None
    if gathered:  # a permutation with repeats, as the fit's index of merged rows
        rows = np.random.RandomState(2).randint(0, 13, size=17)
        w = np.random.RandomState(3).uniform(0.1, 3, 17)
    X_in = X.astype(np.float32) if kind.startswith("float32") else X
    X_ref = X_in.astype(np.float64)
    if kind.endswith("csr"):
        X_in = sp.csr_matrix(X_in)
    return theta, X_in, rows, w, X_ref if rows is None else X_ref[rows]


def bias_rows_of(G, sizes):
    biases = ~backprop.weight_mask(sizes)
    return G[np.ix_(biases, biases)]


@pytest.mark.parametrize("sizes", BIAS_SIZES)
@pytest.mark.parametrize("kind", ["float64", "float32", "csr", "float32-csr"])
@pytest.mark.parametrize("gathered", [False, True])
@pytest.mark.parametrize("block_rows", [1, 4, 1000])
def test_gauss_newton_bias_block_is_the_dense_matrixs(
    sizes, kind, gathered, block_rows
):
    # The bias rows and columns of the dense G of the same rows (X read in
    # float64, as G is), whatever X's format and the blocks' size.
    theta, X, rows, w, X_ref = bias_problem(sizes, kind, gathered)
    shapes = backprop.layer_shapes(sizes)
    G_bb = gauss_newton_bias_block(theta, X, shapes, w, block_rows, rows)
    G = gauss_newton_matrix_blocked(theta, X_ref, shapes, w, 1000, Workspace())
    expected = bias_rows_of(G, sizes)
    assert G_bb.dtype == np.float64 and G_bb.shape == expected.shape
    np.testing.assert_allclose(
        G_bb, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max()
    )
    np.testing.assert_array_equal(G_bb, G_bb.T)


@pytest.mark.parametrize("sizes", BIAS_SIZES)
@pytest.mark.parametrize("gathered", [False, True])
def test_gauss_newton_bias_block_is_the_products_on_unit_vectors(sizes, gathered):
    # What logdet_and_trace formed before: the biases_only rows of G times the
    # unit vectors of the biases, by the R-operator's passes (a computation
    # that shares nothing with the direct block's), and by finite differences.
    theta, X, rows, w, X_ref = bias_problem(sizes, "float64", gathered)
    biases = np.flatnonzero(~backprop.weight_mask(sizes))
    E = np.zeros((theta.size, biases.size))
    E[biases, np.arange(biases.size)] = 1.0
    by_products = blocked_product(theta, X, sizes, w, 4, E, rows, biases_only=True)
    G_bb = gauss_newton_bias_block(theta, X, backprop.layer_shapes(sizes), w, 4, rows)
    scale = np.abs(by_products).max()
    np.testing.assert_allclose(G_bb, by_products, rtol=1e-12, atol=1e-12 * scale)
    by_differences = bias_rows_of(
        finite_difference_gauss_newton(theta, X_ref, sizes, w), sizes
    )
    np.testing.assert_allclose(G_bb, by_differences, rtol=1e-7, atol=1e-8 * scale)


def test_gauss_newton_bias_block_unweighted_and_of_no_rows():
    # w None counts every row once; no rows (an empty Dask chunk) give zeros.
    sizes = (6, 5, 4, 3)
    theta, X, _, _ = problem(sizes, m=13)
    shapes = backprop.layer_shapes(sizes)
    np.testing.assert_array_equal(
        gauss_newton_bias_block(theta, X, shapes, None, 4),
        gauss_newton_bias_block(theta, X, shapes, np.ones(13), 4),
    )
    empty = gauss_newton_bias_block(theta, X[:0], shapes, None, 4)
    np.testing.assert_array_equal(empty, np.zeros((12, 12)))
