"""Tests of skbpnn._lanczos against numpy's dense linear algebra.

``logdet_and_trace`` estimates ``log det A`` and ``tr(A^-1 M)``; here ``A``
is known densely, so the estimates are checked against ``slogdet`` and
``inv``: exactly (to rounding) where the quadrature is exact, and to a
stated multiple of the reported standard errors where it is stochastic
(fixed seeds, so every assertion below passes or fails the same way at
every run).
"""

import re
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
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
    # The standard errors are those of the means of the 10 samples.
    for samples, mean, std in [
        (est.logdet_samples, est.logdet, est.logdet_std),
        (est.trace_samples, est.trace, est.trace_std),
    ]:
        assert samples.shape == (10,)
        assert_allclose(mean, samples.mean(), rtol=1e-14)
        assert_allclose(std, samples.std(ddof=1) / np.sqrt(10), rtol=1e-14)
    gamma = mask.sum() - lambda_ * trace
    assert est.logdet_std <= 0.03 * np.sum(np.abs(np.log(np.linalg.eigvalsh(A))))
    assert lambda_ * est.trace_std <= 0.03 * gamma


def test_fewer_probes_are_the_first_of_more():
    """The evidence's search scores on 4 probes and its kept point on 10 of
    the same seed, the 4 being the first of the 10: with the same steps
    (the stopping test off), the first 4 per-probe samples are equal. The
    products are taken a column at a time: a BLAS product of 4 columns
    need not round as one of 10 does, and 30 steps on this matrix (past
    the loss of orthogonality) amplify that to 2e-4 relative (OpenBLAS of
    numpy 2.4.6 on an AMD EPYC)."""
    A, mask = ggn_like(200, 0)

    def columns(V):
        return np.column_stack([A @ v for v in V.T])

    kwargs = dict(n_steps=30, tol=0.0, random_state=3)
    few = logdet_and_trace(columns, 200, mask, n_probes=4, **kwargs)
    many = logdet_and_trace(columns, 200, mask, n_probes=10, **kwargs)
    assert few.n_steps == many.n_steps == 30
    assert_allclose(many.logdet_samples[:4], few.logdet_samples, rtol=1e-12)
    assert_allclose(many.trace_samples[:4], few.trace_samples, rtol=1e-12)
    assert not np.allclose(many.logdet_samples[4:8], few.logdet_samples)


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
    assert est.converged and est.n_steps == mask.sum()  # steps capped at k
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
    assert (est.trace, est.logdet_std, est.trace_std) == (0.0, 0.0, 0.0)
    assert_array_equal(est.logdet_samples, np.full(10, est.logdet))
    assert_array_equal(est.trace_samples, np.zeros(10))
    # No recurrence: the 20 products (10 columns each) of the block alone.
    assert est.n_steps == 0 and est.n_matvecs == 20 and est.converged is True
    assert est.quadratic is None  # no vector asked for


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


