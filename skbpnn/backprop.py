"""The course notes' neural-network math as pure functions of arrays.

Everything a sigmoid network trained by backpropagation needs, in one file:
layer shapes, unrolling and rolling of the parameter vector, the sigmoid and
its gradient, random initialization, forward propagation, the regularized
cross-entropy cost, its gradient by backpropagation, the Gauss-Newton matrix
of the cost's data term times vectors, and gradient checking.
Nothing here keeps state or imports scikit-learn. The evaluation itself (row
blocks, scratch buffers, the in-place forms of the same formulas) lives in the
private module ``skbpnn._evaluation``; its :class:`Workspace` is public here.

Notation (the course notes', kept in the code):

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

The code stores samples as rows: where the course notes write
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

from ._evaluation import (
    Workspace,
    data_cost_and_gradient,
    forward,
    gauss_newton_matrix_blocked,
    gauss_newton_rows,
    is_sparse,
    regularize,
    roll_views,
)
from ._random import as_random_state

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
    "gauss_newton_product",
    "numerical_gradient",
    "gradient_check",
    "Workspace",
    "BIAS_PRECISION",
    "weight_mask",
    "gauss_newton_matrix",
    "posterior_precision",
    "laplace_log_evidence",
    "log_evidence",
    "n_effective_params",
]


def _positive_ints(values, name):
    """``values`` as a tuple of ints, each >= 1, or a ValueError naming ``name``.

    The one rule for layer sizes: the estimator's ``hidden_layer_sizes`` is
    checked with it too.
    """
    sizes = tuple(values)
    for s in sizes:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 1:
            raise ValueError(f"{name} must be positive integers, got {values!r}.")
    return tuple(int(s) for s in sizes)


def _check_layer_sizes(layer_sizes):
    sizes = _positive_ints(layer_sizes, "layer_sizes")
    if len(sizes) < 2:
        raise ValueError(
            "layer_sizes needs at least an input and an output layer, "
            f"got {layer_sizes!r}."
        )
    return sizes


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
    theta, shapes = _check_theta(theta, layer_sizes)
    return roll_views(theta, shapes)


def _check_theta(theta, layer_sizes):
    """``theta`` as an array and the layers' shapes, or a ValueError."""
    shapes = layer_shapes(layer_sizes)
    theta = np.asarray(theta)
    n_params = sum(r * c for r, c in shapes)
    if theta.shape != (n_params,):
        raise ValueError(
            f"theta must be a 1-D vector of {n_params} parameters for "
            f"layer_sizes={tuple(layer_sizes)}, got shape {theta.shape}."
        )
    return theta, shapes


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


