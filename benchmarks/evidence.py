"""Choosing lambda_ by the evidence: exactness, accuracy, time and memory.

``BackpropClassifier(lambda_="evidence")`` picks the regularization from the
training data in one fit, by MacKay's evidence (Laplace approximation around
the fitted weights). This script checks the targets of the issues, each
section printing its figures and whether the target holds:

(a) exactness: on small networks, ``log_evidence_`` and
    ``n_effective_params_`` against a dense computation written here,
    independently of the package (the Jacobian of the output layer's ``z``
    by central differences, or in closed form with no hidden layer; the
    Gauss-Newton matrix as ``J^T D J``; Cholesky of ``A``): relative
    difference <= 1e-6. With no hidden layer (a convex cost), the log
    evidence at ``fitted_lambda_`` is within 0.1 nats of its maximum over a
    fine lambda grid (the weights refitted at each lambda);
(b) accuracy: outer 5-fold (stratified, shuffled, seed 0) accuracy of
    ``lambda_="evidence"`` against ``GridSearchCV`` over 9 lambdas with
    3-fold inner CV, on digits, breast_cancer, wine and iris; the same
    pipeline (StandardScaler, then 25 hidden units, ``random_state=0``) for
    both; target: within 1 point on each set;
(c) time: both contenders of (b), side by side in one process on one BLAS
    thread (``threadpool_limits(1)``), alternating which goes first; target:
    the evidence fits take at most 0.5x the grid searches' total time;
(d) scale: a 784-256-10 network (203530 parameters, the matrix-free path)
    on 20000 rows of synthetic float64 data (features uniform in [0, 1), 10
    classes from a random linear map, as in ``benchmarks/run.py``): the peak
    memory of ``lambda_="evidence"`` against a plain fit with the same
    ``max_iter``, each in its own subprocess (tracemalloc's peak of numpy's
    allocations, and the resident-set peak beyond the input); target:
    evidence <= 1.5x plain + 64 MiB;
(e) at the mode: on digits, breast_cancer, wine and iris (standardized; 5
    and 25 hidden units, ``random_state=0``), ``log_evidence_`` at
    ``tol=1e-4`` against the log evidence of a copy refitted warm at
    ``fitted_lambda_`` to ``tol=1e-12`` (``max_iter=5000``): within 0.5
    nats; and ``fitted_lambda_`` at ``tol=1e-4`` and at ``tol=1e-8``: within
    a factor 1.3 wherever both are inside the search's bounds;
(f) course size: scikit-learn's digits upscaled to 20x20
    (``scipy.ndimage.zoom``, 2.5, bilinear; 1797 x 400), StandardScaler +
    400-25-10 (10285 parameters, the matrix-free path): (b) and (c) on this
    one set, outer 5-fold, on one BLAS thread; targets: accuracy within 1
    point, evidence time at most 0.5x the grid search's (aim 0.2x);
(g) big: the network and data of (d) at the estimator's full ``max_iter``
    on one BLAS thread, one subprocess per fit: the evidence fit's time
    against a plain fit's with the same ``max_iter`` (target: at most 5x)
    and the peak memory of (d).
(h) big reference (only with ``--big-reference``, 30 to 45 minutes): the
    evidence fit of (g), in this process, then its kept point's log
    evidence estimated again with every Lanczos recurrence run to 300
    steps or until it moved by less than 0.01 (not 0.1) of its standard
    error over 5 steps: once on the fit's own 10 probes (what the longer
    recurrences alone change), then from ``--reference-batches`` batches
    of 10 fresh probes each (seeds other than the fit's): the long-run
    reference of issue 23, and how far ``log_evidence_`` is from it in
    units of its reported ``log_evidence_se_`` (target: within 1).

Sections (e)-(g) also split the evidence fits' time into the refits (the
L-BFGS runs), ``G`` or its products (with the Cholesky factor and inverse
of ``A``), the matrix-free log det and trace (less the ``G`` products made
inside them, reported on a line of their own) and everything else, by
timers wrapped around the package's functions in the benchmark's process
(:data:`SPLIT_TARGETS`; restored after; names that no longer exist are
skipped and listed).

Run ``python benchmarks/evidence.py``; ``--quick`` for a smoke run (fewer
folds and sets, smaller scale), ``--skip-scale`` to leave out (d) and
``--skip-big`` (g); ``--scale-only``, ``--mode-only``, ``--course-only`` and
``--big-only`` run those sections alone (together, each named one);
``--json [PATH]`` also writes the results as JSON (default
``benchmarks/evidence_results.json``). Each point of an evidence search at
the scale of (d) takes minutes, so (d) cuts it after ``--evaluations``
points (default 2; 0 for no cut), which leaves its peak memory (one
point's) as it is, but for the results the search keeps (a theta of 1.6 MiB
per point); (g) likewise after ``--big-evaluations`` (default 2), so that
its time is that of those points; ``--big-rows``, ``--big-max-iter`` and
``--course-folds`` change the others' sizes.
"""

import argparse
import contextlib
import copy
import functools
import importlib
import json
import os
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.special import expit
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelBinarizer, StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skbpnn import BackpropClassifier  # noqa: E402

HERE = Path(__file__).resolve().parent
MiB = 2.0**20
BIAS_PRECISION = 1e-4  # the evidence's prior precision of the biases
GRID = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
LOADERS = {
    "digits": load_digits,
    "breast_cancer": load_breast_cancer,
    "wine": load_wine,
    "iris": load_iris,
}


# --------------------------------------------------------------------------
# The dense reference: the definition, written from scratch


def parameter_layout(sizes):
    """``(shape, offset)`` of each ``Theta_l`` in the unrolled vector and the
    0/1 mask of its non-bias weights (column 0 of each column-major
    ``Theta_l``, its first ``s_{l+1}`` entries, holds the biases)."""
    layout, mask, offset = [], [], 0
    for s_in, s_out in zip(sizes[:-1], sizes[1:]):
        layout.append(((s_out, s_in + 1), offset))
        block = np.ones(s_out * (s_in + 1))
        block[:s_out] = 0.0
        mask.append(block)
        offset += s_out * (s_in + 1)
    return layout, np.concatenate(mask)


def output_z(theta, X, sizes):
    """``z^(L)``, shape (m, K): the forward pass with a plain sigmoid."""
    layout, _ = parameter_layout(sizes)
    a = X
    for shape, offset in layout:
        Theta = theta[offset : offset + shape[0] * shape[1]].reshape(shape, order="F")
        z = a @ Theta[:, 1:].T + Theta[:, 0]
        a = expit(z)
    return z


def jacobian_fd(theta, X, sizes, h=1e-5):
    """d z^(L) / d theta by central differences: shape (m, K, P)."""
    P = theta.size
    m, K = X.shape[0], sizes[-1]
    J = np.empty((m, K, P))
    for j in range(P):
        e = np.zeros(P)
        e[j] = h
        J[:, :, j] = (output_z(theta + e, X, sizes) - output_z(theta - e, X, sizes)) / (
            2 * h
        )
    return J


def jacobian_no_hidden(X, K):
    """d z / d theta in closed form with no hidden layer: z_k = Theta[k] @ [1; x],
    so row n's derivative by ``Theta[k, j]`` is ``[1, x_n][j]`` if k is
    the output, else 0. Shape (m, K, P), P = K (n + 1), column-major."""
    m, n = X.shape
    Xb = np.hstack([np.ones((m, 1)), X])
    J = np.zeros((m, K, K * (n + 1)))
    for k in range(K):
        # Theta (K, n+1) column-major: entry (k, j) at j * K + k
        J[:, k, k::K] = Xb
    return J


