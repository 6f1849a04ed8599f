"""What Hutch++ or a deterministic part could save the matrix-free estimates.

Issue 23, item 3, names variance reduction as a way to cheaper estimates of
``log det A`` and ``tr(A^-1 M)``: Hutch++ (Meyer, Musco, Musco and
Woodruff, SOSA 2021), or a deterministic part with the stochastic estimate
on the remainder. This script measures what either could give at the
course size, without building it. It fits ``lambda_="evidence"`` on the
first ``--folds`` of the course-size case of ``benchmarks/evidence.py``
(section (f): digits upscaled to 20x20, standardized, 400-25-10, 10285
parameters, one BLAS thread), records every point the search scores, and
then, outside the fit's time, forms ``A`` at the kept point and at the
nearest point tried beside it (the first of equal ones), as the evidence
does (``G`` plus the prior's diagonal), and the Schur complement ``S`` on
the weights that the estimates run on (``skbpnn/_lanczos.py``), and takes
its eigendecomposition ``S = V diag(s) V^T``.

The estimates are Hutchinson's on Rademacher probes ``z``: ``z^T B z``
estimates ``tr B`` with the per-probe variance ``2 sum_{i != j} B_ij^2``
(exactly). For ``log det S`` take ``B = log(S / lambda_)``: the ``log
lambda_`` of each weight is known, and on plain probes the shift changes no
variance (the identity has no off-diagonal terms); after deflation it does
(``P`` has them), and ``lambda_``, the least eigenvalue ``S`` can have, is
the natural one, not shown to be the best. For ``gamma = tr(I - lambda_
S^-1)``, ``B = I - lambda_ S^-1``; for the difference the search compares,
two points' ``log(S / lambda_)`` subtracted (common probes). From ``V``
these variances are exact, and so are those of the remainder after the top
``k`` eigen-directions of ``S`` (those of the largest terms) are taken out
and counted exactly: ``P B P`` with ``P = I - U U^T``, ``U`` the top ``k``
columns of ``V`` (the kept point's, for the difference). The script prints:

* the exact ``log det A`` and ``gamma`` against the estimator's, and the
  exact per-probe standard deviations against the estimator's samples on
  ``--probes`` probes (an independent check of both);
* **a deterministic part spanning ``S``'s top ``k`` eigenvectors**,
  counted exactly for free (an oracle; ``k`` = 0 to 3000): the per-probe
  standard deviations of the remainder. Not a bound on every
  deterministic part: another shift, or for the difference its own
  eigenvectors rather than the kept point's, can do somewhat better;
* **Hutch++ at a budget of ``m`` recurrences** (a recurrence: one probe's
  Lanczos run, the unit of an estimate's cost), as Meyer et al. spend it:
  ``k = m / 3`` for the sketch ``log(S) Omega``, ``k`` for the sketch's
  part, the other ``m - 2k`` probes on the remainder, against ``m``
  plain probes; optimistic for that scheme, the sketch taken to be the
  top ``k`` eigenvectors exactly. The standard errors of the log
  evidence (half those of ``log det``), of one point and of the
  difference;
* **deflation at the price of ``k`` products**: the top ``k``
  eigenvectors as if ``k`` products with ``S`` gave them (the least any
  Krylov method needs; block methods take several times more), the
  search's probes on the remainder, against plain probes of the same
  cost (a recurrence being as many products as the kept point's
  estimate took steps); for the difference this leaves out the nearest
  point's exact part on those ``k`` vectors (about ``k`` recurrences
  more), so its figures flatter deflation further;
* **K-FAC as the deterministic part**: ``tr log(S_kfac / lambda_)``
  counted exactly and the probes run on the remainder ``log(S / lambda_)
  - log(S_kfac / lambda_)``, ``S_kfac`` the block-diagonal Kronecker
  factorization of ``G``'s weight blocks plus ``lambda_ I`` (Martens and
  Grosse 2015; :func:`kfac_factors`): the per-probe standard deviations
  of one point's ``log det A`` and ``gamma`` (``tr(I - lambda_
  S_kfac^-1)`` exact) and of the difference. (Its cost is not measured: the
  factors take one pass over the rows and eigendecompositions of the
  layers' sizes, and ``z^T log(S_kfac) z`` a product in the factors'
  eigenbases per probe, all small beside the ``G``-products.)

It also times the exact path at the kept point (issue 23's "an exact
dense path further up"), the limit of any variance reduction: ``G``
formed and factored as up to ``DENSE_MAX_PARAMS``, on one BLAS thread.

A diagonal approximation of ``G`` as the deterministic part would change
nothing: a diagonal ``B`` adds no off-diagonal term, so the Rademacher
variance is that of the remainder unchanged.

Run::

    python benchmarks/deflation.py [--folds 1] [--probes 50]
"""