def init_weights(layer_sizes, epsilon_init=None, random_state=None):
    """Random initial parameters that break the symmetry between units.

    Every weight of ``Theta_l``, bias included, is drawn uniformly from
    ``[-eps_l, eps_l]``.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, input first.
    epsilon_init : float or None, default=None
        Half-width of the interval. None uses the course notes' rule per layer,
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
    rng = as_random_state(random_state)
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
    if is_sparse(X) and X.format not in ("csr", "csc"):
        X = X.tocsr()
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


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
    z = forward(thetas, X, dtype)[-1]
    return z if return_z else expit(z, out=z)


def _check_targets(Y, m, K, dtype):
    Y = np.asarray(Y)
    if Y.ndim == 1 and K == 1:
        Y = Y.reshape(-1, 1)
    if Y.shape != (m, K):
        raise ValueError(f"Y must have shape (m, K) = {(m, K)}, got {Y.shape}.")
    return Y.astype(dtype, copy=False)


# Also the Dask fit's message for the same rule.
_INVALID_SAMPLE_WEIGHT = "sample_weight must be finite and non-negative."


def _check_sample_weight(sample_weight, m, dtype):
    if sample_weight is None:
        return None, float(m)
    w = np.asarray(sample_weight, dtype=dtype)
    if w.shape != (m,):
        raise ValueError(f"sample_weight must have shape ({m},), got {w.shape}.")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(_INVALID_SAMPLE_WEIGHT)
    sw_sum = float(np.sum(w, dtype=np.float64))
    if sw_sum <= 0:
        raise ValueError("sample_weight must not sum to zero.")
    return w, sw_sum


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
    workspace : Workspace, default=None
        Scratch arrays kept from earlier calls (see :class:`Workspace`), so
        that repeated evaluations, as an optimizer makes, allocate nothing;
        None allocates them for this call.

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
        workspace = Workspace()
    elif not isinstance(workspace, Workspace):
        raise ValueError(
            f"workspace must be a skbpnn.backprop.Workspace, got {workspace!r}."
        )
    theta, shapes = _check_theta(theta, sizes)
    data_cost, grad = data_cost_and_gradient(
        theta, X, Y, shapes, w, int(block_rows), workspace
    )
    return regularize(theta, data_cost, grad, shapes, lambda_, sw_sum)


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


def gauss_newton_product(theta, X, layer_sizes, V, sample_weight=None):
    """The Gauss-Newton matrix of the data term times vectors, ``G @ V``.

    The data term is the unnormalized cross-entropy
    ``E_D = sum_i w_i sum_k -[y_k log h_k + (1 - y_k) log(1 - h_k)]``
    (``m J`` without the penalty). Its generalized Gauss-Newton matrix is

    ``G = sum_i w_i J_i^T diag(h_i (1 - h_i)) J_i``,

    ``J_i = dz^(L)_i / dtheta`` the ``(K, P)`` Jacobian of row ``i``'s
    output-layer input and ``h = g(z^(L))``: the Hessian of ``E_D`` with
    the second derivatives of the network itself left out, so positive
    semi-definite, and independent of ``Y`` (with a sigmoid output and the
    cross-entropy, ``d^2 E_D / dz^2 = h (1 - h)``).

    ``G v`` is computed without forming ``G`` or ``J``, in the passes of
    backpropagation, with ``dTheta_l = roll(v)``:

    1. forward, the directional derivatives (R-operator)
       ``R{a^(1)} = 0``,
       ``R{z^(l+1)} = dTheta^(l) [1; a^(l)] + Theta^(l)[:, 1:] R{a^(l)}``,
       ``R{a^(l+1)} = g'(z^(l+1)) .* R{z^(l+1)}``; then ``R{z^(L)} = J v``;
    2. ``delta^(L) = w .* h (1 - h) .* R{z^(L)}`` (``D J v``), in place of
       the gradient's ``a^(L) - y``;
    3. backward as in :func:`cost_and_gradient`:
       ``delta^(l) = delta^(l+1) Theta^(l)[:, 1:] .* g'(z^(l))``, and
       ``(G v)_l = delta^(l+1)^T [1, a^(l)]`` unrolled (``J^T D J v``).

    This is the plain form, one column of ``V`` at a time;
    ``skbpnn._evaluation.gauss_newton_product_blocked`` is the fast one
    (row blocks, all columns in each matrix product).

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
        Unrolled parameters, the point at which ``G`` is taken.
    X : {ndarray, sparse matrix} of shape (m, s_1)
        One sample per row. float32 input is computed in float32.
    layer_sizes : sequence of int
        Units per layer, input first, ``K`` last.
    V : ndarray of shape (n_params,) or (n_params, r)
        The vector, or ``r`` vectors as columns.
    sample_weight : ndarray of shape (m,), default=None
        Non-negative weight of each sample; None means all ones.

    Returns
    -------
    GV : ndarray of the shape of ``V``, float64
        ``G @ V``.

    Examples
    --------
    >>> import numpy as np
    >>> sizes = (2, 3, 1)
    >>> theta = init_weights(sizes, random_state=0)
    >>> X = np.array([[0.0, 1.0], [1.0, -1.0], [2.0, 0.5]])
    >>> V = np.random.RandomState(0).randn(theta.size, 2)
    >>> GV = gauss_newton_product(theta, X, sizes, V)
    >>> GV.shape
    (13, 2)
    >>> # G is symmetric positive semi-definite: V^T G V is too.
    >>> VGV = V.T @ GV
    >>> bool(np.allclose(VGV, VGV.T) and np.all(np.linalg.eigvalsh(VGV) >= 0))
    True
    """
    sizes = _check_layer_sizes(layer_sizes)
    X = _check_X(X, sizes[0])
    dtype = _compute_dtype(X)
    m = X.shape[0]
    if m == 0:
        raise ValueError("X has no rows: the Gauss-Newton matrix needs data.")
    w, _ = _check_sample_weight(sample_weight, m, dtype)
    theta, _ = _check_theta(theta, sizes)
    thetas = roll(theta.astype(dtype, copy=False), sizes)
    V = np.asarray(V)
    if V.ndim not in (1, 2) or V.shape[0] != theta.shape[0]:
        raise ValueError(
            f"V must have shape ({theta.shape[0]},) or ({theta.shape[0]}, r), "
            f"got {V.shape}."
        )
    if not np.all(np.isfinite(V)):
        raise ValueError("V must be finite.")
    columns = V.reshape(theta.shape[0], -1)

    # Phase 1 of backpropagation once: a^(1) = x, ..., z^(L), h = g(z^(L)).
    activations = forward(thetas, X, dtype)
    h = expit(activations[-1])
    D = h * (1 - h)  # d^2 cost / dz^(L)^2 of each row and output unit
    if w is not None:
        D *= w[:, None]

    GV = np.empty(columns.shape)
    for j in range(columns.shape[1]):
        dthetas = roll(columns[:, j].astype(dtype), sizes)
        # Forward, the directional derivatives R{z^(l+1)} and R{a^(l+1)}.
        Ra = None
        for l, (Theta, dTheta) in enumerate(zip(thetas, dthetas)):
            a = activations[l]
            Rz = a @ dTheta[:, 1:].T + dTheta[:, 0]
            if Ra is not None:
                Rz += Ra @ Theta[:, 1:].T
            if l < len(thetas) - 1:
                a_next = activations[l + 1]
                Ra = a_next * (1 - a_next) * Rz  # g'(z) = a (1 - a)
        # delta^(L) = D J v, then backward: J^T delta^(L).
        delta = D * Rz
        grads = [None] * len(thetas)
        for l in range(len(thetas) - 1, -1, -1):
            a = activations[l]
            # delta^(l+1)^T [1, a^(l)]: column 0 the bias part.
            grads[l] = np.column_stack([delta.sum(axis=0), (a.T @ delta).T])
            if l > 0:
                delta = (delta @ thetas[l][:, 1:]) * a * (1 - a)
        GV[:, j] = unroll(grads)
    return GV.reshape(V.shape)


def numerical_gradient(fun, theta, epsilon=1e-4):
    """Gradient of ``fun`` at ``theta`` by central differences.

    ``(J(theta + e_i) - J(theta - e_i)) / (2 epsilon)`` for each parameter,
    as the course notes' gradient checking. Costs ``2 n_params`` calls of ``fun``:
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