def dense_evidence(theta, X, Y, sizes, lambda_, sample_weight=None, jacobian=None):
    """The issue's log evidence and gamma, densely: ``(log_evidence, gamma)``.

    S = E_D + lambda/2 |w|^2 + b0/2 |b|^2, A = J^T D J + lambda M + b0 (I - M),
    log_evidence = -S + k/2 log lambda + (P-k)/2 log b0 - 1/2 log det A,
    gamma = k - lambda tr(A^-1 M).
    """
    m = X.shape[0]
    w = np.ones(m) if sample_weight is None else np.asarray(sample_weight, float)
    z = output_z(theta, X, sizes)
    a = expit(z)
    # E_D: the weighted cross-entropy, log(1 + e^z) - y z, finite for any z
    E_D = np.sum(w[:, None] * (np.logaddexp(0.0, z) - Y * z))
    _, M = parameter_layout(sizes)
    k, P = M.sum(), theta.size
    if jacobian is None:
        jacobian = jacobian_fd(theta, X, sizes)
    D = w[:, None] * a * (1.0 - a)  # (m, K)
    Jf = jacobian.reshape(m * sizes[-1], P)
    G = Jf.T @ (D.reshape(-1, 1) * Jf)
    A = G + np.diag(lambda_ * M + BIAS_PRECISION * (1.0 - M))
    S = E_D + lambda_ / 2 * theta[M == 1] @ theta[M == 1]
    S += BIAS_PRECISION / 2 * theta[M == 0] @ theta[M == 0]
    C = np.linalg.cholesky(A)
    logdet = 2.0 * np.sum(np.log(np.diag(C)))
    A_inv = np.linalg.inv(A)  # small P: the trace needs its diagonal
    gamma = k - lambda_ * np.sum(np.diag(A_inv) * M)
    log_ev = (
        -S + k / 2 * np.log(lambda_) + (P - k) / 2 * np.log(BIAS_PRECISION) - logdet / 2
    )
    return float(log_ev), float(gamma)


def targets_matrix(y):
    """(m, K) 0/1 targets: K = 1 for two classes, else one column per class."""
    return LabelBinarizer().fit_transform(y).astype(np.float64)


def standardized(name):
    X, y = LOADERS[name](return_X_y=True)
    return StandardScaler().fit_transform(X), y


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


# --------------------------------------------------------------------------
# (a) exactness


def fit_evidence(X, y, hidden, sample_weight=None, **params):
    clf = BackpropClassifier(hidden, lambda_="evidence", random_state=0, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y, sample_weight=sample_weight)
    return clf, [str(w.message).splitlines()[0] for w in caught]


def exactness_cases(quick):
    rng = np.random.RandomState(0)
    cases = [
        ("iris", (3,), None),
        ("wine", (5,), None),
        ("wine, integer weights 1-3", (5,), "weights"),
        ("breast_cancer", (), None),
        ("iris", (), None),
    ]
    if quick:
        cases = cases[:1] + cases[3:4]
    for label, hidden, weights in cases:
        X, y = standardized(label.split(",")[0])
        w = rng.randint(1, 4, size=len(y)).astype(float) if weights else None
        yield label, X, y, hidden, w


def bench_exactness(quick, results):
    print("(a) exactness against the dense computation (target: rel. diff <= 1e-6)")
    rows = []
    for label, X, y, hidden, w in exactness_cases(quick):
        clf, caught = fit_evidence(X, y, hidden, sample_weight=w)
        sizes = tuple(clf.layer_sizes_)
        Y = targets_matrix(y)
        jac = jacobian_no_hidden(X, sizes[-1]) if not hidden else None
        lam = float(clf.fitted_lambda_)
        log_ev, gamma = dense_evidence(clf.theta_, X, Y, sizes, lam, w, jac)
        public = float(clf.log_evidence(X, y, sample_weight=w))
        row = {
            "data": label,
            "network": "-".join(map(str, sizes)),
            "n_params": int(clf.theta_.size),
            "jacobian": "closed form" if jac is not None else "central differences",
            "fitted_lambda": lam,
            "log_evidence": float(clf.log_evidence_),
            "log_evidence_dense": log_ev,
            "log_evidence_rel_diff": rel(float(clf.log_evidence_), log_ev),
            "log_evidence_method_rel_diff": rel(public, log_ev),
            "gamma": float(clf.n_effective_params_),
            "gamma_dense": gamma,
            "gamma_rel_diff": rel(float(clf.n_effective_params_), gamma),
            "warnings": caught,
        }
        row["met"] = bool(
            max(
                row["log_evidence_rel_diff"],
                row["log_evidence_method_rel_diff"],
                row["gamma_rel_diff"],
            )
            <= 1e-6
        )
        rows.append(row)
    print(
        table(
            [
                "data",
                "network",
                "P",
                "lambda",
                "log ev.",
                "rel. diff",
                "method's",
                "gamma",
                "rel. diff",
                "target",
            ],
            [
                [
                    r["data"],
                    r["network"],
                    r["n_params"],
                    f"{r['fitted_lambda']:.4g}",
                    f"{r['log_evidence']:.6f}",
                    f"{r['log_evidence_rel_diff']:.1e}",
                    f"{r['log_evidence_method_rel_diff']:.1e}",
                    f"{r['gamma']:.4f}",
                    f"{r['gamma_rel_diff']:.1e}",
                    "met" if r["met"] else "NOT MET",
                ]
                for r in rows
            ],
        )
    )
    print(
        "  dense: log evidence and gamma from J^T D J (J by central differences, "
        "h=1e-5, or in closed form with no hidden layer) and Cholesky of A; "
        "'method's' is log_evidence(X, y) on the training data."
    )
    for r in rows:
        for message in r["warnings"]:
            print(f"  warning in {r['data']} {r['network']}: {message}")
    results["exactness"] = rows


def bench_convex_maximum(quick, results):
    """With no hidden layer the cost is convex: every lambda has one mode, so
    the log evidence is a function of lambda alone. Its maximum over a fine
    grid (refitted to tol=1e-10 at each lambda) against fitted_lambda_'s."""
    print(
        "\n(a) no hidden layer: log evidence at fitted_lambda_ against its maximum "
        "over a lambda grid (target: within 0.1 nats)"
    )
    Xs, ys = make_classification(
        n_samples=400,
        n_features=6,
        n_informative=4,
        n_classes=3,
        flip_y=0.1,
        random_state=0,
    )
    sets = [("breast_cancer", *standardized("breast_cancer"))]
    sets.append(("make_classification, 3 classes, flip_y=0.1", Xs, ys))
    if quick:
        sets = sets[1:]
    rows = []
    for label, X, y in sets:
        clf, caught = fit_evidence(X, y, ())
        lam = float(clf.fitted_lambda_)
        Y = targets_matrix(y)
        sizes = tuple(clf.layer_sizes_)
        jac = jacobian_no_hidden(X, sizes[-1])
        steps = 21 if quick else 81
        # +-1 decade around fitted_lambda_ in steps of 10^0.025 (6 %), and a
        # coarse grid from 1e-4 to 1e4 in case the maximum is elsewhere
        grid = np.unique(
            np.concatenate([lam * np.logspace(-1, 1, steps), np.logspace(-4, 4, 17)])
        )
        scores = []
        for g in grid:
            fixed = BackpropClassifier((), lambda_=g, tol=1e-10, max_iter=5000)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fixed.fit(X, y)
            scores.append(dense_evidence(fixed.theta_, X, Y, sizes, g, None, jac)[0])
        scores = np.array(scores)
        best = int(np.argmax(scores))
        gap = float(scores[best] - clf.log_evidence_)
        rows.append(
            {
                "data": label,
                "network": "-".join(map(str, sizes)),
                "fitted_lambda": lam,
                "log_evidence": float(clf.log_evidence_),
                "grid_size": len(grid),
                "grid_argmax": float(grid[best]),
                "grid_max": float(scores[best]),
                "gap_nats": gap,
                "met": bool(gap <= 0.1),
                "warnings": caught,
            }
        )
    print(
        table(
            [
                "data",
                "network",
                "fitted lambda",
                "log ev.",
                "grid argmax",
                "grid max",
                "max - ours",
                "target",
            ],
            [
                [
                    r["data"],
                    r["network"],
                    f"{r['fitted_lambda']:.4g}",
                    f"{r['log_evidence']:.4f}",
                    f"{r['grid_argmax']:.4g}",
                    f"{r['grid_max']:.4f}",
                    f"{r['gap_nats']:.4f}",
                    "met" if r["met"] else "NOT MET",
                ]
                for r in rows
            ],
        )
    )
    for r in rows:
        for message in r["warnings"]:
            print(f"  warning in {r['data']}: {message}")
    results["convex_maximum"] = rows


# --------------------------------------------------------------------------
# (b) accuracy and (c) time


def contender(which):
    """A contender of (b, c) and (f), unfitted: ``"evidence"``,
    StandardScaler and a 25-hidden-unit ``lambda_="evidence"`` fit, or
    ``"grid"``, ``GridSearchCV`` of StandardScaler and the same network
    over ``GRID`` (3-fold); ``random_state=0`` both."""
    if which == "evidence":
        return make_pipeline(
            StandardScaler(),
            BackpropClassifier((25,), lambda_="evidence", random_state=0),
        )
    return GridSearchCV(
        make_pipeline(StandardScaler(), BackpropClassifier((25,), random_state=0)),
        {"backpropclassifier__lambda_": GRID},
        cv=3,
    )


