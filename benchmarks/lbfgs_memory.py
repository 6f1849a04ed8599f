"""Would L-BFGS memory carried from one lambda_ to the next save iterations?

Issue 23 (item 4) asks the evidence's warm refits to reuse "L-BFGS's memory
where that is valid". scipy's L-BFGS-B, which skbpnn drives, takes no
memory, so this script measures the idea before anyone writes an L-BFGS of
their own: one plain L-BFGS (the two-loop recursion, memory 10, scipy's
Wolfe line search), three ways from the same start, the mode at
``lambda_ = 0.2`` of digits' 64-25-10 network (1437 standardized rows),
refitted at ``lambda_ * factor`` until the largest component of the
summed cost's gradient is at most ``1e-5`` nats (``_evidence.MODE_GTOL``):

- empty memory (what a new run does);
- the last 10 pairs ``(s, y)`` of the run that reached the mode, ``y``
  corrected by ``(lambda' - lambda_) M s``, so that they are the pairs of
  the new cost (its prior term is quadratic: exact);
- the same pairs uncorrected.

Iterations and cost evaluations are counted, not timed (one BLAS thread);
scipy's L-BFGS-B from the same start is printed beside them for scale
(its line search and stopping tests differ). Run::

    python benchmarks/lbfgs_memory.py
"""

import warnings

import numpy as np
import scipy.optimize
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skbpnn import BackpropClassifier, _evidence

MEMORY = 10
FACTORS = (1.5, 1 / 1.5, 2.25, 1 / 2.25, 5.0)


def summed_cost(curvature, mask, lambda_):
    """``S = E_D + lambda_/2 |w|^2 + b/2 |bias|^2`` and its gradient."""
    diag = np.where(mask, lambda_, _evidence.BIAS_PRECISION)

    def fun(theta):
        data_cost, grad = curvature.data_cost_and_gradient(theta)
        return data_cost + 0.5 * float(theta @ (diag * theta)), grad + diag * theta

    return fun


def lbfgs(fun, theta, pairs=(), gtol=_evidence.MODE_GTOL, max_iter=2000):
    """Plain L-BFGS from ``theta`` with the memory ``pairs``:
    ``(theta, iterations, evaluations, pairs)``."""
    pairs = list(pairs)[-MEMORY:]
    value, grad = fun(theta)
    n_fev = 1
    for it in range(max_iter):
        if np.max(np.abs(grad)) <= gtol:
            return theta, it, n_fev, pairs
        q, alphas = grad.copy(), []
        for s, y in reversed(pairs):
            alphas.append((s @ q) / (y @ s))
            q -= alphas[-1] * y
        if pairs:
            s, y = pairs[-1]
            q *= (s @ y) / (y @ y)
        else:
            q /= max(np.linalg.norm(grad), 1e-12)
        for (s, y), alpha in zip(pairs, reversed(alphas)):
            q += s * (alpha - (y @ q) / (y @ s))
        step_size, n_f, n_g, *_ = scipy.optimize.line_search(
            lambda t: fun(t)[0],
            lambda t: fun(t)[1],
            theta,
            -q,
            gfk=grad,
            old_fval=value,
            c2=0.9,
        )
        n_fev += n_f + n_g  # each a call of fun, which gives both
        if step_size is None:
            return theta, it, n_fev, pairs
        step = -step_size * q
        new_value, new_grad = fun(theta + step)
        n_fev += 1
        if step @ (new_grad - grad) > 1e-12:
            pairs = (pairs + [(step, new_grad - grad)])[-MEMORY:]
        theta, value, grad = theta + step, new_value, new_grad
    return theta, max_iter, n_fev, pairs


def main():
    X, y = load_digits(return_X_y=True)
    X, y = StandardScaler().fit_transform(X)[:1437], y[:1437]
    lambda_ = 0.2
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = BackpropClassifier(
            (25,), lambda_=lambda_, random_state=0, max_iter=2000, tol=1e-10
        ).fit(X, y)
        data = clf._training_data(X, y, None, reset=False)
        curvature = data.curvature(clf.layer_sizes_)
        mask = _evidence.weight_mask(curvature.shapes)
        fun = summed_cost(curvature, mask, lambda_)
        mode, n_more, _, pairs = lbfgs(fun, clf.theta_.copy(), gtol=1e-6)
        print(f"the mode at lambda_ = {lambda_}: {n_more} more iterations to 1e-6")
        print(
            f"{'lambda_ factor':>14}  {'empty':>12}  {'corrected':>12}  "
            f"{'uncorrected':>12}  {'L-BFGS-B':>12}   (iterations / evaluations)"
        )
        for factor in FACTORS:
            new = lambda_ * factor
            fun = summed_cost(curvature, mask, new)
            shift = (new - lambda_) * mask
            corrected = [(s, y + shift * s) for s, y in pairs]
            runs = [
                lbfgs(fun, mode.copy(), memory)[1:3]
                for memory in ((), corrected, pairs)
            ]
            ref = scipy.optimize.minimize(
                fun,
                mode.copy(),
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": 2000, "gtol": _evidence.MODE_GTOL},
            )
            cells = [f"{it} / {fev}" for it, fev in runs] + [f"{ref.nit} / {ref.nfev}"]
            print(f"{factor:>14.3g}  " + "  ".join(f"{c:>12}" for c in cells))


if __name__ == "__main__":
    main()
