"""BackpropClassifier: the seed's network as a scikit-learn estimator."""

import contextlib
import math
import time
import warnings
import zlib
from numbers import Integral, Real

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from scipy.special import expit, log_expit, logsumexp
from sklearn import get_config
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from threadpoolctl import ThreadpoolController  # a requirement of scikit-learn

from . import backprop


class TrainingInterruptedWarning(UserWarning):
    """Training was stopped by Ctrl-C; the model keeps the last iterate."""


# The most an evaluation's row block holds, whatever ``working_memory``
# allows. Past a few thousand rows the matrix products already run at full
# speed and the elementwise passes are bound by memory bandwidth at any block
# size, so larger blocks buy no speed and only cost memory: with scikit-learn's
# default 1 GiB, a 100000-row float32 fit of a 784-256-10 network would hold
# its whole activations and deltas (about 200 MiB) instead of about 64 MiB.
_MAX_BLOCK_BYTES = 64 * 2**20


# Below this many multiply-adds, no product of an evaluation gains from a
# second BLAS thread; on a busy machine the threads' hand-offs make such
# products several times slower. (digits, 64-25-10: 2.9e6, one thread;
# 20000 x 784-256-10: 4e9, all threads.)
_SMALL_PRODUCT = 2e7
_controllers = {}


