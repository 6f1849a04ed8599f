"""Choosing ``lambda_`` by the evidence: the evidence of a mode, and the search.

MacKay's evidence framework (see the User guide, "Choosing lambda_ by the
evidence"): ``lambda_`` is the precision of a Gaussian prior on the non-bias
weights, and the fit keeps the ``lambda_`` that maximizes the Laplace
approximation of the evidence ``p(D | lambda_)`` around the posterior mode,
the network refitted (warm) at every ``lambda_`` tried. The formulas are
:mod:`skbpnn.backprop`'s (:func:`~skbpnn.backprop.laplace_log_evidence`,
:func:`~skbpnn.backprop.posterior_precision`); this module runs them fast
and drives the search:

- :class:`DataCurvature`: ``E_D``, its gradient, the Gauss-Newton matrix
  ``G``, its bias block and its products over the fit's own rows (merged,
  weighted, read through an index);
- :func:`evidence_at`: the log evidence of the mode nearest ``theta`` and
  ``gamma``, exact (``G`` formed, Cholesky) up
  to :data:`DENSE_MAX_PARAMS` parameters, else matrix-free (stochastic
  Lanczos quadrature on ``G``-products, :mod:`skbpnn._lanczos`);
- :func:`search`: the search over ``lambda_`` (its docstring gives the
  algorithm).

Knows nothing of estimators.
"""

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import solve_triangular
from scipy.linalg.lapack import dpotrf, dtrtri
from scipy.special import ndtr
from scipy.stats import t as student_t
from sklearn.utils import check_random_state

from ._evaluation import (
    Workspace,
    data_cost_and_gradient,
    gauss_newton_bias_block,
    gauss_newton_matrix_blocked,
    gauss_newton_product_blocked,
    gauss_newton_rows,
)
from .backprop import BIAS_PRECISION, laplace_log_evidence
from .backprop import weight_mask as backprop_weight_mask

#: Networks up to this many parameters get the exact log det and trace
#: (``G`` formed: ``8 P^2`` bytes, 128 MiB at the limit; Cholesky and a
#: triangular inverse, ``2 P^3 / 3``); larger ones the matrix-free estimates.
DENSE_MAX_PARAMS = 4000

#: The search keeps ``lambda_`` within these bounds.
LAMBDA_BOUNDS = (1e-6, 1e6)

#: The most refits (points) one search makes.
MAX_EVALUATIONS = 16

#: Probes and the most Lanczos steps of the matrix-free estimates (those of
#: :func:`skbpnn._lanczos.logdet_and_trace`, whose docstring gives their
#: accuracy); the recurrences stop earlier once the estimates settle.
N_PROBES = 10
N_STEPS = 100

#: Probes of the search's matrix-free estimates, the first of the kept
#: point's ``N_PROBES`` (:meth:`EvidenceFunction.rescore`): the points are
#: compared by their differences on these common probes, about half the
#: cost of an estimate on ``N_PROBES`` (``benchmarks/search_probes.py``).
SEARCH_PROBES = 4

#: The refits stop when the largest component of the gradient of ``m J =
#: E_D + lambda_/2 |w|^2`` (the summed cost they minimize, in nats) is at
#: most this, or by scipy's relative-decrease test: close enough to the mode
#: of the evidence's ``S`` (which adds the biases' prior ``1e-4/2 |bias|^2``)
#: that the remaining Newton decrement is a small correction (see
#: :func:`evidence_at`).
MODE_GTOL = 1e-5

#: Below this ``lambda_`` the refits' gradient test tightens in proportion
#: to ``lambda_`` (:func:`mode_gtol`).
MODE_LAMBDA = 1e-2

#: Weights farther than this (their Newton decrement, in nats) from a mode
#: of the data passed make ``log_evidence`` warn: its value is then an
#: extrapolation. (A kept refit of the search warns wherever it stopped
#: abnormally, whatever its decrement.)
MODE_DECREMENT = 0.5


def far_from_mode_message(decrement):
    """The warning of a log evidence taken far from a mode of the data."""
    return (
        f"theta_ is far from a mode of the cost on these data (Newton "
        f"decrement {decrement:.3g} nats, above {MODE_DECREMENT}): the log "
        "evidence extrapolates to that mode, and is unreliable. Either the "
        "data (X, y, sample_weight) are not the fit's, or are scaled "
        "otherwise, or the fit stopped short of its mode (lower tol, or "
        "raise max_iter)."
    )


LANCZOS_MESSAGE = (
    "The stochastic Lanczos estimates of log det A and tr(A^-1 M) did not "
    f"settle in {N_STEPS} steps (A is badly conditioned): the log evidence and "
    "n_effective_params_ are less accurate than their standard errors say."
)

