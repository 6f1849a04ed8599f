"""The fit and predictions for array API namespaces other than numpy.

With ``sklearn.set_config(array_api_dispatch=True)`` and ``X`` a PyTorch
tensor, a CuPy array or any other array API array, the estimator runs here
instead of through ``_evaluation``'s numpy forms:

- ``X``, ``Y`` and the weights move to (or stay in) ``X``'s namespace and
  device once, when the fit starts (``y`` and ``sample_weight`` are checked on
  the host by ``_targets``, as for numpy input, and then moved);
- every cost and gradient evaluation runs there, over row blocks sized as
  for numpy (:func:`skbpnn._data.rows_per_block`), with the same formulas as
  :mod:`skbpnn._evaluation`: the cost in the form that stays finite when
  outputs saturate, backpropagation's deltas, the bias gradients as column
  sums;
- per evaluation only ``theta`` (from L-BFGS-B on the host, float64, cast to
  ``X``'s dtype there) goes to the device, and the unrolled data gradient
  plus one scalar, the data cost, come back; the penalty, which needs only
  ``theta``, is added on the host by :func:`skbpnn._evaluation.regularize`,
  the very code of the numpy path;
- a device without float64 (Apple's MPS, array-api-strict's ``no_float64``)
  evaluates in float32 and is never asked for float64: the host casts
  ``theta`` to float32 and the gradient back to float64 for L-BFGS-B.

Elementwise steps run in place where the namespace allows it: through
PyTorch's in-place methods, through the ``out=`` of CuPy's (numpy-like)
ufuncs, and elsewhere through the array API's in-place operators, with a new
array only where the standard has no in-place form (a sigmoid, a log).

Repeated rows are not merged here (``_data.merge_repeated_rows`` reads the
bytes of ``X`` on the host): a weight of 2 and a repeated row give the same
fit up to rounding, not bitwise.
"""

import numpy as np
from sklearn import get_config
from sklearn.utils._array_api import get_namespace, get_namespace_and_device
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from . import _targets, backprop
from ._data import TrainingData, rows_per_block
from ._evaluation import regularize

_NUMPY_NAMES = ("numpy", "array_api_compat.numpy", "numpy.array_api")


def array_namespace(a):
    """The namespace of array ``a``, whatever the dispatch setting."""
    try:  # scikit-learn >= 1.7 vendors array-api-compat
        from sklearn.externals.array_api_compat import array_namespace
    except ImportError:  # scikit-learn 1.6 needs it installed for dispatch
        from array_api_compat import array_namespace
    return array_namespace(a)


def _is_numpy(xp):
    return xp.__name__.split(".")[-1] == "numpy" or xp.__name__ in _NUMPY_NAMES


def namespace(X):
    """``X``'s array namespace when dispatch is on and it is not numpy, else None.

    Lists, pandas and sparse input, and numpy arrays, are numpy's: None.
    """
    if not get_config()["array_api_dispatch"]:
        return None
    try:
        xp, _ = get_namespace(X)
    except TypeError:  # not an array of any namespace (e.g. a DataFrame)
        return None
    return None if _is_numpy(xp) else xp


def is_fitted_in_namespace(estimator):
    """Whether ``theta_`` is an array of a namespace other than numpy."""
    theta = getattr(estimator, "theta_", None)
    return theta is not None and not isinstance(theta, np.ndarray)


def uses_namespace(estimator, X):
    """Whether a prediction on ``X`` runs here rather than on numpy's path.

    True when dispatch is on and either ``X`` or the fitted weights are of
    another namespace (:func:`predict` then checks that they are the same).
    With dispatch off, weights of another namespace are a ValueError.
    """
    fitted = is_fitted_in_namespace(estimator)
    if get_config()["array_api_dispatch"]:
        return fitted or namespace(X) is not None
    if fitted:
        raise ValueError(
            f"{type(estimator).__name__} was fitted on "
            f"{_array_module(estimator.theta_)} arrays with array API dispatch: "
            "predict inside sklearn.config_context(array_api_dispatch=True) on "
            "arrays of that namespace and device, or move the estimator to numpy "
            "with sklearn.utils._array_api.move_estimator_to(estimator, numpy, "
            '"cpu").'
        )
    return False


def _array_module(a):
    return type(a).__module__.split(".")[0]


