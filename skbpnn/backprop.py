"""The seed's neural-network math as pure functions of arrays.

Everything a sigmoid network trained by backpropagation needs, in one file:
layer shapes, unrolling and rolling of the parameter vector, the sigmoid and
its gradient, random initialization, forward propagation, the regularized
cross-entropy cost, its gradient by backpropagation, and gradient checking.
Nothing here keeps state or imports scikit-learn.

Notation (the seed's, kept in the code):

=================  ==========================================================
symbol             meaning
=================  ==========================================================
``L``              number of layers, input and output included
``s_l``            units in layer ``l`` (bias unit not counted)
``layer_sizes``    ``(s_1, ..., s_L)``: inputs, hidden layers, outputs ``K``
``Theta_l``        weights from layer ``l`` to ``l+1``, shape
                   ``(s_{l+1}, s_l + 1)``; column 0 holds the bias weights
``theta``          the unrolled parameter vector: every ``Theta_l`` in
                   column-major (Fortran) order, ``[Theta1(:); Theta2(:)]``
``m``              number of samples (rows of ``X``)
``K``              output units: 1 for a binary problem, else one per class
``a``, ``z``       a layer's activations ``a = g(z)`` and its input ``z``
``delta``          the error ``dJ/dz`` of a layer, one row per sample
``lambda_``        the regularization strength
``Y``              ``(m, K)`` matrix of 0/1 targets
=================  ==========================================================

The code stores samples as rows: where the seed writes
``z^(l+1) = Theta^(l) a^(l)`` for one column vector ``a^(l)`` with a leading
1, the code computes ``Z = A @ W.T + b`` for all samples at once, with
``W = Theta[:, 1:]`` and ``b = Theta[:, 0]`` taken as views, so no column of
ones is ever concatenated. Because ``theta`` is column-major, ``b`` is the
first ``s_{l+1}`` entries of a layer's segment and ``W.T`` the C-contiguous
rest, which is also scikit-learn's ``coefs_`` layout.
"""

import numbers

import numpy as np
from scipy.special import expit

__all__ = [
    "layer_shapes",
    "unroll",
    "roll",
    "sigmoid",
    "sigmoid_gradient",
    "init_weights",
    "feedforward",
    "cost",
    "cost_and_gradient",
    "numerical_gradient",
    "gradient_check",
]


def _check_layer_sizes(layer_sizes):
    sizes = tuple(layer_sizes)
    if len(sizes) < 2:
        raise ValueError(
            "layer_sizes needs at least an input and an output layer, "
            f"got {layer_sizes!r}."
        )
    for s in sizes:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 1:
            raise ValueError(
                f"layer_sizes must be positive integers, got {layer_sizes!r}."
            )
    return tuple(int(s) for s in sizes)


def layer_shapes(layer_sizes):
    """Shapes of the weight matrices ``Theta_l`` of a network.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer ``(s_1, ..., s_L)``, input first, output last.

    Returns
    -------
    shapes : list of tuple
        ``(s_{l+1}, s_l + 1)`` for ``l = 1 .. L-1``.

    Examples
    --------
    >>> layer_shapes((400, 25, 10))
    [(25, 401), (10, 26)]
    """
    sizes = _check_layer_sizes(layer_sizes)
    return [(s_next, s + 1) for s, s_next in zip(sizes[:-1], sizes[1:])]


def unroll(thetas):
    """Unroll weight matrices into one vector, column-major as the course does.

    Parameters
    ----------
    thetas : sequence of ndarray
        The matrices ``Theta_l``, each of shape ``(s_{l+1}, s_l + 1)``.

    Returns
    -------
    theta : ndarray of shape (n_params,)
        ``[Theta1(:); Theta2(:); ...]``, a new array.

    Examples
    --------
    >>> import numpy as np
    >>> unroll([np.array([[1.0, 2.0], [3.0, 4.0]])])
    array([1., 3., 2., 4.])
    """
    return np.concatenate([np.asarray(t).ravel(order="F") for t in thetas])


