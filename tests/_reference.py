"""Reference computations the tests share, written from the definitions.

Not a test module: the Gauss-Newton matrix of the cost's data term built
from finite differences, independently of skbpnn's own passes, for the
tests of ``backprop``, ``_evaluation`` and ``_evidence``.
"""

import numpy as np

from skbpnn import backprop


def finite_difference_gauss_newton(theta, X, sizes, w=None, epsilon=1e-6):
    """``sum_i w_i J_i^T diag(h_i (1 - h_i)) J_i``, ``J`` by central differences.

    ``J_i = dz^(L)_i / dtheta``, shape ``(K, P)`` per row of ``X``, is taken
    column by column from ``backprop.feedforward``'s output layer ``z``.
    Returns the dense ``(P, P)`` float64 matrix.
    """
    X = np.asarray(X, dtype=np.float64)
    J = np.empty((X.shape[0], sizes[-1], theta.size))
    for p in range(theta.size):
        step = np.zeros_like(theta)
        step[p] = epsilon
        plus = backprop.feedforward(theta + step, X, sizes, return_z=True)
        minus = backprop.feedforward(theta - step, X, sizes, return_z=True)
        J[:, :, p] = (plus - minus) / (2 * epsilon)
    h = backprop.feedforward(theta, X, sizes)
    D = h * (1 - h) if w is None else h * (1 - h) * w[:, None]
    return np.einsum("ikp,ik,ikq->pq", J, D, J)