def to_numpy(a):
    """``a`` (an array of any namespace, on any device) as a numpy array."""
    if isinstance(a, np.ndarray):
        return a
    module = _array_module(a)
    if module == "torch":
        return a.detach().cpu().numpy()
    if module == "cupy":
        return a.get()
    if module == "array_api_strict":
        xp = a.__array_namespace__()
        return np.asarray(xp.asarray(a, device=xp.Device("CPU_DEVICE")))
    try:
        return np.from_dlpack(a)
    except (AttributeError, TypeError, RuntimeError, BufferError, ValueError):
        return np.asarray(a)


def host_float64(a):
    """A float64 numpy copy of ``a`` (``theta_`` for a warm start)."""
    return np.array(to_numpy(a), dtype=np.float64)


def _to_host(a):
    """``a`` on the host: arrays of other namespaces converted, the rest as is."""
    if a is None or isinstance(a, np.ndarray) or not hasattr(a, "__dlpack__"):
        return a
    return to_numpy(a)


def has_float64(xp, device):
    """Whether ``device`` of ``xp`` has float64 (Apple's MPS has not)."""
    try:
        info = xp.__array_namespace_info__()
        return "float64" in info.dtypes(kind="real floating", device=device)
    except (AttributeError, TypeError, ValueError):
        return True


def _float_dtypes(xp, device):
    return (xp.float64, xp.float32) if has_float64(xp, device) else (xp.float32,)


def _host_dtype(X, xp):
    return np.float32 if X.dtype == xp.float32 else np.float64


# ---------------------------------------------------------------- elementwise


class _Ops:
    """Elementwise steps through the array API: in-place operators, else new."""

    def __init__(self, xp):
        self.xp = xp

    def sigmoid_(self, z):
        """``g(z)``, in ``z``'s memory where the namespace can."""
        xp = self.xp
        # e^-|z| never overflows: g(z) = 1 / (1 + e) for z >= 0, e / (1 + e)
        # below, each to full relative precision.
        e = xp.exp(-xp.abs(z))
        return xp.where(z >= 0, 1.0, e) / (1.0 + e)

    def log_(self, a):
        return self.xp.log(a)

    def maximum_(self, a, b):
        return self.xp.maximum(a, b)

    def relu(self, z):
        """``max(z, 0)`` as a new array (``z`` is kept)."""
        return self.xp.where(z > 0, z, self.xp.zeros_like(z))


class _TorchOps(_Ops):
    """PyTorch's in-place methods; ``torch.sigmoid`` is its fastest sigmoid."""

    def sigmoid_(self, z):
        return z.sigmoid_()

    def log_(self, a):
        return a.log_()

    def maximum_(self, a, b):
        import torch

        return torch.maximum(a, b, out=a)

    def relu(self, z):
        return z.clamp(min=0)


class _UfuncOps(_Ops):
    """numpy-like ufuncs with ``out=`` (CuPy; numpy itself in the tests)."""

    def __init__(self, xp, module, expit):
        super().__init__(xp)
        self.module, self.expit = module, expit

    def sigmoid_(self, z):
        return self.expit(z, out=z)

    def log_(self, a):
        return self.module.log(a, out=a)

    def maximum_(self, a, b):
        return self.module.maximum(a, b, out=a)

    def relu(self, z):
        return self.module.maximum(z, 0)


def ops_for(xp):
    """The elementwise steps for namespace ``xp``, in place where it allows."""
    name = xp.__name__.split(".")[-1]
    if name == "torch":
        return _TorchOps(xp)
    if name == "cupy":  # pragma: no cover (no CUDA in CI)
        import cupy
        from cupyx.scipy.special import expit

        return _UfuncOps(xp, cupy, expit)
    return _Ops(xp)


# ----------------------------------------------------------------- evaluation


def transposed_views(theta, shapes, xp):
    """``Theta_l.T`` of shape ``(s_l + 1, s_{l+1})`` for each layer, from ``theta``.

    ``theta`` is column-major per layer, so ``Theta_l.T`` is a C-ordered
    reshape of its segment: row 0 the biases, rows 1: ``W.T`` (a view where
    the namespace has views).
    """
    out = []
    start = 0
    for s_next, cols in shapes:
        end = start + s_next * cols
        out.append(xp.reshape(theta[start:end], (cols, s_next)))
        start = end
    return out