def bench_accuracy_and_time(quick, results):
    names = ["wine", "iris"] if quick else ["digits", "breast_cancer", "wine", "iris"]
    n_folds = 3 if quick else 5
    print(
        f"\n(b, c) outer {n_folds}-fold accuracy and time, lambda_='evidence' against "
        f"GridSearchCV over lambda_ in {GRID} (3-fold inner), StandardScaler + 25 "
        "hidden units, random_state=0, both on 1 BLAS thread "
        "(targets: accuracy within 1 point on each set; time <= 0.5x in total)"
    )
    rows = []
    for name in names:
        X, y = LOADERS[name](return_X_y=True)
        outer = StratifiedKFold(n_folds, shuffle=True, random_state=0)
        acc = {"evidence": [], "grid": []}
        seconds = {"evidence": 0.0, "grid": 0.0}
        lambdas = {"evidence": [], "grid": []}
        gammas, refits, iterations, caught = [], [], [], set()
        split = TimeSplit()  # the evidence fits' refits against the rest
        for fold, (train, test) in enumerate(outer.split(X, y)):
            order = ["evidence", "grid"] if fold % 2 == 0 else ["grid", "evidence"]
            for which in order:
                model = contender(which)
                timed = (
                    split.timed() if which == "evidence" else contextlib.nullcontext()
                )
                with (
                    threadpool_limits(limits=1),
                    warnings.catch_warnings(record=True) as messages,
                    timed,
                ):
                    warnings.simplefilter("always")
                    start = time.perf_counter()
                    model.fit(X[train], y[train])
                    seconds[which] += time.perf_counter() - start
                acc[which].append(model.score(X[test], y[test]))
                for m in messages:
                    caught.add(
                        f"{which}: {type(m.message).__name__}: "
                        f"{str(m.message).splitlines()[0][:100]}"
                    )
                if which == "evidence":
                    clf = model[-1]
                    lambdas["evidence"].append(float(clf.fitted_lambda_))
                    gammas.append(float(clf.n_effective_params_))
                    refits.append(len(clf.lambdas_))
                    iterations.append(int(clf.n_iter_))
                else:
                    lambdas["grid"].append(
                        model.best_params_["backpropclassifier__lambda_"]
                    )
        row = {
            "data": name,
            "shape": list(X.shape),
            "accuracy_evidence": float(np.mean(acc["evidence"])),
            "accuracy_grid": float(np.mean(acc["grid"])),
            "fold_accuracy_evidence": acc["evidence"],
            "fold_accuracy_grid": acc["grid"],
            "seconds_evidence": seconds["evidence"],
            "seconds_grid": seconds["grid"],
            "lambdas_evidence": lambdas["evidence"],
            "lambdas_grid": lambdas["grid"],
            "gamma_evidence": gammas,
            "refits_evidence": refits,
            "n_iter_evidence": iterations,
            "warnings": sorted(caught),
            "time_split": split.summary(),
        }
        row["points"] = 100 * (row["accuracy_evidence"] - row["accuracy_grid"])
        row["met"] = bool(row["points"] >= -1.0)
        rows.append(row)
        print(
            f"  {name} done: {row['seconds_evidence']:.1f} s evidence, "
            f"{row['seconds_grid']:.1f} s grid",
            flush=True,
        )
    total_e = sum(r["seconds_evidence"] for r in rows)
    total_g = sum(r["seconds_grid"] for r in rows)
    lines = [
        [
            r["data"],
            f"{r['accuracy_evidence']:.4f}",
            f"{r['accuracy_grid']:.4f}",
            f"{r['points']:+.2f}",
            "met" if r["met"] else "NOT MET",
            f"{r['seconds_evidence']:.1f}",
            f"{r['seconds_grid']:.1f}",
            f"{r['seconds_evidence'] / r['seconds_grid']:.2f}x",
            f"{np.mean(r['refits_evidence']):.1f} "
            f"({np.mean(r['n_iter_evidence']):.0f})",
            "/".join(f"{v:.2g}" for v in r["lambdas_evidence"]),
            "/".join(f"{v:g}" for v in r["lambdas_grid"]),
        ]
        for r in rows
    ]
    ratio = total_e / total_g
    lines.append(
        [
            "total",
            "",
            "",
            "",
            "",
            f"{total_e:.1f}",
            f"{total_g:.1f}",
            f"{ratio:.2f}x",
            "",
            "",
            "",
        ]
    )
    print(
        table(
            [
                "data",
                "evidence acc.",
                "grid acc.",
                "points",
                "target",
                "evidence s",
                "grid s",
                "time ratio",
                "refits (iter.)",
                "lambda per fold (evidence)",
                "best grid lambda per fold",
            ],
            lines,
        )
    )
    print(
        "  refits (iter.): lambdas tried by one evidence fit, and its L-BFGS "
        "iterations over all refits, mean over the folds; the grid search makes "
        f"{len(GRID)} x 3 + 1 = {3 * len(GRID) + 1} fits per fold"
    )
    met = ratio <= 0.5
    print(
        f"  time: evidence {total_e:.1f} s against grid search {total_g:.1f} s: "
        f"{ratio:.2f}x ({'met' if met else 'NOT MET'}, target <= 0.5x)"
    )

    def shares(split_rows, grid_seconds):
        """The refits' seconds and the rest's, as ratios to the grid's."""
        refit = sum(r["time_split"]["seconds"]["refits"] for r in split_rows)
        rest = sum(r["time_split"]["total_seconds"] for r in split_rows) - refit
        return f"{refit / grid_seconds:.2f}x and {rest / grid_seconds:.2f}x"

    print(
        "  of which the refits (L-BFGS runs) and the rest (each point's "
        "evidence, the search), as ratios to the grid's time: "
        + "; ".join(f"{r['data']} {shares([r], r['seconds_grid'])}" for r in rows)
        + f"; total {shares(rows, total_g)}"
    )
    for r in rows:
        for message in r["warnings"]:
            print(f"  warning in {r['data']}: {message}")
    results["accuracy"] = rows
    results["time"] = {
        "seconds_evidence": total_e,
        "seconds_grid": total_g,
        "ratio": ratio,
        "met": bool(met),
    }


# --------------------------------------------------------------------------
# (d) scale: peak memory, one subprocess per fit


def synthetic_data(m, n, K, seed=0, chunk=5000):
    """MNIST-shaped float64 data: features in [0, 1), labels from a random
    linear map; built in row chunks, so that no temporary is as large as X
    (the resident-set peak then belongs to the fit)."""
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((n, K))
    X = np.empty((m, n))
    y = np.empty(m, dtype=np.intp)
    for start in range(0, m, chunk):
        stop = min(start + chunk, m)
        X[start:stop] = rng.random((stop - start, n))
        y[start:stop] = np.argmax((X[start:stop] - 0.5) @ R, axis=1)
    return X, y


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cap_evaluations(evaluations):
    """Cut every evidence search of this process at ``evaluations`` points
    (refits and log evidence evaluations), whatever the search's signature
    passes; returns how (for the record)."""
    import inspect

    from skbpnn import _evidence

    search = _evidence.search
    if "max_evaluations" in inspect.signature(search).parameters:

        @functools.wraps(search)
        def capped(*args, **kwargs):
            kwargs["max_evaluations"] = evaluations
            return search(*args, **kwargs)

        _evidence.search = capped
        return "search(max_evaluations=...)"
    _evidence.MAX_EVALUATIONS = evaluations
    return "_evidence.MAX_EVALUATIONS"