def roll(theta, layer_sizes):
    """Roll a parameter vector back into the matrices ``Theta_l``.

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
        Unrolled parameters, as returned by :func:`unroll`.
    layer_sizes : sequence of int
        Units per layer, input first.

    Returns
    -------
    thetas : list of ndarray
        ``Theta_l`` of shape ``(s_{l+1}, s_l + 1)``. Each is a view of
        ``theta``: writing to it writes to ``theta``.

    Examples
    --------
    >>> import numpy as np
    >>> theta = np.arange(9.0)
    >>> [t.shape for t in roll(theta, (2, 2, 1))]
    [(2, 3), (1, 3)]
    >>> np.shares_memory(roll(theta, (2, 2, 1))[1], theta)
    True
    """
    shapes = layer_shapes(layer_sizes)
    theta = np.asarray(theta)
    n_params = sum(r * c for r, c in shapes)
    if theta.ndim != 1 or theta.shape[0] != n_params:
        raise ValueError(
            f"theta must be a 1-D vector of {n_params} parameters for "
            f"layer_sizes={tuple(layer_sizes)}, got shape {theta.shape}."
        )
    return _roll(theta, shapes)


def _roll(theta, shapes):
    """:func:`roll` for checked arguments: ``shapes`` from :func:`layer_shapes`."""
    thetas = []
    start = 0
    for shape in shapes:
        end = start + shape[0] * shape[1]
        thetas.append(theta[start:end].reshape(shape, order="F"))
        start = end
    return thetas


def sigmoid(z):
    """The logistic function ``g(z) = 1 / (1 + exp(-z))``.

    Parameters
    ----------
    z : array-like

    Returns
    -------
    g : ndarray
        Same shape as ``z``; computed without overflow for any finite ``z``.

    Examples
    --------
    >>> float(sigmoid(0.0))
    0.5
    """
    return expit(z)


def sigmoid_gradient(z):
    """Derivative of the sigmoid, ``g'(z) = g(z) (1 - g(z))``.

    Parameters
    ----------
    z : array-like

    Returns
    -------
    g_prime : ndarray
        Same shape as ``z``.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(sigmoid_gradient([-1, -0.5, 0, 0.5, 1]), 6)
    array([0.196612, 0.235004, 0.25    , 0.235004, 0.196612])
    """
    g = expit(z)
    return g * (1 - g)


def _as_random_state(random_state):
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    if random_state is None or isinstance(random_state, numbers.Integral):
        # The same seeding as scikit-learn's check_random_state.
        return np.random.RandomState(random_state)
    raise ValueError(
        "random_state must be None, an int, a numpy RandomState or Generator, "
        f"got {random_state!r}."
    )


def init_weights(layer_sizes, epsilon_init=None, random_state=None):
    """Random initial parameters that break the symmetry between units.

    Every weight of ``Theta_l``, bias included, is drawn uniformly from
    ``[-eps_l, eps_l]``.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, input first.
    epsilon_init : float or None, default=None
        Half-width of the interval. None uses the seed's rule per layer,
        ``eps_l = sqrt(6) / sqrt(s_l + s_{l+1})``; a float is used for
        every layer (the course's exercise uses 0.12).
    random_state : None, int, RandomState or Generator, default=None
        Source of randomness; an int seeds a ``RandomState`` as scikit-learn
        does, so the same seed gives the same weights.

    Returns
    -------
    theta : ndarray of shape (n_params,)
        Unrolled initial parameters, float64.

    Examples
    --------
    >>> theta = init_weights((400, 25, 10), random_state=0)
    >>> theta.shape
    (10285,)
    >>> Theta1 = roll(theta, (400, 25, 10))[0]
    >>> bool(abs(Theta1).max() <= 6**0.5 / 425**0.5)
    True
    """
    shapes = layer_shapes(layer_sizes)
    if epsilon_init is not None and not (
        isinstance(epsilon_init, numbers.Real)
        and np.isfinite(epsilon_init)
        and epsilon_init > 0
    ):
        raise ValueError(
            f"epsilon_init must be a positive finite float or None, "
            f"got {epsilon_init!r}."
        )
    rng = _as_random_state(random_state)
    parts = []
    for s_next, s_plus_1 in shapes:
        if epsilon_init is None:
            eps = np.sqrt(6.0) / np.sqrt((s_plus_1 - 1) + s_next)
        else:
            eps = float(epsilon_init)
        parts.append(rng.uniform(-eps, eps, size=s_next * s_plus_1))
    return np.concatenate(parts)