def roll(theta, layer_sizes):
    """``Theta_l`` of shape ``(s_{l+1}, s_l + 1)``, views of ``theta`` in its namespace.

    Whatever the dispatch setting: the fitted attributes are read with it off
    too.
    """
    xp = array_namespace(theta)
    shapes = backprop.layer_shapes(layer_sizes)
    return [Theta_T.T for Theta_T in transposed_views(theta, shapes, xp)]


def forward(thetas_T, X, ops):
    """Activations of every layer; the last is the output layer's ``z``."""
    activations = [X]
    a = X
    last = len(thetas_T) - 1
    for l, Theta_T in enumerate(thetas_T):
        z = a @ Theta_T[1:, :]
        z += Theta_T[0, :]  # z^(l+1) = Theta^(l) [1; a^(l)]
        if l < last:
            z = ops.sigmoid_(z)  # a^(l+1) = g(z^(l+1))
        activations.append(z)
        a = z
    return activations


def block_cost_and_gradient(thetas_T, X, Y, w, ops, sum_dtype):
    """Unnormalized cost (0-d, ``sum_dtype``) and ``Delta_l.T`` of one block.

    The formulas of :func:`skbpnn._evaluation.block_cost_and_gradient`:
    ``sum_i w_i sum_k [max(z, 0) - log(max(h, 1 - h)) - y z]`` and the
    backpropagated ``Delta^(l) = delta^(l+1)^T [1, a^(l)]``, here transposed
    (``(s_l + 1, s_{l+1})``, row 0 the bias gradient), without regularization.
    """
    xp = ops.xp
    activations = forward(thetas_T, X, ops)
    z = activations[-1]
    h = ops.sigmoid_(xp.asarray(z, copy=True))

    # -[y log h + (1 - y) log(1 - h)] = max(z, 0) - log(max(h, 1 - h)) - y z
    costs = ops.relu(z)
    log_max = 1.0 - h
    log_max = ops.log_(ops.maximum_(log_max, h))
    costs -= log_max
    z *= Y  # z is not needed past here: y z in its memory
    costs -= z
    row_costs = xp.sum(costs, axis=1)
    if row_costs.dtype != sum_dtype:
        row_costs = xp.astype(row_costs, sum_dtype)  # sum over rows in float64
    if w is None:
        data_cost = xp.sum(row_costs)
    else:
        data_cost = xp.sum(xp.astype(w, sum_dtype) * row_costs)

    # Phase 2, backward pass.
    delta = h
    delta -= Y  # delta^(L) = a^(L) - y
    if w is not None:
        delta *= xp.expand_dims(w, axis=1)
    grads_T = [None] * len(thetas_T)
    for l in range(len(thetas_T) - 1, -1, -1):
        a_prev = activations[l]
        grads_T[l] = xp.concat(
            [xp.sum(delta, axis=0, keepdims=True), a_prev.T @ delta], axis=0
        )
        if l == 0:
            break
        # delta^(l) = delta^(l+1) Theta^(l)[:, 1:] .* a^(l) (1 - a^(l))
        delta_prev = delta @ thetas_T[l][1:, :].T
        delta_prev *= a_prev
        a_prev *= -1.0  # 1 - a, in a^(l)'s memory: a^(l) is not needed after
        a_prev += 1.0
        delta_prev *= a_prev
        delta = delta_prev
    return data_cost, grads_T


def data_cost_and_gradient(theta, X, Y, w, shapes, block_rows, ops, sum_dtype):
    """The summed data cost (0-d) and unrolled gradient, on ``X``'s device.

    ``theta`` in ``X``'s namespace, device and dtype. Like
    :func:`skbpnn._evaluation.data_cost_and_gradient`: summed over row blocks,
    not regularized, not divided by ``sum(w)``.
    """
    xp = ops.xp
    thetas_T = transposed_views(theta, shapes, xp)
    m = X.shape[0]
    data_cost, grads_T = None, None
    for start in range(0, m, block_rows):
        stop = min(start + block_rows, m)
        cost, block_grads = block_cost_and_gradient(
            thetas_T,
            X[start:stop, :],
            Y[start:stop, :],
            None if w is None else w[start:stop],
            ops,
            sum_dtype,
        )
        if grads_T is None:
            data_cost, grads_T = cost, block_grads
        else:
            data_cost = data_cost + cost
            for G, block_G in zip(grads_T, block_grads):
                G += block_G
    # Delta_l.T flattened in C order is Delta_l in column-major order: theta's.
    return data_cost, xp.concat([xp.reshape(G, (-1,)) for G in grads_T])