# ----------------------------------------------------------------- evidence
#
# The Bayesian reading of the cost (MacKay 1992): lambda_/2 |w|^2 is a
# Gaussian prior of precision lambda_ on the non-bias weights w, the summed
# cross-entropy E_D = m J_data the negative log likelihood, and the fitted
# theta the posterior mode. The functions below give the Laplace
# approximation of the evidence p(D | lambda_) around that mode.

#: Precision of the Gaussian prior the evidence puts on the biases (the cost
#: does not penalize them). Without it the Laplace integral diverges along
#: directions no data constrain.
BIAS_PRECISION = 1e-4


def weight_mask(layer_sizes):
    """The diagonal 0/1 mask ``M`` of the non-bias weights, unrolled.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, input first.

    Returns
    -------
    mask : ndarray of shape (n_params,), bool
        True for the entries of ``theta`` in ``Theta_l[:, 1:]`` (the weights
        ``w`` the cost penalizes), False for the biases ``Theta_l[:, 0]``.

    Examples
    --------
    >>> weight_mask((1, 2, 1)).astype(int)
    array([0, 0, 1, 1, 0, 1, 1])
    """
    shapes = layer_shapes(layer_sizes)
    parts = []
    for s_next, cols in shapes:
        part = np.ones((s_next, cols), dtype=bool)
        part[:, 0] = False
        parts.append(part.ravel(order="F"))
    return np.concatenate(parts)