def memory_child(which, rows, max_iter, evaluations=None, threads=None, split=False):
    """One fit in this process; prints its peaks as one JSON line.

    ``evaluations`` caps the evidence search's points (refits and log
    evidence evaluations); None keeps the estimator's own limit.
    ``threads`` holds BLAS to that many threads during the fit; ``split``
    adds the :class:`TimeSplit` of the fit.
    """
    capped = None if evaluations is None else cap_evaluations(evaluations)
    X, y = synthetic_data(rows, 784, 10)
    base = _rss_bytes()
    clf = BackpropClassifier(
        (256,),
        lambda_="evidence" if which == "evidence" else 1.0,
        max_iter=max_iter,
        random_state=0,
    )
    timer = TimeSplit()
    limits = contextlib.nullcontext() if threads is None else threadpool_limits(threads)
    tracemalloc.start()
    start = time.perf_counter()
    with (
        limits,
        timer.timed() if split else contextlib.nullcontext(),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        clf.fit(X, y)
    seconds = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    import resource  # POSIX only, like /proc: imported where (d) and (g) measure

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {
        "traced_peak": traced,
        "rss_beyond_input": maxrss - base,
        "input": X.nbytes,
        "seconds": seconds,
        "fitted_lambda": float(clf.fitted_lambda_),
        "n_iter": int(clf.n_iter_),
        "stop_reason": str(clf.stop_reason_),
        "evaluations_capped_by": capped,
        "warnings": sorted({str(w.message).splitlines()[0][:100] for w in caught}),
    }
    if which == "evidence":
        out["n_effective_params"] = float(clf.n_effective_params_)
        out["lambdas_tried"] = len(clf.lambdas_)
        out["lambdas"] = [float(v) for v in clf.lambdas_]
        out["scores"] = [float(v) for v in clf.scores_]
        out["log_evidence"] = float(clf.log_evidence_)
        out.update(getattrs(clf))
    if split:
        out["time_split"] = timer.summary()
    print(json.dumps(out, default=float))


def run_memory_child(which, rows, max_iter, evaluations, threads=None, split=False):
    """:func:`memory_child` in a subprocess of its own; its JSON as a dict."""
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--memory-child",
            which,
            "--rows",
            str(rows),
            "--max-iter",
            str(max_iter),
            "--evaluations",
            str(evaluations or 0),
            *([] if threads is None else ["--threads", str(threads)]),
            *(["--split"] if split else []),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the {which} fit failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_scale(rows, max_iter, evaluations, results):
    print(
        f"\n(d) peak memory, {rows} x 784 -> 256 -> 10 (203530 parameters), "
        f"synthetic float64 data, max_iter={max_iter}, one subprocess per fit "
        "(target: evidence <= 1.5x plain + 64 MiB)"
        + (
            ""
            if evaluations is None
            else f"; the evidence search cut at {evaluations} points "
            "(--evaluations): each point's evidence allocates and frees the "
            "same arrays, only the points' results (a theta each, "
            f"{203530 * 8 / MiB:.1f} MiB) add up"
        ),
        flush=True,
    )
    out = {}
    for which in ("plain", "evidence"):
        out[which] = run_memory_child(which, rows, max_iter, evaluations)
    lines, met = [], {}
    for key, label in (
        ("traced_peak", "tracemalloc peak"),
        ("rss_beyond_input", "RSS peak beyond input"),
    ):
        plain, evid = out["plain"][key] / MiB, out["evidence"][key] / MiB
        goal = 1.5 * plain + 64
        met[key] = evid <= goal
        lines.append(
            [
                label,
                f"{plain:.1f}",
                f"{evid:.1f}",
                f"{evid / plain:.2f}x",
                f"{goal:.1f}",
                "met" if met[key] else "NOT MET",
            ]
        )
    print(table(["peak (MiB)", "plain", "evidence", "ratio", "goal", "target"], lines))
    e = out["evidence"]
    print(
        f"  input {out['plain']['input'] / MiB:.0f} MiB; plain fit "
        f"{out['plain']['seconds']:.1f} s, evidence fit {e['seconds']:.1f} s "
        f"({e['lambdas_tried']} lambdas tried, fitted_lambda_ "
        f"{e['fitted_lambda']:.4g}, n_effective_params_ {e['n_effective_params']:.1f})"
    )
    for which in out:
        for message in out[which]["warnings"]:
            print(f"  warning in the {which} fit: {message}")
    results["scale"] = {
        "rows": rows,
        "max_iter": max_iter,
        **{f"{w}_{k}": v for w in out for k, v in out[w].items()},
        "met": {k: bool(v) for k, v in met.items()},
    }


# --------------------------------------------------------------------------
# Where an evidence fit spends its time: timers around the package's functions

#: ``(part, module, name)`` of the functions timed: the refits (L-BFGS
#: runs), ``G``, its bias block or its products (and the Cholesky factor
#: and inverse of ``A``), and the matrix-free log det and trace. The names are looked up
#: when the timers go in; those no longer there are skipped and listed, so
#: that a refactored package still gives the figures it can. A function of
#: the package is timed wherever a module of the package binds it
#: (``run_lbfgs`` is imported by name into ``_classifier`` and ``_dask``);
#: another library's (LAPACK's) only in the module named.
SPLIT_TARGETS = (
    ("refits", "skbpnn._lbfgs", "run_lbfgs"),
    ("G", "skbpnn._evidence", "DataCurvature.gauss_newton"),
    ("G", "skbpnn._evidence", "DataCurvature.gauss_newton_product"),
    ("G", "skbpnn._evidence", "DataCurvature.gauss_newton_bias_block"),
    ("G", "skbpnn._evaluation", "gauss_newton_matrix_blocked"),
    ("G", "skbpnn._evaluation", "gauss_newton_product_blocked"),
    ("G", "skbpnn._evaluation", "gauss_newton_bias_block"),
    ("G", "skbpnn._evidence", "_factorize"),
    ("G", "skbpnn._evidence", "_masked_trace"),
    ("G", "skbpnn._evidence", "dpotrf"),
    ("G", "skbpnn._evidence", "dtrtri"),
    ("G", "skbpnn._evidence", "solve_triangular"),
    ("logdet", "skbpnn._lanczos", "logdet_and_trace"),
)

#: The parts of the split, in the order printed. Each function's own time
#: (its time less that of the timed functions it calls) goes to its part;
#: the ``G`` products made inside the log det and trace go to their own line.
PARTS = {
    "refits": "refits (L-BFGS runs)",
    "G": "G or its products, Cholesky, inverse",
    "G in logdet": "G products inside log det and trace",
    "logdet": "log det and trace, less those products",
    "other": "everything else",
}


class TimeSplit:
    """Timers on :data:`SPLIT_TARGETS` while ``timed()`` blocks run.

    Module and class attributes are replaced by timing wrappers on entering
    a block and restored on leaving it; the figures add up over the blocks.
    ``total`` is the blocks' wall time, ``exclusive`` each part's own time,
    ``refits`` the ``(seconds, n_iter, stop_reason)`` of every L-BFGS run,
    ``lanczos`` the ``(seconds, n_steps, n_matvecs, converged)`` of every
    log det and trace, ``columns`` the vectors multiplied by ``G``.
    """

    def __init__(self):
        self.total = 0.0
        self.exclusive = dict.fromkeys(PARTS, 0.0)
        self.inclusive, self.calls, self.columns = {}, {}, {}
        self.refits, self.lanczos = [], []
        self.names_timed, self.missing = [], []
        self._stack = []  # [part, seconds of the timed calls inside]

    @contextlib.contextmanager
    def timed(self):
        patched = self._patch()
        start = time.perf_counter()
        try:
            yield self
        finally:
            self.total += time.perf_counter() - start
            for owner, attr, old in reversed(patched):
                setattr(owner, attr, old)

    def _patch(self):
        patched, timed, missing = [], [], []
        for part, module_name, name in SPLIT_TARGETS:
            label = f"{module_name}.{name}"
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                missing.append(label)
                continue
            owner, attr = module, name
            if "." in name:
                owner_name, attr = name.split(".", 1)
                owner = getattr(module, owner_name, None)
            original = None if owner is None else vars(owner).get(attr)
            if not callable(original):
                missing.append(label)
                continue
            places = [(owner, attr)]
            if owner is module and getattr(original, "__module__", "").startswith(
                "skbpnn"
            ):
                places = [
                    (mod, key)
                    for mod_name, mod in list(sys.modules.items())
                    if mod_name.split(".")[0] == "skbpnn" and mod is not None
                    for key, value in list(vars(mod).items())
                    if value is original
                ]
            wrapper = self._wrap(part, label, original)
            for place, key in places:
                patched.append((place, key, vars(place)[key]))
                setattr(place, key, wrapper)
            timed.append(label)
        self.names_timed, self.missing = timed, missing
        return patched

    def _wrap(self, part, label, function):
        split = self

        @functools.wraps(function)
        def timed(*args, **kwargs):
            outer = [p for p, _ in split._stack]
            key = "G in logdet" if part == "G" and "logdet" in outer else part
            split._stack.append([part, 0.0])
            start = time.perf_counter()
            try:
                out = function(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                _, inner = split._stack.pop()
                split.exclusive[key] += seconds - inner
                if split._stack:
                    split._stack[-1][1] += seconds
                split.inclusive[label] = split.inclusive.get(label, 0.0) + seconds
                split.calls[label] = split.calls.get(label, 0) + 1
            split._record(part, label, seconds, args, kwargs, out)
            return out

        return timed

    def _record(self, part, label, seconds, args, kwargs, out):
        if part == "refits" and hasattr(out, "n_iter"):
            self.refits.append(
                (seconds, int(out.n_iter), str(getattr(out, "stop_reason", "?")))
            )
        elif part == "logdet":
            self.lanczos.append(
                (
                    seconds,
                    getattr(out, "n_steps", None),
                    getattr(out, "n_matvecs", None),
                    getattr(out, "converged", None),
                )
            )
        elif "gauss_newton_product" in label:
            # the vectors V: the method's third argument, the function's 7th
            V = kwargs.get("V")
            position = 2 if "DataCurvature" in label else 6
            if V is None and len(args) > position:
                V = args[position]
            if isinstance(V, np.ndarray):
                n = 1 if V.ndim == 1 else V.shape[1]
                self.columns[label] = self.columns.get(label, 0) + n

    def summary(self):
        """The split as a dict of plain numbers and lists (JSON)."""
        parts = {k: v for k, v in self.exclusive.items() if k != "other"}
        parts["other"] = self.total - sum(parts.values())
        iters = [n for _, n, _ in self.refits]
        return {
            "total_seconds": self.total,
            "seconds": parts,
            "logdet_and_trace_with_products_seconds": parts["logdet"]
            + parts["G in logdet"],
            "timed": self.names_timed,
            "not_found": self.missing,
            "calls": self.calls,
            "inclusive_seconds": self.inclusive,
            "G_columns": self.columns,
            "refits": [
                {"seconds": s, "n_iter": n, "stop_reason": r} for s, n, r in self.refits
            ],
            "refit_iterations": {
                "runs": len(iters),
                "total": int(sum(iters)),
                "min": int(min(iters)) if iters else None,
                "median": float(np.median(iters)) if iters else None,
                "max": int(max(iters)) if iters else None,
            },
            "stop_reasons": dict(Counter(r for _, _, r in self.refits)),
            "lanczos": [
                {"seconds": s, "n_steps": n, "n_matvecs": v, "converged": c}
                for s, n, v, c in self.lanczos
            ],
        }


def split_table(splits):
    """The time split of ``splits`` (label -> :meth:`TimeSplit.summary`) as
    a table: the parts as rows, seconds and share for each label."""

    def cells(seconds, s):
        return [
            f"{seconds:.2f}",
            f"{100 * seconds / max(s['total_seconds'], 1e-12):.0f}%",
        ]

    header = ["part"]
    for label in splits:
        header += [f"{label} s", "share"]
    rows = []
    for key, name in PARTS.items():
        rows.append(
            [name, *(c for s in splits.values() for c in cells(s["seconds"][key], s))]
        )
    key = "logdet_and_trace_with_products_seconds"
    rows.append(
        [
            "(log det and trace with their G products)",
            *(c for s in splits.values() for c in cells(s[key], s)),
        ]
    )
    rows.append(
        ["total", *(c for s in splits.values() for c in cells(s["total_seconds"], s))]
    )
    return table(header, rows)


def describe_split(label, s):
    """Lines under a split table: what was timed, the refits' iterations,
    the Lanczos runs and the G products."""
    it = s["refit_iterations"]
    lines = []
    if it["runs"]:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(s["stop_reasons"].items()))
        lines.append(
            f"  {label}: {it['runs']} L-BFGS runs, {it['total']} iterations "
            f"(per run min {it['min']}, median {it['median']:.0f}, max "
            f"{it['max']}); stopped: {reasons}"
        )
    if s["lanczos"]:
        steps = [r["n_steps"] for r in s["lanczos"]]
        matvecs = [r["n_matvecs"] for r in s["lanczos"]]
        unsettled = sum(r["converged"] is False for r in s["lanczos"])
        lines.append(
            f"  {label}: {len(steps)} log det and trace estimates, Lanczos steps "
            f"{'/'.join(map(str, steps))}, matvec calls "
            f"{'/'.join(map(str, matvecs))}, {unsettled} not settled; "
            f"{sum(r['seconds'] for r in s['lanczos']):.1f} s with their products"
        )
    products = {k: v for k, v in s["G_columns"].items() if "DataCurvature" in k}
    for name, n in (products or s["G_columns"]).items():
        lines.append(
            f"  {label}: {s['calls'].get(name, 0)} calls of "
            f"{name.rsplit('.', 1)[-1]}, {n} vectors in all"
        )
    formed = s["calls"].get("skbpnn._evidence.DataCurvature.gauss_newton")
    if formed:
        lines.append(f"  {label}: G formed {formed} times")
    return lines


def print_split(splits):
    print(split_table(splits))
    first = next(iter(splits.values()))
    print(
        "  timed (each function's own time to its part, restored after): "
        + ", ".join(name.replace("skbpnn.", "") for name in first["timed"])
    )
    if first["not_found"]:
        print("  not found, so not timed: " + ", ".join(first["not_found"]))
    for label, s in splits.items():
        for line in describe_split(label, s):
            print(line)


def getattrs(clf, names=("log_evidence_se_", "n_iter_total_")):
    """The fitted attributes of the in-progress changes, None where absent."""
    out = {}
    for name in names:
        value = getattr(clf, name, None)
        out[name] = None if value is None else float(value)
    return out


# --------------------------------------------------------------------------
# (e) at the mode


def lambda_bounds():
    from skbpnn import _evidence

    return tuple(getattr(_evidence, "LAMBDA_BOUNDS", (1e-6, 1e6)))


def at_bound(lambda_, bounds):
    return any(abs(np.log(lambda_ / b)) < 1e-9 for b in bounds)


def refit_at_mode(clf, X, y):
    """A copy of ``clf`` refitted warm at ``fitted_lambda_`` (as a number)
    to ``tol=1e-12``: its log evidence and the refit's iterations."""
    refit = copy.deepcopy(clf)
    refit.set_params(
        warm_start=True,
        lambda_=float(clf.fitted_lambda_),
        tol=1e-12,
        max_iter=5000,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        refit.fit(X, y)
    return refit, float(refit.log_evidence(X, y))


def bench_mode(quick, results):
    names = ["wine", "iris"] if quick else ["digits", "breast_cancer", "wine", "iris"]
    bounds = lambda_bounds()
    print(
        "\n(e) at the mode: lambda_='evidence' (tol=1e-4), then a copy refitted "
        "warm at fitted_lambda_ (a number, tol=1e-12, max_iter=5000) and its "
        "log_evidence(X, y); and lambda_='evidence' at tol=1e-8; standardized "
        "data, random_state=0 (targets: |log_evidence_ - refit's| <= 0.5 nats; "
        f"fitted_lambda_ at the two tols within a factor 1.3 inside the bounds "
        f"{bounds[0]:g}, {bounds[1]:g})",
        flush=True,
    )
    splits = {"tol=1e-4": TimeSplit(), "tol=1e-8": TimeSplit()}
    rows = []
    for name in names:
        X, y = standardized(name)
        for hidden in (5, 25):
            fits, caught = {}, {}
            for tol, split in zip((1e-4, 1e-8), splits.values()):
                with split.timed():
                    fits[tol], caught[tol] = fit_evidence(X, y, (hidden,), tol=tol)
            clf = fits[1e-4]
            start = time.perf_counter()
            refit, refit_log_ev = refit_at_mode(clf, X, y)
            refit_seconds = time.perf_counter() - start
            lam4, lam8 = (float(fits[t].fitted_lambda_) for t in (1e-4, 1e-8))
            gap = refit_log_ev - float(clf.log_evidence_)
            bound = at_bound(lam4, bounds) or at_bound(lam8, bounds)
            ratio = max(lam4, lam8) / min(lam4, lam8)
            row = {
                "data": name,
                "hidden": hidden,
                "n_params": int(clf.theta_.size),
                "fitted_lambda": lam4,
                "log_evidence": float(clf.log_evidence_),
                "points": len(clf.lambdas_),
                "lambdas": [float(v) for v in clf.lambdas_],
                "scores": [float(v) for v in clf.scores_],
                "n_iter": int(clf.n_iter_),
                "refit_log_evidence": refit_log_ev,
                "refit_n_iter": int(refit.n_iter_),
                "refit_stop_reason": str(refit.stop_reason_),
                "refit_seconds": refit_seconds,
                "gap_nats": gap,
                "gap_met": bool(abs(gap) <= 0.5),
                "fitted_lambda_tol_1e-8": lam8,
                "log_evidence_tol_1e-8": float(fits[1e-8].log_evidence_),
                "points_tol_1e-8": len(fits[1e-8].lambdas_),
                "lambdas_tol_1e-8": [float(v) for v in fits[1e-8].lambdas_],
                "scores_tol_1e-8": [float(v) for v in fits[1e-8].scores_],
                "n_iter_tol_1e-8": int(fits[1e-8].n_iter_),
                "lambda_ratio": ratio,
                "at_bound": bool(bound),
                "lambda_met": None if bound else bool(ratio <= 1.3),
                **getattrs(clf),
                "warnings": {str(t): caught[t] for t in caught},
            }
            rows.append(row)
            print(
                f"  {name} {hidden} hidden done: gap {gap:+.3f} nats, lambda "
                f"{lam4:.3g} / {lam8:.3g}",
                flush=True,
            )
    print(
        table(
            [
                "data",
                "hidden",
                "P",
                "lambda",
                "log ev.",
                "pts (iter.)",
                "at mode",
                "refit iter.",
                "gap",
                "target",
                "lambda 1e-8",
                "pts (iter.)",
                "ratio",
                "target",
            ],
            [
                [
                    r["data"],
                    r["hidden"],
                    r["n_params"],
                    f"{r['fitted_lambda']:.4g}",
                    f"{r['log_evidence']:.3f}",
                    f"{r['points']} ({r['n_iter']})",
                    f"{r['refit_log_evidence']:.3f}",
                    f"{r['refit_n_iter']} {r['refit_stop_reason']}",
                    f"{r['gap_nats']:+.3f}",
                    "met" if r["gap_met"] else "NOT MET",
                    f"{r['fitted_lambda_tol_1e-8']:.4g}",
                    f"{r['points_tol_1e-8']} ({r['n_iter_tol_1e-8']})",
                    f"{r['lambda_ratio']:.3g}",
                    "bound"
                    if r["lambda_met"] is None
                    else "met"
                    if r["lambda_met"]
                    else "NOT MET",
                ]
                for r in rows
            ],
        )
    )
    print(
        "  gap: the refit's log evidence less log_evidence_ (positive: the mode's "
        "is higher); pts (iter.): lambdas tried and L-BFGS iterations over all "
        "refits (n_iter_); ratio: the larger fitted_lambda_ of the two tols over "
        "the smaller; 'bound': one of them at a bound of the search (no target)"
    )
    extra = [r for r in rows if r["log_evidence_se_"] is not None]
    for r in extra:
        print(
            f"  {r['data']} {r['hidden']}: log_evidence_se_ {r['log_evidence_se_']:.3g}"
            + (
                ""
                if r["n_iter_total_"] is None
                else f", n_iter_total_ {r['n_iter_total_']:.0f}"
            )
        )
    n_gap = sum(r["gap_met"] for r in rows)
    inside = [r for r in rows if r["lambda_met"] is not None]
    n_lam = sum(r["lambda_met"] for r in inside)
    print(
        f"  at the mode: {n_gap} of {len(rows)} within 0.5 nats "
        f"({'met' if n_gap == len(rows) else 'NOT MET'}); fitted_lambda_ within "
        f"1.3x: {n_lam} of {len(inside)} inside the bounds "
        f"({'met' if n_lam == len(inside) else 'NOT MET'})"
    )
    for r in rows:
        for tol, messages in r["warnings"].items():
            for message in messages:
                print(f"  warning in {r['data']} {r['hidden']} tol={tol}: {message}")
    print("  where the evidence fits spent their time, summed over the sets:")
    summaries = {label: s.summary() for label, s in splits.items()}
    print_split(summaries)
    results["mode"] = {"rows": rows, "time_split": summaries}


# --------------------------------------------------------------------------
# (f) the course's size


def digits_20x20():
    """scikit-learn's digits upscaled to 20x20 (bilinear): 1797 x 400, the
    size of the course's exercise."""
    from scipy.ndimage import zoom

    images, y = load_digits(return_X_y=True)
    X = np.array([zoom(image.reshape(8, 8), 2.5, order=1) for image in images])
    assert X.shape[1:] == (20, 20), X.shape
    return X.reshape(len(X), 400), y


def course_folds(n_folds, what):
    """(f)'s data and the first ``n_folds`` of its 5 outer folds (train,
    test), announced with ``what`` the script varies."""
    X, y = digits_20x20()
    outer = StratifiedKFold(5, shuffle=True, random_state=0)
    folds = list(outer.split(X, y))[:n_folds]
    print(
        f"course size (benchmarks/evidence.py (f)), folds 1-{len(folds)} of 5, "
        f"400-25-10, one BLAS thread; {what}"
    )
    return X, y, folds


def print_search(clf, decimals):
    """A search's ``lambdas_`` and ``scores_`` (to ``decimals``), two lines."""
    print("  lambdas  " + " ".join(f"{v:.3g}" for v in clf.lambdas_))
    print("  scores   " + " ".join(f"{v:.{decimals}f}" for v in clf.scores_))


def timed_course_fit(clf, X, y, patch, calls):
    """Fit ``clf`` on one BLAS thread, its warnings hidden, inside ``patch``
    (a context manager of the scripts that vary the evidence's estimates,
    which appends each estimate's record to ``calls``); the seconds.

    Raises RuntimeError where ``calls`` stayed empty: the patched function
    was not called, and the script would measure something else.
    """
    with threadpool_limits(limits=1), warnings.catch_warnings(), patch:
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
    if not calls:
        raise RuntimeError(
            "the evidence did not call _lanczos.logdet_and_trace: "
            "this script no longer measures what it says"
        )
    return seconds


def bench_course(n_folds, results):
    X, y = digits_20x20()
    print(
        f"\n(f) course size: digits upscaled to 20x20 (scipy.ndimage.zoom 2.5, "
        f"order=1), {X.shape[0]} x {X.shape[1]}, StandardScaler + 400-25-10 "
        f"(10285 parameters), random_state=0; outer {n_folds}-fold accuracy "
        f"and time, lambda_='evidence' against GridSearchCV over lambda_ in "
        f"{GRID} (3-fold inner), both on 1 BLAS thread, alternating which goes "
        "first (targets: accuracy within 1 point; time <= 0.5x, aim 0.2x)",
        flush=True,
    )
    outer = StratifiedKFold(n_folds, shuffle=True, random_state=0)
    split = TimeSplit()
    acc = {"evidence": [], "grid": []}
    seconds = {"evidence": [], "grid": []}
    folds, caught = [], set()
    for fold, (train, test) in enumerate(outer.split(X, y)):
        order = ["evidence", "grid"] if fold % 2 == 0 else ["grid", "evidence"]
        record = {}
        for which in order:
            model = contender(which)
            timers = split.timed() if which == "evidence" else contextlib.nullcontext()
            with (
                threadpool_limits(limits=1),
                warnings.catch_warnings(record=True) as messages,
                timers,
            ):
                warnings.simplefilter("always")
                start = time.perf_counter()
                model.fit(X[train], y[train])
                seconds[which].append(time.perf_counter() - start)
            acc[which].append(float(model.score(X[test], y[test])))
            for m in messages:
                caught.add(
                    f"{which}: {type(m.message).__name__}: "
                    f"{str(m.message).splitlines()[0][:100]}"
                )
            if which == "evidence":
                clf = model[-1]
                record.update(
                    lambda_evidence=float(clf.fitted_lambda_),
                    log_evidence=float(clf.log_evidence_),
                    gamma=float(clf.n_effective_params_),
                    points=len(clf.lambdas_),
                    lambdas=[float(v) for v in clf.lambdas_],
                    scores=[float(v) for v in clf.scores_],
                    n_iter=int(clf.n_iter_),
                    **getattrs(clf),
                )
            else:
                record["lambda_grid"] = model.best_params_[
                    "backpropclassifier__lambda_"
                ]
        folds.append(record)
        print(
            f"  fold {fold + 1} of {n_folds}: evidence {seconds['evidence'][-1]:.1f} s "
            f"({record['points']} points, lambda {record['lambda_evidence']:.3g}), "
            f"grid {seconds['grid'][-1]:.1f} s (lambda {record['lambda_grid']:g})",
            flush=True,
        )
    total_e, total_g = sum(seconds["evidence"]), sum(seconds["grid"])
    ratio = total_e / total_g
    points = 100 * (np.mean(acc["evidence"]) - np.mean(acc["grid"]))
    out = {
        "shape": list(X.shape),
        "n_folds": n_folds,
        "accuracy_evidence": float(np.mean(acc["evidence"])),
        "accuracy_grid": float(np.mean(acc["grid"])),
        "fold_accuracy_evidence": acc["evidence"],
        "fold_accuracy_grid": acc["grid"],
        "seconds_evidence": total_e,
        "seconds_grid": total_g,
        "fold_seconds_evidence": seconds["evidence"],
        "fold_seconds_grid": seconds["grid"],
        "ratio": ratio,
        "points": float(points),
        "accuracy_met": bool(points >= -1.0),
        "time_met": bool(ratio <= 0.5),
        "aim_met": bool(ratio <= 0.2),
        "folds": folds,
        "warnings": sorted(caught),
    }
    print(
        table(
            [
                "contender",
                "accuracy",
                "per fold",
                "seconds",
                "per fold",
                "lambda per fold",
                "points per fit",
            ],
            [
                [
                    "evidence",
                    f"{out['accuracy_evidence']:.4f}",
                    "/".join(f"{a:.3f}" for a in acc["evidence"]),
                    f"{total_e:.1f}",
                    "/".join(f"{s:.1f}" for s in seconds["evidence"]),
                    "/".join(f"{f['lambda_evidence']:.3g}" for f in folds),
                    "/".join(str(f["points"]) for f in folds),
                ],
                [
                    "grid (9 x 3 + 1 fits)",
                    f"{out['accuracy_grid']:.4f}",
                    "/".join(f"{a:.3f}" for a in acc["grid"]),
                    f"{total_g:.1f}",
                    "/".join(f"{s:.1f}" for s in seconds["grid"]),
                    "/".join(f"{f['lambda_grid']:g}" for f in folds),
                    "",
                ],
            ],
        )
    )
    print(
        f"  accuracy: evidence {points:+.2f} points against the grid "
        f"({'met' if out['accuracy_met'] else 'NOT MET'}, target >= -1); time: "
        f"{ratio:.2f}x the grid's ({'met' if out['time_met'] else 'NOT MET'}, "
        f"target <= 0.5x; aim 0.2x {'met' if out['aim_met'] else 'not met'}); "
        f"{np.mean([f['points'] for f in folds]):.1f} points and "
        f"{np.mean([f['n_iter'] for f in folds]):.0f} L-BFGS iterations per "
        "evidence fit"
    )
    for f in folds:
        extra = {k: f[k] for k in ("log_evidence_se_", "n_iter_total_")}
        if any(v is not None for v in extra.values()):
            print(
                "  "
                + ", ".join(f"{k} {v:.4g}" for k, v in extra.items() if v is not None)
            )
    for message in out["warnings"]:
        print(f"  warning: {message}")
    print("  where the evidence fits spent their time, summed over the folds:")
    out["time_split"] = split.summary()
    print_split({"evidence": out["time_split"]})
    results["course"] = out


# --------------------------------------------------------------------------
# (g) big: time and memory of 784-256-10 at full max_iter


def bench_big(rows, max_iter, evaluations, results):
    print(
        f"\n(g) big: {rows} x 784 -> 256 -> 10 (203530 parameters), the synthetic "
        f"data of (d), max_iter={max_iter}, 1 BLAS thread, one subprocess per fit "
        "(targets: evidence fit <= 5x the plain fit's time; peak memory "
        "<= 1.5x plain + 64 MiB)"
        + (
            ""
            if evaluations is None
            else f"; the evidence search cut at {evaluations} points "
            "(--big-evaluations): its time is that of those points, not of a "
            "whole search"
        ),
        flush=True,
    )
    out = {}
    for which in ("plain", "evidence"):
        out[which] = run_memory_child(
            which, rows, max_iter, evaluations, threads=1, split=True
        )
        print(f"  {which} fit done: {out[which]['seconds']:.1f} s", flush=True)
    p, e = out["plain"], out["evidence"]
    ratio = e["seconds"] / p["seconds"]
    lines, met = [], {}
    for key, label in (
        ("traced_peak", "tracemalloc peak (MiB)"),
        ("rss_beyond_input", "RSS peak beyond input (MiB)"),
    ):
        plain, evid = p[key] / MiB, e[key] / MiB
        goal = 1.5 * plain + 64
        met[key] = evid <= goal
        lines.append(
            [
                label,
                f"{plain:.1f}",
                f"{evid:.1f}",
                f"{evid / plain:.2f}x",
                f"<= {goal:.1f}",
                "met" if met[key] else "NOT MET",
            ]
        )
    met["time"] = ratio <= 5
    lines.insert(
        0,
        [
            "fit time (s)",
            f"{p['seconds']:.1f}",
            f"{e['seconds']:.1f}",
            f"{ratio:.2f}x",
            "<= 5x",
            "met" if met["time"] else "NOT MET",
        ],
    )
    print(table(["", "plain", "evidence", "ratio", "goal", "target"], lines))
    points = e.get("lambdas_tried") or 1
    print(
        f"  plain fit: {p['n_iter']} L-BFGS iterations, stopped by "
        f"{p['stop_reason']}; evidence fit: {e['lambdas_tried']} points "
        f"(lambdas {'/'.join(f'{v:.3g}' for v in e['lambdas'])}, log evidence "
        f"{'/'.join(f'{v:.1f}' for v in e['scores'])}), {e['n_iter']} iterations "
        f"in all, fitted_lambda_ {e['fitted_lambda']:.4g}, n_effective_params_ "
        f"{e['n_effective_params']:.1f}; {e['seconds'] / points:.0f} s per point"
    )
    extra = {k: e.get(k) for k in ("log_evidence_se_", "n_iter_total_")}
    if any(v is not None for v in extra.values()):
        print(
            "  " + ", ".join(f"{k} {v:.4g}" for k, v in extra.items() if v is not None)
        )
    for which in out:
        for message in out[which]["warnings"]:
            print(f"  warning in the {which} fit: {message}")
    print("  where the fits spent their time:")
    print_split({w: out[w]["time_split"] for w in ("evidence", "plain")})
    results["big"] = {
        "rows": rows,
        "max_iter": max_iter,
        "evaluations": evaluations,
        "ratio": ratio,
        **{f"{w}_{k}": v for w in out for k, v in out[w].items()},
        "met": {k: bool(v) for k, v in met.items()},
    }


# --------------------------------------------------------------------------
# (h) big reference: log_evidence_ at 784-256-10 against a long-run estimate


def bench_big_reference(rows, max_iter, evaluations, batches, results):
    from skbpnn import _evidence, _lanczos

    print(
        f"\n(h) big reference: the evidence fit of (g) ({rows} rows, max_iter="
        f"{max_iter}, "
        + ("" if evaluations is None else f"the search cut at {evaluations} points, ")
        + "1 BLAS thread, in this process), then its kept point's log evidence "
        "again with long Lanczos recurrences (to 300 steps or a move below "
        "0.01 standard errors): on the fit's own probes, and from "
        f"{batches} batches of 10 fresh probes (target: log_evidence_ within "
        "its log_evidence_se_ of the reference)",
        flush=True,
    )
    saved_search = _evidence.search, _evidence.MAX_EVALUATIONS
    try:
        capped = None if evaluations is None else cap_evaluations(evaluations)
        X, y = synthetic_data(rows, 784, 10)
        clf = BackpropClassifier(
            (256,), lambda_="evidence", max_iter=max_iter, random_state=0
        )
        start = time.perf_counter()
        with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf.fit(X, y)
    finally:  # whichever of the two cap_evaluations changed
        _evidence.search, _evidence.MAX_EVALUATIONS = saved_search
    fit_seconds = time.perf_counter() - start
    value, se = float(clf.log_evidence_), float(clf.log_evidence_se_)
    print(
        f"  fit: {fit_seconds:.0f} s, fitted_lambda_ {clf.fitted_lambda_:.4g}, "
        f"log_evidence_ {value:.2f} +/- {se:.2f}",
        flush=True,
    )
    fit_warnings = sorted({str(w.message) for w in caught})
    for message in fit_warnings:
        print(f"  warning in the fit: {message.splitlines()[0][:100]}")
    curvature = clf._training_data(X, y, None, reset=False).curvature(clf.layer_sizes_)
    long_run = functools.partial(_lanczos.logdet_and_trace, tol=0.01)
    saved = _lanczos.logdet_and_trace, _evidence.N_STEPS
    _lanczos.logdet_and_trace, _evidence.N_STEPS = long_run, 300
    # The fit's own probes first (what the longer recurrences alone change),
    # then fresh ones (seeds other than the fit's).
    seeds = [clf._evidence_seed] + [1000 + b for b in range(batches)]
    estimates = []
    try:
        for n, seed in enumerate(seeds):
            start = time.perf_counter()
            with threadpool_limits(1):
                ev = _evidence.evidence_at(
                    curvature,
                    clf.theta_,
                    clf.fitted_lambda_,
                    method="lanczos",
                    seed=seed,
                )
            estimates.append(ev)
            label = "the fit's probes" if n == 0 else f"batch {n} of {batches}"
            print(
                f"  {label}: {ev.log_evidence:.2f} +/- {ev.std:.2f}, decrement "
                f"{ev.decrement:.3g}, settled {ev.converged} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    finally:
        _lanczos.logdet_and_trace, _evidence.N_STEPS = saved
    same, fresh = estimates[0], estimates[1:]
    values = np.array([ev.log_evidence for ev in fresh])
    reference = float(values.mean())
    # Its standard error from all the fresh probes' log det samples pooled
    # (the log evidence has -1/2 log det; 10 * batches - 1 degrees of
    # freedom), and, for comparison, from the spread of the batches' means
    # (batches - 1 degrees of freedom).
    samples = np.concatenate([ev.logdet_samples for ev in fresh])
    reference_se = float(0.5 * samples.std(ddof=1) / np.sqrt(samples.size))
    spread_se = float(values.std(ddof=1) / np.sqrt(values.size))
    distance = (value - reference) / se
    met = abs(distance) <= 1
    print(
        table(
            ["estimate", "log evidence", "standard error", "decrement"],
            [
                ["log_evidence_ (the fit: 10 probes)", f"{value:.2f}", f"{se:.2f}", ""],
                [
                    "the fit's 10 probes, long recurrences",
                    f"{same.log_evidence:.2f}",
                    f"{same.std:.2f}",
                    f"{same.decrement:.3g}",
                ],
                [
                    f"reference ({samples.size} fresh probes, long recurrences)",
                    f"{reference:.2f}",
                    f"{reference_se:.2f}",
                    "/".join(f"{e.decrement:.3g}" for e in fresh),
                ],
            ],
        )
    )
    print(
        f"  log_evidence_ - reference = {value - reference:+.2f} = {distance:+.2f} "
        f"log_evidence_se_ ({'met' if met else 'NOT MET'}, target within 1); "
        f"the same probes run longer move it by {same.log_evidence - value:+.2f} "
        f"(the recurrences' truncation); the reference's standard error from "
        f"the spread of its {values.size} batches: {spread_se:.2f}"
    )
    results["big_reference"] = {
        "rows": rows,
        "max_iter": max_iter,
        "evaluations": evaluations,
        "evaluations_capped_by": capped,
        "fit_seconds": fit_seconds,
        "fitted_lambda": float(clf.fitted_lambda_),
        "log_evidence": value,
        "log_evidence_se": se,
        "same_probes_long_run": float(same.log_evidence),
        "reference": reference,
        "reference_se": reference_se,
        "reference_se_from_spread": spread_se,
        "batches": [float(v) for v in values],
        "batch_std": [float(e.std) for e in fresh],
        "decrements": [float(e.decrement) for e in estimates],
        "settled": [bool(e.converged) for e in estimates],
        "fit_warnings": fit_warnings,
        "met": bool(met),
    }


# --------------------------------------------------------------------------
# Report


def table(header, rows):
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    sep = "  ".join("=" * w for w in widths)
    lines = [sep, "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(), sep]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.append(sep)
    return "\n".join(lines)


def machine():
    blas = [
        f"{i.get('internal_api')} {i.get('version')} threads={i.get('num_threads')}"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    return {"nproc": os.cpu_count(), "blas": blas, "load_average": os.getloadavg()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--skip-scale", action="store_true", help="leave out (d)")
    parser.add_argument("--skip-big", action="store_true", help="leave out (g)")
    only = parser.add_argument_group(
        "sections alone", "any of these runs those sections only"
    )
    only.add_argument("--scale-only", action="store_true", help="(d) scale")
    only.add_argument("--mode-only", action="store_true", help="(e) at the mode")
    only.add_argument("--course-only", action="store_true", help="(f) course size")
    only.add_argument("--big-only", action="store_true", help="(g) big")
    only.add_argument(
        "--big-reference",
        action="store_true",
        help="(h) log_evidence_ of (g)'s fit against a long-run estimate "
        "(30 to 45 minutes; never part of the default run)",
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const=str(HERE / "evidence_results.json"),
        metavar="PATH",
        help="also write the results as JSON (default path: "
        "benchmarks/evidence_results.json)",
    )
    parser.add_argument("--rows", type=int, default=None, help="rows of (d)")
    parser.add_argument(
        "--max-iter", type=int, default=None, help="max_iter of both fits of (d)"
    )
    parser.add_argument(
        "--evaluations",
        type=int,
        default=2,
        help="cut the evidence search of (d) at this many points, 0 for the "
        "estimator's own limit (the peak memory is one point's; each point "
        "takes minutes at 20000 rows) (default: 2)",
    )
    parser.add_argument(
        "--course-folds",
        type=int,
        default=None,
        help="outer folds of (f) (default: 5; 2 with --quick)",
    )
    parser.add_argument(
        "--big-rows", type=int, default=None, help="rows of (g) (default: 20000)"
    )
    parser.add_argument(
        "--big-max-iter",
        type=int,
        default=None,
        help="max_iter of both fits of (g) (default: the estimator's, 200)",
    )
    parser.add_argument(
        "--big-evaluations",
        type=int,
        default=2,
        help="cut the evidence search of (g) at this many points, 0 for the "
        "estimator's own limit (each point takes minutes at 20000 rows) "
        "(default: 2)",
    )
    parser.add_argument(
        "--reference-batches",
        type=int,
        default=4,
        help="batches of 10 probes of the reference of (h) (default: 4)",
    )
    # the subprocesses of (d) and (g)
    parser.add_argument("--memory-child", choices=["plain", "evidence"])
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--split", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(
            args.memory_child,
            args.rows,
            args.max_iter,
            args.evaluations or None,
            args.threads,
            args.split,
        )
        return

    chosen = {
        name
        for name, flag in (
            ("scale", args.scale_only),
            ("mode", args.mode_only),
            ("course", args.course_only),
            ("big", args.big_only),
            ("reference", args.big_reference),
        )
        if flag
    }
    if not chosen:
        chosen = {"abc", "scale", "mode", "course", "big"}
        chosen -= {"scale"} if args.skip_scale else set()
        chosen -= {"big"} if args.skip_big else set()
    load_start = os.getloadavg()
    t_start = time.perf_counter()
    results = {
        "command": " ".join(["python benchmarks/evidence.py", *sys.argv[1:]]),
        "machine": machine(),
    }
    print(
        f"load average at start {', '.join(f'{x:.1f}' for x in load_start)}; "
        f"{os.cpu_count()} cores\n"
    )
    if "abc" in chosen:
        bench_exactness(args.quick, results)
        bench_convex_maximum(args.quick, results)
        bench_accuracy_and_time(args.quick, results)
    if "scale" in chosen:
        rows = args.rows or (2000 if args.quick else 20000)
        max_iter = args.max_iter or (5 if args.quick else 10)
        bench_scale(rows, max_iter, args.evaluations or None, results)
    if "mode" in chosen:
        bench_mode(args.quick, results)
    if "course" in chosen:
        bench_course(args.course_folds or (2 if args.quick else 5), results)
    if "big" in chosen:
        rows = args.big_rows or (2000 if args.quick else 20000)
        max_iter = args.big_max_iter or (
            20 if args.quick else BackpropClassifier().max_iter
        )
        bench_big(rows, max_iter, args.big_evaluations or None, results)
    if "reference" in chosen:
        bench_big_reference(
            args.big_rows or (2000 if args.quick else 20000),
            args.big_max_iter or (20 if args.quick else BackpropClassifier().max_iter),
            args.big_evaluations or None,
            args.reference_batches,
            results,
        )
    load_end = os.getloadavg()
    results["load_average_at_start"] = list(load_start)
    results["load_average_at_end"] = list(load_end)
    results["seconds"] = time.perf_counter() - t_start
    print(
        f"\nload average at start {', '.join(f'{x:.1f}' for x in load_start)}, "
        f"at end {', '.join(f'{x:.1f}' for x in load_end)}; "
        f"{results['seconds']:.0f} s in all; BLAS: {'; '.join(machine()['blas'])}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float) + "\n")
        print(f"written to {args.json}")


if __name__ == "__main__":
    main()
