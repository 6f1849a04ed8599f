"""Repeated rows, row blocks and the kind of input: skbpnn._data."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.base import clone

from skbpnn import BackpropClassifier, _data
from skbpnn._data import is_dask_collection, merge_repeated_rows
from skbpnn._evaluation import GATHER_BYTES


def problem(m=50, n=4, K=3, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randn(m, n), np.eye(K)[rng.randint(0, K, m)]


def distinct_rows(X, Y, rows, weights):
    """The merged rows as a dict (x bytes, y bytes) -> weight, to compare."""
    rows = np.arange(X.shape[0]) if rows is None else rows
    weights = np.ones(len(rows)) if weights is None else weights
    if sp.issparse(X):
        X = X.toarray()
    return {(X[i].tobytes(), Y[i].tobytes()): float(w) for i, w in zip(rows, weights)}


def test_no_repeats_and_unit_weights_read_x_as_it_is():
    X, Y = problem()
    assert merge_repeated_rows(X, Y, None) == (None, None)
    assert merge_repeated_rows(X, Y, np.ones(50)) == (None, None)


def test_zero_weights_alone_drop_their_rows_in_order():
    X, Y = problem()
    w = np.ones(50)
    w[[3, 7]] = 0
    rows, weights = merge_repeated_rows(X, Y, w)
    assert_array_equal(rows, np.delete(np.arange(50), [3, 7]))
    assert weights is None


@pytest.mark.parametrize("container", [np.asarray, sp.csr_matrix])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_repeats_are_merged_with_summed_weights(container, dtype):
    X, Y = problem()
    X, Y = X.astype(dtype), Y.astype(dtype)
    rng = np.random.RandomState(1)
    counts = rng.randint(1, 4, 50)
    order = rng.permutation(counts.sum())
    X_rep = np.repeat(X, counts, axis=0)[order]
    Y_rep = np.repeat(Y, counts, axis=0)[order]
    rows, weights = merge_repeated_rows(container(X_rep), Y_rep, None)
    assert len(rows) == 50 and weights.dtype == dtype
    assert distinct_rows(X_rep, Y_rep, rows, weights) == distinct_rows(
        X, Y, None, counts
    )
    # The same data as weights, in another order: the very same rows.
    shuffle = rng.permutation(50)
    rows_w, weights_w = merge_repeated_rows(
        container(X[shuffle]), Y[shuffle], counts[shuffle].astype(dtype)
    )
    assert_array_equal(X[shuffle][rows_w], X_rep[rows])
    assert_array_equal(weights_w, weights)


def test_equal_x_with_different_y_are_not_merged():
    X, Y = problem()
    X2 = np.r_[X, X[:5]]
    Y2 = np.r_[Y, np.roll(Y[:5], 1, axis=1)]  # same x, another class
    assert merge_repeated_rows(X2, Y2, None) == (None, None)


@pytest.mark.parametrize("container", [np.asarray, sp.csr_matrix])
def test_one_hot_and_integer_rows_are_told_apart(container):
    """Floats that differ only in their high bits (small integers, one-hot
    codes) are the case a plain product of the bits with odd numbers gets
    wrong: no two distinct rows here may share a fingerprint."""
    rng = np.random.RandomState(0)
    one_hot = np.eye(64)[rng.randint(0, 64, (3000, 3))].reshape(3000, -1)
    counts = rng.randint(0, 17, (3000, 20)).astype(float)
    for X in (np.unique(one_hot, axis=0), np.unique(counts, axis=0)):
        Y = np.ones((X.shape[0], 1))
        fingerprints = _data._fingerprints(container(X), Y, None)
        assert np.unique(fingerprints).size == X.shape[0]


@pytest.mark.parametrize("container", [np.asarray, sp.csr_matrix])
def test_colliding_fingerprints_are_compared_exactly(container, monkeypatch):
    X, Y = problem()
    X_rep, Y_rep = np.r_[X, X[:5]], np.r_[Y, Y[:5]]
    expected = merge_repeated_rows(container(X_rep), Y_rep, None)
    # Every row colliding: the rows are compared, sorted by their bytes.
    monkeypatch.setattr(
        _data, "_fingerprints", lambda X, Y, rows: np.zeros(len(Y), np.uint64)
    )
    assert merge_repeated_rows(container(X), Y, None) == (None, None)
    rows, weights = merge_repeated_rows(container(X_rep), Y_rep, None)
    assert distinct_rows(X_rep, Y_rep, rows, weights) == distinct_rows(
        X_rep, Y_rep, *expected
    )
    assert sorted(weights) == [1.0] * 45 + [2.0] * 5


def test_fit_with_weights_copies_no_x(quiet_fit):
    """A class-weighted fit takes no more memory than an unweighted one, but
    a few vectors of length m and one fixed-size buffer: X is read through an
    index, a piece at a time, never copied."""
    rng = np.random.RandomState(0)
    m, n = 40000, 50
    X = rng.randn(m, n)
    y = (X[:, 0] > 0.5).astype(int) + (X[:, 1] > 0)
    est = BackpropClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0)

    def peak(**params):
        tracemalloc.start()
        try:
            quiet_fit(clone(est).set_params(**params), X, y)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    unweighted, weighted = peak(), peak(class_weight="balanced")
    vector = m * 8
    limit = 8 * vector + GATHER_BYTES
    assert weighted - unweighted < limit, (weighted, unweighted, X.nbytes)


def test_is_dask_collection_without_importing_dask():
    assert not is_dask_collection(np.ones(3))
    assert not is_dask_collection(sp.csr_matrix(np.ones((2, 2))))
    assert not is_dask_collection([1, 2])