def _blas_threads_for_fit(layer_sizes, rows):
    """BLAS thread limits for the duration of a fit.

    Two causes, both against oversubscription, as scikit-learn takes care in
    KMeans; the user's settings are restored on exit:

    - a network whose products are all small gets one BLAS thread: a second
      thread does not pay for them;
    - otherwise, BLAS libraries other than numpy's (scipy wheels ship their
      own OpenBLAS, which L-BFGS-B uses for its vector work) get one thread.
      Their idle threads keep spinning after each L-BFGS-B step and take
      the cores from numpy's threads during the next evaluation's products:
      measured 0.038 s per float32 evaluation (10000 x 784-128-10) alone,
      0.076 s right after L-BFGS-B's calls, 0.045 s with scipy's BLAS held
      to one thread. Where numpy and scipy share one library, nothing is
      limited.
    """
    if "all" not in _controllers:
        controller = ThreadpoolController()
        blas = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
        others = [lib.filepath for lib in blas if "numpy" not in lib.filepath.lower()]
        _controllers["all"] = controller
        _controllers["others"] = (
            controller.select(filepath=others) if 0 < len(others) < len(blas) else None
        )
    largest = rows * max(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
    if largest < _SMALL_PRODUCT:
        return _controllers["all"].limit(limits=1, user_api="blas")
    if _controllers["others"] is not None:
        return _controllers["others"].limit(limits=1)
    return contextlib.nullcontext()


def _rows_per_block(layer_sizes, dtype):
    """Rows whose activations, deltas and scratch fit in ``working_memory``.

    Per row an evaluation holds two numbers per hidden unit (its activations
    and its delta) and three per output unit (``z``, ``g(z)`` and one cost
    scratch). The block is further capped at ``_MAX_BLOCK_BYTES``.
    """
    units = 2 * sum(layer_sizes[1:-1]) + 3 * layer_sizes[-1]
    row_bytes = units * np.dtype(dtype).itemsize
    budget = min(get_config()["working_memory"] * 2**20, _MAX_BLOCK_BYTES)
    return max(1, int(budget // row_bytes))


def _label(value):
    """A class label as Python prints it: 'a' or 0, not np.str_('a')."""
    return value.item() if isinstance(value, np.generic) else value


def _row_buffer(X, i):
    """Row ``i`` of X as a buffer: equal rows give equal bytes."""
    if sp.issparse(X):
        p, q = X.indptr[i], X.indptr[i + 1]
        return X.indices[p:q].tobytes() + b"|" + X.data[p:q].tobytes()
    row = X[i]
    return row if row.flags.c_contiguous else row.tobytes()


def _is_dask_collection(obj):
    """Whether ``obj`` is a dask array, DataFrame or Series; never imports dask."""
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr")


def _dask_module():
    from . import _dask  # imports dask: only reached with a dask input

    return _dask


def _merge_repeated_rows(X, Y, sample_weight):
    """One row per distinct ``(x, y)`` with the summed weight, in a fixed order.

    The cost is a weighted sum over rows, so a row repeated ``k`` times and
    one row of weight ``k`` are the same term, and a row of weight 0 is no
    term at all. Where the data has repeated rows or weights other than 0
    and 1, the rows are merged and sorted (by a CRC of their bytes, then the
    bytes), so that every such representation of a data set becomes the
    very same arrays and the fits are bitwise equal, not only equal up to
    the optimizer's tolerance. Zero weights alone only drop their rows. Data
    with neither (the common case) is returned as it is, without a copy; the
    check costs one CRC per row.
    """
    m = X.shape[0]
    if sp.issparse(X):
        X = X.tocsr()
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
    w = sample_weight
    keep = np.arange(m) if w is None else np.flatnonzero(w)
    crcs = np.fromiter(
        (zlib.crc32(_row_buffer(Y, i), zlib.crc32(_row_buffer(X, i))) for i in keep),
        dtype=np.uint32,
        count=keep.size,
    )
    idx = keep[np.argsort(crcs, kind="stable")]
    crcs = np.sort(crcs, kind="stable")
    bounds = np.flatnonzero(np.r_[True, crcs[1:] != crcs[:-1], True])

    # Rows of equal CRC: group the really equal ones, in the order of bytes.
    collisions, has_repeats = [], False
    for start, stop in zip(bounds[:-1], bounds[1:]):
        if stop - start > 1:
            groups = {}
            for i in idx[start:stop]:
                key = bytes(_row_buffer(X, i)) + b"|" + bytes(_row_buffer(Y, i))
                groups.setdefault(key, []).append(i)
            has_repeats |= len(groups) < stop - start
            collisions.append((start, stop, [groups[k] for k in sorted(groups)]))

    if not has_repeats and (w is None or np.all(w[keep] == 1)):
        if keep.size == m:
            return X, Y, w
        return X[keep], Y[keep], w[keep]

    groups, done = [], 0
    for start, stop, colliding in collisions:
        groups.extend([i] for i in idx[done:start])
        groups.extend(colliding)
        done = stop
    groups.extend([i] for i in idx[done:])
    first = np.array([g[0] for g in groups], dtype=np.intp)
    if w is None:
        weights = np.array([len(g) for g in groups], dtype=X.dtype)
    else:
        # fsum is exactly rounded, so the merged weight does not depend on order.
        weights = np.array([math.fsum(w[g]) for g in groups], dtype=X.dtype)
    return X[first], Y[first], weights


# ClassifierMixin must come before BaseEstimator: with scikit-learn >= 1.6 the
# order (BaseEstimator, ClassifierMixin) makes the estimator type "None", so
# is_classifier() is False, cross-validation does not stratify and
# check_estimator skips the classifier checks.
class BackpropClassifier(ClassifierMixin, BaseEstimator):
    """Sigmoid neural network trained by backpropagation and L-BFGS.

    The classic network of the course notes: every unit is a sigmoid, the
    cost is the sum over the output units of the logistic (cross-entropy)
    cost, averaged over samples, plus ``lambda_ / (2 m)`` times the sum of
    the squared non-bias weights. Its gradient comes from backpropagation and
    scipy's L-BFGS-B minimizes it over the one unrolled parameter vector.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(25,)
        Units of each hidden layer. ``()`` gives no hidden layer: the network
        is then one-vs-all regularized logistic regression. The default is
        the course's 25 units.
    lambda_ : float, default=1.0
        Regularization strength, ``>= 0``. It equals MLPClassifier's
        ``alpha``: both divide the penalty by ``2 m`` (the sum of the sample
        weights). The default is the course's.
    epsilon_init : float or None, default=None
        Initial weights are uniform on ``[-eps, eps]``. None uses
        ``eps = sqrt(6) / sqrt(s_l + s_{l+1})`` per layer; a positive float
        is used for every layer.
    max_iter : int, default=200
        Maximum L-BFGS iterations (MLPClassifier's default).
    tol : float, default=1e-4
        L-BFGS-B stops when the largest gradient component is below ``tol``
        (its ``gtol``; MLPClassifier's default).
    max_fun : int, default=15000
        Maximum cost evaluations (MLPClassifier's default).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights. The same seed and data give bitwise the
        same ``theta_``.
    verbose : int, default=0
        ``>= 1`` prints one line per iteration: iteration, cost, gradient
        norm and elapsed seconds.
    warm_start : bool, default=False
        Start from the previous ``theta_`` when the layer sizes are the same
        (with other sizes training starts afresh). The classes must be the
        same as in the previous fit.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``, as in
        :class:`~sklearn.linear_model.LogisticRegression`. "balanced" uses
        ``n_samples / (n_classes * np.bincount(y))``. Not for multilabel
        targets.
    callback : callable or None, default=None
        Called after every L-BFGS iteration as
        ``callback(iteration, cost, theta)`` with a copy of the unrolled
        weights; returning True stops training there (without a
        ConvergenceWarning), to stop on a condition of your own.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (for multilabel targets, ``arange(n_labels)``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit, when X has string column names.
    layer_sizes_ : tuple of int
        ``(s_1, ..., s_L)``: inputs, hidden layers, output units ``K``.
    theta_ : ndarray of shape (n_params,)
        The unrolled weights, column-major per layer: the one array that owns
        them. The attributes below are views of it.
    thetas_ : list of ndarray
        ``Theta_l`` of shape ``(s_{l+1}, s_l + 1)``, column 0 the bias.
    coefs_ : list of ndarray
        MLPClassifier's layout, ``coefs_[l] = thetas_[l][:, 1:].T``, shape
        ``(s_l, s_{l+1})``.
    intercepts_ : list of ndarray
        ``intercepts_[l] = thetas_[l][:, 0]``, shape ``(s_{l+1},)``.
    loss_ : float
        The cost ``J`` at ``theta_``.
    loss_curve_ : list of float
        The cost after every L-BFGS iteration.
    n_iter_ : int
        L-BFGS iterations run.
    n_layers_ : int
        Number of layers ``L``, input and output included.
    n_outputs_ : int
        Output units ``K``: 1 for binary targets, else one per class/label.
    out_activation_ : str
        Always ``"logistic"``.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The general multi-layer perceptron.
    skbpnn.backprop.cost_and_gradient : The cost and gradient minimized here.

    Notes
    -----
    Seed notation and scikit-learn's: ``Theta_l`` is ``thetas_[l]``;
    ``Theta_l[:, 1:]`` is ``coefs_[l].T`` and ``Theta_l[:, 0]`` is
    ``intercepts_[l]``; ``lambda_`` is MLPClassifier's ``alpha``; ``K`` is
    ``n_outputs_``.

    Binary targets use one output unit and predict the positive class when
    its output is above 0.5. Multiclass targets use one sigmoid unit per
    class (one-vs-all, the course's cost, not a softmax): ``predict`` is the
    unit with the largest output and ``predict_proba`` rows are the sigmoid
    outputs divided by their sum. Multilabel targets use one unit per label,
    each thresholded at 0.5; ``predict_proba`` returns the sigmoid outputs,
    kept strictly inside (0, 1).

    Ctrl-C during ``fit`` stops training: the estimator keeps the weights of
    the last completed iteration (with ``n_iter_`` and ``loss_curve_`` up to
    it), warns with :class:`TrainingInterruptedWarning` and returns, so the
    minutes already spent are not lost. A second Ctrl-C interrupts as usual.

    Float32 data is computed in float32 in every evaluation, while L-BFGS and
    ``theta_`` stay float64. Evaluations run over row blocks sized by
    scikit-learn's ``working_memory`` setting, so memory stays bounded.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skbpnn import BackpropClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), BackpropClassifier(random_state=0))
    >>> clf.fit(X[:1000], y[:1000]).score(X[1000:], y[1000:]) > 0.9
    True
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "lambda_": [Interval(Real, 0, None, closed="left")],
        "epsilon_init": [None, Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "callback": [callable, None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(25,),
        lambda_=1.0,
        *,
        epsilon_init=None,
        max_iter=200,
        tol=1e-4,
        max_fun=15000,
        random_state=None,
        verbose=0,
        warm_start=False,
        class_weight=None,
        callback=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.lambda_ = lambda_
        self.epsilon_init = epsilon_init
        self.max_iter = max_iter
        self.tol = tol
        self.max_fun = max_fun
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.class_weight = class_weight
        self.callback = callback

    def __sklearn_is_fitted__(self):
        # lambda_ ends with "_", so check_is_fitted's default test (any
        # attribute ending in "_") would call an unfitted estimator fitted.
        return hasattr(self, "theta_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags

    # Views of theta_, derived on access so that the weights live (and are
    # pickled) once.
    @property
    def thetas_(self):
        """``Theta_l`` matrices, views of ``theta_``."""
        if not hasattr(self, "theta_"):
            raise AttributeError("'thetas_' is available after fit.")
        return backprop.roll(self.theta_, self.layer_sizes_)

    @property
    def coefs_(self):
        """Weight matrices in MLPClassifier's layout, views of ``theta_``."""
        if not hasattr(self, "theta_"):
            raise AttributeError("'coefs_' is available after fit.")
        return [Theta[:, 1:].T for Theta in self.thetas_]

    @property
    def intercepts_(self):
        """Bias vectors, views of ``theta_``."""
        if not hasattr(self, "theta_"):
            raise AttributeError("'intercepts_' is available after fit.")
        return [Theta[:, 0] for Theta in self.thetas_]

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        sizes = tuple(np.ravel(np.asarray(sizes, dtype=object)))
        if not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s >= 1
            for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must be a tuple of positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _encode_targets(self, y, reset):
        """Validate ``y``; return the ``(m, K)`` 0/1 target matrix."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        target_type = type_of_target(y, input_name="y")
        if target_type not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(
                f"BackpropClassifier supports binary, multiclass and multilabel "
                f"targets, got {target_type} targets."
            )
        if reset:
            binarizer = LabelBinarizer().fit(y)
            if target_type != "multilabel-indicator" and len(binarizer.classes_) < 2:
                only = _label(binarizer.classes_[0])
                raise ValueError(
                    "BackpropClassifier needs samples of at least 2 classes, but "
                    f"the data contain only one class: {only!r}."
                )
            self._binarizer = binarizer
            self.classes_ = binarizer.classes_
        else:
            binarizer = self._binarizer
            if set(np.unique(y) if y.ndim == 1 else range(y.shape[1])) != set(
                self.classes_
            ) or (y.ndim == 2) != (binarizer.y_type_ == "multilabel-indicator"):
                raise ValueError(
                    "warm_start needs y with the same classes as the previous "
                    f"fit: previously {self.classes_}, now {np.unique(y)}."
                )
        return y, binarizer.transform(y), binarizer.y_type_

    def _sample_weight(self, y, y_type, sample_weight, X):
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        if self.class_weight is not None:
            if y_type == "multilabel-indicator":
                raise ValueError("class_weight is not supported for multilabel y.")
            per_class = compute_class_weight(
                self.class_weight, classes=self.classes_, y=y
            )
            weights = per_class[np.searchsorted(self.classes_, y)].astype(X.dtype)
            sample_weight = (
                weights if sample_weight is None else sample_weight * weights
            )
        if sample_weight is None:
            return None
        if not np.sum(sample_weight) > 0:
            raise ValueError("sample_weight (times class_weight) sums to zero.")
        if y_type != "multilabel-indicator":
            present = np.unique(y[sample_weight > 0])
            if len(present) < 2:
                raise ValueError(
                    "Only one class has positive sample_weight: "
                    f"{_label(present[0])!r}; at least 2 classes are needed."
                )
        return sample_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network by L-BFGS on the regularized cost.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 data is computed in float32.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; a weight of 2 counts a sample twice.

        Returns
        -------
        self : BackpropClassifier
            The fitted estimator.
        """
        if _is_dask_collection(X):
            return _dask_module().fit(self, X, y, sample_weight)
        hidden = self._hidden_sizes()
        continuing = self.warm_start and hasattr(self, "theta_")
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=not continuing,
        )
        y, Y, y_type = self._encode_targets(y, reset=not continuing)
        Y = Y.astype(X.dtype)
        sample_weight = self._sample_weight(y, y_type, sample_weight, X)

        X, Y, sample_weight = _merge_repeated_rows(X, Y, sample_weight)

        layer_sizes = (X.shape[1], *hidden, Y.shape[1])
        if continuing and tuple(self.layer_sizes_) == layer_sizes:
            theta0 = np.array(self.theta_, dtype=np.float64)
        else:
            theta0 = backprop.init_weights(
                layer_sizes, self.epsilon_init, self.random_state
            )

        block_rows = _rows_per_block(layer_sizes, X.dtype)
        if block_rows < X.shape[0] and getattr(X, "format", None) == "csc":
            X = X.tocsr()  # each row block of a CSC matrix would copy it whole
        workspace = backprop._Workspace()

        def fun(theta):
            J, grad = backprop.cost_and_gradient(
                theta,
                X,
                Y,
                layer_sizes,
                self.lambda_,
                sample_weight,
                block_rows=block_rows,
                workspace=workspace,
            )
            return J, grad.astype(np.float64, copy=False)

        with _blas_threads_for_fit(layer_sizes, min(block_rows, X.shape[0])):
            return self._run_lbfgs(fun, theta0, layer_sizes)

    def _run_lbfgs(self, fun, theta0, layer_sizes, stacklevel=4):
        """Minimize ``fun`` from ``theta0`` by L-BFGS-B; set the fitted attributes.

        ``fun(theta) -> (J, grad)`` with a float64 ``grad``. After every
        iteration the cost is recorded, printed when ``verbose`` and passed
        to ``callback``. Ctrl-C (KeyboardInterrupt) ends training with the
        last completed iterate, which the estimator keeps, and a warning.
        ``stacklevel`` points the warnings at the user's call of ``fit``
        (here, ``fit`` and scikit-learn's ``_fit_context`` wrapper above it).
        """
        loss_curve = []
        # (iterations completed, weights, cost), updated in one assignment so
        # that an interrupt anywhere leaves it consistent.
        state = {"iterate": (0, theta0, None)}
        last = {}
        start_time = time.perf_counter()

        def objective(theta):
            J, grad = fun(theta)
            if state["iterate"][2] is None and not loss_curve:
                state["iterate"] = (0, theta0, J)  # the first call is at theta0
            if self.verbose:
                last.update(x=theta.copy(), grad=grad)
            return J, grad

        def callback(intermediate_result):
            x = intermediate_result.x.copy()
            J = float(intermediate_result.fun)
            state["iterate"] = (len(loss_curve) + 1, x, J)
            loss_curve.append(J)
            if self.verbose:
                grad = last["grad"] if np.array_equal(last.get("x"), x) else fun(x)[1]
                print(
                    f"Iteration {len(loss_curve):4d}  cost {J:.8f}  "
                    f"|grad| {np.linalg.norm(grad):.3e}  "
                    f"{time.perf_counter() - start_time:.2f}s",
                    flush=True,
                )
            if self.callback is not None and self.callback(
                len(loss_curve), J, x.copy()
            ):
                raise StopIteration  # L-BFGS-B ends with this iterate

        try:
            result = scipy.optimize.minimize(
                objective,
                theta0,
                method="L-BFGS-B",
                jac=True,
                callback=callback,
                options={
                    "maxiter": self.max_iter,
                    "maxfun": self.max_fun,
                    "gtol": self.tol,
                },
            )
            theta, loss, n_iter = result.x, result.fun, result.nit
            hit_limit = result.status == 1
        except KeyboardInterrupt:
            n_iter, theta, loss = state["iterate"]
            del loss_curve[n_iter:]
            if loss is None:  # interrupted during the very first evaluation
                loss = fun(theta)[0]
            warnings.warn(
                f"Training interrupted (KeyboardInterrupt) after {n_iter} "
                "L-BFGS iterations; the estimator keeps the weights of the last "
                "completed iteration.",
                TrainingInterruptedWarning,
                stacklevel=stacklevel,
            )
            hit_limit = False

        if not np.all(np.isfinite(theta)) or not np.isfinite(loss):
            raise ValueError(
                "L-BFGS produced non-finite weights or cost: the input features "
                "are too large (scale them, e.g. with StandardScaler) or "
                f"lambda_={self.lambda_!r} is too large."
            )
        if hit_limit:
            warnings.warn(
                f"L-BFGS stopped after {n_iter} iterations without converging "
                f"({result.message}); increase max_iter or max_fun, or scale "
                "the data.",
                ConvergenceWarning,
                stacklevel=stacklevel,
            )

        self.theta_ = np.ascontiguousarray(theta, dtype=np.float64)
        self.layer_sizes_ = tuple(layer_sizes)
        self.n_layers_ = len(layer_sizes)
        self.n_outputs_ = layer_sizes[-1]
        self.out_activation_ = "logistic"
        self.loss_ = float(loss)
        self.loss_curve_ = loss_curve
        self.n_iter_ = int(n_iter)
        return self

    def _decision(self, X):
        """Output-layer ``z`` of shape (n_samples, K), in row blocks."""
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=(np.float64, np.float32),
            reset=False,
        )
        n = X.shape[0]
        block = _rows_per_block(self.layer_sizes_, X.dtype)
        if block >= n:
            return backprop.feedforward(
                self.theta_, X, self.layer_sizes_, return_z=True
            )
        if hasattr(X, "format") and X.format == "csc":
            X = X.tocsr()
        return np.vstack(
            [
                backprop.feedforward(
                    self.theta_, X[i : i + block], self.layer_sizes_, return_z=True
                )
                for i in range(0, n, block)
            ]
        )

    def decision_function(self, X):
        """The output layer's input ``z^(L)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        z : ndarray of shape (n_samples,) or (n_samples, ``n_outputs_``)
            1-D for binary targets (positive means the second class).
        """
        if _is_dask_collection(X):
            return _dask_module().predict(self, X, "decision_function")
        z = self._decision(X)
        return z.ravel() if self.n_outputs_ == 1 else z

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels; for multilabel targets a 0/1 indicator matrix.
        """
        if _is_dask_collection(X):
            return _dask_module().predict(self, X, "predict")
        z = self._decision(X)
        if self._binarizer.y_type_ == "multilabel-indicator":
            return (z > 0).astype(self._binarizer.classes_.dtype)
        if self.n_outputs_ == 1:
            # g(z) > 0.5  <=>  z > 0
            return self.classes_[(z[:, 0] > 0).astype(np.intp)]
        return self.classes_[np.argmax(z, axis=1)]

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed from ``z`` without underflow.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        if _is_dask_collection(X):
            return _dask_module().predict(self, X, "predict_log_proba")
        return self._log_proba(self._decision(X))

    def _log_proba(self, z):
        if self.n_outputs_ == 1:
            # log g(-z) and log g(z): log(1 - g(z)) = log g(-z)
            return np.hstack([log_expit(-z), log_expit(z)])
        log_h = log_expit(z)
        if self._binarizer.y_type_ == "multilabel-indicator":
            return log_h
        # log(h_k / sum_j h_j) = log h_k - logsumexp_j(log h_j)
        return log_h - logsumexp(log_h, axis=1, keepdims=True)

    def predict_proba(self, X):
        """Probability of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Binary: ``[1 - h, h]``. Multiclass: the sigmoid outputs divided
            by their sum. Multilabel: the sigmoid outputs, strictly inside
            (0, 1).
        """
        if _is_dask_collection(X):
            return _dask_module().predict(self, X, "predict_proba")
        z = self._decision(X)
        if self._binarizer.y_type_ == "multilabel-indicator":
            h = expit(z, out=z)
            info = np.finfo(h.dtype)
            return np.clip(h, info.tiny, 1 - info.eps, out=h)
        return np.exp(self._log_proba(z))
