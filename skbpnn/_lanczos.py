"""Stochastic log-determinant and trace of a matrix known by its products.

For a symmetric positive definite ``n x n`` matrix ``A`` given only by
``matvec(V) = A @ V``, :func:`logdet_and_trace` estimates ``log det A`` and
``tr(A^-1 M)``, ``M`` a diagonal 0/1 mask, without any ``n x n`` array: the
matrix-free path of the evidence, where ``A = G + lambda M + 1e-4 (I - M)``
and ``M`` marks the non-bias weights. Pure linear algebra; knows nothing of
networks.

The method
----------
Split the indices by the mask, ``w`` (``M = 1``, the ``k`` weights) and
``b`` (``M = 0``, the few biases). The block ``A_bb`` is formed (by the
operator itself where it can, ``matvec.unmasked_block``, else from ``n -
k`` unit-vector products) and factored; then, exactly,

- ``log det A = log det A_bb + log det S`` and
- ``tr(A^-1 M) = tr(S^-1)``,

``S = A_ww - A_wb A_bb^-1 A_bw`` the Schur complement, applied as two
products with ``A`` (``A_bb^-1`` by its Cholesky factor). Why: the bias
prior ``1e-4`` gives ``A`` eigenvalues near ``1e-4`` wherever the data
hardly constrain a bias (a saturated hidden unit) next to a largest one of
``1e3``-``1e5``, a condition number of ``1e7``-``1e9`` that Lanczos resolves
only after hundreds of steps; these directions live in ``A_bb``, and ``S``,
at least ``lambda I``, has a condition number of ``max(G) / lambda``
(9 to 142 for a 64-25-10 network fitted on digits at lambda 10 to 0.1,
against ``1e4``-``1e7`` for ``A``).

On ``S``, ``n_probes`` Rademacher vectors ``z`` (entries +-1, so
``E[z z^T] = I``) each start a Lanczos recurrence, ``q_1 = z / |z|``,
``beta_{j+1} q_{j+1} = S q_j - alpha_j q_j - beta_j q_{j-1}``: after ``m``
steps the tridiagonal ``T_m`` (``alpha`` on the diagonal, ``beta`` beside
it). With ``T_m = U diag(theta) U^T`` and ``tau = U[0, :]``, stochastic
Lanczos quadrature (Ubaru, Chen and Saad, SIAM J. Matrix Anal. Appl. 38(4),
2017) gives ``z^T f(S) z ~ |z|^2 sum_j tau_j^2 f(theta_j)``, the
``m``-point Gauss quadrature of ``f`` on ``z``'s spectral measure, and
Hutchinson's ``tr f(S) = E[z^T f(S) z]``: ``f = log`` for the
log-determinant and ``f = 1/x`` for the trace, from the same recurrences.

The recurrences run until the estimates settle: every 5 steps the means
of the samples are compared with those 5 steps before, and they stop when
both moved by less than ``tol`` (0.1) times their standard errors, or at
``n_steps`` (100); ``converged`` says which. On the Gauss-Newton matrices
of a 64-25-10 network fitted on digits (lambda 0.1 to 10) they stop after
10 to 25 steps; on harder test matrices (``S``'s condition number ``3e2``
to ``3e4``) after 35 to 100.

All probes advance together: every ``matvec`` call gets the ``r =
n_probes`` current vectors as one ``(n, r)`` array (zero on ``b``), so
the product runs matrix-matrix. No reorthogonalization: the recurrence
keeps two ``(n, r)`` float64 arrays (a third for ``matvec``'s result,
unless ``matvec.add_into`` adds the product into the recurrence's own
array), and ``(n - k)^2`` numbers for ``A_bb``; a product of ``S`` is two
products with ``A`` on the recurrence's own vector, ``(A v)_b`` (the
unmasked rows only where ``matvec.rows`` gives them: for the evidence,
about half a product) and then ``A [v; -u]``, so no further ``(n, r)``
array. A full reorthogonalization would keep ``Q_m``, ``n r m`` numbers
(``n = 203,530``, ``r = 10``, ``m = 30``: 466 MiB, against 31 MiB for the
two arrays). In floating point, orthogonality
is lost as Ritz values converge, which repeats them ("ghost" copies) but
leaves the Gauss quadrature of a smooth function as accurate as in exact
arithmetic, reached after a few more steps (Knizhnerman 1996; Ubaru, Chen
and Saad 2017, section 4.4); the convergence test above absorbs the delay.

Cost: one call of ``matvec.unmasked_block`` for ``A_bb`` (for the
evidence, one pass over the rows), or else ``ceil((n - k) / r)`` products
of unit vectors; then one product for ``vector``'s Schur step (with
``vector``, ``r`` counts its column), and two per step (each of the first
kind a half with ``matvec.rows``).

When ``n - k`` exceeds ``max_unmasked`` (``A_bb`` would take too much
memory, or too many products), the same recurrences run on ``A`` itself,
one product per step, and the trace is Hutchinson's ``E[(M z)^T A^-1 z]``
with ``A^-1 z`` the conjugate gradient iterate ``Q_m T_m^-1 |z| e_1`` of
the same recurrence, from the numbers ``(M z)^T q_j`` gathered as it runs: accurate
when ``A`` is well conditioned, biased by its small eigenvalues otherwise.

Accuracy
--------
Two errors add up. The probes' (statistical) one, reported as
``logdet_std`` and ``trace_std``, the standard errors of the means over the
probes, falls as ``1 / sqrt(n_probes)``. Per probe, Hutchinson's estimate of
``tr(B)`` has the standard deviation ``sqrt(2 sum_{i != j} B_ij^2)``: for
``S`` near ``G_ww + lambda I``, ``G_ww`` of eigenvalues ``s``, about
``sqrt(2 sum log(1 + s / lambda)^2)`` for ``log det A``, and for ``gamma =
k - lambda tr(A^-1 M)`` about ``sqrt(2 sum (s / (s + lambda))^2) <=
sqrt(2 gamma)``. The quadrature (deterministic) error falls with the steps;
for ``1/x`` it is one-sided (the estimate of ``tr(A^-1 M)`` is low, of
``gamma`` high). With the defaults (10 probes, up to 100 steps), measured
against numpy's exact ``slogdet`` and ``inv`` (``tests/test_lanczos.py``):

- on the digits network's ``A`` (``n = 1885``, lambda 0.1, 1, 10; 10 to 25
  steps), errors of 0.5 to 1.3 standard errors for ``log det A`` and 1.1
  to 1.4 for the trace; standard errors 0.2-2.2% of ``|log det A|`` (9 to
  13 nats) and 1.1-4.8% of ``gamma``; with 200 probes, errors of 0.9 to
  1.8 of their (4.5 times smaller) standard errors: the quadrature's bias
  is about a third of the default's standard error;
- on 12 random ``A = J^T D J + prior`` (``n`` = 300 to 2000, condition
  numbers ``3e7``-``4e8``), where ``converged``: at most 1.6 standard
  errors, standard errors 0.3-2.4% of ``sum |log eigenvalue|`` and
  0.6-2.3% of ``gamma``; where not (``S``'s condition number
  ``1.5e4``-``2e5``), the trace up to 12 standard errors low.

So: with ``converged`` true, trust the estimates to about their reported
standard errors, about 1% of ``gamma`` and a few to tens of nats of ``log
det A``. The same ``random_state`` gives the same probes, hence the same
estimates: estimates for nearby matrices (the evidence at nearby lambdas)
made with one seed have correlated errors, so their differences are more
accurate than each.
"""