# Steps of the bracketing walk in log lambda, the local check's factor, the
# least gain (nats) the refinement's model must promise for a refit, and
# the least step it takes.
_MIN_STEP, _MAX_STEP = np.log(1.5), np.log(10.0)
CHECK_FACTOR = 1.5
#: A score is higher than another's when it is by more than this many
#: standard errors of their difference (:func:`noise_margin`: a Student t
#: quantile of the same level where the error is estimated from few
#: probes; 0 when exact): the search follows the probes' noise only at
#: that level's rate.
NOISE_FACTOR = 2.0
_REFINE_GAIN = 0.01
_REFINE_STEP = np.log(1.05)
# Below this gamma the model kept is constant for all purposes: a warning.
_CONSTANT_GAMMA = 0.01


class DataCurvature:
    """``E_D``, its gradient, ``G``, its bias block and ``G``-products over
    one fit's rows.

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

    def data_cost_and_gradient(self, theta):
        """``E_D = sum_n w_n J_n`` (float) and its gradient (float64)."""
        data_cost, grad = data_cost_and_gradient(
            np.asarray(theta, dtype=self.X.dtype),
            self.X,
            self.Y,
            self.shapes,
            self.w,
            self.block_rows,
            self.workspace,
            self.rows,
        )
        return float(data_cost), grad.astype(np.float64, copy=False)

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

    def gauss_newton_bias_block(self, theta):
        """``G``'s bias rows and columns, ``(n_biases, n_biases)``, float64
        (:func:`~skbpnn._evaluation.gauss_newton_bias_block`)."""
        return gauss_newton_bias_block(
            theta,
            self.X,
            self.shapes,
            self.w,
            gauss_newton_rows(self.shapes),
            self.rows,
        )

    def gauss_newton_product(self, theta, V, *, out=None, biases_only=False):
        """``G @ V`` for ``V`` of shape ``(P,)`` or ``(P, r)``, float64.

        ``out`` (float64, ``V``'s shape) takes the result, added to what it
        holds; ``biases_only`` returns the bias rows alone (see
        :func:`~skbpnn._evaluation.gauss_newton_product_blocked`).
        """
        return gauss_newton_product_blocked(
            np.asarray(theta, dtype=self.X.dtype),
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


def mode_gtol(lambda_):
    """The gradient test of a refit at ``lambda_``: the largest component of
    the gradient of ``S`` (nats) at which it stops.

    :data:`MODE_GTOL`, times ``lambda_ / MODE_LAMBDA`` below
    :data:`MODE_LAMBDA`. Along the weights the data leave undetermined,
    ``A`` is about ``lambda_``, so a gradient ``g`` there can leave the
    mode ``|g| / lambda_`` away: a step that the Newton decrement (of
    second order) barely sees but that moves ``log det A`` (first order).
    At small ``lambda_`` the fixed ``MODE_GTOL`` stopped such refits early
    (on wine with 5 hidden units, near ``lambda_ = 1e-5``, after 0
    iterations, 3.5 nats from the evidence of the mode). The proportion
    keeps the gradient test from doing so: the refits measured at small
    ``lambda_`` (wine and iris with 5 hidden units, blobs) all ran on until
    scipy's relative-decrease test, and their evidences were within 0.4
    nats of their modes'.
    """
    return MODE_GTOL * min(1.0, lambda_ / MODE_LAMBDA)


def weight_mask(shapes):
    """:func:`backprop.weight_mask` of the network of ``shapes``."""
    return backprop_weight_mask((shapes[0][1] - 1, *(s for s, _ in shapes)))


@dataclass(frozen=True)
class Evidence:
    """The evidence of the mode nearest one refit.

    ``log_evidence`` is the Laplace value at the refit's weights plus the
    Newton ``decrement`` ``1/2 g^T A^-1 g`` (``g`` the gradient of ``S``
    there): ``S`` as at the mode, to second order in the step there; ``log
    det A`` as at the refit's weights. ``gamma`` is
    MacKay's ``k - lambda_ tr(A^-1 M)`` (NaN where not computed, see
    :func:`evidence_at`), ``weight_norm2`` ``|w|^2``;
    ``std`` and ``gamma_std`` the standard errors of the matrix-free
    estimates (0 when exact), ``logdet_samples`` their per-probe estimates
    of ``log det A`` (empty when exact; see :func:`difference_std`), and
    ``converged`` False when the Lanczos recurrences did not settle. A
    diverged refit's is ``-inf``.
    """

    log_evidence: float
    gamma: float
    lambda_: float
    weight_norm2: float
    decrement: float = 0.0
    std: float = 0.0
    gamma_std: float = 0.0
    converged: bool = True
    logdet_samples: tuple = ()


class NotPositiveDefiniteError(np.linalg.LinAlgError, ValueError):
    """``A`` is not positive definite to working precision: a ValueError
    whatever numpy's version (its LinAlgError is one from numpy 2.0 on)."""