import argparse
import contextlib
import functools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.linalg import block_diag
from scipy.special import expit
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evidence as bench  # noqa: E402  (benchmarks/evidence.py)

from skbpnn import BackpropClassifier, _evidence, _lanczos  # noqa: E402
from skbpnn._evaluation import roll_views  # noqa: E402

DEFLATED = (0, 4, 10, 30, 100, 300, 1000, 3000)
BUDGETS = (4, 10, 30, 100, 300, 1000, 3000)
PRICED = (30, 100, 300, 1000)


@contextlib.contextmanager
def recorded(calls):
    """Every evidence of a fit appended to ``calls`` (a dict each:
    ``curvature``, ``theta`` (a copy), ``lambda_``, ``evidence``,
    ``n_probes`` (None: the search's count), ``seconds``);
    ``_evidence.EvidenceFunction.__call__`` restored after."""
    call = _evidence.EvidenceFunction.__call__

    def recording(self, theta, lambda_, gamma_above=None, n_probes=None):
        began = time.perf_counter()
        found = call(self, theta, lambda_, gamma_above=gamma_above, n_probes=n_probes)
        calls.append(
            dict(
                curvature=self.curvature,
                theta=np.array(theta, dtype=np.float64),
                lambda_=lambda_,
                evidence=found,
                n_probes=n_probes,
                seconds=time.perf_counter() - began,
            )
        )
        return found

    _evidence.EvidenceFunction.__call__ = recording
    try:
        yield
    finally:
        _evidence.EvidenceFunction.__call__ = call


def kept_and_nearest(calls):
    """The search's kept point among ``recorded`` ``calls`` (the one
    estimated again on all the probes; without that, the search's best)
    and the point tried nearest to it in ``log lambda_`` (the first of
    equal ones)."""
    search = [c for c in calls if c["n_probes"] is None]
    final = [c for c in calls if c["n_probes"] is not None]
    kept = next(
        (c for c in search if final and np.array_equal(c["theta"], final[0]["theta"])),
        max(search, key=lambda c: c["evidence"].log_evidence),
    )
    others = [c for c in search if c is not kept]
    near = min(others, key=lambda c: abs(np.log(c["lambda_"] / kept["lambda_"])))
    return kept, near


def schur_complement(curvature, theta, lambda_):
    """``(S, log det A_bb, mask)`` at ``theta``: ``A = G + diag`` as
    :func:`~skbpnn._evidence.evidence_at` forms it, ``S`` its Schur
    complement on the weights (the matrix the estimates run on)."""
    mask = _evidence.weight_mask(curvature.shapes)
    A = curvature.gauss_newton(theta)
    A[np.diag_indices_from(A)] += np.where(mask, lambda_, _evidence.BIAS_PRECISION)
    w, b = np.flatnonzero(mask), np.flatnonzero(~mask)
    A_bb, A_wb = A[np.ix_(b, b)], A[np.ix_(w, b)]
    S = A[np.ix_(w, w)]
    del A
    S -= A_wb @ np.linalg.solve(A_bb, A_wb.T)
    S = (S + S.T) / 2
    return S, float(np.linalg.slogdet(A_bb)[1]), mask