import numbers
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve, eigh_tridiagonal

from ._random import as_random_state

# A Lanczos column stops (its Krylov space is invariant: the quadrature is
# exact) when beta falls below this times the largest |alpha| + beta seen.
_BREAKDOWN = 1e-12

# Steps between two convergence checks of the estimates.
_CHECK_EVERY = 5


@dataclass(frozen=True)
class LogdetTrace:
    """Estimates of ``log det A`` and ``tr(A^-1 M)`` with their standard errors.

    ``logdet_samples`` and ``trace_samples`` hold the ``n_probes`` per-probe
    estimates (their means are ``logdet`` and ``trace``); ``n_steps`` is
    the most Lanczos steps a probe took, ``n_matvecs`` the number of calls
    of ``matvec``; ``quadratic`` is ``v^T A^-1 v`` for the ``vector`` asked
    for (None without one).
    """

    logdet: float
    logdet_std: float
    trace: float
    trace_std: float
    logdet_samples: np.ndarray
    trace_samples: np.ndarray
    n_steps: int
    n_matvecs: int
    converged: bool
    quadratic: float | None = None


def _column_dots(A, B):
    """``sum_i A[i, j] B[i, j]`` for each column ``j``, without an ``A * B`` array."""
    return np.einsum("ij,ij->j", A, B)


