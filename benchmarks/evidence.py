"""Choosing lambda_ by the evidence: exactness, accuracy, time and memory.

``BackpropClassifier(lambda_="evidence")`` picks the regularization from the
training data in one fit, by MacKay's evidence (Laplace approximation around
the fitted weights). This script checks the four targets of the issue, each
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
    evidence <= 1.5x plain + 64 MiB.

Run ``python benchmarks/evidence.py``; ``--quick`` for a smoke run (fewer
folds and sets, smaller scale), ``--skip-scale`` to leave out (d) (then a
few minutes on 2 cores), ``--scale-only`` for (d) alone, ``--json [PATH]``
to also write the results as JSON (default
``benchmarks/evidence_results.json``). Each point of an evidence search at
the scale of (d) takes minutes, so (d) cuts it after ``--evaluations`` points
(default 2; 0 for no cut), which leaves its peak memory (one point's) as it
is, but for the results the search keeps (a theta of 1.6 MiB per point).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
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
        for fold, (train, test) in enumerate(outer.split(X, y)):
            order = ["evidence", "grid"] if fold % 2 == 0 else ["grid", "evidence"]
            for which in order:
                if which == "evidence":
                    model = make_pipeline(
                        StandardScaler(),
                        BackpropClassifier((25,), lambda_="evidence", random_state=0),
                    )
                else:
                    model = GridSearchCV(
                        make_pipeline(
                            StandardScaler(),
                            BackpropClassifier((25,), random_state=0),
                        ),
                        {"backpropclassifier__lambda_": GRID},
                        cv=3,
                    )
                with (
                    threadpool_limits(limits=1),
                    warnings.catch_warnings(record=True) as messages,
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


def memory_child(which, rows, max_iter, evaluations=None):
    """One fit in this process; prints its peaks as one JSON line.

    ``evaluations`` caps the evidence search's points (refits and log
    evidence evaluations); None keeps the estimator's own limit.
    """
    if evaluations is not None:
        import functools

        from skbpnn import _evidence

        _evidence.search = functools.partial(
            _evidence.search, max_evaluations=evaluations
        )
    X, y = synthetic_data(rows, 784, 10)
    base = _rss_bytes()
    clf = BackpropClassifier(
        (256,),
        lambda_="evidence" if which == "evidence" else 1.0,
        max_iter=max_iter,
        random_state=0,
    )
    tracemalloc.start()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    seconds = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {
        "traced_peak": traced,
        "rss_beyond_input": maxrss - base,
        "input": X.nbytes,
        "seconds": seconds,
        "fitted_lambda": float(clf.fitted_lambda_),
        "warnings": sorted({str(w.message).splitlines()[0][:100] for w in caught}),
    }
    if which == "evidence":
        out["n_effective_params"] = float(clf.n_effective_params_)
        out["lambdas_tried"] = len(clf.lambdas_)
    print(json.dumps(out))


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
                *([] if evaluations is None else ["--evaluations", str(evaluations)]),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the {which} fit failed:\n{proc.stderr}")
        out[which] = json.loads(proc.stdout.strip().splitlines()[-1])
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
    parser.add_argument("--scale-only", action="store_true", help="only (d)")
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
    parser.add_argument("--memory-child", choices=["plain", "evidence"])
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(
            args.memory_child, args.rows, args.max_iter, args.evaluations or None
        )
        return

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
    if not args.scale_only:
        bench_exactness(args.quick, results)
        bench_convex_maximum(args.quick, results)
        bench_accuracy_and_time(args.quick, results)
    if not args.skip_scale:
        rows = args.rows or (2000 if args.quick else 20000)
        max_iter = args.max_iter or (5 if args.quick else 10)
        bench_scale(rows, max_iter, args.evaluations or None, results)
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