def _compute_dtype(X):
    """float32 input is computed in float32; everything else in float64."""
    return np.float32 if X.dtype == np.float32 else np.float64


def _check_X(X, n_features):
    if not hasattr(X, "shape") or not hasattr(X, "dtype"):
        X = np.asarray(X, dtype=np.float64)
    if len(X.shape) != 2:
        raise ValueError(f"X must be 2-D (m, n), got shape {X.shape}.")
    if X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features but layer_sizes[0] is {n_features}."
        )
    if _is_sparse(X) and X.format not in ("csr", "csc"):
        X = X.tocsr()
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


def _is_sparse(X):
    return hasattr(X, "tocsr") and not isinstance(X, np.ndarray)


def _sigmoid(z, out):
    """``out <- g(z)``; returns ``out``, which may be ``z`` itself.

    float64 uses scipy's ``expit``. float32 uses the identity
    ``g(z) = (1 + tanh(z / 2)) / 2``, because numpy's float32 ``tanh`` is
    vectorized (SIMD) and about three times faster than ``expit``; its
    absolute error, a few float32 ulps, is what float32 promises anyway, and it
    saturates to exactly 0 and 1 without overflow.
    """
    if z.dtype == np.float32:
        np.multiply(z, 0.5, out=out)
        np.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        return out
    return expit(z, out=out)


def _forward(thetas, X, dtype, buffers=None):
    """Forward propagation; returns the activations of every layer.

    ``activations[0]`` is ``X`` and ``activations[-1]`` the output layer's
    ``z`` (not ``g(z)``): the cost and ``predict_log_proba`` need ``z``.
    ``buffers`` are optional preallocated ``(m, s_l)`` arrays, one per
    layer after the input, written in place.
    """
    activations = [X]
    a = X
    last = len(thetas) - 1
    for l, Theta in enumerate(thetas):
        W, b = Theta[:, 1:], Theta[:, 0]
        if buffers is None:
            z = np.asarray(a @ W.T, dtype=dtype)
        elif _is_sparse(a):
            z = buffers[l]
            z[...] = a @ W.T
        else:
            z = buffers[l]
            np.dot(a, W.T, out=z)
        z += b  # z^(l+1) = Theta^(l) [1; a^(l)]
        if l < last:
            _sigmoid(z, out=z)  # a^(l+1) = g(z^(l+1)), in place
        activations.append(z)
        a = z
    return activations


def feedforward(theta, X, layer_sizes, *, return_z=False):
    """Forward propagation: the network's output for every sample.

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
        Unrolled parameters.
    X : {ndarray, sparse matrix} of shape (m, s_1)
        One sample per row. float32 input is computed in float32.
    layer_sizes : sequence of int
        Units per layer, input first.
    return_z : bool, default=False
        Return the output layer's input ``z^(L)`` instead of
        ``a^(L) = g(z^(L))``.

    Returns
    -------
    h : ndarray of shape (m, K)
        ``h_Theta(x)`` for every row of ``X`` (or ``z^(L)``).

    Examples
    --------
    >>> import numpy as np
    >>> feedforward(np.zeros(9), np.ones((2, 2)), (2, 2, 1))
    array([[0.5],
           [0.5]])
    """
    sizes = _check_layer_sizes(layer_sizes)
    X = _check_X(X, sizes[0])
    dtype = _compute_dtype(X)
    thetas = roll(np.asarray(theta, dtype=dtype), sizes)
    z = _forward(thetas, X, dtype)[-1]
    return z if return_z else expit(z, out=z)


