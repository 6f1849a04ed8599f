"""Tests of skbpnn._lanczos against numpy's dense linear algebra.

``logdet_and_trace`` estimates ``log det A`` and ``tr(A^-1 M)``; here ``A``
is known densely, so the estimates are checked against ``slogdet`` and
``inv``: exactly (to rounding) where the quadrature is exact, and to a
stated multiple of the reported standard errors where it is stochastic
(fixed seeds, so every assertion below passes or fails the same way at
every run).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from threadpoolctl import threadpool_limits

from skbpnn._lanczos import logdet_and_trace


@pytest.fixture(autouse=True)
def one_blas_thread():
    # Products of a few hundred rows: one thread is fastest, on a busy machine
    # by far.
    with threadpool_limits(1):
        yield


def ggn_like(P, seed, lambda_=1.0, bias_fraction=0.03):
    """``A = G + lambda M + 1e-4 (I - M)`` with ``G`` like a Gauss-Newton matrix.

    ``G = J^T D J`` from ``P / 2`` random rows (so half of ``G``'s
    eigenvalues are 0), ``D`` in ``[0, 1/4]`` as ``h (1 - h)``, and
    columns of ``J`` scaled over two decades; the unmasked ("bias")
    columns are all-ones-like, as a bias's Jacobian, except one left at 0,
    a bias the data do not constrain (a saturated unit): ``A`` then has an
    eigenvalue ``1e-4`` and a condition number above ``1e7``.
    """
    rng = np.random.RandomState(seed)
    rows = P // 2
    mask = np.ones(P, dtype=bool)
    mask[rng.choice(P, max(2, int(bias_fraction * P)), replace=False)] = False
    scale = np.where(mask, 10 ** rng.uniform(-1, 1, P), 1.0)
    J = rng.randn(rows, P) * scale
    J[:, ~mask] += 2.0
    J[:, np.flatnonzero(~mask)[0]] = 0.0
    D = rng.uniform(0, 0.25, rows)
    G = J.T @ (D[:, None] * J)
    return G + np.diag(np.where(mask, lambda_, 1e-4)), mask


def exact(A, mask):
    inverse = np.linalg.inv(A)
    return np.linalg.slogdet(A)[1], float(np.trace(inverse[np.ix_(mask, mask)]))


@pytest.mark.parametrize(
    "P, seed, lambda_", [(300, 4, 1.0), (500, 1, 1.0), (1000, 2, 10.0)]
)
def test_defaults_within_three_standard_errors(P, seed, lambda_):
    # The stated accuracy of the defaults (10 probes, up to 100 steps until
    # converged): both estimates within 3 reported standard errors of the
    # exact values, the standard error of log det A within 3% of
    # sum |log eigenvalue|, and that of gamma = k - lambda tr(A^-1 M) within
    # 3% of gamma. Measured on 12 such matrices (n = 300 to 2000, lambda =
    # 0.1 to 10): where converged, |error| / std at most 1.6; std 0.3-2.4%
    # of sum |log eigenvalue| and 0.6-2.3% of gamma.
    A, mask = ggn_like(P, seed, lambda_)
    assert np.linalg.cond(A) > 1e7
    logdet, trace = exact(A, mask)
    est = logdet_and_trace(lambda V: A @ V, P, mask, random_state=seed)
    assert est.converged
    assert abs(est.logdet - logdet) <= 3 * est.logdet_std
    assert abs(est.trace - trace) <= 3 * est.trace_std
    gamma = mask.sum() - lambda_ * trace
    assert est.logdet_std <= 0.03 * np.sum(np.abs(np.log(np.linalg.eigvalsh(A))))
    assert lambda_ * est.trace_std <= 0.03 * gamma


def test_no_visible_quadrature_bias_with_many_probes():
    # With 200 probes the standard errors are 4.5 times smaller; the
    # estimates stay within 3 of them: the quadrature's bias where it
    # converged is below about 2/3 of the default's standard error.
    P, lambda_ = 300, 10.0
    A, mask = ggn_like(P, 5, lambda_)
    logdet, trace = exact(A, mask)
    est = logdet_and_trace(lambda V: A @ V, P, mask, n_probes=200, random_state=5)
    assert est.converged
    assert abs(est.logdet - logdet) <= 3 * est.logdet_std
    assert abs(est.trace - trace) <= 3 * est.trace_std


def test_not_converged_is_reported_and_the_trace_is_low():
    # lambda = 0.1 here gives S a condition number of 8e4: 100 steps do not
    # resolve its smallest eigenvalues. The result says so, and the Gauss
    # quadrature of 1/x, a lower bound, gives a trace below the exact one.
    A, mask = ggn_like(800, 9, 0.1)
    _, trace = exact(A, mask)
    est = logdet_and_trace(lambda V: A @ V, 800, mask, random_state=9)
    assert not est.converged and est.n_steps == 100
    assert est.trace < trace - 2 * est.trace_std
    # Fewer steps: further below.
    short = logdet_and_trace(lambda V: A @ V, 800, mask, n_steps=30, random_state=9)
    assert not short.converged and short.trace < est.trace


def test_per_probe_samples_are_exact_quadratic_forms_when_lanczos_completes():
    # With as many steps as S's order the quadrature is exact: each probe's
    # sample is z^T log(S) z + log det A_bb and z^T S^-1 z, z the probe.
    P, seed = 40, 4
    A, mask = ggn_like(P, seed, bias_fraction=0.1)
    A += np.eye(P)  # a moderate condition number, so rounding stays small
    w, b = mask, ~mask
    S = A[np.ix_(w, w)] - A[np.ix_(w, b)] @ np.linalg.solve(
        A[np.ix_(b, b)], A[np.ix_(b, w)]
    )
    eigenvalues, vectors = np.linalg.eigh(S)
    est = logdet_and_trace(
        lambda V: A @ V, P, mask, n_probes=3, n_steps=P, tol=0.0, random_state=seed
    )
    # The probes as drawn inside: Rademacher signs of RandomState(seed), a
    # column at a time.
    signs = np.where(np.random.RandomState(seed).random((3, P)).T < 0.5, -1, 1)
    Z = vectors.T @ signs[w]
    assert_allclose(
        est.logdet_samples,
        np.log(eigenvalues) @ Z**2 + np.linalg.slogdet(A[np.ix_(b, b)])[1],
        rtol=1e-9,
    )
    assert_allclose(est.trace_samples, (1 / eigenvalues) @ Z**2, rtol=1e-9)


def test_without_the_unmasked_block_on_a_well_conditioned_matrix():
    # max_unmasked=0 runs on A itself, the trace as (M z)^T x_k with x_k the
    # conjugate gradient iterate: accurate where A is well conditioned.
    P = 500
    A, mask = ggn_like(P, 5)
    A += 10 * np.eye(P)
    logdet, trace = exact(A, mask)
    est = logdet_and_trace(lambda V: A @ V, P, mask, random_state=5, max_unmasked=0)
    assert est.converged and est.n_matvecs == est.n_steps
    assert abs(est.logdet - logdet) <= 3 * est.logdet_std
    assert abs(est.trace - trace) <= 3 * est.trace_std


def test_all_masked_and_none_masked():
    A, _ = ggn_like(200, 6)
    A += np.eye(200)  # no eigenvalue 1e-4 left to the recurrences
    logdet, trace = exact(A, np.ones(200, dtype=bool))
    est = logdet_and_trace(
        lambda V: A @ V, 200, np.ones(200, dtype=bool), random_state=0
    )
    assert abs(est.logdet - logdet) <= 3 * est.logdet_std
    assert abs(est.trace - trace) <= 3 * est.trace_std
    # No masked entry: log det A from the formed block alone, exactly.
    est = logdet_and_trace(lambda V: A @ V, 200, np.zeros(200, dtype=bool))
    assert_allclose(est.logdet, logdet, rtol=1e-10)
    assert est.trace == 0.0 and est.logdet_std == 0.0


def test_same_seed_same_estimates_and_probes_per_call():
    P = 300
    A, mask = ggn_like(P, 7)
    widths = []

    def matvec(V):
        widths.append(V.shape[1])
        return A @ V

    first = logdet_and_trace(matvec, P, mask, n_probes=4, random_state=11)
    assert max(widths) == 4 and widths[-1] == 4  # 4 vectors at a time
    # ceil((n - k) / 4) products for A_bb, then 2 per step.
    n_bb = -(-(~mask).sum() // 4)
    assert first.n_matvecs == len(widths) == n_bb + 2 * first.n_steps
    again = logdet_and_trace(matvec, P, mask, n_probes=4, random_state=11)
    assert (again.logdet, again.trace) == (first.logdet, first.trace)
    other = logdet_and_trace(matvec, P, mask, n_probes=4, random_state=12)
    assert other.logdet != first.logdet


class LeanProducts:
    """``A`` by its products, with the lean forms ``logdet_and_trace`` uses:
    ``add_into`` (out += A V) and ``rows`` ((A V)[index]); it counts them."""

    def __init__(self, A):
        self.A, self.calls = A, []

    def __call__(self, V):
        self.calls.append("call")
        return self.A @ V

    def add_into(self, V, out):
        self.calls.append("add_into")
        out += self.A @ V
        return out

    def rows(self, V, index):
        self.calls.append("rows")
        return self.A[index] @ V


@pytest.mark.parametrize("max_unmasked", [2048, 0])
def test_lean_products_give_the_same_estimates(max_unmasked):
    # Adding the product into the recurrence's own array and asking only the
    # unmasked rows where they suffice change nothing but rounding, which the
    # recurrence (no reorthogonalization, A's condition number above 1e7)
    # magnifies to 1e-6 to 1e-4 relative in a probe's sample (seeds 1 to 5):
    # well under a hundredth of the standard errors.
    P = 300
    A, mask = ggn_like(P, 7)
    plain = logdet_and_trace(
        lambda V: A @ V, P, mask, random_state=3, max_unmasked=max_unmasked
    )
    lean = LeanProducts(A)
    est = logdet_and_trace(lean, P, mask, random_state=3, max_unmasked=max_unmasked)
    assert est.n_steps == plain.n_steps and est.n_matvecs == plain.n_matvecs
    assert_allclose(est.logdet_samples, plain.logdet_samples, rtol=1e-3)
    assert_allclose(est.trace_samples, plain.trace_samples, rtol=1e-3)
    assert abs(est.logdet - plain.logdet) < 0.01 * plain.logdet_std
    assert abs(est.trace - plain.trace) < 0.01 * plain.trace_std
    assert "call" not in lean.calls
    if max_unmasked:  # A_bb and the first product of each step: the rows
        n_bb = -(-(~mask).sum() // 10)
        assert lean.calls == ["rows"] * n_bb + ["rows", "add_into"] * est.n_steps
    else:
        assert lean.calls == ["add_into"] * est.n_steps


def test_bad_arguments_give_value_errors():
    A = np.eye(5)
    mask = np.ones(5, dtype=bool)
    with pytest.raises(ValueError, match="mask"):
        logdet_and_trace(lambda V: A @ V, 5, np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="mask"):
        logdet_and_trace(lambda V: A @ V, 5, np.ones(5))
    with pytest.raises(ValueError, match="n_probes"):
        logdet_and_trace(lambda V: A @ V, 5, mask, n_probes=1)
    with pytest.raises(ValueError, match="n_steps"):
        logdet_and_trace(lambda V: A @ V, 5, mask, n_steps=0)
    with pytest.raises(ValueError, match="tol"):
        logdet_and_trace(lambda V: A @ V, 5, mask, tol=-1.0)
    with pytest.raises(ValueError, match="random_state"):
        logdet_and_trace(lambda V: A @ V, 5, mask, random_state="0")
    with pytest.raises(ValueError, match="matvec"):
        logdet_and_trace(lambda V: V[:4], 5, mask)
    with pytest.raises(ValueError, match="matvec"):
        logdet_and_trace(None, 5, mask)
    bad = LeanProducts(A)
    bad.rows = lambda V, index: V  # all rows, not the unmasked ones
    mask[0] = False
    with pytest.raises(ValueError, match="matvec"):
        logdet_and_trace(bad, 5, mask)


@pytest.mark.parametrize("max_unmasked", [2048, 0])
def test_quadratic_form_of_a_vector(max_unmasked):
    """``vector=v``: ``v^T A^-1 v`` by Gauss quadrature from ``v`` (on the
    Schur complement from ``v_w - A_wb A_bb^-1 v_b``, plus ``v_b^T A_bb^-1
    v_b``), against numpy's solve; the probes' estimates are unchanged."""
    A, mask = ggn_like(300, 4, lambda_=3.0)
    rng = np.random.RandomState(1)
    v = rng.randn(300)
    exact_quadratic = v @ np.linalg.solve(A, v)
    plain = logdet_and_trace(
        lambda V: A @ V, 300, mask, random_state=0, max_unmasked=max_unmasked
    )
    est = logdet_and_trace(
        lambda V: A @ V,
        300,
        mask,
        random_state=0,
        max_unmasked=max_unmasked,
        vector=v,
    )
    assert plain.quadratic is None
    assert (est.logdet, est.trace, est.n_steps) == (
        plain.logdet,
        plain.trace,
        plain.n_steps,
    )
    if max_unmasked:
        # S is well conditioned; the recurrences stop when the probes'
        # estimates settle, by then the vector's quadrature (a lower bound)
        # is within 4e-5 of the exact value here.
        assert exact_quadratic * (1 - 1e-3) < est.quadratic
        assert est.quadratic <= exact_quadratic * (1 + 1e-9)
    else:
        # On A itself (condition number above 1e7) Gauss quadrature is a
        # lower bound, loose along the eigenvalue 1e-4 the steps miss.
        assert 0 < est.quadratic <= exact_quadratic * (1 + 1e-9)
    # A vector on the unmasked entries alone: v_b^T A_bb^-1 v_b, plus the
    # Schur complement's part from t = -A_wb A_bb^-1 v_b (A_bb's eigenvalue
    # 1e-4 magnifies rounding: 1e-5 relative).
    v_b = np.where(mask, 0.0, v)
    only = logdet_and_trace(lambda V: A @ V, 300, mask, random_state=0, vector=v_b)
    b = ~mask
    block_part = v_b[b] @ np.linalg.solve(A[np.ix_(b, b)], v_b[b])
    assert only.quadratic >= block_part * (1 - 1e-12)
    assert_allclose(only.quadratic, v_b @ np.linalg.solve(A, v_b), rtol=1e-4)


def test_quadratic_form_without_weights_and_bad_vectors():
    A, _ = ggn_like(60, 2)
    none = np.zeros(60, dtype=bool)
    v = np.random.RandomState(0).randn(60)
    est = logdet_and_trace(lambda V: A @ V, 60, none, vector=v)
    assert_allclose(est.quadratic, v @ np.linalg.solve(A, v), rtol=1e-10)
    mask = np.ones(60, dtype=bool)
    for bad in (np.ones(59), np.full(60, np.nan)):
        with pytest.raises(ValueError, match="vector must be a finite array"):
            logdet_and_trace(lambda V: A @ V, 60, mask, vector=bad)