def _factorize(A, g):
    """``A``'s Cholesky factor, ``log det A`` and ``g^T A^-1 g``.

    ``A = U^T U``: ``log det A = 2 sum log U_ii``, ``g^T A^-1 g = |U^-T
    g|^2``. ``A`` is C-ordered and symmetric, so its transpose, the same
    matrix in Fortran order, is factorized in place (no copy): ``U`` is
    ``A``'s memory. Returns ``(U, logdet, quadratic)``.
    """
    U, info = dpotrf(A.T, lower=0, clean=1, overwrite_a=1)
    if info != 0:
        # A = G + diag(>= min(lambda_, 1e-4)), G positive semi-definite.
        raise NotPositiveDefiniteError(
            "The posterior precision G + prior is not positive definite to "
            f"working precision (leading minor {info}): G's scale is too far "
            "from the prior's (features or sample weights too large, or "
            "lambda_ too small)."
        )
    logdet = 2.0 * float(np.sum(np.log(np.diag(U))))
    solved = solve_triangular(U, g, trans="T", lower=False, check_finite=False)
    return U, logdet, float(solved @ solved)


def _masked_trace(U, mask):
    """``tr(A^-1 M)`` from ``A``'s Cholesky factor ``U`` (overwritten).

    ``A^-1 = U^-1 U^-T``, so ``(A^-1)_ii = |row i of U^-1|^2``: the
    triangular inverse (in place, ``P^3 / 3`` flops, as many as the
    factor's), then the sum of the masked rows' squares.
    """
    U_inv, _ = dtrtri(U, lower=0, overwrite_c=1)
    rows = U_inv[mask]
    return float(np.einsum("ij,ij->", rows, rows))


def evidence_at(
    curvature, theta, lambda_, *, method, seed, gamma_above=None, n_probes=N_PROBES
):
    """The evidence of the mode nearest ``theta``, fitted with ``lambda_``.

    ``method`` is ``"dense"`` (``G`` formed and factorized: exact) or
    ``"lanczos"`` (stochastic Lanczos quadrature on ``G``-products, seeded
    by ``seed``: estimates with standard errors). Both give ``log det A``,
    ``gamma = k - lambda_ tr(A^-1 M)`` and the Newton decrement ``1/2 g^T
    A^-1 g`` of ``S`` at ``theta``, which ``log_evidence`` adds: a
    Gauss-Newton step from ``theta`` lowers ``S`` by about that much (to
    second order in the step), while ``log det A``, taken at ``theta``,
    changes by an amount of first order in the step, small once the step
    is. Given ``gamma_above``, the dense path computes ``tr(A^-1 M)`` (a
    triangular inverse, about a third of its time on digits) only where
    the log evidence is higher than that, ``gamma`` NaN elsewhere; the
    matrix-free path has it from the same recurrences and always keeps it,
    and estimates on the first ``n_probes`` probes of ``seed``.
    """
    theta = np.asarray(theta, dtype=np.float64)
    mask = weight_mask(curvature.shapes)
    diag = np.where(mask, lambda_, BIAS_PRECISION)
    k = int(mask.sum())
    data_cost, grad = curvature.data_cost_and_gradient(theta)
    g = grad + diag * theta  # the gradient of S, the prior's terms added
    gamma_std = std = 0.0
    converged = True
    samples = ()
    if method == "dense":
        A = curvature.gauss_newton(theta)
        A[np.diag_indices_from(A)] += diag
        U, logdet, quadratic = _factorize(A, g)
        del A
        trace = np.nan  # until the log evidence is known (gamma_above)
    else:
        from ._lanczos import logdet_and_trace

        estimate = logdet_and_trace(
            PosteriorPrecision(curvature, theta, diag, mask),
            theta.size,
            mask,
            n_probes=n_probes,
            n_steps=N_STEPS,
            random_state=seed,
            vector=g,
        )
        logdet, trace, quadratic = estimate.logdet, estimate.trace, estimate.quadratic
        std = 0.5 * float(estimate.logdet_std)
        gamma_std = float(lambda_ * estimate.trace_std)
        converged = estimate.converged
        samples = tuple(float(v) for v in estimate.logdet_samples)
    weight_norm2 = float(theta[mask] @ theta[mask])
    decrement = 0.5 * float(quadratic)
    value = laplace_log_evidence(
        data_cost,
        weight_norm2,
        float(theta[~mask] @ theta[~mask]),
        logdet,
        lambda_,
        k,
        theta.size - k,
        BIAS_PRECISION,
    )
    value = value + decrement
    if not np.isfinite(value):
        value = -np.inf
    if method == "dense":
        if gamma_above is None or value > gamma_above:
            trace = _masked_trace(U, mask)
        del U
    return Evidence(
        log_evidence=float(value),
        gamma=float(np.clip(k - lambda_ * trace, 0.0, k)),  # NaN without trace
        lambda_=float(lambda_),
        weight_norm2=weight_norm2,
        decrement=decrement,
        std=std,
        gamma_std=gamma_std,
        converged=bool(converged),
        logdet_samples=samples,
    )