# log(max(h, 1 - h)) is at least log(0.5), so a product of up to this many
# such factors stays above the smallest normal number (2^-1022 in float64,
# 2^-126 in float32) and its log is finite.
_MAX_FACTORS = {np.dtype(np.float64): 1000, np.dtype(np.float32): 120}


def _row_costs(z, h, Y, scratch, ones):
    """``sum_k -[y_k log h_k + (1 - y_k) log(1 - h_k)]`` for each row, float64.

    Written from ``z`` and ``h = g(z)`` in the form that stays finite when
    ``h`` saturates: ``log(1 + e^z) - y z`` with
    ``log(1 + e^z) = max(z, 0) - log(max(h, 1 - h))``. The log's argument is
    in [0.5, 1], so the K logs of a row are taken as the log of their
    product, up to ``_MAX_FACTORS`` factors at a time: one ``log`` per row
    instead of one per output, the same value up to rounding.
    ``scratch`` is an array like ``z``, overwritten; ``ones`` a vector of
    ``K`` ones in ``z``'s dtype (row sums as BLAS products).
    """
    m, K = z.shape
    np.subtract(1, h, out=scratch)
    np.maximum(scratch, h, out=scratch)
    step = _MAX_FACTORS[z.dtype]
    log_max = np.zeros(m)
    for start in range(0, K, step):
        factors = scratch[:, start : start + step]
        if factors.shape[1] <= 16:  # a few column products beat a reduction
            product = factors[:, 0].copy()
            for k in range(1, factors.shape[1]):
                product *= factors[:, k]
        else:
            product = np.multiply.reduce(factors, axis=1)
        log_max += np.log(product)
    relu = np.maximum(z, 0, out=scratch) @ ones
    yz = np.multiply(Y, z, out=scratch) @ ones
    return relu - log_max - yz


def _check_targets(Y, m, K, dtype):
    Y = np.asarray(Y)
    if Y.ndim == 1 and K == 1:
        Y = Y.reshape(-1, 1)
    if Y.shape != (m, K):
        raise ValueError(f"Y must have shape (m, K) = {(m, K)}, got {Y.shape}.")
    return Y.astype(dtype, copy=False)


def _check_sample_weight(sample_weight, m, dtype):
    if sample_weight is None:
        return None, float(m)
    w = np.asarray(sample_weight, dtype=dtype)
    if w.shape != (m,):
        raise ValueError(f"sample_weight must have shape ({m},), got {w.shape}.")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    sw_sum = float(np.sum(w, dtype=np.float64))
    if sw_sum <= 0:
        raise ValueError("sample_weight must not sum to zero.")
    return w, sw_sum


class _Workspace:
    """Scratch arrays reused across evaluations of the same shapes.

    A cache, not state: the result of an evaluation never depends on what a
    workspace held before. One workspace must not be shared by two threads.
    """

    def __init__(self):
        self._arrays = {}

    def get(self, key, shape, dtype):
        arr = self._arrays.get(key)
        rows = shape[0]
        if (
            arr is None
            or arr.dtype != dtype
            or arr.shape[1:] != shape[1:]
            or arr.shape[0] < rows
        ):
            arr = np.empty(shape, dtype=dtype)
            self._arrays[key] = arr
        return arr[:rows]

    def ones(self, n, dtype):
        """A vector of ``n`` ones (for sums as BLAS products)."""
        arr = self._arrays.get(("ones", np.dtype(dtype)))
        if arr is None or arr.shape[0] < n:
            arr = np.ones(n, dtype=dtype)
            self._arrays[("ones", np.dtype(dtype))] = arr
        return arr[:n]


