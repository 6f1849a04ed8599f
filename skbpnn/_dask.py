"""Dask inputs: out-of-core fit and block-wise prediction.

Imported by :class:`~skbpnn.BackpropClassifier` only when a dask collection
is passed to it, so importing skbpnn never imports dask. It uses the shared
modules (``_targets`` for every check of y and the weights, ``_data``,
``_evaluation``) and never the estimator's private methods: the estimator's
``fit`` calls :func:`training_data` and then runs the same steps as for
arrays (initial weights, L-BFGS, fitted attributes).

The fit follows dask-glm: scipy's L-BFGS-B runs on the client, and every cost
and gradient evaluation is a map over the row chunks of ``X`` on the workers,
each chunk computing the summed, unnormalized data term with the same
function as the in-memory path (``_evaluation.data_cost_and_gradient``),
followed by a tree sum of those ``1 + n_params`` numbers. The client then
adds the penalty and divides by ``sum(w)`` with ``_evaluation.regularize``,
as ``backprop.cost_and_gradient`` does. The data never leave the workers;
checks (finite values, labels, weights) are dask reductions too.

What differs from the in-memory fit, by design:

- repeated rows are not merged (that needs every row at once); the cost is
  the same sum, so only rounding differs;
- multilabel targets and sparse chunks are not supported;
- chunk sums are added in float64 and in a tree, so the cost differs from the
  in-memory one in the last bits and L-BFGS iterates may drift apart by
  rounding over many iterations.
"""

import copy
import warnings

import dask
import dask.array as da
import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    check_is_fitted,
)

from . import _targets, backprop
from ._data import TrainingData, rows_per_block
from ._evaluation import (
    Workspace,
    data_cost_and_gradient,
    gauss_newton_bias_block,
    gauss_newton_matrix_blocked,
    gauss_newton_product_blocked,
    gauss_newton_rows,
    n_biases,
    regularize,
)


def _to_array(obj, name, lengths):
    """A dask array from a dask array, DataFrame or Series."""
    if hasattr(obj, "to_dask_array"):  # dask DataFrame or Series
        # lengths=True computes the partition lengths (one pass over obj)
        return obj.to_dask_array(lengths=True if lengths else None)
    if isinstance(obj, da.Array):
        return obj
    raise TypeError(
        f"{name} is a {type(obj).__name__}; only dask arrays, DataFrames and "
        "Series are supported as dask inputs."
    )


def _check_X(est, X, reset, lengths):
    """Validate a dask ``X`` lazily; return a float dask array, one column chunk.

    Mirrors ``validate_data``: feature names and count, 2-D, float32 kept and
    everything else cast to float64. Finiteness is left to the caller (a
    lazy reduction for fit, the per-block in-memory checks for predict).
    """
    # scikit-learn reads feature names from pandas frames: a dask DataFrame's
    # empty pandas meta carries the same columns.
    _check_feature_names(est, getattr(X, "_meta", X), reset=reset)
    X = _to_array(X, "X", lengths)
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-dimensional dask array for X, got {X.ndim} dimensions."
        )
    if np.isnan(X.shape[1]):
        raise ValueError("X has an unknown number of columns.")
    if lengths and any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()  # one pass over X, as to_dask_array(lengths)
    if lengths and X.shape[0] == 0:
        raise ValueError(
            "Found array with 0 sample(s) while a minimum of 1 is required."
        )
    _check_n_features(est, X, reset=reset)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def _check_rows(v, name, X, dtype=None):
    """``y`` or ``sample_weight`` as a 1-D dask array chunked like X's rows."""
    if hasattr(v, "to_dask_array") or isinstance(v, da.Array):
        v = _to_array(v, name, lengths=True)
        if any(np.isnan(c) for c in v.chunks[0]):
            v = v.compute_chunk_sizes()
    else:
        v = np.asarray(v)
        if v.ndim == 0 and name == "sample_weight":
            v = np.full(X.shape[0], v)
        v = da.from_array(v, chunks=(X.chunks[0],) + v.shape[1:])
    if name == "y" and v.ndim == 2 and v.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=4,
        )
        v = v[:, 0]
    if v.ndim != 1:
        if name == "y":
            raise ValueError(
                "Dask input supports binary and multiclass targets (1-D y); "
                "fit multilabel targets in memory."
            )
        raise ValueError(f"{name} must be 1-D, got shape {v.shape}.")
    if v.shape[0] != X.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} samples but {name} has {v.shape[0]}: they must "
            "have the same number of rows."
        )
    if v.chunks[0] != X.chunks[0]:
        v = v.rechunk((X.chunks[0],))
    if dtype is not None and v.dtype != dtype:
        v = v.astype(dtype)
    return v


def _binarize(y, classes, dtype):
    """LabelBinarizer's 0/1 matrix for labels known to be in ``classes``."""
    if len(classes) == 2:
        Y = (y == classes[1])[:, None]
    else:
        Y = y[:, None] == classes[None, :]
    return Y.astype(dtype)