def _lanczos(add_product, signs, size, n_steps, weights, tol, extra=None):
    """Lanczos recurrences from the columns of ``signs``, all at once.

    ``extra``, a length-``n`` float vector, starts one more recurrence (the
    last column of the results), which the convergence test leaves out.

    ``add_product(V, out)`` adds the matrix times ``V`` into ``out``: the
    recurrence's ``beta_j q_{j-1}`` array becomes the next vector, so that
    two ``(n, r)`` arrays are alive, besides the product's own.

    ``size`` is the number of non-zero entries of each column (``|z|^2``).
    Returns ``alphas`` and ``betas`` (``(n_steps, r)``; ``betas[j]`` joins
    steps ``j`` and ``j + 1``), the steps each column took, ``c_j =
    (weights * z)^T q_j`` for every step when ``weights`` (a length-``n``
    vector) is given, and whether the estimates converged: every
    ``_CHECK_EVERY`` steps, the means of the samples are compared with those
    ``_CHECK_EVERY`` steps before, and the recurrences stop when both moved
    by less than ``tol`` times their standard errors.
    """
    n, n_probes = signs.shape
    r = n_probes + (extra is not None)
    q = np.empty((n, r))
    q[:, :n_probes] = signs
    q[:, :n_probes] /= np.sqrt(size)  # q_1 = z / |z|
    if extra is not None:
        q[:, n_probes] = extra / np.linalg.norm(extra)
    q_prev = None
    alphas = np.zeros((n_steps, r))
    betas = np.zeros((n_steps, r))
    cs = None if weights is None else np.zeros((n_steps, r))
    steps = np.full(r, n_steps)
    active = np.ones(r, dtype=bool)
    scale = np.zeros(r)
    converged = n_steps == size  # the quadrature is then exact
    previous = None
    for j in range(n_steps):
        if cs is not None:
            cs[j, :n_probes] = np.einsum("ij,i,ij->j", signs, weights, q[:, :n_probes])
        # w = A q_j - beta_j q_{j-1} - alpha_j q_j, in q_{j-1}'s array (no
        # (n, r) temporary).
        if j == 0:
            w = np.zeros_like(q)
        else:
            w = q_prev
            w *= -betas[j - 1]
        q_prev = None
        add_product(q, w)
        alphas[j] = _column_dots(q, w)
        _subtract_scaled(w, alphas[j], q)
        if (j + 1) % _CHECK_EVERY == 0:
            samples = _samples(alphas, betas, steps, cs, size, j + 1, n_probes)
            if previous is not None and all(
                abs(now.mean() - before.mean())
                <= tol * now.std(ddof=1) / np.sqrt(n_probes)
                for now, before in zip(samples, previous)
            ):
                steps = np.minimum(steps, j + 1)
                converged = True
                break
            previous = samples
        if j == n_steps - 1:
            break
        beta = np.sqrt(_column_dots(w, w))
        scale = np.maximum(scale, np.abs(alphas[j]) + beta)
        stopped = active & (beta <= _BREAKDOWN * scale)
        steps[stopped] = j + 1
        active &= ~stopped
        if not active.any():
            converged = True  # every Krylov space is invariant: exact
            break
        beta[~active] = 0.0
        betas[j] = beta
        # q_{j+1} = w / beta_{j+1}; stopped columns stay zero (A 0 = 0).
        np.divide(w, np.where(active, beta, 1.0), out=w)
        w[:, ~active] = 0.0
        q_prev, q = q, w
    return alphas, betas, steps, cs, converged


def _subtract_scaled(w, coefficients, q):
    """``w -= coefficients * q`` column by column."""
    for i, c in enumerate(coefficients):
        if c != 0:
            w[:, i] -= c * q[:, i]