def assert_same_up_to_rounding(est, plain):
    """The per-probe samples to 1e-3 and the means within 0.01 of their
    standard errors: the rounding the recurrence magnifies (see below)."""
    assert_allclose(est.logdet_samples, plain.logdet_samples, rtol=1e-3)
    assert_allclose(est.trace_samples, plain.trace_samples, rtol=1e-3)
    assert abs(est.logdet - plain.logdet) < 0.01 * plain.logdet_std
    assert abs(est.trace - plain.trace) < 0.01 * plain.trace_std


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
    assert_same_up_to_rounding(est, plain)
    assert "call" not in lean.calls
    if max_unmasked:  # A_bb and the first product of each step: the rows
        n_bb = -(-(~mask).sum() // 10)
        assert lean.calls == ["rows"] * n_bb + ["rows", "add_into"] * est.n_steps
    else:
        assert lean.calls == ["add_into"] * est.n_steps


class WithUnmaskedBlock(LeanProducts):
    """:class:`LeanProducts` that also gives the block ``A[index][:, index]``
    (``unmasked_block``), as the evidence's operator does."""

    def unmasked_block(self, index):
        self.calls.append("unmasked_block")
        return self.A[np.ix_(index, index)]


@pytest.mark.parametrize("vector", [False, True])
@pytest.mark.parametrize("n_probes", [4, 10])
def test_the_unmasked_block_replaces_its_unit_vector_products(vector, n_probes):
    # The block read by unmasked_block is the one the unit-vector products
    # gave (exactly: a product with a unit vector copies a column), so the
    # estimates are the same, with ceil(n_b / columns) products fewer.
    P = 300
    A, mask = ggn_like(P, 7)
    v = np.random.RandomState(0).randn(P) if vector else None
    kwargs = {"n_probes": n_probes, "random_state": 3, "vector": v}
    by_products = logdet_and_trace(LeanProducts(A), P, mask, **kwargs)
    operator = WithUnmaskedBlock(A)
    est = logdet_and_trace(operator, P, mask, **kwargs)
    for name in ("logdet", "trace", "logdet_samples", "trace_samples"):
        assert_allclose(getattr(est, name), getattr(by_products, name), rtol=1e-10)
    if vector:
        assert_allclose(est.quadratic, by_products.quadratic, rtol=1e-10)
        assert_allclose(est.quadratic, v @ np.linalg.solve(A, v), rtol=1e-3)
    logdet, trace = exact(A, mask)
    assert abs(est.logdet - logdet) < 3 * est.logdet_std
    assert est.n_steps == by_products.n_steps
    n_bb = -(-(~mask).sum() // (n_probes + vector))
    assert est.n_matvecs == by_products.n_matvecs - n_bb
    assert operator.calls[0] == "unmasked_block"
    assert operator.calls.count("unmasked_block") == 1
    assert "call" not in operator.calls


def test_the_unmasked_block_is_not_asked_for_without_the_schur_complement():
    # All masked, or the block above max_unmasked: no block to form.
    P = 300
    A, mask = ggn_like(P, 7)
    for mask_, max_unmasked in ((np.ones(P, dtype=bool), 2048), (mask, 0)):
        operator = WithUnmaskedBlock(A)
        logdet_and_trace(
            operator, P, mask_, n_steps=5, random_state=3, max_unmasked=max_unmasked
        )
        assert "unmasked_block" not in operator.calls


@pytest.mark.parametrize("vector", [False, True])
def test_every_product_has_one_width(vector):
    """An operator's scratch arrays are sized by the columns of V: products
    of one width make them once (on a 784-256-10 network, a width changed
    between A_bb, the decrement's Schur step and the recurrence had the
    first step reallocate 60 MiB of them beside the old ones)."""
    P = 300
    A, mask = ggn_like(P, 7)
    widths = []

    class Widths(LeanProducts):
        def add_into(self, V, out):
            widths.append(V.shape[1])
            return super().add_into(V, out)

        def rows(self, V, index):
            widths.append(V.shape[1])
            return super().rows(V, index)

    v = np.random.RandomState(0).randn(P) if vector else None
    est = logdet_and_trace(Widths(A), P, mask, random_state=3, vector=v)
    plain = logdet_and_trace(lambda V: A @ V, P, mask, random_state=3, vector=v)
    assert set(widths) == {10 + vector}
    # the same estimate up to rounding, magnified by the recurrence as above
    # (3e-6 relative on one machine's kernels; the bound is the test above's)
    assert_same_up_to_rounding(est, plain)
    if vector:
        assert_allclose(est.quadratic, plain.quadratic, rtol=1e-5)
        assert_allclose(est.quadratic, v @ np.linalg.solve(A, v), rtol=1e-3)


# --------------------------------------------------------------------------
# Exact cases: where neither the probes nor the quadrature make an error
# --------------------------------------------------------------------------


def test_exact_on_the_identity_and_on_one_by_one_matrices():
    # A = I: q_1 is an eigenvector (alpha_1 = 1 exactly, the residual 0), so
    # every recurrence stops after one step, and every probe gives
    # log det A = 0 and tr(A^-1) = n; v^T A^-1 v = |v|^2.
    v = np.array([1.0, -2.0, 0.5, 3.0])
    est = logdet_and_trace(
        lambda V: V.copy(),
        4,
        np.ones(4, dtype=bool),
        n_probes=2,
        random_state=0,
        vector=v,
    )
    assert (est.logdet, est.trace, est.logdet_std, est.trace_std) == (0, 4, 0, 0)
    assert est.n_steps == 1 and est.n_matvecs == 1 and est.converged
    assert_allclose(est.quadratic, v @ v, rtol=1e-15)
    # The smallest matrix, n = 1: masked, one step is the exact quadrature;
    # unmasked, the formed block alone.
    est = logdet_and_trace(
        lambda V: 3.0 * V, 1, np.array([True]), n_probes=2, n_steps=1, random_state=0
    )
    assert_allclose([est.logdet, est.trace], [np.log(3.0), 1 / 3.0], rtol=1e-15)
    assert est.n_steps == 1 and est.converged
    est = logdet_and_trace(lambda V: 3.0 * V, 1, np.array([False]), vector=[2.0])
    assert_allclose([est.logdet, est.quadratic], [np.log(3.0), 4 / 3], rtol=1e-15)
    assert est.trace == 0.0


@pytest.mark.parametrize("max_unmasked", [2048, 0])
def test_exact_with_as_many_steps_as_eigenvalues(max_unmasked):
    # Diagonal A: z^T f(A) z = sum_i f(a_i) for every Rademacher z, so the
    # probes make no error; and m steps of Lanczos quadrature are exact on a
    # spectrum of m points: 4 on S = A_ww, 6 on A itself (max_unmasked=0,
    # where the trace is the conjugate gradient's (M z)^T A^-1 z). Every
    # sample is then log det A and tr(A^-1 M) to rounding, and ``converged``.
    d = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 3.0])
    mask = np.array([True, True, True, True, False, False])
    n_steps = 4 if max_unmasked else 6

    def estimate(matvec, vector=None):
        return logdet_and_trace(
            matvec,
            6,
            mask,
            n_probes=3,
            n_steps=n_steps,
            tol=0.0,
            random_state=0,
            max_unmasked=max_unmasked,
            vector=vector,
        )

    est = estimate(lambda V: d[:, None] * V)
    assert_allclose(est.logdet_samples, np.log(d).sum(), rtol=1e-12)
    assert_allclose(est.trace_samples, np.sum(1 / d[mask]), rtol=1e-12)
    assert est.n_steps == n_steps and est.converged
    # The same holds for v^T A^-1 v: for v, and for v on the unmasked
    # entries alone (on S its recurrence then has nothing to do), given in
    # float32 (taken in float64: the value of its float64 copy); here with
    # the operator's lean forms, as the evidence's.
    v = np.array([1.0, -2.0, 0.5, 3.0, -1.5, 2.5])
    v_b = np.where(mask, 0.0, v)
    for vector in (v, v_b, v.astype(np.float32)):
        est = estimate(LeanProducts(np.diag(d)), vector)
        exact = np.sum(vector.astype(np.float64) ** 2 / d)
        assert_allclose(est.quadratic, exact, rtol=1e-14)