def _chunk_sums(X, y, w=None, *, theta, classes, shapes, block_rows):
    """One chunk's ``[sum_i w_i J_i, sum_i w_i dJ_i/dtheta]``, float64, (1, 1+P)."""
    dtype = X.dtype
    Y = _binarize(y[:, 0], classes, dtype)
    data_cost, grad = data_cost_and_gradient(
        theta.astype(dtype, copy=False),
        X,
        Y,
        shapes,
        None if w is None else w[:, 0],
        block_rows,
        Workspace(),
    )
    out = np.empty((1, grad.size + 1))
    out[0, 0] = data_cost
    out[0, 1:] = grad
    return out


def _chunk_gauss_newton(X, y, w=None, *, theta, classes, shapes, V, biases_only=False):
    """One chunk's Gauss-Newton matrix (``V`` None) or product ``G V`` (its bias
    rows alone with ``biases_only``), as (1, -1)."""
    del y, classes  # G depends on the outputs, not on the targets
    weights = None if w is None else w[:, 0]
    if V is None:
        G = gauss_newton_matrix_blocked(
            theta, X, shapes, weights, gauss_newton_rows(shapes), Workspace()
        )
        return G.reshape(1, -1)
    dtype = X.dtype
    GV = gauss_newton_product_blocked(
        theta.astype(dtype, copy=False),
        X,
        shapes,
        weights,
        rows_per_block([shapes[0][1] - 1] + [s for s, _ in shapes], dtype),
        Workspace(),
        V.astype(dtype, copy=False),
        biases_only=biases_only,
    )
    return np.asarray(GV, dtype=np.float64).reshape(1, -1)


def _chunk_gauss_newton_bias_block(X, y, w=None, *, theta, classes, shapes):
    """One chunk's bias block of the Gauss-Newton matrix, as (1, -1)."""
    del y, classes  # G depends on the outputs, not on the targets
    G_bb = gauss_newton_bias_block(
        theta,
        X,
        shapes,
        None if w is None else w[:, 0],
        gauss_newton_rows(shapes),
    )
    return G_bb.reshape(1, -1)


class DaskCurvature:
    """``E_D``, ``G`` and ``G``-products as maps over X's row chunks.

    What ``_evidence`` needs of the training data (as its ``DataCurvature``
    for arrays): each chunk's sum on the workers, the chunks' sums added.
    """

    def __init__(self, X, y2, w2, classes, shapes, sw_sum):
        self.X, self.y2, self.w2, self.classes = X, y2, w2, classes
        self.shapes, self.sw_sum = shapes, sw_sum
        self.n_params = sum(r * c for r, c in shapes)

    def _map(self, func, width, **kwargs):
        args = (self.X, self.y2) if self.w2 is None else (self.X, self.y2, self.w2)
        parts = da.map_blocks(
            func,
            *args,
            classes=self.classes,
            shapes=self.shapes,
            chunks=((1,) * self.X.numblocks[0], (width,)),
            dtype=np.float64,
            **kwargs,
        )
        return parts.sum(axis=0).compute()

    def data_cost_and_gradient(self, theta):
        """``E_D = sum_n w_n J_n`` (float) and its gradient (float64)."""
        total = self._map(
            _chunk_sums,
            1 + self.n_params,
            theta=np.asarray(theta, dtype=np.float64),
            block_rows=rows_per_block(
                [self.shapes[0][1] - 1] + [s for s, _ in self.shapes], self.X.dtype
            ),
        )
        return float(total[0]), total[1:]

    def gauss_newton(self, theta):
        """``G`` of shape ``(P, P)``, float64, summed over the chunks."""
        P = self.n_params
        G = self._map(
            _chunk_gauss_newton,
            P * P,
            theta=np.asarray(theta, dtype=np.float64),
            V=None,
        )
        return G.reshape(P, P)

    def gauss_newton_bias_block(self, theta):
        """``G``'s bias rows and columns, ``(n_biases, n_biases)``, float64,
        summed over the chunks."""
        n = n_biases(self.shapes)
        G_bb = self._map(
            _chunk_gauss_newton_bias_block,
            n * n,
            theta=np.asarray(theta, dtype=np.float64),
        )
        return G_bb.reshape(n, n)

    def gauss_newton_product(self, theta, V, *, out=None, biases_only=False):
        """``G @ V`` for ``V`` of shape ``(P,)`` or ``(P, r)``, float64; ``out``
        and ``biases_only`` as ``_evidence.DataCurvature``'s (the workers send
        only the bias rows back)."""
        V = np.asarray(V, dtype=np.float64)
        shape = V.shape
        if biases_only:
            shape = (n_biases(self.shapes), *V.shape[1:])
        GV = self._map(
            _chunk_gauss_newton,
            int(np.prod(shape)),
            theta=np.asarray(theta, dtype=np.float64),
            V=V,
            biases_only=biases_only,
        ).reshape(shape)
        if out is None or biases_only:
            return GV
        out += GV
        return out


