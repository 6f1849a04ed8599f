"""Stochastic log-determinant and trace of a matrix known by its products.

For a symmetric positive definite ``n x n`` matrix ``A`` given only by
``matvec(V) = A @ V``, :func:`logdet_and_trace` estimates ``log det A`` and
``tr(A^-1 M)``, ``M`` a diagonal 0/1 mask, without any ``n x n`` array: the
matrix-free path of the evidence (``A = G + lambda M + 1e-4 (I - M)``). Pure
linear algebra; knows nothing of networks.

The method
----------
Each of ``n_probes`` Rademacher vectors ``z`` (entries +-1, so
``E[z z^T] = I``) starts a Lanczos recurrence, ``q_1 = z / |z|``:
``beta_{j+1} q_{j+1} = A q_j - alpha_j q_j - beta_j q_{j-1}``, which after
``k`` steps gives the tridiagonal ``T_k`` (``alpha`` on the diagonal,
``beta`` beside it) with ``Q_k^T A Q_k = T_k``. With ``T_k = U diag(theta)
U^T`` and ``tau = U[0, :]``:

- stochastic Lanczos quadrature (Ubaru, Chen and Saad, SIAM J. Matrix Anal.
  Appl. 38(4), 2017) for the log-determinant, ``log det A = tr log A =
  E[z^T log(A) z]`` and ``z^T log(A) z ~ |z|^2 sum_j tau_j^2 log(theta_j)``,
  the ``k``-point Gauss quadrature of ``log`` against ``z``'s spectral
  measure;
- Hutchinson's estimator for the trace, ``tr(A^-1 M) = E[(M z)^T A^-1 z]``,
  with ``A^-1 z ~ x_k = Q_k T_k^-1 (|z| e_1)``, the conjugate gradient
  iterate that the same recurrence yields. ``(M z)^T x_k = sum_j c_j
  (T_k^-1 |z| e_1)_j`` needs only the numbers ``c_j = (M z)^T q_j``,
  gathered as the recurrence runs, never ``Q_k``.

Sharing the Krylov spaces halves the products next to a separate run per
quantity (SLQ of ``1/x`` on probes restricted to the mask, or CG on each).
The price is small: ``(M z)^T x_k = z^T x_k - ((I - M) z)^T x_k``, and the
first term is the Gauss quadrature of ``1/x`` (error falling with the square
of CG's rate); only the second, over the unmasked entries (the biases, a
fraction of a percent of a network's parameters), converges at CG's rate.

All probes advance together: every ``matvec`` call gets the ``r =
n_probes`` current Lanczos vectors as one ``(n, r)`` array, so the product
runs matrix-matrix. No reorthogonalization: the recurrence keeps three
``(n, r)`` float64 arrays (``q_{j-1}``, ``q_j`` and ``matvec``'s result) and
the probes' signs as int8, about ``3.2 n r`` floats besides what ``matvec``
uses; a full reorthogonalization would keep ``Q_k``, ``n r k`` floats (for
``n = 203,530``, ``r = 10``, ``k = 30``: 466 MiB instead of 50 MiB). In
floating point, orthogonality is lost as Ritz values converge, which repeats
them ("ghost" copies) but leaves the Gauss quadrature of a smooth function
as accurate as in exact arithmetic, only reached after a few more steps
(Knizhnerman 1996; Ubaru, Chen and Saad 2017, section 4.4).

Accuracy
--------
Two errors add up. The probes' (statistical) one, reported as
``logdet_std`` and ``trace_std``, the standard errors of the means over the
probes, falls as ``1 / sqrt(n_probes)``. Per probe, the standard deviation
of Hutchinson's estimate of ``tr(B)`` is ``sqrt(2 sum_{i != j} B_ij^2)``:
for ``A = G + lambda I`` with ``G`` of eigenvalues ``s``, about
``sqrt(2 sum log(1 + s / lambda)^2)`` for ``log det A``, and for ``gamma =
k - lambda tr(A^-1 M)`` about ``sqrt(2 sum (s / (s + lambda))^2) <=
sqrt(2 gamma)``. The quadrature (deterministic) error falls with the steps;
it is a lower bound for ``tr(A^-1 M)`` (``1/x`` has positive even
derivatives) and, at the defaults (``n_probes=10``, ``n_steps=30``), is
small next to the probes' error on spectra spread over 8 decades as a
Gauss-Newton matrix's are: in ``tests/test_lanczos.py`` (``n`` = 300 to
2000, such spectra) both estimates fall within 3 reported standard errors
of numpy's exact ``slogdet`` and ``inv``, about 1% of ``log det A`` and of
``gamma``. The same ``random_state`` gives the same probes, hence the same
estimates: estimates for nearby matrices (the evidence at nearby lambdas)
made with one seed have correlated errors, so their differences are more
accurate than each estimate.
"""

import numbers
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh_tridiagonal

# A Lanczos column stops (its Krylov space is invariant: the quadrature is
# exact) when beta falls below this times the largest |alpha| + beta seen.
_BREAKDOWN = 1e-12


@dataclass(frozen=True)
class LogdetTrace:
    """Estimates of ``log det A`` and ``tr(A^-1 M)`` with their standard errors.

    ``logdet_samples`` and ``trace_samples`` hold the ``n_probes`` per-probe
    estimates (their means are ``logdet`` and ``trace``); ``n_steps`` the
    most Lanczos steps a probe took.
    """

    logdet: float
    logdet_std: float
    trace: float
    trace_std: float
    logdet_samples: np.ndarray
    trace_samples: np.ndarray
    n_steps: int


def _as_generator(random_state):
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    if random_state is None or (
        isinstance(random_state, numbers.Integral)
        and not isinstance(random_state, bool)
    ):
        return np.random.RandomState(random_state)
    raise ValueError(
        "random_state must be None, an int, a numpy RandomState or Generator, "
        f"got {random_state!r}."
    )