def cost_and_gradient(
    theta,
    X,
    Y,
    layer_sizes,
    lambda_=0.0,
    sample_weight=None,
    *,
    block_rows=None,
    workspace=None,
):
    """The regularized cost ``J(Theta)`` and its gradient by backpropagation.

    ``J = -1/m sum_i sum_k [y_k log h_k + (1 - y_k) log(1 - h_k)]
    + lambda_/(2m) sum_l sum Theta_l[:, 1:]**2``: the bias column is not
    penalized. With sample weights ``w``,
    ``J = sum_i w_i J_i / sum(w) + lambda_/(2 sum(w)) sum Theta[:, 1:]**2``,
    so unit weights give the formula above and a weight of 2 equals a
    duplicated row.

    The gradient is backpropagation: ``delta^(L) = a^(L) - y``,
    ``delta^(l) = delta^(l+1) Theta^(l)[:, 1:] .* g'(z^(l))``, accumulated
    as ``Delta^(l) = delta^(l+1)^T [1, a^(l)]`` and divided by ``m``, plus
    ``lambda_/m Theta^(l)`` on the non-bias columns.

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
        Unrolled parameters.
    X : {ndarray, sparse matrix} of shape (m, s_1)
        One sample per row. float32 input is computed in float32 (the cost
        is summed in float64).
    Y : ndarray of shape (m, K)
        0/1 targets, one column per output unit (``(m,)`` is accepted when
        ``K == 1``).
    layer_sizes : sequence of int
        Units per layer, input first, ``K`` last.
    lambda_ : float, default=0.0
        Regularization strength.
    sample_weight : ndarray of shape (m,), default=None
        Non-negative weight of each sample; None means all ones.
    block_rows : int, default=None
        Evaluate over blocks of this many rows and add up, which bounds the
        memory of the activations; None evaluates all rows at once. The
        result does not depend on it beyond rounding.
    workspace : object, default=None
        Scratch space from a previous call (see ``_Workspace``) to reuse
        buffers across calls; None allocates them for this call.

    Returns
    -------
    J : float
        The cost.
    grad : ndarray of shape (n_params,)
        ``dJ/dtheta``, unrolled like ``theta``, in the computation's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> J, grad = cost_and_gradient(np.zeros(7), np.ones((2, 1)), [[1], [0]], (1, 2, 1))
    >>> round(J, 6), grad.shape
    (0.693147, (7,))
    """
    sizes = _check_layer_sizes(layer_sizes)
    X = _check_X(X, sizes[0])
    dtype = _compute_dtype(X)
    m, K = X.shape[0], sizes[-1]
    if m == 0:
        raise ValueError("X has no rows: the cost of an empty sample is undefined.")
    Y = _check_targets(Y, m, K, dtype)
    w, sw_sum = _check_sample_weight(sample_weight, m, dtype)
    if not (np.isfinite(lambda_) and lambda_ >= 0):
        raise ValueError(f"lambda_ must be finite and >= 0, got {lambda_!r}.")
    theta = np.asarray(theta)
    if theta.dtype != dtype:
        theta = theta.astype(dtype)
    if block_rows is None:
        block_rows = m
    elif not isinstance(block_rows, numbers.Integral) or block_rows < 1:
        raise ValueError(f"block_rows must be a positive int, got {block_rows!r}.")
    if workspace is None:
        workspace = _Workspace()
    data_cost, grad = _data_cost_and_gradient(
        theta, X, Y, sizes, w, int(block_rows), workspace
    )
    return _regularize(theta, data_cost, grad, sizes, lambda_, sw_sum)