def training_data(est, X, y, sample_weight, reset):
    """The fit's :class:`~skbpnn._data.TrainingData` for dask inputs.

    Checks X, y and the weights lazily (two passes over the data at most:
    labels and finiteness, then the weights' sum); the evaluations it
    returns are maps over X's row chunks. Parameters were validated by
    ``fit``'s ``_fit_context``; ``reset`` False (a warm start) checks the
    features against the previous fit's.
    """
    X = _check_X(est, X, reset=reset, lengths=True)
    dtype = X.dtype
    y = _check_rows(y, "y", X)
    sw = None
    if sample_weight is not None:
        sw = _check_rows(sample_weight, "sample_weight", X, dtype)

    # Pass 1 over the data: labels, their counts and the finiteness checks.
    checks = {"X_finite": da.isfinite(X).all()}
    if sw is not None:
        checks["sw_valid"] = (da.isfinite(sw) & (sw >= 0)).all()
    (classes, counts), checks = dask.compute(da.unique(y, return_counts=True), checks)
    if not checks["X_finite"]:
        raise ValueError("Input X contains NaN or infinity.")
    if sw is not None and not checks["sw_valid"]:
        raise ValueError(backprop._INVALID_SAMPLE_WEIGHT)
    check_classification_targets(classes)
    _targets.check_two_classes(classes)
    # Fitted on the distinct labels it has the same classes_ and y_type_ as
    # fitted on y.
    binarizer = LabelBinarizer().fit(classes)
    classes = binarizer.classes_

    w = sw
    if est.class_weight is not None:
        w = da.map_blocks(
            _targets.row_weights,
            y,
            sw,
            classes=classes,
            per_class=_targets.class_weights(est.class_weight, classes, counts),
            out_dtype=dtype,
            dtype=dtype,
            meta=np.empty((0,), dtype),
        )
    if w is None:
        sw_sum = float(X.shape[0])
    else:
        # Pass 2 (only with weights): their sum and the classes they keep.
        positive = w > 0
        sw_sum, present = dask.compute(
            w.sum(dtype=np.float64), [((y == c) & positive).any() for c in classes]
        )
        sw_sum = float(sw_sum)
        _targets.check_weight_sum(sw_sum)
        _targets.check_weighted_classes(classes[np.asarray(present, dtype=bool)])

    y2 = y[:, None]
    w2 = None if w is None else w[:, None]

    def make_fun(layer_sizes, lambda_):
        shapes = backprop.layer_shapes(layer_sizes)
        n_params = sum(r * c for r, c in shapes)
        block_rows = rows_per_block(layer_sizes, dtype)

        def fun(theta):
            args = (X, y2) if w2 is None else (X, y2, w2)
            parts = da.map_blocks(
                _chunk_sums,
                *args,
                theta=np.asarray(theta, dtype=np.float64),
                classes=classes,
                shapes=shapes,
                block_rows=block_rows,
                chunks=((1,) * X.numblocks[0], (1 + n_params,)),
                dtype=np.float64,
            )
            total = parts.sum(axis=0).compute()
            theta_d = theta.astype(dtype, copy=False)
            J, grad = regularize(
                theta_d,
                float(total[0]),
                total[1:].astype(dtype),
                shapes,
                lambda_,
                sw_sum,
            )
            return J, grad.astype(np.float64, copy=False)

        return fun, None  # the evaluations run on the workers

    def curvature(layer_sizes):
        shapes = backprop.layer_shapes(layer_sizes)
        return DaskCurvature(X, y2, w2, classes, shapes, sw_sum)

    K = 1 if len(classes) == 2 else len(classes)
    return TrainingData(binarizer, X.shape[1], K, make_fun, curvature=curvature)


def _block_method(X, *, est, method):
    return getattr(est, method)(X)


def predict(est, X, method):
    """``est.<method>(X)`` for a dask ``X``: a lazy dask array, block by block.

    Each row chunk goes through the in-memory method on a worker, with its
    checks (finite values), so nothing is computed until the result is.
    """
    check_is_fitted(est)
    X = _check_X(est, X, reset=False, lengths=False)
    # Feature names were checked above; the blocks are plain arrays.
    block_est = copy.copy(est)
    block_est.__dict__.pop("feature_names_in_", None)
    sample = getattr(block_est, method)(np.zeros((1, X.shape[1]), X.dtype))
    if sample.ndim == 1:
        chunks, drop_axis = (X.chunks[0],), 1
    else:
        chunks, drop_axis = (X.chunks[0], (sample.shape[1],)), []
    return X.map_blocks(
        _block_method,
        est=block_est,
        method=method,
        chunks=chunks,
        drop_axis=drop_axis,
        dtype=sample.dtype,
        meta=sample[:0],
    )