def _samples(alphas, betas, steps, cs, size, upto, n_probes):
    """Each probe's estimates of ``log det`` and the trace from ``upto`` steps."""
    logdets, traces = np.empty(n_probes), np.empty(n_probes)
    for i in range(n_probes):
        m = min(steps[i], upto)
        theta, U = _ritz(alphas[:m, i], betas[: m - 1, i])
        tau = U[0]
        # z^T f(S) z ~ |z|^2 sum_j tau_j^2 f(theta_j), |z|^2 = size.
        logdets[i] = size * np.dot(tau**2, np.log(theta))
        if cs is None:
            traces[i] = size * np.dot(tau**2, 1 / theta)
        else:
            # (M z)^T Q_m T_m^-1 |z| e_1, T_m^-1 e_1 = U diag(1/theta) tau.
            traces[i] = np.sqrt(size) * np.dot(cs[:m, i], U @ (tau / theta))
    return logdets, traces


def _quadratic(alpha, beta, norm2):
    """``v^T A^-1 v ~ |v|^2 sum_j tau_j^2 / theta_j`` from ``v``'s recurrence."""
    theta, U = _ritz(alpha, beta)
    return norm2 * float(np.dot(U[0] ** 2, 1 / theta))


def _ritz(alpha, beta):
    """``T = U diag(theta) U^T``: the Gauss quadrature's nodes ``theta``, and ``U``."""
    theta, U = eigh_tridiagonal(alpha, beta)
    # A is positive definite, and so is T in exact arithmetic; rounding may
    # leave a Ritz value at or below 0 only when A is singular to working
    # precision, and then its weight U[0]^2 is ~0.
    return np.maximum(theta, np.finfo(float).tiny), U


def _unit_vector_block(product_rows, n, index, width):
    """``A[index][:, index]`` from ``product_rows(E, index) = (A @ E)[index]``
    on the unit vectors of ``index``, ``width`` of them per product (the last
    padded with zero columns)."""
    block = np.empty((index.size, index.size))
    for start in range(0, index.size, width):
        cols = index[start : start + width]
        E = np.zeros((n, width))
        E[cols, np.arange(cols.size)] = 1.0
        block[:, start : start + cols.size] = product_rows(E, index)[:, : cols.size]
        del E  # (n, width): not alive beside the recurrence's arrays
    return block


def _check_int(value, name, least):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(f"{name} must be an int >= {least}, got {value!r}.")
    if value < least:
        raise ValueError(f"{name} must be an int >= {least}, got {value!r}.")
    return int(value)