def make_fun(X, Y, w, sw_sum, layer_sizes, lambda_, device):
    """``fun(theta) -> (J, grad)`` for L-BFGS, evaluating in ``X``'s namespace.

    ``theta`` and the returned ``grad`` are float64 numpy vectors; ``theta``
    is cast to ``X``'s dtype on the host, so that a float32 device never sees
    float64.
    """
    xp, _ = get_namespace(X)
    ops = ops_for(xp)
    shapes = backprop.layer_shapes(layer_sizes)
    dtype = _host_dtype(X, xp)
    block_rows = rows_per_block(layer_sizes, dtype)
    # Row costs are summed in float64 where the device has it, as numpy does.
    sum_dtype = xp.float64 if has_float64(xp, device) else xp.float32

    def fun(theta):
        theta_h = theta.astype(dtype, copy=False)
        theta_d = xp.asarray(theta_h, device=device)  # the one copy to the device
        data_cost, grad = data_cost_and_gradient(
            theta_d, X, Y, w, shapes, block_rows, ops, sum_dtype
        )
        # The one scalar and the gradient back to the host.
        grad = to_numpy(grad)
        J, grad = regularize(theta_h, float(data_cost), grad, shapes, lambda_, sw_sum)
        return J, grad.astype(np.float64, copy=False)

    return fun


# ------------------------------------------------------------------ fit, data


def training_data(estimator, X, y, sample_weight, reset):
    """Validate ``X``, ``y`` and the weights: a fit that evaluates in X's namespace.

    ``y`` and ``sample_weight`` may be of any namespace and device: they are
    checked and encoded on the host (``_targets``, as for numpy input), then
    ``Y`` and the weights move to ``X``'s device.

    ``make_fun``'s ``product_rows`` is 0: no product of an evaluation runs in
    the host's BLAS libraries (numpy's, scipy's), which do only L-BFGS-B's
    vector work, so the thread policy holds every one of them to one thread
    during the fit. On the CPU that matters: their idle threads spin after
    each L-BFGS-B step and take the cores from PyTorch's own thread pool
    (digits, 64-25-10, torch on 2 CPU cores: 31 ms per evaluation right after
    numpy's products, 1.4 ms with the host's BLAS on one thread). PyTorch's
    threads are the user's (``torch.set_num_threads``).
    """
    xp, _, device = get_namespace_and_device(X)
    X = validate_data(estimator, X, dtype=_float_dtypes(xp, device), reset=reset)
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the "
            "target y is None."
        )
    y = check_array(_to_host(y), ensure_2d=False, dtype=None, input_name="y")
    check_consistent_length(X, y)
    dtype = _host_dtype(X, xp)
    y, Y, binarizer = _targets.encode(y)
    # _targets reads only the number of rows and the dtype of X.
    w = _targets.sample_weights(
        _to_host(sample_weight),
        estimator.class_weight,
        y,
        binarizer,
        np.empty((X.shape[0], 0), dtype=dtype),
    )
    sw_sum = float(X.shape[0]) if w is None else float(np.sum(w, dtype=np.float64))
    Y = xp.asarray(Y.astype(dtype), device=device)
    if w is not None:
        w = xp.asarray(w.astype(dtype, copy=False), device=device)
    fitted_dtype = np.float64 if has_float64(xp, device) else np.float32

    def make_training_fun(layer_sizes, lambda_):
        return make_fun(X, Y, w, sw_sum, layer_sizes, lambda_, device), 0

    def fitted_theta(theta):
        # In X's namespace and on its device, as scikit-learn's array API
        # estimators keep their fitted arrays; float64 where the device has it.
        return xp.asarray(theta.astype(fitted_dtype), device=device)

    def curvature(layer_sizes):
        # The evidence (lambda_="evidence", log_evidence) runs on the host in
        # numpy, on a host copy of X: its Gauss-Newton matrix and Cholesky
        # factorization are not written for other namespaces.
        from ._data import rows_per_block
        from ._evidence import DataCurvature
        from .backprop import layer_shapes

        X_host = np.asarray(_to_host(X), dtype=np.float64)
        Y_host = np.asarray(_to_host(Y), dtype=np.float64)
        w_host = None if w is None else np.asarray(_to_host(w), dtype=np.float64)
        block_rows = rows_per_block(layer_sizes, np.float64)
        return DataCurvature(
            X_host, Y_host, w_host, None, layer_shapes(layer_sizes), block_rows
        )

    return TrainingData(
        binarizer,
        X.shape[1],
        Y.shape[1],
        make_training_fun,
        fitted_theta,
        curvature,
    )