def difference_std(a, b):
    """The standard error of ``a.log_evidence - b.log_evidence``.

    0 when both are exact. Matrix-free evidences of one search share their
    probes (one seed), so their errors are correlated and the difference is
    estimated probe by probe: ``1/2`` the standard error of the mean of the
    paired differences of the ``log det A`` samples (the log evidence has
    ``-1/2 log det A``). Between nearby modes it is a fraction of either
    estimate's own (3.6 against 17 to 20 nats on the course's 400-25-10
    network, 10 probes).
    """
    if not a.logdet_samples or not b.logdet_samples:
        return float(np.hypot(a.std, b.std))  # unpaired (or both exact: 0)
    d = np.subtract(a.logdet_samples, b.logdet_samples)
    return 0.5 * float(np.std(d, ddof=1) / np.sqrt(d.size))


def noise_margin(a, b):
    """How much more than ``b.log_evidence`` ``a``'s must be to count as higher.

    :data:`NOISE_FACTOR` standard errors of the difference
    (:func:`difference_std`) under the normal law, a one-sided level of
    ``Phi(2) = 0.977``. Where that error is estimated from ``n`` paired
    probe samples, it is itself uncertain (``n - 1`` degrees of freedom),
    and the same level needs Student's t quantile instead: 3.31 standard
    errors for the search's 4 probes, 2.32 for 10 (a factor of 2 on 4
    samples counts noise as higher 7 % of the time, against the 2.3 % it
    means). 0 where both are exact; ``NOISE_FACTOR`` itself where the
    samples are not paired (a diverged point's).
    """
    std = difference_std(a, b)
    n = len(a.logdet_samples) if b.logdet_samples else 0
    if n < 2:
        return NOISE_FACTOR * std  # unpaired, or exact (0)
    return float(student_t.ppf(ndtr(NOISE_FACTOR), n - 1)) * std


class PosteriorPrecision:
    """``A = G + diag`` at ``theta`` by its products, for
    :func:`~skbpnn._lanczos.logdet_and_trace`.

    A call gives ``A @ V`` as a new array; ``add_into``, ``rows`` and
    ``unmasked_block`` are the leaner forms that function uses where they
    exist: the first adds the product into the recurrence's own array, the
    second computes only the bias rows (the unmasked ones, ``~mask``) and
    skips the weight rows' products, the third gives the block ``A_bb`` of
    the bias rows and columns in one pass over the rows
    (:meth:`DataCurvature.gauss_newton_bias_block`) instead of products
    with their unit vectors. On float32 data it is None: the block then
    comes from the (float32) products, as the rest of ``A`` does.
    """

    def __init__(self, curvature, theta, diag, mask):
        self.curvature, self.theta, self.diag = curvature, theta, diag
        self.bias_rows = np.flatnonzero(~mask)
        if curvature.X.dtype != np.float64:
            # The products run in X's float32: A_bb from those same products
            # (unit vectors, in _lanczos), so that S is the Schur complement
            # of one rounded matrix. An exact A_bb beside float32 A_wb and
            # A_ww can make S indefinite where A_bb is ill-conditioned.
            self.unmasked_block = None

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

    def unmasked_block(self, index):
        """``A[index][:, index]`` for the bias rows (``index`` must be
        ``bias_rows``): ``A_bb = G_bb + diag``, a new ``(n_biases,
        n_biases)`` float64 array."""
        if not np.array_equal(index, self.bias_rows):
            raise ValueError("unmasked_block gives the bias rows and columns only.")
        A_bb = self.curvature.gauss_newton_bias_block(self.theta)
        A_bb[np.diag_indices_from(A_bb)] += self.diag[index]
        return A_bb