def logdet_and_trace(
    matvec,
    n,
    mask,
    *,
    n_probes=10,
    n_steps=100,
    tol=0.1,
    random_state=None,
    max_unmasked=2048,
    vector=None,
):
    """Estimate ``log det A`` and ``tr(A^-1 M)`` from products with ``A``.

    The unmasked block of ``A`` is formed and factored, and stochastic
    Lanczos quadrature estimates ``log det`` and ``tr(.^-1)`` of the Schur
    complement on the masked block, on Rademacher probes; see the module's
    docstring for the method, its cost and its accuracy.

    Parameters
    ----------
    matvec : callable
        ``matvec(V) -> A @ V`` for ``V`` of shape ``(n, r)``, float64,
        returning a new ``(n, r)`` array; ``A`` symmetric positive definite.
        Called with ``r = n_probes`` columns (``n_probes + 1`` with
        ``vector``, except in the recurrence when ``vector``'s part on the
        Schur complement is 0 and its column has nothing to do), so that an
        operator's scratch arrays keep one size:
        ``ceil((n - k) / r)`` times for the unmasked block (unit vectors,
        padded with zero columns) unless ``matvec.unmasked_block`` gives it,
        once more for ``vector``'s Schur step (one non-zero column), then
        twice per Lanczos step (once when the whole of ``A`` is masked).
        Three leaner forms are used instead where ``matvec`` has them as
        attributes: ``matvec.add_into(V, out)`` adds ``A @ V`` into ``out``
        (the recurrence then keeps two ``(n, r)`` arrays in all, not
        three), ``matvec.rows(V, index)`` returns ``(A @ V)[index]`` for the
        unmasked rows (the block ``A_bb``, without ``unmasked_block``, and
        the first product of each step), and ``matvec.unmasked_block(index)``
        returns the block ``A[index][:, index]`` of the unmasked rows and
        columns (``A_bb``, no products; its calls are not counted in
        ``n_matvecs``).
    n : int
        Order of ``A``.
    mask : array-like of bool, shape (n,)
        The diagonal of ``M``; ``k`` entries are True.
    n_probes : int, default=10
        Random probe vectors, at least 2 (for the standard errors), and the
        columns of every ``matvec`` call. The standard errors fall as
        ``1 / sqrt(n_probes)``; the memory grows as ``n * n_probes``.
    n_steps : int, default=100
        The most Lanczos steps per probe (capped at ``k``): the quadrature's
        nodes.
    tol : float, default=0.1
        Stop when, over the last 5 steps, both estimates moved by less than
        ``tol`` times their standard errors; 0 runs all ``n_steps``.
    random_state : None, int, RandomState or Generator, default=None
        Draws the probes; an int gives the same probes, and estimates, at
        every call.
    max_unmasked : int, default=2048
        The most unmasked entries for which the unmasked block is formed
        (``(n - k)^2`` numbers, and ``n - k`` unit vectors in products
        without ``matvec.unmasked_block``). Above it the
        recurrences run on ``A`` itself (see the module's docstring).
    vector : ndarray of shape (n,), default=None
        Also estimate ``v^T A^-1 v`` for this ``v``: one more column in
        every product, its recurrence started from ``v`` (on the Schur
        complement, from ``v_w - A_wb A_bb^-1 v_b``, and ``v_b^T A_bb^-1
        v_b`` added; one product more), the Gauss quadrature of ``1/x``
        on it (a lower bound that the steps tighten).

    Returns
    -------
    result : LogdetTrace
        ``logdet``, ``logdet_std``, ``trace``, ``trace_std`` (the standard
        errors of the means over the probes), the per-probe samples, the
        steps taken, the ``matvec`` calls made, ``converged`` (False
        when ``n_steps`` ran out before the estimates settled: then the
        trace is likely low, see the module's docstring) and
        ``quadratic`` (with ``vector``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> B = rng.randn(200, 200)
    >>> A = B @ B.T / 200 + np.eye(200)
    >>> mask = np.arange(200) >= 5
    >>> est = logdet_and_trace(lambda V: A @ V, 200, mask, random_state=0)
    >>> exact = np.linalg.slogdet(A)[1]
    >>> bool(abs(est.logdet - exact) < 3 * est.logdet_std)
    True
    """
    n = _check_int(n, "n", 1)
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (n,):
        raise ValueError(
            f"mask must be a boolean array of shape ({n},), got dtype "
            f"{mask.dtype} and shape {mask.shape}."
        )
    r = _check_int(n_probes, "n_probes", 2)
    n_steps = _check_int(n_steps, "n_steps", 1)
    max_unmasked = _check_int(max_unmasked, "max_unmasked", 0)
    if not (isinstance(tol, numbers.Real) and np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite float >= 0, got {tol!r}.")
    if not callable(matvec):
        raise ValueError(f"matvec must be callable, got {matvec!r}.")
    if vector is not None:
        vector = np.asarray(vector, dtype=np.float64)
        if vector.shape != (n,) or not np.all(np.isfinite(vector)):
            raise ValueError(
                f"vector must be a finite array of shape ({n},), got shape "
                f"{vector.shape}."
            )
    rng = as_random_state(random_state)
    calls = 0

    def checked(AV, shape, name="matvec"):
        """``AV`` as float64 of ``shape``; a product (``name`` "matvec") is
        counted, the unmasked block is not."""
        nonlocal calls
        calls += name == "matvec"
        AV = np.asarray(AV, dtype=np.float64)
        if AV.shape != shape:
            raise ValueError(
                f"{name} must return an array of shape {shape}, got {AV.shape}."
            )
        return AV

    # The lean forms, where the operator has them (see ``matvec`` above).
    add_into = getattr(matvec, "add_into", None)
    rows = getattr(matvec, "rows", None)
    unmasked_block = getattr(matvec, "unmasked_block", None)

    def add_product(V, out):
        """``out += A @ V``."""
        if add_into is None:
            out += checked(matvec(V), V.shape)
        else:
            checked(add_into(V, out), V.shape)

    def product_rows(V, index):
        """``(A @ V)[index]``."""
        if rows is None:
            return checked(matvec(V), V.shape)[index]
        return checked(rows(V, index), (index.size, V.shape[1]))

    w_idx, b_idx = np.flatnonzero(mask), np.flatnonzero(~mask)
    k = w_idx.size
    schur = b_idx.size <= max_unmasked
    # Every product has the recurrence's width (the probes, and vector's
    # column): an operator's scratch arrays, sized by the columns, are then
    # made once, not again (beside the old ones) when the width changes.
    width = r + (vector is not None)
    if schur:
        # The unmasked block A_bb, from the operator where it gives it.
        logdet_bb, A_bb = 0.0, None
        if b_idx.size:
            if unmasked_block is None:
                A_bb = _unit_vector_block(product_rows, n, b_idx, width)
            else:
                A_bb = checked(
                    unmasked_block(b_idx),
                    (b_idx.size, b_idx.size),
                    "matvec.unmasked_block",
                )
            A_bb = cho_factor((A_bb + A_bb.T) / 2)
            logdet_bb = 2.0 * float(np.sum(np.log(np.diag(A_bb[0]))))
        # v^T A^-1 v = v_b^T A_bb^-1 v_b + t^T S^-1 t, t = v_w - A_wb A_bb^-1 v_b.
        quadratic_bb, start = 0.0, vector
        if vector is not None and A_bb is not None:
            u = cho_solve(A_bb, vector[b_idx])
            quadratic_bb = float(vector[b_idx] @ u)
            if k:  # with no masked entries, v^T A^-1 v is quadratic_bb
                V = np.zeros((n, width))
                V[b_idx, 0] = u
                A_u = np.zeros((n, width))
                add_product(V, A_u)
                start = vector - A_u[:, 0]
                start[b_idx] = 0.0
                del V, A_u
        if k == 0:
            zeros = np.zeros(r)
            return LogdetTrace(
                logdet_bb,
                0.0,
                0.0,
                0.0,
                zeros + logdet_bb,
                zeros,
                0,
                calls,
                True,
                None if vector is None else quadratic_bb,
            )

        def schur_product(V, out):
            # out += S v = (A [v; -u])_w with u = A_bb^-1 A_bw v, by two
            # products with A on V's own rows (V is 0 on b and is left so;
            # so is out).
            if A_bb is None:
                add_product(V, out)
                return
            U = cho_solve(A_bb, product_rows(V, b_idx))
            V[b_idx] = -U
            add_product(V, out)
            V[b_idx] = 0.0
            out[b_idx] = 0.0  # (A [v; -u])_b = A_bw v - A_bb u = 0

        size, operator, weights = k, schur_product, None
    else:
        size, operator, weights = n, add_product, mask.astype(np.float64)
        quadratic_bb, start = 0.0, vector
    if start is not None and not np.any(start):
        start = None  # v^T A^-1 v is quadratic_bb alone

    # Rademacher probes, as int8 signs; on S, 0 on the rows of b.
    signs = np.empty((n, r), dtype=np.int8)
    for i in range(r):  # a column at a time: no (n, r) float temporary
        signs[:, i] = np.where(rng.random(n) < 0.5, -1, 1)
    if schur:
        signs[b_idx] = 0
    alphas, betas, steps, cs, converged = _lanczos(
        operator, signs, size, min(n_steps, size), weights, tol, start
    )
    del signs
    logdets, traces = _samples(alphas, betas, steps, cs, size, n_steps, r)
    if schur:
        logdets += logdet_bb
    quadratic = None
    if vector is not None:
        quadratic = quadratic_bb
        if start is not None:
            m = min(steps[r], n_steps)
            quadratic += _quadratic(
                alphas[:m, r], betas[: m - 1, r], float(start @ start)
            )
    return LogdetTrace(
        logdet=float(logdets.mean()),
        logdet_std=float(logdets.std(ddof=1) / np.sqrt(r)),
        trace=float(traces.mean()),
        trace_std=float(traces.std(ddof=1) / np.sqrt(r)),
        logdet_samples=logdets,
        trace_samples=traces,
        n_steps=int(steps[:r].max()),
        n_matvecs=calls,
        converged=bool(converged),
        quadratic=quadratic,
    )