def _data_cost_and_gradient(theta, X, Y, sizes, w, block_rows, workspace):
    """The data term of the cost and its gradient, summed, not normalized.

    Returns ``sum_i w_i J_i`` (a float) and ``sum_i w_i dJ_i/dtheta`` (a new
    vector in ``theta``'s dtype), evaluated over blocks of ``block_rows``
    rows: no regularization, no division by ``sum(w)``. Sums over disjoint
    sets of rows add up, so this is also what the Dask path computes on each
    chunk, on the workers, before adding the chunks' sums and calling
    :func:`_regularize`. The arguments are taken as checked: ``theta`` in
    the computation's dtype, ``Y`` of shape ``(m, K)`` and ``w`` None or of
    shape ``(m,)`` in that dtype.
    """
    m = X.shape[0]
    dtype = theta.dtype
    thetas = roll(theta, sizes)  # checks theta's length
    shapes = [T.shape for T in thetas]
    block_rows = max(1, min(block_rows, m))  # a Dask chunk may be empty
    grad = np.zeros(theta.shape, dtype=dtype)
    grad_thetas = _roll(grad, shapes)
    # Per-block gradients go straight into grad's views for the first block
    # and into a scratch vector, then added, for the others.
    scratch = None
    data_cost = 0.0
    for start in range(0, m, block_rows):
        stop = min(start + block_rows, m)
        if start == 0:
            target = grad_thetas
        else:
            if scratch is None:
                scratch = workspace.get("grad", theta.shape, dtype)
            target = _roll(scratch, shapes)
        w_block = None if w is None else w[start:stop]
        data_cost += _block_cost_and_gradient(
            thetas, X[start:stop], Y[start:stop], w_block, target, workspace
        )
        if start > 0:
            grad += scratch
    return data_cost, grad


def _regularize(theta, data_cost, grad, sizes, lambda_, sw_sum):
    """``J`` and its gradient from the summed data term: add the penalty, divide.

    ``grad`` (the summed data gradient, in ``theta``'s dtype) is updated in
    place and returned.
    """
    # Regularization: the non-bias weights of each layer are the contiguous
    # segment after its s_{l+1} bias weights (column-major layout).
    reg = 0.0
    if lambda_ > 0:
        start = 0
        for s_next, cols in layer_shapes(sizes):
            seg = slice(start + s_next, start + s_next * cols)
            reg += float(np.dot(theta[seg], theta[seg]))
            grad[seg] += lambda_ * theta[seg]
            start += s_next * cols
    grad /= sw_sum
    J = (data_cost + 0.5 * lambda_ * reg) / sw_sum
    return J, grad


def _block_cost_and_gradient(thetas, X, Y, w, grad_thetas, workspace):
    """Unnormalized cost and gradient of one block of rows.

    Returns ``sum_i w_i sum_k cost_ik`` and writes ``sum_i w_i dcost_i/dTheta``
    (without regularization, not divided by ``sum(w)``) into ``grad_thetas``.

    Per hidden unit a row holds two numbers (its activation and its delta),
    per output unit three (``z``, ``h`` and one cost scratch array): every
    elementwise step runs in place in these workspace arrays.
    """
    m = X.shape[0]
    dtype = thetas[0].dtype
    n_layers = len(thetas) + 1
    buffers = [
        workspace.get(("a", l), (m, Theta.shape[0]), dtype)
        for l, Theta in enumerate(thetas)
    ]

    # Phase 1, feedforward: a^(1) = x, a^(l+1) = g(Theta^(l) [1; a^(l)]).
    activations = _forward(thetas, X, dtype, buffers)
    z = activations[-1]
    h = _sigmoid(z, out=workspace.get("h", z.shape, dtype))

    # -[y log h + (1 - y) log(1 - h)] per row, finite when h saturates.
    row_costs = _row_costs(
        z,
        h,
        Y,
        scratch=workspace.get("cost", z.shape, dtype),
        ones=workspace.ones(z.shape[1], dtype),
    )
    data_cost = float(row_costs.sum() if w is None else np.dot(w, row_costs))

    # Phase 2, backward pass.
    ones_m = workspace.ones(m, dtype)
    delta = np.subtract(h, Y, out=z)  # delta^(L) = a^(L) - y
    if w is not None:
        delta *= w[:, None]
    for l in range(n_layers - 2, -1, -1):
        a_prev = activations[l]
        G = grad_thetas[l]
        # Delta^(l) = delta^(l+1)^T [1, a^(l)]: column 0 is the bias gradient,
        # the rest (as its transpose, C-contiguous) the weight gradient.
        np.dot(ones_m, delta, out=G[:, 0])  # column sums, as one BLAS call
        if _is_sparse(a_prev):
            G[:, 1:].T[...] = a_prev.T @ delta
        else:
            np.dot(a_prev.T, delta, out=G[:, 1:].T)
        if l == 0:
            break
        # delta^(l) = delta^(l+1) Theta^(l)[:, 1:] .* g'(z^(l)), g' = a (1 - a).
        # a^(l) is not needed after the product above, so 1 - a overwrites
        # it: three in-place passes and no g' array.
        delta_prev = workspace.get(("delta", l), a_prev.shape, dtype)
        np.dot(delta, thetas[l][:, 1:], out=delta_prev)
        delta_prev *= a_prev
        np.subtract(1, a_prev, out=a_prev)
        delta_prev *= a_prev
        delta = delta_prev
    return data_cost