class EvidenceFunction:
    """``evidence(theta, lambda_, gamma_above=None) -> Evidence`` for
    :func:`search`, and the kept point's estimate after it (:meth:`rescore`).

    Every point gets its own ``G``: reusing the matrix of a nearby mode
    (saving its ``m P^2`` multiply-adds) was tried and was off by up to
    hundreds of nats on digits, because ``G`` grows with the weights. The
    one ``seed`` gives every point the same probes (common random numbers),
    :data:`SEARCH_PROBES` of them in the search. ``gamma_above`` skips
    ``tr(A^-1 M)`` on the dense path where the log evidence is not above
    it (:func:`evidence_at`).
    """

    def __init__(self, curvature, method, seed):
        self.curvature, self.method, self.seed = curvature, method, seed
        self.n_probes = SEARCH_PROBES

    def __call__(self, theta, lambda_, gamma_above=None, n_probes=None):
        return evidence_at(
            self.curvature,
            theta,
            lambda_,
            method=self.method,
            seed=self.seed,
            gamma_above=gamma_above,
            n_probes=self.n_probes if n_probes is None else n_probes,
        )

    def rescore(self, found):
        """The search's scores with the kept point's estimated on
        ``N_PROBES`` probes (matrix-free only; ``found`` as it is where the
        search's estimates had them, or the kept score is not finite).

        The kept point's evidence is estimated again on ``N_PROBES``
        probes, of which the search's are the first: its value is then what
        :meth:`~skbpnn.BackpropClassifier.log_evidence` gives (the same
        seed and count), with the standard error of ``N_PROBES`` probes.
        Every other point keeps its difference from the kept one on the
        search's common probes, on which the search compared them, ``F_i =
        F_kept - (s_kept - s_i)`` (``s`` the search's scores): the argmax
        and every comparison of the search stay as they were, and the kept
        score is the highest (a difference of floats ``s_kept >= s_i`` is
        not negative).
        """
        best = found.best
        if (
            self.method == "dense"
            or self.n_probes >= N_PROBES
            or not np.isfinite(best.score)
        ):
            return found
        final = self(best.result.theta, best.lambda_, n_probes=N_PROBES)
        # The Lanczos warning also where the kept point's search estimate,
        # which won the comparisons, did not settle.
        converged = final.converged and best.evidence.converged
        final = dataclasses.replace(final, converged=converged)

        def moved(p):
            if p is best:
                return dataclasses.replace(p, evidence=final)
            # (A diverged point's -inf stays -inf.)
            score = final.log_evidence - (best.score - p.score)
            ev = dataclasses.replace(p.evidence, log_evidence=score)
            return dataclasses.replace(p, evidence=ev)

        points = [moved(p) for p in found.points]
        kept = points[next(i for i, p in enumerate(found.points) if p is best)]
        return dataclasses.replace(found, best=kept, points=points)


def choose_method(n_params):
    """``"dense"`` up to :data:`DENSE_MAX_PARAMS` parameters, else ``"lanczos"``."""
    return "dense" if n_params <= DENSE_MAX_PARAMS else "lanczos"


def seed_from(random_state):
    """One int seed for every matrix-free estimate of a fit.

    Drawn once per fit and kept, so that the same probes serve every
    ``lambda_`` of a search (their errors are then largely common to the
    points compared) and every later
    :meth:`~skbpnn.BackpropClassifier.log_evidence` of the fitted model.
    """
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@dataclass
class Point:
    """One ``lambda_`` tried: the refit, the evidence of its mode, and the
    weights the refit started from."""

    lambda_: float
    result: object  # the L-BFGS result (theta, loss, n_iter, stop_reason, ...)
    evidence: Evidence
    start: object = None

    @property
    def score(self):
        return self.evidence.log_evidence

    @property
    def x(self):
        return float(np.log(self.lambda_))


@dataclass
class SearchResult:
    """The point kept (the best score of all tried) and every point, in order.

    ``unscored`` holds the results of the refits that Ctrl-C left without
    an evidence (not points: they count as work done only);
    ``rescore_interrupted`` says that Ctrl-C stopped
    :meth:`EvidenceFunction.rescore` (the scores the search's). ``outcome`` is
    ``"settled"`` (a maximum inside the bounds, checked; on
    the matrix-free path the point kept may be a check's refit higher than
    it only by the estimates' noise, not checked in its turn),
    ``"bound"`` (the best point at a bound of ``lambda_``, the evidence
    still rising towards it), ``"max_evaluations"``, ``"diverged"`` (the
    first refit's cost overflowed), ``"stopped"`` (the user's callback
    stopped a refit: that refit is scored) or ``"interrupted"`` (Ctrl-C, in
    a refit or in an evidence: that point is not in ``points``, unless it
    was the first, kept with its evidence NaN).
    """

    best: Point
    points: list
    outcome: str
    unscored: list = field(default_factory=list)
    rescore_interrupted: bool = False

    @property
    def settled(self):
        return self.outcome in ("settled", "stopped", "interrupted")


class _Stopped(Exception):
    """A refit was stopped by the user's callback."""


class _OutOfRefits(Exception):
    """The search made its ``max_evaluations`` refits."""