def _column_dots(A, B):
    """``sum_i A[i, j] B[i, j]`` for each column ``j``, without an ``A * B`` array."""
    return np.einsum("ij,ij->j", A, B)


def logdet_and_trace(matvec, n, mask, *, n_probes=10, n_steps=30, random_state=None):
    """Estimate ``log det A`` and ``tr(A^-1 M)`` from products with ``A``.

    Stochastic Lanczos quadrature for the log-determinant and Hutchinson's
    estimator with the Lanczos (conjugate gradient) solution for the trace,
    on the same Rademacher probes; see the module's docstring for the method
    and its accuracy.

    Parameters
    ----------
    matvec : callable
        ``matvec(V) -> A @ V`` for ``V`` of shape ``(n, r)``, float64;
        ``A`` symmetric positive definite. Called ``n_steps`` times (fewer if
        every probe's Krylov space becomes invariant), each time with all
        ``r = n_probes`` probes' vectors.
    n : int
        Order of ``A``.
    mask : array-like of bool, shape (n,)
        The diagonal of ``M``.
    n_probes : int, default=10
        Random probe vectors, at least 2 (for the standard errors). The
        standard errors fall as ``1 / sqrt(n_probes)``; the memory grows as
        ``n * n_probes``.
    n_steps : int, default=30
        Lanczos steps per probe (capped at ``n``): the quadrature's nodes.
    random_state : None, int, RandomState or Generator, default=None
        Draws the probes; an int gives the same probes, and estimates, at
        every call.

    Returns
    -------
    result : LogdetTrace
        ``logdet``, ``logdet_std``, ``trace``, ``trace_std`` (the standard
        errors of the means over the probes), the per-probe samples and the
        steps taken.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> B = rng.randn(200, 200)
    >>> A = B @ B.T / 200 + np.eye(200)
    >>> mask = np.arange(200) < 150
    >>> est = logdet_and_trace(lambda V: A @ V, 200, mask, random_state=0)
    >>> exact = np.linalg.slogdet(A)[1]
    >>> bool(abs(est.logdet - exact) < 4 * est.logdet_std)
    True
    """
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")
    n = int(n)
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (n,):
        raise ValueError(
            f"mask must be a boolean array of shape ({n},), got dtype "
            f"{mask.dtype} and shape {mask.shape}."
        )
    for name, value, least in (("n_probes", n_probes, 2), ("n_steps", n_steps, 1)):
        if (
            not isinstance(value, numbers.Integral)
            or isinstance(value, bool)
            or value < least
        ):
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}.")
    if not callable(matvec):
        raise ValueError(f"matvec must be callable, got {matvec!r}.")
    rng = _as_generator(random_state)
    r, n_steps = int(n_probes), min(int(n_steps), n)
    mask_weights = mask.astype(np.float64)

    # Rademacher probes; M z kept as int8 signs (0 off the mask).
    signs = np.where(rng.random((n, r)) < 0.5, -1, 1).astype(np.int8)
    norm_z = np.sqrt(n)
    q = signs / norm_z  # q_1 = z / |z|
    q_prev = None

    alphas = np.zeros((n_steps, r))
    betas = np.zeros((n_steps, r))  # betas[j] joins steps j and j + 1
    cs = np.zeros((n_steps, r))  # c_j = (M z)^T q_j
    steps = np.full(r, n_steps)
    active = np.ones(r, dtype=bool)
    scale = np.zeros(r)
    for j in range(n_steps):
        cs[j] = np.einsum("ij,i,ij->j", signs, mask_weights, q)
        w = np.asarray(matvec(q), dtype=np.float64)
        if w.shape != (n, r):
            raise ValueError(
                f"matvec must return an array of shape {(n, r)}, got {w.shape}."
            )
        if j > 0:
            w -= betas[j - 1] * q_prev
        alphas[j] = _column_dots(q, w)
        w -= alphas[j] * q
        if j == n_steps - 1:
            break
        beta = np.sqrt(_column_dots(w, w))
        scale = np.maximum(scale, np.abs(alphas[j]) + beta)
        stopped = active & (beta <= _BREAKDOWN * scale)
        steps[stopped] = j + 1
        active &= ~stopped
        if not active.any():
            break
        beta[~active] = 0.0
        betas[j] = beta
        # q_{j+1} = w / beta_{j+1}; stopped columns stay zero (A 0 = 0).
        np.divide(w, np.where(active, beta, 1.0), out=w)
        w[:, ~active] = 0.0
        q_prev, q = q, w
    del q, q_prev, w, signs

    logdets, traces = np.empty(r), np.empty(r)
    for i in range(r):
        k = steps[i]
        theta, U = eigh_tridiagonal(alphas[:k, i], betas[: k - 1, i])
        # A is positive definite, and so is T_k in exact arithmetic; rounding
        # may leave a Ritz value at or below 0 only when A is singular to
        # working precision, and then its weight tau^2 is ~0.
        theta = np.maximum(theta, np.finfo(float).tiny)
        tau = U[0]
        logdets[i] = n * np.dot(tau**2, np.log(theta))
        # T_k^-1 |z| e_1 = U diag(1 / theta) U^T e_1 |z|.
        y = U @ (tau / theta) * norm_z
        traces[i] = np.dot(cs[:k, i], y)
    return LogdetTrace(
        logdet=float(logdets.mean()),
        logdet_std=float(logdets.std(ddof=1) / np.sqrt(r)),
        trace=float(traces.mean()),
        trace_std=float(traces.std(ddof=1) / np.sqrt(r)),
        logdet_samples=logdets,
        trace_samples=traces,
        n_steps=int(steps.max()),
    )