def gauss_newton_matrix(theta, X, layer_sizes, sample_weight=None):
    """The generalized Gauss-Newton matrix ``G`` of the summed cross-entropy.

    ``G = sum_n w_n J_n^T diag(a_n^(L) (1 - a_n^(L))) J_n``, with ``J_n``
    the ``(K, n_params)`` Jacobian of the output layer's input ``z^(L)`` of
    row ``n`` with respect to ``theta`` and ``w_n`` its sample weight. It is
    the Hessian of ``E_D = m J_data`` (the unnormalized, unregularized cost)
    without the terms in the second derivatives of ``z^(L)``: positive
    semi-definite everywhere, and equal to the Hessian with no hidden layer
    (one-vs-all logistic regression, where ``z^(L)`` is linear in
    ``theta``).

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
        Unrolled parameters.
    X : {ndarray, sparse matrix} of shape (m, s_1)
        One sample per row.
    layer_sizes : sequence of int
        Units per layer, input first, ``K`` last.
    sample_weight : ndarray of shape (m,), default=None
        Non-negative weight of each sample; None means all ones.

    Returns
    -------
    G : ndarray of shape (n_params, n_params)
        Symmetric, float64 (whatever the dtype of ``X``).

    Examples
    --------
    With no hidden layer and ``theta = 0``, ``G = 1/4 [1, x]^T [1, x]``:

    >>> import numpy as np
    >>> gauss_newton_matrix(np.zeros(2), np.array([[1.0], [2.0]]), (1, 1))
    array([[0.5 , 0.75],
           [0.75, 1.25]])
    """
    sizes = _check_layer_sizes(layer_sizes)
    X = _check_X(X, sizes[0])
    theta, shapes = _check_theta(np.asarray(theta, dtype=np.float64), sizes)
    w, _ = _check_sample_weight(sample_weight, X.shape[0], np.float64)
    return gauss_newton_matrix_blocked(
        theta, X, shapes, w, gauss_newton_rows(shapes), Workspace()
    )


def posterior_precision(G, layer_sizes, lambda_, bias_precision=BIAS_PRECISION):
    """The Laplace approximation's precision ``A = G + lambda_ M + b (I - M)``.

    The Gauss-Newton Hessian of ``S(theta) = E_D + lambda_/2 |w|^2 +
    b/2 |bias|^2``, with ``M`` the mask of the non-bias weights
    (:func:`weight_mask`) and ``b`` the biases' prior precision.

    Parameters
    ----------
    G : ndarray of shape (n_params, n_params)
        The Gauss-Newton matrix (:func:`gauss_newton_matrix`).
    layer_sizes : sequence of int
    lambda_ : float
        The weights' prior precision, the cost's regularization strength.
    bias_precision : float, default=BIAS_PRECISION
        The biases' prior precision ``b``.

    Returns
    -------
    A : ndarray of shape (n_params, n_params)
        A new array.
    """
    mask = weight_mask(layer_sizes)
    A = np.array(G, dtype=np.float64)
    A[np.diag_indices_from(A)] += np.where(mask, lambda_, bias_precision)
    return A


def laplace_log_evidence(
    data_cost,
    weight_norm2,
    bias_norm2,
    logdet_A,
    lambda_,
    n_weights,
    n_biases,
    bias_precision=BIAS_PRECISION,
):
    """The Laplace approximation of ``log p(D | lambda_)`` from its terms.

    ``log_evidence = -S + k/2 log(lambda_) + (P - k)/2 log(b) - 1/2 log det A``
    with ``S = E_D + lambda_/2 |w|^2 + b/2 |bias|^2`` at the posterior mode,
    ``k`` weights and ``P - k`` biases (the ``2 pi`` terms of the prior and
    of the Gaussian integral cancel).

    Parameters
    ----------
    data_cost : float
        ``E_D``, the summed (weighted) cross-entropy at the mode.
    weight_norm2, bias_norm2 : float
        ``|w|^2`` and ``|bias|^2`` at the mode.
    logdet_A : float
        ``log det A`` (:func:`posterior_precision`).
    lambda_ : float
        The weights' prior precision; 0 gives ``-inf`` (an improper prior).
    n_weights, n_biases : int
        ``k`` and ``P - k``.
    bias_precision : float, default=BIAS_PRECISION

    Returns
    -------
    log_evidence : float

    Examples
    --------
    >>> round(laplace_log_evidence(1.0, 2.0, 0.0, 0.0, 1.0, 1, 0), 6)
    -2.0
    """
    if lambda_ <= 0:
        return -np.inf
    S = data_cost + 0.5 * lambda_ * weight_norm2 + 0.5 * bias_precision * bias_norm2
    return float(
        -S
        + 0.5 * n_weights * np.log(lambda_)
        + 0.5 * n_biases * np.log(bias_precision)
        - 0.5 * logdet_A
    )