class _Trials:
    """The points tried: refit and evidence at a ``log lambda_``, in order."""

    def __init__(self, fit_at, evidence, bounds, max_evaluations, progress=None):
        self.fit_at, self.evidence, self.progress = fit_at, evidence, progress
        self.lo, self.hi = np.log(bounds[0]), np.log(bounds[1])
        self.bounds, self.max_evaluations = bounds, max_evaluations
        self.points, self.unscored = [], []

    def clip(self, x):
        return float(np.clip(x, self.lo, self.hi))

    def best(self):
        """The point of the highest score; the first of equal ones."""
        return max(self.points, key=lambda p: p.score)

    @staticmethod
    def higher(a, b):
        """Whether ``a`` scores higher than ``b`` beyond the estimates' noise."""
        return a.score > b.score + noise_margin(a.evidence, b.evidence)

    def at(self, x, theta_start):
        """Refit at ``log lambda_ = x`` (clipped) from ``theta_start``."""
        if len(self.points) >= self.max_evaluations:
            raise _OutOfRefits
        x = self.clip(x)
        # The bounds exactly, where the search reaches them.
        if x in (self.lo, self.hi):
            lambda_ = float(self.bounds[0] if x == self.lo else self.bounds[1])
        else:
            lambda_ = float(np.exp(x))
        if self.progress is not None:
            best = self.best() if self.points else None
            self.progress(len(self.points) + 1, lambda_, best)
        result = self.fit_at(lambda_, theta_start)
        if result.stop_reason == "interrupted":
            # Ctrl-C in the refit: the user wants the fit back now, not the
            # evidence (minutes on the matrix-free path) of weights short
            # of their mode.
            self._unscored(lambda_, result, theta_start)
            raise KeyboardInterrupt
        if np.all(np.isfinite(result.theta)) and np.isfinite(result.loss):
            # gamma is read at the first point and the kept one, which
            # scored higher than every point before it when it was tried.
            above = self.best().score if self.points else None
            try:
                ev = self.evidence(result.theta, lambda_, gamma_above=above)
            except KeyboardInterrupt:
                self._unscored(lambda_, result, theta_start)
                raise
        else:  # diverged: the worst point
            ev = Evidence(-np.inf, 0.0, lambda_, 0.0)
        point = Point(lambda_, result, ev, theta_start)
        self.points.append(point)
        if result.stop_reason == "callback":
            raise _Stopped
        return point

    def _unscored(self, lambda_, result, theta_start):
        """A refit that Ctrl-C left without its evidence: counted as work;
        where nothing is scored yet, kept as the first point with its
        evidence NaN, rather than the whole fit lost."""
        if self.points:
            self.unscored.append(result)
        else:
            unknown = Evidence(np.nan, np.nan, lambda_, np.nan, std=np.nan)
            self.points.append(Point(lambda_, result, unknown, theta_start))

    def neighbours(self, point):
        """The nearest points tried below and above ``point`` (or None)."""
        below = [p for p in self.points if p.x < point.x]
        above = [p for p in self.points if p.x > point.x]
        return (
            max(below, key=lambda p: p.x) if below else None,
            min(above, key=lambda p: p.x) if above else None,
        )


