"""Drive scipy's L-BFGS-B: Ctrl-C, verbose lines, the callback, every warning.

:func:`run_lbfgs` minimizes any ``fun(theta) -> (J, grad)`` and knows nothing
of classifiers. It owns what happens around scipy's optimizer: the cost
recorded after each iteration, the verbose line, the user's callback (which
may stop training), Ctrl-C (which keeps the last completed iterate), the
cost at the returned weights (recomputed where scipy's is not theirs), how
the run ended, and the warning for every stop that is not a convergence.
"""

import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning


class TrainingInterruptedWarning(UserWarning):
    """Training was stopped by Ctrl-C; the model keeps the last iterate
    (with ``lambda_="evidence"``, the best point scored before it)."""


# How a run ended (the estimator's ``stop_reason_``), with the advice its
# warning gives. "converged" and "callback" do not warn; "interrupted"
# warns with TrainingInterruptedWarning.
STOP_REASONS = {
    "converged": None,
    "callback": None,
    "interrupted": None,
    "max_iter": "increase max_iter, or scale the data",
    "max_fun": "increase max_fun, or scale the data",
    "abnormal": (
        "the line search found no lower cost: scale the data (e.g. with "
        "StandardScaler), or lower lambda_; the weights are the last "
        "accepted iterate and may be far from a minimum"
    ),
}


@dataclass
class LbfgsResult:
    """The outcome of :func:`run_lbfgs`.

    ``theta`` the weights (float64), ``loss`` the cost at ``theta``,
    ``n_iter`` the iterations completed, ``loss_curve`` the cost after each,
    ``stop_reason`` one of :data:`STOP_REASONS`, ``message`` scipy's
    message (or what stopped it), ``non_finite`` whether an evaluation
    gave a non-finite cost or gradient (a trial point of the line search,
    typically, where the cost overflowed) and ``warning`` the
    ``(category, text)`` of the warning the run gave (or, with
    ``warn=False``, would have given), None if none.
    """

    theta: np.ndarray
    loss: float
    n_iter: int
    loss_curve: list
    stop_reason: str
    message: str
    non_finite: bool = False
    warning: tuple | None = None


def run_lbfgs(
    fun,
    theta0,
    *,
    max_iter,
    max_fun,
    tol,
    verbose=0,
    callback=None,
    stacklevel=2,
    warn=True,
):
    """Minimize ``fun`` from ``theta0`` by scipy's L-BFGS-B.

    Parameters
    ----------
    fun : callable
        ``fun(theta) -> (J, grad)``, ``grad`` float64 of ``theta``'s shape.
    theta0 : ndarray of shape (n_params,)
        Starting point, float64.
    max_iter, max_fun, tol : int, int, float
        scipy's ``maxiter``, ``maxfun`` and ``gtol``.
    verbose : int, default=0
        ``>= 1`` prints a line after every iteration: iteration, cost,
        gradient norm, seconds since the start.
    callback : callable or None, default=None
        ``callback(iteration, cost, theta)`` after every iteration, with a
        copy of ``theta``; returning True stops the run there.
    stacklevel : int, default=2
        Of the warnings, so that they point at the user's call.
    warn : bool, default=True
        False gives the warning only as ``result.warning``, for a caller
        that decides later whether it concerns the user (a process-wide
        ``warnings.catch_warnings`` would not be safe in threads).

    Returns
    -------
    result : LbfgsResult
        ``loss`` is the cost at ``result.theta``, and the last entry of
        ``loss_curve`` when an iteration was completed.
    """
    loss_curve = []
    # (iterations completed, weights, cost), updated in one assignment so
    # that an interrupt anywhere leaves it consistent.
    state = {
        "iterate": (0, theta0, None),
        "stopped_by_callback": False,
        "non_finite": False,
    }
    last = {}  # the last evaluation: its point, cost and gradient
    start_time = time.perf_counter()

    def objective(theta):
        J, grad = fun(theta)
        if state["iterate"][2] is None and not loss_curve:
            state["iterate"] = (0, theta0, J)  # the first call is at theta0
        last.update(x=theta.copy(), J=J, grad=grad)
        if not (np.isfinite(J) and np.all(np.isfinite(grad))):
            state["non_finite"] = True
        return J, grad

    def cost_at(x):
        """The cost at ``x``: the last evaluation's if it was there."""
        if np.array_equal(last.get("x"), x):
            return last["J"], last["grad"]
        return fun(x)

    def on_iteration(intermediate_result):
        x = intermediate_result.x.copy()
        J = float(intermediate_result.fun)
        state["iterate"] = (len(loss_curve) + 1, x, J)
        loss_curve.append(J)
        if verbose:
            grad = cost_at(x)[1]
            print(
                f"Iteration {len(loss_curve):4d}  cost {J:.8f}  "
                f"|grad| {np.linalg.norm(grad):.3e}  "
                f"{time.perf_counter() - start_time:.2f}s",
                flush=True,
            )
        if callback is not None and callback(len(loss_curve), J, x.copy()):
            state["stopped_by_callback"] = True
            raise StopIteration  # L-BFGS-B ends with this iterate

    try:
        result = scipy.optimize.minimize(
            objective,
            theta0,
            method="L-BFGS-B",
            jac=True,
            callback=on_iteration,
            options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol},
        )
        theta, n_iter = np.asarray(result.x, dtype=np.float64), int(result.nit)
        # scipy's fun is the cost of its last evaluation, which after a
        # failed line search is a trial point, not the x it returns: a
        # cost pass more, which Ctrl-C may interrupt too.
        loss = float(cost_at(theta)[0])
    except KeyboardInterrupt:
        n_iter, theta, loss = state["iterate"]
        del loss_curve[n_iter:]
        if loss is None:  # interrupted during the very first evaluation
            loss = float(fun(theta)[0])
        warning = (
            TrainingInterruptedWarning,
            f"Training interrupted (KeyboardInterrupt) after {n_iter} "
            "L-BFGS iterations; the estimator keeps the weights of the last "
            "completed iteration.",
        )
        if warn:
            warnings.warn(warning[1], warning[0], stacklevel=stacklevel)
        return LbfgsResult(
            np.array(theta, dtype=np.float64),
            float(loss),
            n_iter,
            loss_curve,
            "interrupted",
            "KeyboardInterrupt",
            warning=warning,
        )

    message = str(result.message)
    if loss_curve and n_iter == len(loss_curve):
        loss_curve[-1] = loss  # the same point: make the two agree exactly
    reason = _stop_reason(result, state["stopped_by_callback"], n_iter, max_iter)
    warning = None
    if STOP_REASONS[reason] is not None:
        warning = (
            ConvergenceWarning,
            f"L-BFGS stopped after {n_iter} iterations without converging "
            f"(scipy's status {result.status}: {message}); "
            f"{STOP_REASONS[reason]}.",
        )
        if warn:
            warnings.warn(warning[1], warning[0], stacklevel=stacklevel)
    return LbfgsResult(
        theta,
        loss,
        n_iter,
        loss_curve,
        reason,
        message,
        state["non_finite"],
        warning,
    )


def _stop_reason(result, stopped_by_callback, n_iter, max_iter):
    if stopped_by_callback:
        return "callback"
    if result.status == 0:
        return "converged"
    if result.status == 1:
        return "max_iter" if n_iter >= max_iter else "max_fun"
    return "abnormal"