def cost(theta, X, Y, layer_sizes, lambda_=0.0, sample_weight=None, **kwargs):
    """The regularized cost ``J(Theta)`` alone.

    Same parameters as :func:`cost_and_gradient`.

    Returns
    -------
    J : float

    Examples
    --------
    >>> import numpy as np
    >>> round(cost(np.zeros(7), np.ones((2, 1)), [[1], [0]], (1, 2, 1)), 6)
    0.693147
    """
    return cost_and_gradient(
        theta, X, Y, layer_sizes, lambda_, sample_weight, **kwargs
    )[0]


def numerical_gradient(fun, theta, epsilon=1e-4):
    """Gradient of ``fun`` at ``theta`` by central differences.

    ``(J(theta + e_i) - J(theta - e_i)) / (2 epsilon)`` for each parameter,
    as the seed's gradient checking. Costs ``2 n_params`` calls of ``fun``:
    for checking small networks, never for training.

    Parameters
    ----------
    fun : callable
        ``fun(theta) -> float``.
    theta : ndarray of shape (n_params,)
    epsilon : float, default=1e-4

    Returns
    -------
    numgrad : ndarray of shape (n_params,), float64

    Examples
    --------
    >>> import numpy as np
    >>> numerical_gradient(lambda t: float(t @ t), np.array([1.0, -2.0]))
    array([ 2., -4.])
    """
    theta = np.array(theta, dtype=np.float64)
    if theta.ndim != 1:
        raise ValueError(f"theta must be 1-D, got shape {theta.shape}.")
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be positive, got {epsilon!r}.")
    numgrad = np.empty_like(theta)
    for i in range(theta.size):
        saved = theta[i]
        theta[i] = saved + epsilon
        loss_plus = fun(theta)
        theta[i] = saved - epsilon
        loss_minus = fun(theta)
        theta[i] = saved
        numgrad[i] = (loss_plus - loss_minus) / (2 * epsilon)
    return numgrad


def gradient_check(theta, X, Y, layer_sizes, lambda_=0.0, epsilon=1e-4):
    """Relative difference between backpropagation and numerical gradients.

    Parameters
    ----------
    theta, X, Y, layer_sizes, lambda_
        As in :func:`cost_and_gradient` (X is used in float64).
    epsilon : float, default=1e-4
        Step of :func:`numerical_gradient`.

    Returns
    -------
    diff : float
        ``norm(numgrad - grad) / norm(numgrad + grad)``; the course asks for
        less than 1e-9 with a correct implementation.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> X, Y = rng.randn(5, 3), np.eye(3)[[1, 2, 0, 1, 2]]
    >>> theta = init_weights((3, 5, 3), random_state=0)
    >>> bool(gradient_check(theta, X, Y, (3, 5, 3), lambda_=3.0) < 1e-9)
    True
    """
    X = _check_X(X, _check_layer_sizes(layer_sizes)[0])
    X = X.astype(np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    _, grad = cost_and_gradient(theta, X, Y, layer_sizes, lambda_)
    numgrad = numerical_gradient(
        lambda t: cost(t, X, Y, layer_sizes, lambda_), theta, epsilon
    )
    denom = np.linalg.norm(numgrad + grad)
    if denom == 0:
        return 0.0
    return float(np.linalg.norm(numgrad - grad) / denom)