def search(
    fit_at,
    evidence,
    theta0,
    lambda0,
    *,
    bounds=LAMBDA_BOUNDS,
    max_evaluations=MAX_EVALUATIONS,
    progress=None,
):
    """The ``lambda_`` of the highest log evidence, refitting warm.

    In ``x = log lambda_``, with ``F(x)`` the log evidence of the mode the
    refit at ``x`` reaches (:func:`evidence_at`):

    1. **Start**: refit at ``x0 = log lambda0`` from ``theta0``.
    2. **Bracket**: walk from ``x0`` towards MacKay's update ``log(gamma /
       |w|^2)`` (the fixed point of ``lambda_ = gamma / |w|^2``, where the
       evidence's derivative vanishes with ``G`` held fixed; MacKay 1992,
       eq. 4.9), the first step its distance from ``x0`` within ``[log 1.5,
       log 10]``, each further step twice the last (at most ``log 10``),
       each refit warm from the best weights, while ``F`` rises; if the
       first step loses, walk the other side from ``x0``. "Rises" and
       "higher" mean by more than the noise margin of the difference
       (:func:`noise_margin`: ``NOISE_FACTOR`` standard errors under the
       normal law, a t quantile of the same level for the probes' count):
       0 on the exact path; on the matrix-free path the search follows the
       probes' noise only at that level's rate (2.3 %). The
       direction and the first step only are MacKay's: ``G`` changes with
       the weights, and the derivative without that change can have the
       wrong sign, so the walk goes by the values of ``F``.
    3. **Refine**: refit at the vertex of the parabola through the best
       point and its neighbours, while it promises at least 0.01 nats (and
       more than the noise of the differences) and moves by at least
       ``log 1.05``, at most three times.
    4. **Check**: refits warm from the best weights at ``lambda_ * 1.5``
       and ``lambda_ / 1.5`` (where the walk has not made that refit
       already); if either scores higher (beyond the estimates' noise,
       :func:`noise_margin`), it is the new best and steps 3 and 4 run
       again.
    5. **Keep** the point of the highest score of all tried.

    Each point is one warm refit and one evidence (``G``, or its products,
    at the refit's weights). ``gamma`` is read at the first point (step 2)
    and the kept one only, and the kept one scored higher than every point
    before it when it was tried: so the evidence is asked for ``gamma``
    only at points that do (on the dense path the others skip a triangular
    inverse, about a third of a point's evidence on digits). On the
    matrix-free path the points are scored on :data:`SEARCH_PROBES`
    probes; the classifier then estimates the kept one on all
    (:meth:`EvidenceFunction.rescore`). The search ends after
    ``max_evaluations`` refits in any case.

    Parameters
    ----------
    fit_at : callable
        ``fit_at(lambda_, theta_start) -> result``, an L-BFGS result (with
        ``theta``, ``loss``, ``stop_reason``) minimizing the cost at
        ``lambda_`` from ``theta_start``, its warning not emitted.
    evidence : callable
        ``evidence(theta, lambda_, gamma_above=None) -> Evidence``
        (:class:`EvidenceFunction`), called with ``gamma_above`` the best
        score so far (None at the first point): its ``gamma`` may be NaN
        where its score is not higher than that.
    theta0 : ndarray
        The first refit's starting weights.
    lambda0 : float
        The first ``lambda_``.
    bounds : (float, float)
        The range of ``lambda_``.
    max_evaluations : int
        The most refits.
    progress : callable, default=None
        ``progress(n, lambda_, best)`` before the ``n``-th refit, ``best``
        the best point so far (None before the first).

    Returns
    -------
    SearchResult
    """
    trials = _Trials(fit_at, evidence, bounds, max_evaluations, progress)
    try:
        # (A warm start from lambda_ = 0 starts at the lower bound.)
        first = trials.at(np.log(np.clip(lambda0, *bounds)), theta0)  # 1. start
        outcome = _bracket(trials, first)  # 2. bracket
        while outcome == "bracketed":
            _refine(trials)  # 3. refine
            outcome = _check(trials)  # 4. check
    except _OutOfRefits:
        outcome = "max_evaluations"
    except _Stopped:
        outcome = "stopped"
    except KeyboardInterrupt:
        # Ctrl-C in a refit (its L-BFGS returns the last iterate) or in an
        # evidence (a point's longest part on the matrix-free path): that
        # point is not scored (_Trials._unscored).
        if not trials.points:
            raise
        outcome = "interrupted"
    best = trials.best()  # 5. keep
    return SearchResult(best, trials.points, outcome, trials.unscored)


def _bracket(trials, first):
    """Step 2: walk from ``first`` while the score rises; the outcome.

    The first direction is that of MacKay's update, the first step its
    distance (within ``log 1.5`` and ``log 10``), each further step twice
    the last (at most ``log 10``); if the first step loses, the other side
    is walked from ``first``.
    """
    if not np.isfinite(first.score):
        return "diverged"  # no weights to refit from
    ev = first.evidence
    if ev.gamma > 0 and ev.weight_norm2 > 0:
        jump = np.log(ev.gamma / ev.weight_norm2) - first.x
    else:
        jump = _MAX_STEP  # no weight determined: towards large lambda_
    direction = 1.0 if jump >= 0 else -1.0
    outcome, best = _walk(trials, first, direction, abs(jump))
    if best is first:
        # The first step lost, or could not be taken (the start at a bound,
        # as a warm start after a search that ended there): the other side.
        # (Started at a bound, the check then gives the outcome: "bound"
        # if this side lost too, else that of the maximum found inside.)
        outcome, best = _walk(trials, first, -direction, _MIN_STEP)
    if trials.best() is not best:
        # The highest point is higher than the walk's only by the estimates'
        # noise (matrix-free): refine and check around it.
        return "bracketed"
    return outcome


def _walk(trials, best, direction, step):
    """Steps from ``best`` in ``direction`` while they gain: (outcome, best)."""
    step = float(np.clip(step, _MIN_STEP, _MAX_STEP))
    while True:
        x_new = trials.clip(best.x + direction * step)
        if x_new == best.x:
            return "bound", best
        point = trials.at(x_new, best.result.theta)
        if not trials.higher(point, best):
            return "bracketed", best
        best, step = point, min(2 * step, _MAX_STEP)


def _refine(trials, max_steps=3):
    """Step 3: refits at the vertex of the parabola through the best point
    and its neighbours, while it promises at least ``_REFINE_GAIN`` nats."""
    for _ in range(max_steps):
        best = trials.best()
        below, above = trials.neighbours(best)
        if below is None or above is None:
            return
        x_new, gain = _parabola_vertex(below, best, above)
        noise = max(noise_margin(best.evidence, p.evidence) for p in (below, above))
        if not gain >= max(_REFINE_GAIN, noise) or abs(x_new - best.x) < _REFINE_STEP:
            return
        trials.at(x_new, best.result.theta)


