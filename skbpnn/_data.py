"""The training rows: what kind of input X is, row blocks, repeated rows.

- :func:`is_dask_collection` tells a dask input from an in-memory one
  without importing dask;
- :func:`rows_per_block` sizes an evaluation's row blocks from
  scikit-learn's ``working_memory``;
- :func:`merge_repeated_rows` finds repeated ``(x, y)`` rows by a vectorized
  fingerprint and returns the distinct rows as an index into ``X`` with
  their summed weights, so that weighted and repeated data give bitwise-equal
  fits while ``X`` itself is never copied;
- :class:`TrainingData` is what a fit path (in memory, or Dask) hands the
  estimator: the encoded targets and the cost function over ``theta``.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import get_config

from ._evaluation import is_sparse

# The most an evaluation's row block holds, whatever ``working_memory``
# allows. Past a few thousand rows the matrix products already run at full
# speed and the elementwise passes are bound by memory bandwidth at any block
# size, so larger blocks buy no speed and only cost memory: with scikit-learn's
# default 1 GiB, a 100000-row float32 fit of a 784-256-10 network would hold
# its whole activations and deltas (about 200 MiB) instead of about 64 MiB.
MAX_BLOCK_BYTES = 64 * 2**20


def is_dask_collection(obj):
    """Whether ``obj`` is a dask array, DataFrame or Series; never imports dask."""
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr")


def rows_per_block(layer_sizes, dtype, gathered_columns=0):
    """Rows whose activations, deltas and scratch fit in ``working_memory``.

    Per row an evaluation holds two numbers per hidden unit (its activations
    and its delta) and three per output unit (``z``, ``g(z)`` and one cost
    scratch), plus ``gathered_columns`` when the block's rows of ``Y`` are
    gathered through an index into a buffer of their own. The block is
    further capped at ``MAX_BLOCK_BYTES``.
    """
    units = 2 * sum(layer_sizes[1:-1]) + 3 * layer_sizes[-1] + gathered_columns
    row_bytes = units * np.dtype(dtype).itemsize
    budget = min(get_config()["working_memory"] * 2**20, MAX_BLOCK_BYTES)
    return max(1, int(budget // row_bytes))


@dataclass
class TrainingData:
    """What a fit path hands the estimator.

    ``binarizer`` is the fitted LabelBinarizer of ``y`` (its ``classes_`` and
    ``y_type_``), ``n_features`` and ``n_outputs`` the sizes of the input and
    output layers. ``make_fun(layer_sizes, lambda_)`` returns
    ``(fun, product_rows)``: ``fun(theta) -> (J, grad)`` with a float64
    ``grad`` for L-BFGS, and the number of rows in the largest matrix
    product of an evaluation run in this process, for the BLAS thread policy
    (None where the evaluations run elsewhere, on Dask workers; 0 where
    they run in another array library, so that the host's BLAS, left with
    L-BFGS-B's vector work, gets one thread). ``fitted_theta``, when given, maps
    L-BFGS's float64 numpy ``theta`` to the fitted ``theta_`` (the array API
    path keeps it in ``X``'s namespace and on its device).
    ``curvature(layer_sizes)``, where the path has it, returns an
    ``_evidence.DataCurvature``: ``E_D``, the Gauss-Newton matrix and its
    products over the same rows and weights as ``fun`` (for
    ``lambda_="evidence"``); None where the evidence is not available.
    """

    binarizer: object
    n_features: int
    n_outputs: int
    make_fun: Callable
    fitted_theta: Callable | None = None
    curvature: Callable | None = None


# The most the scratch of one block of fingerprinted rows holds: it stays in
# cache, and costs nothing next to a vector of length m.
_FINGERPRINT_BYTES = 2**20


def _fingerprint_rows(n_features):
    """Rows fingerprinted (or compared) at a time."""
    return max(64, _FINGERPRINT_BYTES // (8 * max(n_features, 1)))


def _multipliers(n, salt):
    """``n`` random odd 64-bit integers, the same in every process and run."""
    rng = np.random.RandomState(12345 + salt)
    return rng.randint(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def _words(A):
    """The bits of a float array as unsigned integers of the same size."""
    return A.view(np.uint64 if A.dtype.itemsize == 8 else np.uint32)


def _dense_fingerprints(block, R1, R2, scratch):
    """``sum_j R1_j bits(x_ij) + R2_j byteswap(bits(x_ij))`` mod 2**64, per row.

    Equal rows give equal fingerprints. The byte-swapped term is there
    because floats such as small integers or one-hot values differ only in
    their high bits: with those alone, a product with odd multipliers would
    collide for about one pair of such rows in 2**12.
    """
    words, buf = _words(block), scratch[: block.shape[0]]
    np.copyto(buf, words)  # as uint64: the products wrap modulo 2**64
    fingerprint = buf @ R1
    np.copyto(buf, words.byteswap())
    fingerprint += buf @ R2
    return fingerprint


def _sparse_fingerprints(block, R1, R2):
    """:func:`_dense_fingerprints` of a CSR block, from its non-zeros."""
    words = _words(block.data)
    terms = words.astype(np.uint64) * R1[block.indices]
    terms += words.byteswap().astype(np.uint64) * R2[block.indices]
    # Row sums as differences of a running sum: empty rows give 0.
    total = np.concatenate([[np.uint64(0)], np.cumsum(terms, dtype=np.uint64)])
    return total[block.indptr[1:]] - total[block.indptr[:-1]]


def _fingerprints(X, Y, rows):
    """A 64-bit fingerprint of each ``(x, y)`` row (of ``X[rows]`` if given).

    Computed over blocks of rows, so that its scratch stays in cache and a
    gathered block is all it copies.
    """
    m, n = (X.shape[0] if rows is None else rows.shape[0]), X.shape[1]
    R1, R2, R_Y = _multipliers(n, 0), _multipliers(n, 1), _multipliers(Y.shape[1], 2)
    step = _fingerprint_rows(n)
    scratch = np.empty((min(m, step), n), dtype=np.uint64)
    out = np.empty(m, dtype=np.uint64)
    for start in range(0, m, step):
        stop = min(start + step, m)
        index = slice(start, stop) if rows is None else rows[start:stop]
        if is_sparse(X):
            out[start:stop] = _sparse_fingerprints(X[index], R1, R2)
        else:
            out[start:stop] = _dense_fingerprints(X[index], R1, R2, scratch)
        # Y holds 0/1: its part is an integer combination of the multipliers.
        out[start:stop] += Y[index].astype(np.uint64) @ R_Y
    return out


def _row_bytes(X, Y, i):
    """Row ``i`` of ``X`` and ``Y`` as bytes: equal rows, equal bytes."""
    if is_sparse(X):
        p, q = X.indptr[i], X.indptr[i + 1]
        x = X.indices[p:q].tobytes() + b"|" + X.data[p:q].tobytes()
    else:
        x = X[i].tobytes()
    return x + b"|" + Y[i].tobytes()


def _equal_rows(X, Y, a, b):
    """Whether rows ``a[k]`` and ``b[k]`` of ``(X, Y)`` are bitwise equal, per k."""
    if is_sparse(X):
        return np.array(
            [_row_bytes(X, Y, i) == _row_bytes(X, Y, j) for i, j in zip(a, b)],
            dtype=bool,
        )
    equal = np.empty(a.shape[0], dtype=bool)
    step = _fingerprint_rows(X.shape[1])
    for start in range(0, a.shape[0], step):
        i, j = a[start : start + step], b[start : start + step]
        equal[start : start + i.shape[0]] = np.all(
            _words(X[i]) == _words(X[j]), axis=1
        ) & np.all(Y[i] == Y[j], axis=1)
    return equal


def merge_repeated_rows(X, Y, sample_weight):
    """The distinct ``(x, y)`` rows with their summed weights, in a fixed order.

    The cost is a weighted sum over rows, so a row repeated ``k`` times and
    one row of weight ``k`` are the same term, and a row of weight 0 is no
    term at all. Returns ``(rows, weights)``: the fit evaluates
    ``X[rows]``, ``Y[rows]`` with ``weights`` (``rows`` None: all of ``X``
    in its order; ``weights`` None: all ones).

    - Without repeated rows and with weights only 0 and 1 (the common case),
      ``rows`` is None or the rows of weight 1, in their order.
    - Otherwise the distinct rows are sorted by a fingerprint of their bytes
      (exactly compared within equal fingerprints), so that every
      representation of one data set, weighted or repeated, in any order,
      gives the very same rows and weights and the fits are bitwise equal,
      not only equal up to the optimizer's tolerance.

    Finding repeats costs one fingerprint per row (a product of each row's
    bits with random integers), a sort and a comparison of the rows whose
    fingerprints are equal; memory beyond ``X`` is a few vectors of length
    ``m``. ``X`` is dense or CSR with sorted indices and no duplicates.
    """
    m = X.shape[0]
    w = sample_weight
    keep = None if w is None else np.flatnonzero(w)
    if keep is not None and keep.size == m:
        keep = None
    fingerprints = _fingerprints(X, Y, keep)
    order = np.argsort(fingerprints)
    fingerprints = fingerprints[order]
    index = order if keep is None else keep[order]  # rows of X, sorted

    # merged[k]: sorted row k + 1 is the same (x, y) as sorted row k.
    candidates = np.flatnonzero(fingerprints[1:] == fingerprints[:-1])
    merged = np.zeros(max(index.size - 1, 0), dtype=bool)
    equal = _equal_rows(X, Y, index[candidates], index[candidates + 1])
    merged[candidates] = equal
    if not np.all(equal):
        _resolve_collisions(X, Y, index, fingerprints, merged, candidates[~equal])

    if not merged.any():
        weights = None if w is None else w[index]
        if weights is None or np.all(weights == 1):
            return keep, None
        return index, weights

    starts = np.flatnonzero(np.r_[True, ~merged])
    if w is None:
        weights = np.diff(np.r_[starts, index.size]).astype(Y.dtype)
    else:
        # Summed in an order fixed by the values (each group sorted), so that
        # the merged weight does not depend on the order of the rows.
        group = np.cumsum(np.r_[True, ~merged]) - 1
        values = w[index].astype(np.float64)
        values = values[np.lexsort((values, group))]
        weights = np.add.reduceat(values, starts).astype(Y.dtype)
    return index[starts], weights


def _resolve_collisions(X, Y, index, fingerprints, merged, unequal):
    """Sort and group by bytes the runs of equal fingerprints that collide.

    Two different rows with one fingerprint (rare: about one pair in 2**40
    for most data) make their run of equal fingerprints be sorted by the
    rows' bytes instead, with ``merged`` set from exact equality. ``index``
    and ``merged`` are updated in place.
    """
    for fp in np.unique(fingerprints[unequal]):
        lo = np.searchsorted(fingerprints, fp, side="left")
        hi = np.searchsorted(fingerprints, fp, side="right")
        keys = sorted((_row_bytes(X, Y, i), i) for i in index[lo:hi])
        index[lo:hi] = [i for _, i in keys]
        for t in range(lo, hi - 1):
            merged[t] = keys[t - lo][0] == keys[t - lo + 1][0]