def log_evidence(
    theta,
    X,
    Y,
    layer_sizes,
    lambda_,
    sample_weight=None,
    *,
    bias_precision=BIAS_PRECISION,
    return_n_effective_params=False,
):
    """The log evidence ``log p(D | lambda_)`` of a fitted network (Laplace).

    MacKay's evidence for classification networks, around the mode
    ``theta`` (the weights fitted with ``lambda_``): priors
    ``w ~ N(0, I/lambda_)`` on the non-bias weights and
    ``bias ~ N(0, I/bias_precision)`` on the biases, the Gauss-Newton matrix
    in place of the Hessian. Dense: forms ``G`` and factorizes
    ``A = G + lambda_ M + b (I - M)`` by Cholesky, so for small networks
    only (``n_params`` up to a few thousand).

    Parameters
    ----------
    theta : ndarray of shape (n_params,)
        The posterior mode: the weights minimizing the cost at ``lambda_``.
    X : {ndarray, sparse matrix} of shape (m, s_1)
    Y : ndarray of shape (m, K)
        0/1 targets.
    layer_sizes : sequence of int
    lambda_ : float
        The regularization strength ``theta`` was fitted with.
    sample_weight : ndarray of shape (m,), default=None
    bias_precision : float, default=BIAS_PRECISION
    return_n_effective_params : bool, default=False
        Also return ``gamma = k - lambda_ tr(A^-1 M)``, the number of
        well-determined parameters.

    Returns
    -------
    log_evidence : float
    gamma : float
        Only with ``return_n_effective_params``.

    Examples
    --------
    >>> import numpy as np
    >>> X, Y = np.array([[-1.0], [1.0]]), np.array([[0.0], [1.0]])
    >>> round(log_evidence(np.zeros(2), X, Y, (1, 1), 1.0), 4)
    -5.8477
    """
    sizes = _check_layer_sizes(layer_sizes)
    X = _check_X(X, sizes[0])
    m = X.shape[0]
    X64 = X.astype(np.float64, copy=False)
    Y = _check_targets(Y, m, sizes[-1], np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    w, _ = _check_sample_weight(sample_weight, m, np.float64)
    theta, shapes = _check_theta(theta, sizes)
    data_cost, _ = data_cost_and_gradient(theta, X64, Y, shapes, w, m, Workspace())
    mask = weight_mask(sizes)
    G = gauss_newton_matrix(theta, X64, sizes, w)
    A = posterior_precision(G, sizes, lambda_, bias_precision)
    L = np.linalg.cholesky(A)
    logdet_A = 2.0 * float(np.sum(np.log(np.diag(L))))
    value = laplace_log_evidence(
        data_cost,
        float(theta[mask] @ theta[mask]),
        float(theta[~mask] @ theta[~mask]),
        logdet_A,
        lambda_,
        int(mask.sum()),
        int((~mask).sum()),
        bias_precision,
    )
    if not return_n_effective_params:
        return value
    return value, n_effective_params(A, mask, lambda_)


def n_effective_params(A, mask, lambda_):
    """MacKay's ``gamma = k - lambda_ tr(A^-1 M)``: the well-determined parameters.

    Each of the ``k`` weights counts 1 when the data fix it
    (``G >> lambda_`` along it) and 0 when only the prior does. At the
    evidence's maximum over ``lambda_``, ``lambda_ = gamma / |w|^2``
    (MacKay's update).

    Parameters
    ----------
    A : ndarray of shape (n_params, n_params)
        The posterior precision (:func:`posterior_precision`).
    mask : ndarray of shape (n_params,), bool
        The non-bias weights (:func:`weight_mask`).
    lambda_ : float

    Returns
    -------
    gamma : float
        Between 0 and ``k``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag([3.0, 1.0])  # G = diag(2, 0), lambda_ = 1
    >>> n_effective_params(A, np.array([True, True]), 1.0)
    0.666...
    """
    A = np.asarray(A, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    A_inv = np.linalg.inv(A)
    return float(mask.sum() - lambda_ * np.sum(np.diag(A_inv)[mask]))