def _parabola_vertex(a, b, c):
    """The vertex of the parabola through three points, ``b`` the highest.

    Kept inside ``(a.x, c.x)``, a tenth of each side's width from its ends;
    returns ``(x, gain)``, the parabola's value there above ``b``'s (0 when
    it has no maximum, or a point's score is not finite).
    """
    xs = np.array([a.x, b.x, c.x])
    fs = np.array([a.score, b.score, c.score])
    if not np.all(np.isfinite(fs)):
        return b.x, 0.0
    curvature, slope, value = np.polyfit(xs - b.x, fs, 2)
    if not curvature < 0:
        return b.x, 0.0
    t = -slope / (2 * curvature)
    t = float(np.clip(t, 0.9 * (a.x - b.x), 0.9 * (c.x - b.x)))
    return b.x + t, float(curvature * t * t + slope * t + value - b.score)


def _check(trials):
    """Step 4: is the best point higher than refits at ``* 1.5`` and ``/ 1.5``?

    A side already refitted there from the best's weights (a first step of
    the walk, of ``log 1.5``) is not refitted again: the refit would be the
    same. A point tried nearer, or from other weights, is no check: the
    mode a refit reaches depends on where it starts.
    """
    best = trials.best()
    step = np.log(CHECK_FACTOR)
    for x_new in (best.x + step, best.x - step):
        x_new = trials.clip(x_new)
        done = any(
            p.start is best.result.theta and abs(p.x - x_new) <= 1e-9
            for p in trials.points
        )
        if x_new != best.x and not done:
            trials.at(x_new, best.result.theta)
    if any(trials.higher(p, best) for p in trials.points):
        return "bracketed"  # a higher neighbour: refine and check again
    # The point kept: the best, or a refit higher only by noise (matrix-free).
    kept = trials.best()
    return "bound" if kept.x in (trials.lo, trials.hi) else "settled"


def interruption_message(found):
    """The TrainingInterruptedWarning's text for a search that Ctrl-C
    stopped (in a refit or an evidence, or the kept point's second
    estimate), or None."""
    if found.rescore_interrupted:
        return (
            "Training interrupted (KeyboardInterrupt) while the kept point's "
            "log evidence was estimated again on all the probes; "
            "log_evidence_, log_evidence_se_ and n_effective_params_ are the "
            f"search's, on {SEARCH_PROBES} (log_evidence(X, y) estimates it "
            "on all)."
        )
    if found.outcome != "interrupted":
        return None
    best = found.best
    if not np.isfinite(best.score):
        return (
            "Training interrupted (KeyboardInterrupt) at the first point of "
            f"the search for lambda_ by the log evidence, lambda_="
            f"{best.lambda_:.4g}; the estimator keeps its refit, whose log "
            "evidence was not computed (log_evidence_ and n_effective_params_ "
            "NaN)."
        )
    return (
        "Training interrupted (KeyboardInterrupt) during the search for "
        f"lambda_ by the log evidence, after {len(found.points)} points "
        "scored; the estimator keeps the refit of the highest log evidence "
        f"among them, at lambda_={best.lambda_:.4g}."
    )


def message(found):
    """The ConvergenceWarning's text for a search that did not settle, or None."""
    best = found.best
    gamma_text = f" (n_effective_params_={best.evidence.gamma:.3g})"
    if found.outcome == "bound" and best.lambda_ >= LAMBDA_BOUNDS[1]:
        return (
            f"The log evidence still increases at lambda_={best.lambda_:.3g}, the "
            f"upper bound of the search{gamma_text}: the data determine almost "
            "none of the weights and the evidence prefers a constant model "
            "(too few samples, or uninformative features). lambda_ is kept at "
            "the bound."
        )
    if found.outcome == "bound":
        return (
            f"The log evidence still increases at lambda_={best.lambda_:.3g}, the "
            f"lower bound of the search{gamma_text}: the evidence keeps growing "
            "as lambda_ -> 0 (the weights can grow without bound), as for "
            "separable data. The predicted probabilities are overconfident; a "
            "fixed lambda_, or more data, is the safer choice."
        )
    constant = best.evidence.gamma < _CONSTANT_GAMMA
    # On the plateau the evidence reaches as lambda_ -> inf.
    constant_text = (
        f"The data determine none of the weights (n_effective_params_="
        f"{best.evidence.gamma:.3g} at lambda_={best.lambda_:.3g}): the log "
        "evidence is flat for large "
        "lambda_ and prefers a constant model (too few samples, or "
        "uninformative features)."
    )
    if found.outcome == "max_evaluations":
        # (Scores on that plateau differ by rounding: a search can spend
        # its refits there.)
        return (
            f"The search for lambda_ by the evidence did not settle in "
            f"{len(found.points)} refits; the lambda_ of the highest log "
            f"evidence found, {best.lambda_:.4g}, is kept."
        ) + (f" {constant_text}" if constant else "")
    if found.outcome == "settled" and constant:
        return constant_text
    return None