def rademacher_sd(V, values, k):
    """The per-probe standard deviation of ``z^T P B P z`` (Rademacher
    ``z``) for ``B = V diag(values) V^T``, ``V`` orthogonal, ``P`` the
    projection off its first ``k`` columns: ``sqrt(2 (sum_{i>=k}
    values_i^2 - sum_j (P B P)_jj^2))``."""
    rest = values[k:]
    diagonal = (V[:, k:] ** 2) @ rest
    return float(np.sqrt(max(0.0, 2 * (rest @ rest - diagonal @ diagonal))))


def difference_sds(C, U, ks):
    """Per-probe standard deviations of ``z^T P C P z`` for symmetric ``C``,
    ``P = I - U_k U_k^T`` (``U_k`` the first ``k`` columns of ``U``,
    orthonormal), for each ``k`` of ``ks``."""
    frob2, diag = float(np.sum(C * C)), np.diag(C).copy()
    CU = C @ U[:, : max(ks)]
    sds = []
    for k in ks:
        Uk, CUk = U[:, :k], CU[:, :k]
        if Uk.shape[1] == C.shape[0]:
            sds.append(0.0)  # every direction taken out (P = 0)
            continue
        M = Uk.T @ CUk
        # |P C P|_F^2 = |C|_F^2 - 2 |C U|_F^2 + |U^T C U|_F^2
        f2 = frob2 - 2 * float(np.sum(CUk * CUk)) + float(np.sum(M * M))
        d = diag - 2 * np.sum(Uk * CUk, axis=1) + np.sum((Uk @ M) * Uk, axis=1)
        sds.append(float(np.sqrt(max(0.0, 2 * (f2 - d @ d)))))
    return sds


def dense_sd(B):
    """The per-probe standard deviation of ``z^T B z`` (Rademacher ``z``),
    ``B`` symmetric: ``sqrt(2 sum_{i != j} B_ij^2)``."""
    d = np.diag(B)
    return float(np.sqrt(max(0.0, 2 * (float(np.sum(B * B)) - d @ d))))