# ---------------------------------------------------------------- predictions


def check_same_namespace(X, estimator, method):
    """A ValueError unless ``X`` has the namespace and device of ``theta_``.

    The message of scikit-learn's own ``check_same_namespace`` (>= 1.9).
    """
    xp_fit, _, device_fit = get_namespace_and_device(estimator.theta_)
    xp_X, _, device_X = get_namespace_and_device(X)
    if xp_fit == xp_X and device_fit == device_X:
        return
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the "
        "same namespace and the same device as those passed to fit(). Array "
        f"namespaces used during fit ({xp_fit.__name__}, device {device_fit}) "
        f"and {method} ({xp_X.__name__}, device {device_X}) differ. "
        "sklearn.utils._array_api.move_estimator_to(estimator, xp, device) "
        "moves a fitted estimator."
    )


def decision(estimator, X, method):
    """The output layer's ``z`` of shape ``(n_samples, K)``, in X's namespace."""
    check_is_fitted(estimator)
    check_same_namespace(X, estimator, method)
    xp, _, device = get_namespace_and_device(X)
    X = validate_data(estimator, X, dtype=_float_dtypes(xp, device), reset=False)
    theta = estimator.theta_
    if theta.dtype != X.dtype:
        theta = xp.astype(theta, X.dtype)
    thetas_T = transposed_views(
        theta, backprop.layer_shapes(estimator.layer_sizes_), xp
    )
    ops = ops_for(xp)
    n = X.shape[0]
    block = rows_per_block(estimator.layer_sizes_, _host_dtype(X, xp))
    blocks = [
        forward(thetas_T, X[i : min(i + block, n), :], ops)[-1]
        for i in range(0, n, block)
    ]
    return blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=0)


def _log_sigmoid(z, xp):
    # log g(z) = min(z, 0) - log(1 + e^-|z|): no overflow, no log(0).
    return xp.where(z < 0, z, xp.zeros_like(z)) - xp.log1p(xp.exp(-xp.abs(z)))


def _log_proba(estimator, z, xp):
    if estimator.n_outputs_ == 1:
        # log(1 - g(z)) = log g(-z)
        return xp.concat([_log_sigmoid(-z, xp), _log_sigmoid(z, xp)], axis=1)
    log_h = _log_sigmoid(z, xp)
    if estimator._binarizer.y_type_ == _targets.MULTILABEL:
        return log_h
    # log(h_k / sum_j h_j) = log h_k - logsumexp_j(log h_j)
    top = xp.max(log_h, axis=1, keepdims=True)
    return log_h - (top + xp.log(xp.sum(xp.exp(log_h - top), axis=1, keepdims=True)))


def _labels(estimator, indices, xp, device):
    """``classes_[indices]``: in X's namespace for numeric classes.

    String (or object) labels have no array API dtype: those come back as a
    numpy array.
    """
    classes = estimator.classes_
    if classes.dtype.kind in "biuf":
        return xp.take(xp.asarray(classes, device=device), indices, axis=0)
    return classes[to_numpy(indices)]


def predict(estimator, X, method):
    """``estimator.<method>(X)`` for X of an array API namespace, in it."""
    z = decision(estimator, X, method)
    xp, _, device = get_namespace_and_device(z)
    multilabel = estimator._binarizer.y_type_ == _targets.MULTILABEL
    if method == "decision_function":
        return xp.reshape(z, (-1,)) if estimator.n_outputs_ == 1 else z
    if method == "predict":
        if multilabel:
            classes = xp.asarray(estimator.classes_, device=device)
            return xp.astype(z > 0, classes.dtype)
        if estimator.n_outputs_ == 1:
            # g(z) > 0.5  <=>  z > 0
            indices = xp.astype(z[:, 0] > 0, xp.int64)
        else:
            indices = xp.argmax(z, axis=1)
        return _labels(estimator, indices, xp, device)
    if method == "predict_log_proba":
        return _log_proba(estimator, z, xp)
    if multilabel:  # predict_proba
        info = xp.finfo(z.dtype)
        return xp.clip(ops_for(xp).sigmoid_(z), info.smallest_normal, 1 - info.eps)
    return xp.exp(_log_proba(estimator, z, xp))