def test_the_recurrence_keeps_two_float64_arrays():
    # The module's claim on memory: the recurrence holds two (n, r) float64
    # arrays (with an operator that adds into them), besides the probes'
    # int8 signs (an eighth of one) and temporaries of one column. numpy
    # reports its allocations to tracemalloc: the peak is 2.33 arrays here;
    # a third float64 array, or float64 signs, would bring it above 3.
    n, r = 50_000, 10
    d = np.array([1.0, 2.0, 4.0])[np.arange(n) % 3]  # 3 steps, then exact

    class Diagonal:
        def __call__(self, V):
            return d[:, None] * V

        def add_into(self, V, out):
            for i in range(V.shape[1]):
                out[:, i] += d * V[:, i]
            return out

    tracemalloc.start()
    try:
        est = logdet_and_trace(Diagonal(), n, np.ones(n, dtype=bool), random_state=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_allclose(est.logdet, np.log(d).sum(), rtol=1e-12)
    assert peak < 2.6 * n * r * 8


# --------------------------------------------------------------------------
# The stopping rules
# --------------------------------------------------------------------------


def two_by_two_blocks(pairs, scale):
    """``diag(B_1, B_2, ...)``, ``B_i = [[a, c], [c, a]]`` with eigenvalues
    ``pairs[i] = (a - c, a + c)`` on ``(1, -1)`` and ``(1, 1)``; times ``scale``."""
    A = np.zeros((2 * len(pairs), 2 * len(pairs)))
    for i, (low, high) in enumerate(pairs):
        a, c = (high + low) / 2, (high - low) / 2
        A[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [[a, c], [c, a]]
    return A * scale


class FiniteProducts(LeanProducts):
    """``LeanProducts`` that fails on any non-finite array it is handed."""

    def add_into(self, V, out):
        assert np.all(np.isfinite(V)) and np.all(np.isfinite(out))
        return super().add_into(V, out)

    def rows(self, V, index):
        assert np.all(np.isfinite(V))
        return super().rows(V, index)


@pytest.mark.parametrize("scale", [1.0, 1e6 / 3])
def test_each_probe_stops_where_its_krylov_space_ends(scale):
    # A = diag(B_1, B_2, D): B_1's eigenvalues (1, 3), B_2's (3, 5), D two
    # unmasked entries. On each block a Rademacher probe is +-(1, 1) or
    # +-(1, -1), one eigenvector: it meets two distinct eigenvalues, or one
    # (3 and 3). Its Krylov space ends after 2 steps, or 1, where its
    # recurrence stops with the exact quadrature; the others go on. Scaled
    # by 1e6 / 3, the residual at the end is rounding (about 1e-10, not 0):
    # the test for the end is relative to A's scale.
    A = np.zeros((6, 6))
    A[:4, :4] = two_by_two_blocks([(1, 3), (3, 5)], scale)
    A[4:, 4:] = np.diag([2.0, 7.0]) * scale
    mask = np.arange(6) < 4
    r, seed = 6, 2  # probes 0 and 5 meet one eigenvalue
    signs = np.where(np.random.RandomState(seed).random((r, 6)).T < 0.5, -1, 1)
    one_eigenvalue = (signs[0] == signs[1]) & (signs[2] != signs[3])
    assert one_eigenvalue.any() and not one_eigenvalue.all()
    eigenvalues, vectors = np.linalg.eigh(A[:4, :4])
    Z = vectors.T @ signs[:4]
    operator = FiniteProducts(A)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = logdet_and_trace(operator, 6, mask, n_probes=r, random_state=seed)
    assert_allclose(
        est.logdet_samples,
        np.log(eigenvalues) @ Z**2 + np.log(14 * scale**2),
        rtol=1e-12,
    )
    assert_allclose(est.trace_samples, (1 / eigenvalues) @ Z**2, rtol=1e-12)
    # 2 steps in all, each a product of the unmasked rows and one in full,
    # after the one product that forms the block.
    assert est.n_steps == 2 and est.converged
    assert operator.calls == ["rows"] + ["rows", "add_into"] * 2


@pytest.mark.parametrize(
    "max_unmasked, shift, tol, stop",
    [(2048, 0.0, 2.1, 35), (2048, 0.0, 0.5, 40), (0, 10.0, 0.8, 25), (0, 1.0, 0.5, 35)],
)
def test_the_estimates_stop_by_the_stated_rule(max_unmasked, shift, tol, stop):
    # The rule: every 5 steps, compare the means of the samples with those
    # 5 steps before; stop when both moved by at most tol times their
    # standard errors, std(ddof=1) / sqrt(r). The samples after c steps are
    # those of a run capped at c steps (tol=0 never stops before). On S, the
    # largest ratio of move to standard error falls as 15, 11.5, 6.6, 4.0,
    # 2.19, 0.93, 0.45 at 10, 15, ..., 40 steps; on A + 10 I itself
    # (max_unmasked=0) as 20, 4.3, 0.83, 0.14 at 10 to 25 steps. tol=2.1
    # and 0.8 sit 4% below a ratio, so that a rule off by the ddof (5%)
    # stops elsewhere; the other cases catch rules that check other steps,
    # or other samples (on A + I, the trace's conjugate-gradient form).
    P, seed = 300, 4
    A, mask = ggn_like(P, seed)
    A += shift * np.eye(P)

    def run(**kwargs):
        return logdet_and_trace(
            lambda V: A @ V,
            P,
            mask,
            random_state=seed,
            max_unmasked=max_unmasked,
            **kwargs,
        )

    est = run(tol=tol)
    previous = None
    for c in range(5, 101, 5):  # up to the default n_steps
        capped = run(n_steps=c, tol=0.0)
        samples = (capped.logdet_samples, capped.trace_samples)
        if previous is not None and all(
            abs(now.mean() - before.mean()) <= tol * now.std(ddof=1) / np.sqrt(10)
            for now, before in zip(samples, previous)
        ):
            break
        previous = samples
    assert c == stop
    assert est.converged and est.n_steps == stop
    assert_allclose(est.logdet_samples, capped.logdet_samples, rtol=1e-12)
    assert_allclose(est.trace_samples, capped.trace_samples, rtol=1e-12)


def test_the_defaults_are_the_documented_ones():
    # n_probes=10, n_steps=100, tol=0.1 (max_unmasked: the next test).
    A, mask = ggn_like(300, 4)
    default = logdet_and_trace(lambda V: A @ V, 300, mask, random_state=4)
    explicit = logdet_and_trace(
        lambda V: A @ V,
        300,
        mask,
        n_probes=10,
        n_steps=100,
        tol=0.1,
        max_unmasked=2048,
        random_state=4,
    )
    assert default.n_steps == explicit.n_steps
    assert_array_equal(default.logdet_samples, explicit.logdet_samples)
    assert_array_equal(default.trace_samples, explicit.trace_samples)


@pytest.mark.parametrize(
    "n_unmasked, max_unmasked, formed",
    [(5, 5, True), (5, 4, False), (2048, None, True), (2049, None, False)],
)
def test_the_block_is_formed_up_to_max_unmasked_entries(
    n_unmasked, max_unmasked, formed
):
    # The path shows in the products: ceil((n - k) / 10) to form A_bb, then
    # two per step; or one per step on A itself. Diagonal A, 3 masked
    # entries of 3 distinct values: 3 steps, exact. None: the default, 2048.
    d = np.r_[np.full(n_unmasked, 2.0), [1.0, 2.0, 4.0]]
    n = d.size
    mask = np.arange(n) >= n_unmasked
    kwargs = {} if max_unmasked is None else {"max_unmasked": max_unmasked}
    est = logdet_and_trace(lambda V: d[:, None] * V, n, mask, random_state=0, **kwargs)
    assert est.n_steps == 3
    assert est.n_matvecs == (-(-n_unmasked // 10) + 6 if formed else 3)
    assert_allclose(est.logdet, np.log(d).sum(), rtol=1e-12)
    assert_allclose(est.trace, 1.75, rtol=1e-12)


def test_bad_arguments_give_value_errors():
    A = np.eye(5)
    mask = np.ones(5, dtype=bool)

    def message(text):
        return "^" + re.escape(text) + "$"

    with pytest.raises(ValueError, match="mask"):
        logdet_and_trace(lambda V: A @ V, 5, np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="mask"):
        logdet_and_trace(lambda V: A @ V, 5, np.ones(5))
    with pytest.raises(ValueError, match=message("n must be an int >= 1, got 0.")):
        logdet_and_trace(lambda V: A @ V, 0, mask[:0])
    for value in (1, 2.5, True):
        with pytest.raises(
            ValueError, match=message(f"n_probes must be an int >= 2, got {value!r}.")
        ):
            logdet_and_trace(lambda V: A @ V, 5, mask, n_probes=value)
    for value in (0, 10.5, True):
        with pytest.raises(
            ValueError, match=message(f"n_steps must be an int >= 1, got {value!r}.")
        ):
            logdet_and_trace(lambda V: A @ V, 5, mask, n_steps=value)
    with pytest.raises(
        ValueError, match=message("max_unmasked must be an int >= 0, got -1.")
    ):
        logdet_and_trace(lambda V: A @ V, 5, mask, max_unmasked=-1)
    with pytest.raises(ValueError, match="tol"):
        logdet_and_trace(lambda V: A @ V, 5, mask, tol=-1.0)
    with pytest.raises(
        ValueError,
        match=message(
            "random_state must be None, an int, a numpy RandomState or "
            "Generator, got '0'."
        ),
    ):
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
    bad = WithUnmaskedBlock(A)
    bad.unmasked_block = lambda index: A  # all of A, not the unmasked block
    with pytest.raises(
        ValueError,
        match=message(
            "matvec.unmasked_block must return an array of shape (1, 1), got (5, 5)."
        ),
    ):
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