def hutchpp(sd_at, m):
    """``(Hutch++, plain)`` standard errors at ``m`` recurrences:
    Hutch++ with ``k = m // 3`` sketch columns (at least 1), ``k`` more
    for their part and ``m - 2k`` probes on the remainder (``sd_at(k)``
    its per-probe standard deviation), plain Hutchinson on ``m``."""
    k = max(1, m // 3)
    return sd_at(k) / np.sqrt(m - 2 * k), sd_at(0) / np.sqrt(m)


def priced(sd_at, k, probes, steps):
    """``(deflated, plain)`` standard errors: ``probes`` probes on the
    remainder after ``k`` directions bought with ``k`` products (``k /
    steps`` recurrences), plain Hutchinson on the same cost."""
    return sd_at(k) / np.sqrt(probes), sd_at(0) / np.sqrt(probes + k / steps)


def gain(errors):
    """``plain / other`` of a ``(other, plain)`` pair, as text ("exact"
    where the other counts every direction)."""
    other, plain = errors
    return f"{plain / other:.2f}" if other > 0 else "exact"


def errors(sd, scheme, *args):
    """A table row: the log evidence's standard errors (half those of
    ``log det``) of one point and of the difference, plain and by
    ``scheme`` (:func:`hutchpp` or :func:`priced`, with ``args``), and the
    gains; ``sd`` the per-probe standard deviations by ``k``."""
    one = scheme(sd["log det"].__getitem__, *args)
    diff = scheme(sd["difference"].__getitem__, *args)
    return [
        f"{one[1] / 2:.2f}",
        f"{one[0] / 2:.2f}",
        gain(one),
        f"{diff[1] / 2:.2f}",
        f"{diff[0] / 2:.2f}",
        gain(diff),
    ]


def measured_sds(ev, ev_near):
    """The estimator's per-probe standard deviations of ``log det A``,
    ``gamma`` and the two points' difference, from its samples (``gamma``
    from its standard error: ``gamma_std`` times the root of the
    probes' count)."""
    samples = np.asarray(ev.logdet_samples)
    return {
        "log det": float(samples.std(ddof=1)),
        "gamma": float(ev.gamma_std * np.sqrt(samples.size)),
        "difference": float((samples - np.asarray(ev_near.logdet_samples)).std(ddof=1)),
    }


def kfac_factors(curvature, theta):
    """K-FAC's factors of ``G``'s weight blocks, ``[(A_l, C_l)]`` a layer
    each: ``G_ll ~ kron(A_l, C_l)`` on layer ``l``'s weights (its bias
    column left out), in the unrolled order (input ``j`` slow, unit ``i``
    fast); ``A_l = sum_n w_n a a^T / sum_n w_n`` (``a`` the layer's
    inputs) and ``C_l = sum_n w_n U_n^T diag(h_n (1 - h_n)) U_n`` (``U_n``
    the Jacobian of the output layer's ``z`` with respect to the layer's
    own), exact for one row, or one row repeated (Martens and Grosse,
    ICML 2015)."""
    X = curvature.X if curvature.rows is None else curvature.X[curvature.rows]
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    n_rows = X.shape[0]
    w = np.ones(n_rows) if curvature.w is None else np.asarray(curvature.w, float)
    thetas = roll_views(np.asarray(theta, dtype=np.float64), curvature.shapes)
    activations = [X]
    for T in thetas:
        a = activations[-1]
        activations.append(expit(a @ T[:, 1:].T + T[:, 0]))
    h = activations.pop()
    D = w[:, None] * h * (1 - h)
    K = h.shape[1]
    U = np.broadcast_to(np.eye(K), (n_rows, K, K))
    factors = []
    for layer in range(len(thetas) - 1, -1, -1):
        a = activations[layer]  # the layer's inputs
        factors.append(
            ((w[:, None] * a).T @ a / w.sum(), np.einsum("nki,nk,nkj->ij", U, D, U))
        )
        if layer:  # the Jacobian with respect to the layer below's z (a = g(z))
            U = U @ thetas[layer][:, 1:] * (a * (1 - a))[:, None, :]
    return factors[::-1]


def kfac_matrix(factors, f):
    """``f`` of ``S_kfac``'s Kronecker part, dense, and its trace (exact):
    ``f`` maps the eigenvalues ``s`` of the block-diagonal ``kron(A_l,
    C_l)`` (``S_kfac`` that plus ``lambda_ I``; no Schur correction: a
    control variate need not be exact)."""
    blocks, trace = [], 0.0
    for A, C in factors:
        alpha, P = np.linalg.eigh(A)
        c, Q = np.linalg.eigh(C)
        values = f(np.clip(np.outer(alpha, c), 0, None).ravel())
        W = np.kron(P, Q)
        blocks.append((W * values) @ W.T)
        trace += float(values.sum())
    return block_diag(*blocks), trace


class Decomposed:
    """A point's ``S`` (:func:`schur_complement`), its eigenvalues
    (``eigenvalues``, decreasing) and eigenvectors (``V``), and the
    eigenvalues' terms of ``log(S / lambda_)`` and ``I - lambda_ S^-1``."""

    def __init__(self, call):
        self.call, self.lambda_ = call, call["lambda_"]
        S, logdet_bb, self.mask = schur_complement(
            call["curvature"], call["theta"], self.lambda_
        )
        eigenvalues, V = np.linalg.eigh(S)
        del S
        order = np.argsort(eigenvalues)[::-1]
        self.eigenvalues, self.V = eigenvalues[order], V[:, order]
        self.logdet = logdet_bb + float(np.sum(np.log(self.eigenvalues)))
        self.log_terms = np.log(self.eigenvalues / self.lambda_)
        self.gamma_terms = 1 - self.lambda_ / self.eigenvalues
        self.gamma = float(np.sum(self.gamma_terms))

    def matrix(self, terms):
        """``V diag(terms) V^T``, dense."""
        return (self.V * terms) @ self.V.T

    @functools.cached_property
    def factors(self):
        """:func:`kfac_factors` at this point's weights (a pass over the
        rows, made once)."""
        return kfac_factors(self.call["curvature"], self.call["theta"])

    def kfac(self, f):
        """:func:`kfac_matrix` at this point's weights, ``f(s, lambda_)``."""
        return kfac_matrix(self.factors, lambda s: f(s, self.lambda_))


def kfac_log(s, lambda_):
    """``log(S_kfac / lambda_)``'s eigenvalues."""
    return np.log1p(s / lambda_)


def kfac_gamma(s, lambda_):
    """``I - lambda_ S_kfac^-1``'s eigenvalues."""
    return s / (s + lambda_)


def estimate(call, n_probes):
    """The estimator at ``call``'s point on ``n_probes`` probes of the fit's
    seed (the first of them the search's): ``(Evidence, Lanczos steps)``."""
    logdet_and_trace, steps = _lanczos.logdet_and_trace, []

    def counted(*args, **kwargs):
        found = logdet_and_trace(*args, **kwargs)
        steps.append(found.n_steps)
        return found

    _lanczos.logdet_and_trace = counted
    try:
        ev = _evidence.evidence_at(
            call["curvature"],
            call["theta"],
            call["lambda_"],
            method="lanczos",
            seed=call["seed"],
            n_probes=n_probes,
        )
    finally:
        _lanczos.logdet_and_trace = logdet_and_trace
    return ev, steps[0]


def exact_point(call):
    """The package's exact evidence at ``call``'s point (``G`` formed,
    Cholesky, the triangular inverse for ``gamma``: the dense path, the
    limit of any variance reduction) on one BLAS thread: ``(Evidence,
    seconds)``."""
    with threadpool_limits(limits=1):
        start = time.perf_counter()
        ev = _evidence.evidence_at(
            call["curvature"], call["theta"], call["lambda_"], method="dense", seed=0
        )
        return ev, time.perf_counter() - start


def report(kept, near, n_probes):
    """Print the checks and the tables for one fit's kept point and its
    nearest neighbour (:class:`Decomposed`); return the per-probe standard
    deviations by ``k`` (``sd``) and with K-FAC (``kfac``), the two
    tables' rows (``tables``) and the Lanczos ``steps`` on the search's
    probes."""
    ev, _ = estimate(kept.call, n_probes)
    ev_near, _ = estimate(near.call, n_probes)
    _, steps = estimate(kept.call, _evidence.SEARCH_PROBES)
    samples = np.asarray(ev.logdet_samples)  # per probe, of log det A
    se = samples.std(ddof=1) / np.sqrt(samples.size)
    print(
        f"  kept lambda_ {kept.lambda_:.4g}, nearest {near.lambda_:.4g}; "
        f"{int(kept.mask.sum())} weights; gamma exact {kept.gamma:.1f}, "
        f"estimated {ev.gamma:.1f} +/- {ev.gamma_std:.1f} ({n_probes} probes)"
    )
    print(
        f"  log det A exact {kept.logdet:.1f}, estimated {samples.mean():.1f} "
        f"+/- {se:.1f} ({(samples.mean() - kept.logdet) / se:+.2f} se); "
        f"{steps} Lanczos steps on {_evidence.SEARCH_PROBES} probes"
    )
    # The table's k, Hutch++'s sketch at each budget, the priced k.
    ks = sorted(set(DEFLATED) | {max(1, m // 3) for m in BUDGETS} | set(PRICED))
    L_kept, L_near = kept.matrix(kept.log_terms), near.matrix(near.log_terms)
    sd = {
        "log det": dict(
            zip(ks, (rademacher_sd(kept.V, kept.log_terms, k) for k in ks))
        ),
        "gamma": dict(
            zip(ks, (rademacher_sd(kept.V, kept.gamma_terms, k) for k in ks))
        ),
        "difference": dict(zip(ks, difference_sds(L_kept - L_near, kept.V, ks))),
    }
    # K-FAC as the deterministic part: the probes on B - B_kfac.
    L_kept -= kept.kfac(kfac_log)[0]
    L_near -= near.kfac(kfac_log)[0]
    kfac = {"log det": dense_sd(L_kept)}
    L_kept -= L_near
    kfac["difference"] = dense_sd(L_kept)
    del L_kept, L_near
    B = kept.matrix(kept.gamma_terms)
    B -= kept.kfac(kfac_gamma)[0]
    kfac["gamma"] = dense_sd(B)
    del B
    measured = measured_sds(ev, ev_near)
    print(
        f"  per-probe standard deviation, exact (estimator's, {n_probes} "
        "probes): "
        + "; ".join(f"{name} {sd[name][0]:.2f} ({measured[name]:.2f})" for name in sd)
    )
    print("  S's top k eigenvectors counted exactly, for free (oracle):")
    print(
        bench.table(
            ["k", "log det sd", "gamma sd", "difference sd"],
            [[str(k), *(f"{sd[name][k]:.2f}" for name in sd)] for k in DEFLATED],
        )
    )
    print(
        "  K-FAC counted exactly, the rest by the probes: per-probe standard "
        "deviation "
        + "; ".join(
            f"{name} {kfac[name]:.2f} (plain {sd[name][0]:.2f})" for name in kfac
        )
    )

    header = ["one plain", "one {}", "gain", "diff. plain", "diff. {}", "gain"]
    probes = _evidence.SEARCH_PROBES
    tables = {
        "hutchpp": [[str(m), *errors(sd, hutchpp, m)] for m in BUDGETS],
        "priced": [[str(k), *errors(sd, priced, k, probes, steps)] for k in PRICED],
    }
    print(
        "  standard errors of the log evidence at m recurrences, plain "
        "Hutchinson against Hutch++ (optimistic; gain = plain / Hutch++):"
    )
    print(bench.table(["m", *(h.format("Hutch++") for h in header)], tables["hutchpp"]))
    print(
        f"  standard errors of the log evidence, {probes} probes after the "
        f"top k eigenvectors bought with k products ({steps} a recurrence), "
        "against plain probes of the same cost (optimistic):"
    )
    print(bench.table(["k", *(h.format("deflated") for h in header)], tables["priced"]))
    return dict(sd=sd, kfac=kfac, tables=tables, steps=steps)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=1)
    parser.add_argument("--probes", type=int, default=50)
    args = parser.parse_args(argv)
    X, y, folds = bench.course_folds(
        args.folds, "the estimates' variance with and without deflation"
    )
    for fold, (train, _) in enumerate(folds):
        Xs = StandardScaler().fit_transform(X[train])
        clf = BackpropClassifier((25,), lambda_="evidence", random_state=0)
        calls = []
        with threadpool_limits(limits=1), warnings.catch_warnings(), recorded(calls):
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            clf.fit(Xs, y[train])
            seconds = time.perf_counter() - start
        search = [c for c in calls if c["n_probes"] is None]
        if not search:
            raise RuntimeError(
                "the fit called no evidence: this script no longer measures "
                "what it says"
            )
        estimates = sum(c["seconds"] for c in calls)
        print(
            f"fold {fold + 1}: fit {seconds:.1f} s, {len(search)} points, "
            f"estimates {estimates:.1f} s ({estimates / seconds:.0%}; "
            f"{np.mean([c['seconds'] for c in search]):.2f} s each on "
            f"{_evidence.SEARCH_PROBES} probes); fitted_lambda_ "
            f"{clf.fitted_lambda_:.4g}, log_evidence_ {clf.log_evidence_:.1f} "
            f"+/- {clf.log_evidence_se_:.1f}",
            flush=True,
        )
        for c in calls:
            c["seed"] = clf._evidence_seed
        kept, near = kept_and_nearest(calls)
        exact, seconds = exact_point(kept)
        print(
            f"  the exact path at the kept point (one BLAS thread): {seconds:.1f} s "
            f"against {kept['seconds']:.2f} s for its estimate; log evidence "
            f"{exact.log_evidence:.1f} (the search's estimate "
            f"{kept['evidence'].log_evidence:.1f}, the kept one "
            f"{clf.log_evidence_:.1f} +/- {clf.log_evidence_se_:.1f}), gamma "
            f"{exact.gamma:.1f}",
            flush=True,
        )
        start = time.perf_counter()  # (untimed work: every BLAS thread)
        report(Decomposed(kept), Decomposed(near), args.probes)
        print(f"  (the analysis took {(time.perf_counter() - start) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
