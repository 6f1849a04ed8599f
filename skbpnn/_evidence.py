"""Choosing ``lambda_`` by the evidence: the search, log det and trace.

MacKay's evidence framework (see the User guide, "Choosing lambda_ by the
evidence"): ``lambda_`` is the precision of a Gaussian prior on the non-bias
weights, and the fit keeps the ``lambda_`` that maximizes the Laplace
approximation of the evidence ``p(D | lambda_)``, the network refitted (warm)
at every ``lambda_`` tried. The formulas are :mod:`skbpnn.backprop`'s
(:func:`~skbpnn.backprop.laplace_log_evidence`,
:func:`~skbpnn.backprop.posterior_precision`); this module runs them fast
and drives the search:

- :class:`DataCurvature`: ``E_D``, the Gauss-Newton matrix ``G`` and its
  products over the fit's own rows (merged, weighted, read through an index);
- :func:`evidence_at`: the log evidence and ``gamma`` at one mode, exact
  (``G`` formed, Cholesky) up to :data:`DENSE_MAX_PARAMS` parameters, else
  matrix-free (stochastic Lanczos quadrature on ``G``-products,
  :mod:`skbpnn._lanczos`);
- :func:`search`: the search over ``lambda_``.

The search, in ``log lambda_``: a fit at the starting ``lambda_`` gives
``gamma`` and MacKay's update ``gamma / |w|^2``, whose direction the coarse
search walks first, each step warm from the best fit so far and twice as
long as the one before while the evidence grows; then the other side, if
the first step lost. A parabola through the best point and its neighbours
refines it; last, refits warm from the best weights at ``lambda_ * 1.5``
and ``lambda_ / 1.5`` check it is a local maximum (a higher one becomes the
new best and the refinement and check run again). Each point costs one
refit, one ``G`` and its Cholesky factor; the first point's ``gamma``, which
only gives a direction, is a cheap estimate from that factor (random probes,
:func:`_estimate_gamma`), and only the kept point's is exact (a triangular
inverse more). Knows nothing of estimators.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import solve_triangular
from scipy.linalg.lapack import dpotrf, dtrtri
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._evaluation import (
    Workspace,
    data_cost_and_gradient,
    gauss_newton_matrix_blocked,
    gauss_newton_rows,
)
from .backprop import BIAS_PRECISION, laplace_log_evidence
from .backprop import weight_mask as backprop_weight_mask

#: Networks up to this many parameters get the exact log det and trace
#: (``G`` formed: ``8 P^2`` bytes, 128 MiB at the limit; Cholesky in
#: ``P^3 / 3``); larger ones the matrix-free estimates.
DENSE_MAX_PARAMS = 4000

#: The search keeps ``lambda_`` within these bounds.
LAMBDA_BOUNDS = (1e-6, 1e6)

#: The most refits (points) one search makes.
MAX_EVALUATIONS = 16

#: Probes and the most Lanczos steps of the matrix-free estimates (those of
#: :func:`skbpnn._lanczos.logdet_and_trace`, whose docstring gives their
#: accuracy); the recurrences stop earlier once the estimates settle, and
#: a ConvergenceWarning says when they did not.
N_PROBES = 10
N_STEPS = 100

# Steps of the coarse search in log lambda: the first at least log 3, a
# step doubled after each gain, at most log 10.
_MIN_STEP, _MAX_STEP = np.log(3.0), np.log(10.0)
# The local check's factor.
CHECK_FACTOR = 1.5
#: Below this ``lambda_`` a fit that classifies every training sample
#: correctly is taken for separable data: the evidence then grows as
#: ``lambda_ -> 0`` (the weights can grow without bound) until the refits no
#: longer reach their modes, and a warning says so.
SEPARABLE_LAMBDA = 1e-3
# Below this gamma the model kept is constant for all purposes: a warning.
_CONSTANT_GAMMA = 0.01
# A parabola step is taken when it promises at least this many nats.
_REFINE_GAIN = 0.01
# Probes of the first point's estimate of gamma (it gives a direction only).
_GAMMA_PROBES = 32


class DataCurvature:
    """``E_D``, ``G`` and ``G``-products over one fit's rows.

    The rows are those the fit's cost evaluates: ``X[rows]`` (or ``X``),
    ``Y[rows]``, with the merged weights ``w`` (None: all ones).
    """

    def __init__(self, X, Y, w, rows, shapes, block_rows, workspace=None):
        self.X, self.Y, self.w, self.rows = X, Y, w, rows
        self.shapes, self.block_rows = shapes, block_rows
        # The fit's own scratch arrays, where given: the evidence's products
        # then allocate no second set (the refits and the evidence alternate).
        self.workspace = Workspace() if workspace is None else workspace
        m = X.shape[0] if rows is None else rows.shape[0]
        # m, the sum of the weights: S = m J.
        self.sw_sum = float(m if w is None else np.sum(w, dtype=np.float64))

    def data_cost(self, theta):
        """``E_D = sum_n w_n J_n``, the summed cross-entropy, float."""
        theta = np.asarray(theta, dtype=self.X.dtype)
        data_cost, _ = data_cost_and_gradient(
            theta,
            self.X,
            self.Y,
            self.shapes,
            self.w,
            self.block_rows,
            self.workspace,
            self.rows,
        )
        return float(data_cost)

    def gauss_newton(self, theta):
        """``G`` of shape ``(P, P)``, float64."""
        return gauss_newton_matrix_blocked(
            theta,
            self.X,
            self.shapes,
            self.w,
            gauss_newton_rows(self.shapes),
            self.workspace,
            self.rows,
        )

    def gauss_newton_product(self, theta, V, *, out=None, biases_only=False):
        """``G @ V`` for ``V`` of shape ``(P,)`` or ``(P, r)``, float64.

        ``out`` (float64, ``V``'s shape) takes the result, added to what it
        holds; ``biases_only`` returns the bias rows alone (see
        :func:`~skbpnn._evaluation.gauss_newton_product_blocked`).
        """
        from ._evaluation import gauss_newton_product_blocked

        theta = np.asarray(theta, dtype=self.X.dtype)
        return gauss_newton_product_blocked(
            theta,
            self.X,
            self.shapes,
            self.w,
            self.block_rows,
            self.workspace,
            np.asarray(V, dtype=self.X.dtype),
            self.rows,
            out=out,
            biases_only=biases_only,
        )


def weight_mask(shapes):
    """:func:`backprop.weight_mask` of the network of ``shapes``."""
    return backprop_weight_mask((shapes[0][1] - 1, *(s for s, _ in shapes)))


@dataclass
class Evidence:
    """The evidence at one mode: its log, ``gamma`` (None if not computed),
    how it was computed (``"dense"`` or ``"lanczos"``) and the standard
    errors of the matrix-free estimates (0 when exact)."""

    log_evidence: float
    gamma: float | None
    method: str
    logdet_std: float = 0.0
    trace_std: float = 0.0
    # The Cholesky factor U of A = U^T U (upper, Fortran order), kept
    # (dense, without gamma) so that gamma can come later without forming
    # G again; None once not needed.
    factor: object = field(default=None, repr=False)
    mask: object = field(default=None, repr=False)
    lambda_: float = 0.0

    def complete(self):
        """Compute ``gamma`` from the kept factor; False if there is none."""
        if self.gamma is not None:
            return True
        if self.factor is None:
            return False
        self.gamma = _gamma_from_factor(self.factor, self.mask, self.lambda_)
        self.factor = None
        return True

    def estimate_gamma(self):
        """``gamma``, or an estimate from the kept factor; None if neither."""
        if self.gamma is not None:
            return self.gamma
        if self.factor is None:
            return None
        return _estimate_gamma(self.factor, self.mask, self.lambda_)


def _cholesky_logdet(A):
    """``(U, log det A)``, ``A = U^T U``, for a symmetric ``A`` (overwritten).

    ``A = G + diag(>= min(lambda_, 1e-4))`` is positive definite; should
    rounding make the factorization fail, ``(None, None)`` (the caller
    falls back to the eigenvalues). ``A`` is C-ordered and symmetric, so
    its transpose, the same matrix in Fortran order, is factorized in
    place (no copy).
    """
    U, info = dpotrf(A.T, lower=0, clean=1, overwrite_a=1)
    if info != 0:
        return None, None
    return U, 2.0 * float(np.sum(np.log(np.diag(U))))


def evidence_at(curvature, theta, lambda_, *, need_gamma, method, seed):
    """The log evidence at the mode ``theta`` fitted with ``lambda_``.

    ``method`` is ``"dense"`` (``G`` formed and factorized: exact) or
    ``"lanczos"`` (stochastic Lanczos quadrature on ``G``-products, seeded
    by ``seed``: estimates). ``gamma = k - lambda_ tr(A^-1 M)`` is computed
    when ``need_gamma`` (always with ``"lanczos"``, where it is free).
    """
    theta = np.asarray(theta, dtype=np.float64)
    mask = weight_mask(curvature.shapes)
    diag = np.where(mask, lambda_, BIAS_PRECISION)
    k = int(mask.sum())
    gamma = None
    logdet_std = trace_std = 0.0
    if method == "dense":
        A = curvature.gauss_newton(theta)
        A[np.diag_indices_from(A)] += diag
        U, logdet = _cholesky_logdet(A)
        if U is None:
            # Rounding broke the factorization: eigenvalues, clipped.
            A = curvature.gauss_newton(theta)
            A[np.diag_indices_from(A)] += diag
            eigvals, vecs = np.linalg.eigh(A)
            eigvals = np.maximum(eigvals, diag.min())
            logdet = float(np.sum(np.log(eigvals)))
            if need_gamma:
                trace = float(np.sum((vecs[mask] ** 2) / eigvals))
                gamma = k - lambda_ * trace
        elif need_gamma:
            gamma = _gamma_from_factor(U, mask, lambda_)
            U = None
    else:
        from ._lanczos import logdet_and_trace

        estimate = logdet_and_trace(
            PosteriorPrecision(curvature, theta, diag, mask),
            theta.size,
            mask,
            n_probes=N_PROBES,
            n_steps=N_STEPS,
            random_state=seed,
        )
        if not estimate.converged:
            warnings.warn(
                f"The stochastic Lanczos estimates of log det A and "
                f"tr(A^-1 M) at lambda_={lambda_:.4g} did not settle in "
                f"{estimate.n_steps} steps (A is badly conditioned): the log "
                "evidence and n_effective_params_ are less accurate than their "
                "standard errors say.",
                ConvergenceWarning,
                stacklevel=2,
            )
        logdet = float(estimate.logdet)
        gamma = k - lambda_ * float(estimate.trace)
        logdet_std = float(estimate.logdet_std)
        trace_std = float(lambda_ * estimate.trace_std)
    if gamma is not None:
        gamma = float(np.clip(gamma, 0.0, k))
    value = laplace_log_evidence(
        curvature.data_cost(theta),
        float(theta[mask] @ theta[mask]),
        float(theta[~mask] @ theta[~mask]),
        logdet,
        lambda_,
        k,
        theta.size - k,
        BIAS_PRECISION,
    )
    if not np.isfinite(value):
        value = -np.inf
    factor = U if method == "dense" and gamma is None else None
    return Evidence(value, gamma, method, logdet_std, trace_std, factor, mask, lambda_)


class PosteriorPrecision:
    """``A = G + diag`` at ``theta`` by its products, for
    :func:`~skbpnn._lanczos.logdet_and_trace`.

    A call gives ``A @ V`` as a new array; ``add_into`` and ``rows`` are the
    leaner forms that function uses where they exist: the first adds the
    product into the recurrence's own array, the second computes only the
    bias rows (the unmasked ones, ``~mask``) and skips the weight rows'
    products.
    """

    def __init__(self, curvature, theta, diag, mask):
        self.curvature, self.theta, self.diag = curvature, theta, diag
        self.bias_rows = np.flatnonzero(~mask)

    def __call__(self, V):
        return self.add_into(V, np.zeros(V.shape))

    def add_into(self, V, out):
        """``out += A @ V``; returns ``out``."""
        self.curvature.gauss_newton_product(self.theta, V, out=out)
        # The prior's diagonal, a column at a time: no (n, r) temporary.
        n = self.diag.shape[0]
        for out_j, V_j in zip(out.reshape(n, -1).T, V.reshape(n, -1).T):
            out_j += self.diag * V_j
        return out

    def rows(self, V, index):
        """``(A @ V)[index]``."""
        if not np.array_equal(index, self.bias_rows):
            return self(V)[index]
        AV = self.curvature.gauss_newton_product(self.theta, V, biases_only=True)
        AV += self.diag[index].reshape(-1, *(1,) * (V.ndim - 1)) * V[index]
        return AV


def _gamma_from_factor(U, mask, lambda_):
    """``gamma = k - lambda_ tr(A^-1 M)`` from ``A = U^T U`` (U overwritten)."""
    # A^-1 = U^-1 U^-T, so (A^-1)_ii = |row i of U^-1|^2.
    U_inv, info = dtrtri(U, lower=0, overwrite_c=1)
    rows = U_inv[mask]
    trace = float(np.einsum("ij,ij->", rows, rows))
    k = int(mask.sum())
    return float(np.clip(k - lambda_ * trace, 0.0, k))


def _estimate_gamma(U, mask, lambda_, n_probes=_GAMMA_PROBES):
    """Hutchinson's estimate of ``gamma`` from ``A = U^T U`` (U kept).

    ``tr(A^-1 M) = E[|U^-T M z|^2]`` over random signs ``z`` (fixed
    probes): ``n_probes`` triangular solves, ``P^2`` each, instead of the
    ``P^3 / 3`` of the inverse.
    """
    probes = np.random.RandomState(0).choice([-1.0, 1.0], (U.shape[0], n_probes))
    probes[~mask] = 0.0
    solved = solve_triangular(U, probes, trans="T", lower=False, check_finite=False)
    trace = float(np.einsum("ij,ij->", solved, solved)) / n_probes
    k = int(mask.sum())
    return float(np.clip(k - lambda_ * trace, 0.0, k))


class EvidenceFunction:
    """``evidence(theta, lambda_, need_gamma) -> Evidence`` for :func:`search`.

    Every point gets its own ``G``: reusing the matrix of a nearby mode
    (saving its ``m P^2`` multiply-adds) was tried and was off by up to
    hundreds of nats on digits, because ``G`` grows with the weights.
    """

    def __init__(self, curvature, method, seed):
        self.curvature, self.method, self.seed = curvature, method, seed

    def __call__(self, theta, lambda_, need_gamma=False):
        return evidence_at(
            self.curvature,
            theta,
            lambda_,
            need_gamma=need_gamma,
            method=self.method,
            seed=self.seed,
        )


def choose_method(n_params):
    """``"dense"`` up to :data:`DENSE_MAX_PARAMS` parameters, else ``"lanczos"``."""
    return "dense" if n_params <= DENSE_MAX_PARAMS else "lanczos"


def seed_from(random_state):
    """One int seed for every matrix-free estimate of a search.

    The same probes at every ``lambda_`` make the estimates' errors largely
    common to all the points compared, so the comparisons are sharper than
    the estimates.
    """
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@dataclass
class Point:
    """One ``lambda_`` tried: the refit and its evidence."""

    lambda_: float
    result: object  # the L-BFGS result (theta, loss, ...)
    evidence: Evidence

    @property
    def score(self):
        return self.evidence.log_evidence


@dataclass
class SearchResult:
    """The point kept and every point tried, in order."""

    best: Point
    points: list
    settled: bool
    message: str | None


class _Stopped(Exception):
    """A refit was stopped by the user (callback or Ctrl-C)."""


def search(
    fit_at,
    evidence,
    theta0,
    lambda0,
    mask,
    *,
    bounds=LAMBDA_BOUNDS,
    max_evaluations=MAX_EVALUATIONS,
):
    """The ``lambda_`` of the highest log evidence, refitting warm.

    Parameters
    ----------
    fit_at : callable
        ``fit_at(lambda_, theta_start) -> result``, an L-BFGS result (with
        ``theta``, ``loss``, ``stop_reason``, ``warning``) minimizing the
        cost at ``lambda_`` from ``theta_start``, its warning not emitted
        (``run_lbfgs(..., warn=False)``).
    evidence : callable
        ``evidence(theta, lambda_, need_gamma) -> Evidence``
        (:class:`EvidenceFunction`).
    theta0 : ndarray
        The first fit's starting weights.
    lambda0 : float
        The first ``lambda_``.
    mask : ndarray of shape (n_params,), bool
        The non-bias weights (:func:`weight_mask`).
    bounds : (float, float)
        The range of ``lambda_``.
    max_evaluations : int
        The most refits.

    Returns
    -------
    SearchResult
        ``best.evidence.gamma`` is always computed. The warning of the
        kept refit is the caller's to emit (``best.result.warning``);
        ``message`` says why the search did not settle, if it did not.
    """
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    points = []

    def evaluate(x, theta_start, need_gamma=False):
        # The bounds exactly, where the search reaches them.
        lambda_ = bounds[0] if x <= lo else bounds[1] if x >= hi else np.exp(x)
        lambda_ = float(lambda_)
        result = fit_at(lambda_, theta_start)
        if np.all(np.isfinite(result.theta)) and np.isfinite(result.loss):
            ev = evidence(result.theta, lambda_, need_gamma)
        else:
            ev = Evidence(-np.inf, None, "none")
        point = Point(lambda_, result, ev)
        points.append(point)
        # Only the best point's factor is kept (for its gamma, at the end).
        top = max(points, key=lambda p: p.score)
        for p in points:
            if p is not top:
                p.evidence.factor = None
        if result.stop_reason in ("callback", "interrupted"):
            raise _Stopped
        return point

    def log_lambda(point):
        return float(np.log(point.lambda_))

    def better(p, q):
        # Ties within rounding of the scores keep q.
        return p.score > q.score + 1e-9 * max(1.0, abs(q.score))

    best = None
    message = None
    settled = False
    try:
        x0 = float(np.clip(np.log(lambda0), lo, hi))
        best = evaluate(x0, theta0)
        first = best
        # MacKay's update, gamma / |w|^2, gives the first direction (gamma
        # estimated from the kept factor: only its side of x0 matters).
        theta = first.result.theta
        w2 = float(theta[mask] @ theta[mask])
        gamma = first.evidence.estimate_gamma()
        if gamma is None and np.isfinite(first.score):
            first.evidence = evidence(theta, first.lambda_, True)
            gamma = first.evidence.gamma
        gamma = gamma or 0.0
        if gamma > 0 and w2 > 0:
            jump = np.log(gamma / w2) - x0
        else:
            jump = _MAX_STEP  # no weight determined: towards large lambda_
        direction = 1.0 if jump >= 0 else -1.0
        step = float(np.clip(abs(jump), _MIN_STEP, _MAX_STEP))

        def walk(direction, step):
            """Steps from the best point while they gain; the outcome."""
            nonlocal best
            while len(points) < max_evaluations:
                x = log_lambda(best)
                x_new = float(np.clip(x + direction * step, lo, hi))
                if x_new == x:
                    return "bound"
                point = evaluate(x_new, best.result.theta)
                if not better(point, best):
                    return "bracketed"
                best = point
                step = min(2 * step, _MAX_STEP)
            return "max_evaluations"

        outcome = walk(direction, step)
        if outcome == "bracketed" and best is first:
            outcome = walk(-direction, _MIN_STEP)

        while outcome == "bracketed" and len(points) < max_evaluations:
            _refine(points, evaluate, lo, hi, max_evaluations)
            best = max(points, key=lambda p: p.score)
            # The local check: refits warm from the best weights.
            x = log_lambda(best)
            candidates = []
            for factor in (CHECK_FACTOR, 1 / CHECK_FACTOR):
                x_new = float(np.clip(x + np.log(factor), lo, hi))
                if x_new != x and len(points) < max_evaluations:
                    candidates.append(evaluate(x_new, best.result.theta))
            if len(candidates) < 2 and len(points) >= max_evaluations:
                outcome = "max_evaluations"
                break
            top = max(candidates, key=lambda p: p.score) if candidates else best
            if not better(top, best):
                # A maximum at a bound is the bound's, not the evidence's.
                settled = log_lambda(best) not in (lo, hi)
                outcome = "bracketed" if settled else "bound"
                break
            # A higher neighbour: it is the best; refine and check again.
            best = top
            if log_lambda(best) in (lo, hi):
                outcome = "bound"
        if not settled:
            if outcome == "bound":
                message = _bound_message(best, lo, hi)
            else:
                message = (
                    f"The search for lambda_ by the evidence did not settle in "
                    f"{max_evaluations} refits; the lambda_ of the highest log "
                    f"evidence found, {best.lambda_:.4g}, is kept."
                )
    except _Stopped:
        best = max(points, key=lambda p: p.score)
        settled = True  # the user stopped it: no warning of our own
        message = None
    if not best.evidence.complete() and np.isfinite(best.score):
        best.evidence = evidence(best.result.theta, best.lambda_, True)
    gamma = best.evidence.gamma
    if message is None and gamma is not None and gamma < _CONSTANT_GAMMA:
        # Settled on the plateau the evidence reaches as lambda_ -> inf.
        message = (
            f"The data determine none of the weights (n_effective_params_="
            f"{gamma:.3g} at lambda_={best.lambda_:.3g}): the log evidence is "
            "flat for large lambda_ and prefers a constant model (too few "
            "samples, or uninformative features)."
        )
    return SearchResult(best, points, settled, message)


def _bound_message(best, lo, hi):
    gamma = best.evidence.gamma
    gamma_text = "" if gamma is None else f" (n_effective_params_={gamma:.3g})"
    if np.log(best.lambda_) >= hi - 1e-12:
        return (
            f"The log evidence still increases at lambda_={best.lambda_:.3g}, the "
            f"upper bound of the search{gamma_text}: the data determine almost "
            "none of the weights and the evidence prefers a constant model "
            "(too few samples, or uninformative features). lambda_ is kept at "
            "the bound."
        )
    return (
        f"The log evidence still increases at lambda_={best.lambda_:.3g}, the "
        f"lower bound of the search{gamma_text}: the evidence keeps growing as "
        "lambda_ -> 0, as for separable data. lambda_ is kept at the bound."
    )


def _refine(points, evaluate, lo, hi, max_evaluations, max_steps=1):
    """Parabola steps in ``log lambda_`` through the best point and its neighbours."""
    for _ in range(max_steps):
        if len(points) >= max_evaluations:
            return
        best = max(points, key=lambda p: p.score)
        xb, fb = np.log(best.lambda_), best.score
        xs = np.array([np.log(p.lambda_) for p in points])
        fs = np.array([p.score for p in points])
        left, right = xs < xb - 1e-12, xs > xb + 1e-12
        if not left.any() or not right.any():
            return
        ia = np.flatnonzero(left)[np.argmax(xs[left])]
        ic = np.flatnonzero(right)[np.argmin(xs[right])]
        xa, fa, xc, fc = xs[ia], fs[ia], xs[ic], fs[ic]
        if not (np.isfinite(fa) and np.isfinite(fc)):
            return
        # Vertex of the parabola through (xa, fa), (xb, fb), (xc, fc).
        num = (xb - xa) ** 2 * (fb - fc) - (xb - xc) ** 2 * (fb - fa)
        den = (xb - xa) * (fb - fc) - (xb - xc) * (fb - fa)
        if den == 0:
            return
        x_new = xb - 0.5 * num / den
        # Keep inside the bracket, away from its ends.
        x_new = float(np.clip(x_new, xa + 0.1 * (xb - xa), xc - 0.1 * (xc - xb)))
        x_new = float(np.clip(x_new, lo, hi))
        # The parabola's gain at x_new.
        coeffs = np.polyfit([xa, xb, xc], [fa, fb, fc], 2)
        gain = np.polyval(coeffs, x_new) - fb
        if coeffs[0] >= 0 or gain < _REFINE_GAIN or abs(x_new - xb) < 1e-3:
            return
        evaluate(x_new, best.result.theta)


def separable(lambda_, training_accuracy):
    """Whether the search ran down the slope of separable data.

    ``training_accuracy`` is a callable (computed only for a small
    ``lambda_``): the kept fit's accuracy on its training data.
    """
    return lambda_ < SEPARABLE_LAMBDA and training_accuracy() == 1.0


def separable_message(lambda_):
    return (
        f"The network classifies every training sample correctly and the log "
        f"evidence grew as lambda_ fell, to lambda_={lambda_:.3g}: as for "
        "separable data, the evidence keeps growing as lambda_ -> 0 (the weights "
        "can grow without bound), and the search stopped where the refits no "
        "longer reach their modes. The predicted probabilities are overconfident; "
        "a fixed lambda_, or more data, is the safer choice."
    )
