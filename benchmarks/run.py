"""Side-by-side benchmark of skbpnn against MLPClassifier(solver="lbfgs").

Run ``python benchmarks/run.py`` (about 5-10 minutes on 2 cores) or
``python benchmarks/run.py --quick`` (under a minute). Prints a table and
writes it as JSON to ``benchmarks/results.json``.

Every figure is a ratio measured in one process: the two contenders run on
identical data and identical weights, alternately, and the medians of their
times are compared, because absolute times on a shared machine are noise.
The memory figures come from one subprocess per fit.

``--blas-threads N`` limits the BLAS threads of both contenders alike (with
threadpoolctl). On a machine shared with other work, OpenBLAS's threads wait
for a busy core at every product, which can slow small products tenfold for
both contenders; ``--blas-threads 1`` then gives steadier ratios.

MLPClassifier's cost is made the same function as ours: it is given the
one-hot target matrix, so its output layer is K sigmoids with the binary
log-loss summed over them, which is the course notes' cost, and ``alpha`` equals
``lambda_``.
"""

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.neural_network._multilayer_perceptron import _pack
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelBinarizer, StandardScaler
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skbpnn import BackpropClassifier, backprop  # noqa: E402
from skbpnn._data import rows_per_block  # noqa: E402

HERE = Path(__file__).resolve().parent
LAMBDA = 1.0


# --------------------------------------------------------------------------
# Data and weights


def digits_data():
    """Standardized digits and their one-hot targets."""
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, y, LabelBinarizer().fit_transform(y).astype(np.float64)


def synthetic_data(m, n, K, dtype, seed=0, chunk=20000):
    """MNIST-shaped data: features in [0, 1), labels from a random linear map.

    Built in row chunks so that building it needs no temporary as large as X
    (the memory workload measures what a fit needs beyond its input).
    """
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((n, K)).astype(dtype)
    X = np.empty((m, n), dtype=dtype)
    y = np.empty(m, dtype=np.intp)
    for start in range(0, m, chunk):
        stop = min(start + chunk, m)
        X[start:stop] = rng.random((stop - start, n), dtype=dtype)
        y[start:stop] = np.argmax((X[start:stop] - 0.5) @ R, axis=1)
    Y = np.zeros((m, K), dtype=dtype)
    Y[np.arange(m), y] = 1
    return X, y, Y


def to_mlp_packed(theta, sizes):
    """Our column-major theta as MLPClassifier's ``_pack(coefs_, intercepts_)``."""
    thetas = backprop.roll(theta, sizes)
    coefs = [np.ascontiguousarray(T[:, 1:].T) for T in thetas]
    intercepts = [np.ascontiguousarray(T[:, 0]) for T in thetas]
    return coefs, intercepts


def mlp_evaluator(theta, X, Y, sizes):
    """An MLPClassifier set up as its ``_fit``/``_fit_lbfgs`` would, and a
    function that calls its ``_loss_grad_lbfgs`` on the packed ``theta``."""
    dtype = X.dtype
    mlp = MLPClassifier(
        hidden_layer_sizes=sizes[1:-1],
        activation="logistic",
        solver="lbfgs",
        alpha=LAMBDA,
    )
    coefs, intercepts = to_mlp_packed(theta.astype(dtype), sizes)
    mlp.n_layers_ = len(sizes)
    mlp.n_outputs_ = sizes[-1]
    # Y is the one-hot matrix: binary log-loss over K sigmoids, our cost.
    mlp.out_activation_ = "logistic"
    mlp.coefs_, mlp.intercepts_ = coefs, intercepts
    mlp._coef_indptr, mlp._intercept_indptr = [], []
    start = 0
    for i in range(len(sizes) - 1):
        end = start + sizes[i] * sizes[i + 1]
        mlp._coef_indptr.append((start, end, (sizes[i], sizes[i + 1])))
        start = end
    for i in range(len(sizes) - 1):
        end = start + sizes[i + 1]
        mlp._intercept_indptr.append((start, end))
        start = end
    packed = _pack(coefs, intercepts)
    activations = [X] + [None] * (len(sizes) - 1)
    deltas = [None] * (len(activations) - 1)
    coef_grads = [np.empty((a, b), dtype=dtype) for a, b in zip(sizes, sizes[1:])]
    intercept_grads = [np.empty(b, dtype=dtype) for b in sizes[1:]]

    def evaluate():
        return mlp._loss_grad_lbfgs(
            packed, X, Y, None, activations, deltas, coef_grads, intercept_grads
        )

    return evaluate


def our_evaluator(theta, X, Y, sizes):
    """``cost_and_gradient`` as the estimator's objective calls it: the
    estimator's block size and one workspace reused across calls."""
    theta = theta.astype(X.dtype)
    block_rows = rows_per_block(sizes, X.dtype)
    workspace = backprop.Workspace()

    def evaluate():
        return backprop.cost_and_gradient(
            theta,
            X,
            Y,
            sizes,
            LAMBDA,
            block_rows=block_rows,
            workspace=workspace,
        )

    return evaluate


def floor_evaluator(theta, X, sizes):
    """The bare matrix products of one evaluation, into preallocated arrays:
    forward ``A_l @ W_l.T``, backward ``delta_{l+1} @ W_l`` and gradient
    ``A_l.T @ delta_{l+1}``."""
    dtype = X.dtype
    m = X.shape[0]
    thetas = backprop.roll(theta.astype(dtype), sizes)
    Ws = [T[:, 1:] for T in thetas]
    acts = [X] + [np.full((m, s), 0.5, dtype=dtype) for s in sizes[1:]]
    deltas = [np.full((m, s), 0.1, dtype=dtype) for s in sizes[1:]]
    grads = [np.empty((a, b), dtype=dtype) for a, b in zip(sizes, sizes[1:])]

    def evaluate():
        for l, W in enumerate(Ws):
            np.dot(acts[l], W.T, out=acts[l + 1])
        for l in range(len(Ws) - 1, -1, -1):
            np.dot(acts[l].T, deltas[l], out=grads[l])
            if l > 0:
                np.dot(deltas[l], Ws[l], out=deltas[l - 1])

    return evaluate


def check_same_cost(ours, theirs, sizes, rtol):
    """Both evaluators compute the same cost and gradient (to ``rtol``)."""
    J, grad = ours()
    J_mlp, grad_mlp = theirs()
    rel = abs(J - J_mlp) / abs(J_mlp)
    if rel > rtol:
        raise AssertionError(f"costs differ: {J!r} vs MLP {J_mlp!r} (rel {rel:.1e})")
    coefs, intercepts = to_mlp_packed(np.asarray(grad, dtype=np.float64), sizes)
    g = _pack(coefs, intercepts)
    grel = np.linalg.norm(g - grad_mlp) / np.linalg.norm(grad_mlp)
    if grel > 1e3 * rtol:
        raise AssertionError(f"gradients differ: relative {grel:.1e}")
    return rel


# --------------------------------------------------------------------------
# Timing


def alternate(fns, repeats, min_time=0.05):
    """Median seconds per call of each function, run alternately.

    Each round times every function once (over enough calls to last
    ``min_time``), rotating the order, so that slow phases of a shared
    machine hit all of them alike.
    """
    for fn in fns.values():  # warm up: buffers, caches, BLAS threads
        fn()
    loops = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        loops[name] = max(1, int(min_time / max(dt, 1e-7)))
    times = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn, n = fns[name], loops[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - t0) / n)
    return {name: float(np.median(t)) for name, t in times.items()}


def bench_evaluation(name, X, Y, sizes, repeats, results, with_floor=False):
    rng = np.random.RandomState(0)
    theta = backprop.init_weights(sizes, random_state=rng)
    ours = our_evaluator(theta, X, Y, sizes)
    theirs = mlp_evaluator(theta, X, Y, sizes)
    rtol = 1e-10 if X.dtype == np.float64 else 1e-5
    rel = check_same_cost(ours, theirs, sizes, rtol)
    fns = {"skbpnn": ours, "MLPClassifier": theirs}
    if with_floor:
        fns["products"] = floor_evaluator(theta, X, sizes)
    t = alternate(fns, repeats)
    shape = " -> ".join(map(str, sizes))
    results.append(
        {
            "measure": f"evaluation, {name}",
            "workload": f"{X.shape[0]} x {shape}, {X.dtype}",
            "skbpnn": t["skbpnn"],
            "MLPClassifier": t["MLPClassifier"],
            "speedup_vs_mlp": t["MLPClassifier"] / t["skbpnn"],
            "cost_rel_diff": rel,
        }
    )
    if with_floor:
        results.append(
            {
                "measure": f"evaluation / product floor, {name}",
                "workload": f"{X.shape[0]} x {shape}, {X.dtype}",
                "skbpnn": t["skbpnn"],
                "products": t["products"],
                "ratio_to_floor": t["skbpnn"] / t["products"],
                "mlp_ratio_to_floor": t["MLPClassifier"] / t["products"],
            }
        )
    return t


def fit_pair(X, y, Y, hidden, max_iter):
    """Fit functions for both estimators from the same initial weights.

    Ours gets the labels; MLPClassifier the one-hot matrix (the same cost)
    and our initial weights through warm_start. tol=0 makes both run
    ``max_iter`` iterations.
    """
    sizes = (X.shape[1], *hidden, Y.shape[1])
    theta0 = backprop.init_weights(sizes, random_state=0)
    coefs, intercepts = to_mlp_packed(theta0, sizes)
    state = {}

    def ours():
        clf = BackpropClassifier(
            hidden, lambda_=LAMBDA, max_iter=max_iter, tol=0, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        state["ours"] = clf
        return clf

    template = MLPClassifier(
        hidden, activation="logistic", solver="lbfgs", alpha=LAMBDA, max_iter=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        template.fit(X[:50], Y[:50])  # sets its label binarizer and layers

    def theirs():
        mlp = template
        mlp.coefs_ = [c.astype(X.dtype) for c in coefs]
        mlp.intercepts_ = [b.astype(X.dtype) for b in intercepts]
        mlp.set_params(warm_start=True, max_iter=max_iter, tol=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(X, Y)
        state["mlp"] = mlp
        return mlp

    return ours, theirs, state


def one_blas_thread(fit):
    """``fit`` run under ``threadpool_limits(1, "blas")``."""

    def limited():
        with threadpool_limits(limits=1, user_api="blas"):
            return fit()

    return limited


def bench_fit(name, X, y, Y, hidden, max_iter, repeats, results):
    """Both fits two ways, as two lines: each estimator with its own thread
    behaviour (ours limits BLAS threads during fit, see skbpnn._threads;
    MLPClassifier does not), then both under the same one-thread limit, so
    that the part of the speed-up that comes from the thread policy shows.
    """
    for setting in ("defaults", "both on 1 BLAS thread"):
        ours, theirs, state = fit_pair(X, y, Y, hidden, max_iter)
        if setting != "defaults":
            ours, theirs = one_blas_thread(ours), one_blas_thread(theirs)
        measure = f"fit, {name}" + ("" if setting == "defaults" else f", {setting}")
        _bench_fit_pair(measure, X, y, hidden, Y, ours, theirs, state, repeats, results)


def _bench_fit_pair(measure, X, y, hidden, Y, ours, theirs, state, repeats, results):
    t = alternate({"skbpnn": ours, "MLPClassifier": theirs}, repeats, min_time=0)
    clf, mlp = state["ours"], state["mlp"]
    acc = float(np.mean(clf.predict(X) == y))
    acc_mlp = float(np.mean(np.argmax(mlp.predict_proba(X), axis=1) == y))
    sizes = (X.shape[1], *hidden, Y.shape[1])
    results.append(
        {
            "measure": measure,
            "workload": f"{X.shape[0]} x {' -> '.join(map(str, sizes))}, {X.dtype}",
            "skbpnn": t["skbpnn"],
            "MLPClassifier": t["MLPClassifier"],
            "speedup_vs_mlp": t["MLPClassifier"] / t["skbpnn"],
            "n_iter": [clf.n_iter_, mlp.n_iter_],
            "train_accuracy": [acc, acc_mlp],
            "loss": [float(clf.loss_), float(mlp.loss_)],
        }
    )
    if clf.n_iter_ != mlp.n_iter_:
        print(f"warning: n_iter_ differ: {clf.n_iter_} vs {mlp.n_iter_}")


def bench_model_selection(results, quick):
    """Digits: GridSearchCV, held-out score and cross_val_score, both ways.

    The same pipeline (StandardScaler, then the estimator), grid, folds and
    iteration budget for both. MLPClassifier gets the plain labels here, as
    a user would give them, so its output is a softmax: it needs fewer
    iterations than the course's K one-vs-all sigmoids, which is why this
    line can be slower for skbpnn while each evaluation is faster.
    """
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    max_iter = 30 if quick else 100
    contenders = {
        "skbpnn": (BackpropClassifier(random_state=0, max_iter=max_iter), "lambda_"),
        "MLPClassifier": (
            MLPClassifier(
                solver="lbfgs",
                activation="logistic",
                random_state=0,
                max_iter=max_iter,
            ),
            "alpha",
        ),
    }
    for setting in ("defaults", "both on 1 BLAS thread"):
        times, scores = {}, {}
        for name, (est, param) in contenders.items():
            pipe = make_pipeline(StandardScaler(), est)
            step = pipe.steps[-1][0]
            grid = {
                f"{step}__{param}": [0.1, 1.0],
                f"{step}__hidden_layer_sizes": [(16,), (32,)],
            }
            with contextlib.ExitStack() as stack:
                if setting != "defaults":
                    stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
                stack.enter_context(warnings.catch_warnings())
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                search = GridSearchCV(pipe, grid, cv=3).fit(X_train, y_train)
                cv = cross_val_score(search.best_estimator_, X, y, cv=5)
                times[name] = time.perf_counter() - start
            scores[name] = [
                float(search.best_score_),
                float(search.score(X_test, y_test)),
                float(cv.mean()),
            ]
        results.append(
            {
                "measure": "grid search + 5-fold CV, digits"
                + ("" if setting == "defaults" else f", {setting}"),
                "workload": f"1797 x 64, 4 grid cells x 3 folds, max_iter={max_iter}",
                "skbpnn": times["skbpnn"],
                "MLPClassifier": times["MLPClassifier"],
                "speedup_vs_mlp": times["MLPClassifier"] / times["skbpnn"],
                "accuracy": scores,
            }
        )


# --------------------------------------------------------------------------
# Memory: one subprocess per fit


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_child(which, m, max_iter):
    """Build the input, then fit; print the peak RSS beyond the input."""
    X, y, Y = synthetic_data(m, 784, 10, np.float32)
    base = _rss_bytes()
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if which == "skbpnn":
            BackpropClassifier((256,), max_iter=max_iter, tol=0, random_state=0).fit(
                X, y
            )
        else:
            MLPClassifier(
                (256,),
                activation="logistic",
                solver="lbfgs",
                max_iter=max_iter,
                tol=0,
                random_state=0,
            ).fit(X, Y)
    seconds = time.perf_counter() - t0
    done.set()
    thread.join()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak_bytes = max(peak[0], maxrss)
    print(
        json.dumps(
            {"beyond_input": peak_bytes - base, "input": X.nbytes, "seconds": seconds}
        )
    )


def bench_memory(m, max_iter, results, blas_threads=None):
    out = {}
    for which in ("skbpnn", "MLPClassifier"):
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--memory-child",
                which,
                "--rows",
                str(m),
                "--max-iter",
                str(max_iter),
            ]
            + ([] if blas_threads is None else ["--blas-threads", str(blas_threads)]),
            capture_output=True,
            text=True,
            check=True,
        )
        out[which] = json.loads(proc.stdout.strip().splitlines()[-1])
    mib = 2.0**20
    results.append(
        {
            "measure": "peak memory of fit beyond the input (MiB)",
            "workload": f"{m} x 784 -> 256 -> 10, float32 "
            f"(input {out['skbpnn']['input'] / mib:.0f} MiB)",
            "skbpnn": out["skbpnn"]["beyond_input"] / mib,
            "MLPClassifier": out["MLPClassifier"]["beyond_input"] / mib,
            "ratio_to_mlp": out["skbpnn"]["beyond_input"]
            / out["MLPClassifier"]["beyond_input"],
        }
    )


# --------------------------------------------------------------------------
# Report


def machine_info():
    from threadpoolctl import threadpool_info

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = [
        f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
        f"{i.get('threading_layer')} threads={i.get('num_threads')}"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    import scipy
    import sklearn

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "blas": blas,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
        "load_average": list(os.getloadavg()),
    }


def targets(results):
    """Each target of the performance issue: (description, value, goal, met)."""
    by = {r["measure"]: r for r in results}
    out = []

    def add(label, measure, key, goal, below=False):
        if measure in by:
            v = by[measure][key]
            out.append((label, v, goal, v <= goal if below else v >= goal))

    add("evaluation speed-up, small", "evaluation, small", "speedup_vs_mlp", 1.25)
    add("evaluation speed-up, large", "evaluation, large", "speedup_vs_mlp", 1.15)
    add(
        "large evaluation / product floor",
        "evaluation / product floor, large",
        "ratio_to_floor",
        1.3,
        below=True,
    )
    add(
        "float32 over float64 evaluation",
        "evaluation, float32 vs our float64",
        "speedup",
        1.6,
    )
    add("fit speed-up, float32 data", "fit, float32", "speedup_vs_mlp", 1.8)
    add("fit speed-up, digits", "fit, digits", "speedup_vs_mlp", 1.2)
    add(
        "memory beyond input / MLP's",
        "peak memory of fit beyond the input (MiB)",
        "ratio_to_mlp",
        0.5,
        below=True,
    )
    return out


def fmt(x):
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, list):
        return "/".join(fmt(v) for v in x)
    return str(x)


def table(results):
    lines = []
    header = ("measure", "workload", "skbpnn", "MLP or other", "ratio", "notes")
    rows = []
    for r in results:
        if "products" in r:
            other, ratio = r["products"], f"{r['ratio_to_floor']:.2f}x floor"
            notes = f"other = products; MLP {r['mlp_ratio_to_floor']:.2f}x floor"
        elif "float64" in r:
            other, ratio = r["float64"], f"{r['speedup']:.2f}x speed-up"
            notes = "other = our float64"
        elif "ratio_to_mlp" in r:
            other, ratio = r["MLPClassifier"], f"{r['ratio_to_mlp']:.2f}x MLP's"
            notes = ""
        else:
            other, ratio = r["MLPClassifier"], f"{r['speedup_vs_mlp']:.2f}x speed-up"
            notes = ""
            if "accuracy" in r:
                acc = r["accuracy"]
                notes = (
                    "best CV/held-out/5-fold acc "
                    f"{fmt(acc['skbpnn'])} vs {fmt(acc['MLPClassifier'])}"
                )
            elif "n_iter" in r:
                notes = (
                    f"n_iter {fmt(r['n_iter'])}, train acc {fmt(r['train_accuracy'])}"
                )
            elif "cost_rel_diff" in r:
                notes = f"cost rel. diff {r['cost_rel_diff']:.1e}"
        unit = "" if "MiB" in r["measure"] else " s"
        rows.append(
            (
                r["measure"],
                r["workload"],
                fmt(r["skbpnn"]) + unit,
                fmt(other) + unit,
                ratio,
                notes,
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    sep = "  ".join("=" * w for w in widths)
    lines.append(sep)
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    lines.append(sep)
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    lines.append(sep)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--output", default=str(HERE / "results.json"))
    parser.add_argument("--memory-child", choices=["skbpnn", "MLPClassifier"])
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--max-iter", type=int, default=2)
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS threads (threadpoolctl) for both contenders alike",
    )
    args = parser.parse_args(argv)
    if args.blas_threads is not None:
        threadpool_limits(args.blas_threads)
    if args.memory_child:
        memory_child(args.memory_child, args.rows, args.max_iter)
        return

    quick = args.quick
    repeats = 3 if quick else 15
    results = []
    load_start = os.getloadavg()
    t_start = time.perf_counter()

    # 1. evaluation, small: digits 1797 x 64 -> 25 -> 10
    Xd, yd, Yd = digits_data()
    bench_evaluation("small", Xd, Yd, (64, 25, 10), repeats, results)
    print(f"small evaluation done ({time.perf_counter() - t_start:.0f}s)", flush=True)

    # 1-2. evaluation, large: 20000 x 784 -> 256 -> 10, with its product floor
    m_large = 5000 if quick else 20000
    XL, _, YL = synthetic_data(m_large, 784, 10, np.float64)
    bench_evaluation("large", XL, YL, (784, 256, 10), repeats, results, True)
    del XL, YL
    print(f"large evaluation done ({time.perf_counter() - t_start:.0f}s)", flush=True)

    # 5. float32 against float64, our own evaluation: 10000 x 784 -> 128 -> 10
    m32 = 4000 if quick else 10000
    X32, y32, Y32 = synthetic_data(m32, 784, 10, np.float32)
    sizes32 = (784, 128, 10)
    theta = backprop.init_weights(sizes32, random_state=0)
    X64, Y64 = X32.astype(np.float64), Y32.astype(np.float64)
    f32 = our_evaluator(theta, X32, Y32, sizes32)
    f64 = our_evaluator(theta, X64, Y64, sizes32)
    J32, J64 = f32()[0], f64()[0]
    if abs(J32 - J64) > 1e-5 * abs(J64):
        raise AssertionError(f"float32 cost {J32} vs float64 {J64}")
    t = alternate({"float32": f32, "float64": f64}, repeats)
    results.append(
        {
            "measure": "evaluation, float32 vs our float64",
            "workload": f"{m32} x 784 -> 128 -> 10",
            "skbpnn": t["float32"],
            "float64": t["float64"],
            "speedup": t["float64"] / t["float32"],
        }
    )
    del X64, Y64
    bench_evaluation("float32", X32, Y32, sizes32, repeats, results)
    print(f"float32 evaluation done ({time.perf_counter() - t_start:.0f}s)", flush=True)

    # 3. fit on standardized digits, same iterations
    bench_fit(
        "digits", Xd, yd, Yd, (25,), 30 if quick else 100, 3 if quick else 7, results
    )
    print(f"digits fit done ({time.perf_counter() - t_start:.0f}s)", flush=True)

    # 4. fit on float32 data
    bench_fit(
        "float32",
        X32,
        y32,
        Y32,
        (128,),
        10 if quick else 30,
        1 if quick else 3,
        results,
    )
    del X32, Y32
    print(f"float32 fit done ({time.perf_counter() - t_start:.0f}s)", flush=True)

    # 5. model selection on digits, as a user runs it
    bench_model_selection(results, quick)
    print(f"model selection done ({time.perf_counter() - t_start:.0f}s)", flush=True)

    # 6. peak memory beyond the input, one subprocess per fit
    bench_memory(20000 if quick else 100000, 2, results, args.blas_threads)
    print(f"memory done ({time.perf_counter() - t_start:.0f}s)", flush=True)

    report = {
        "command": "python benchmarks/run.py"
        + (" --quick" if quick else "")
        + (f" --blas-threads {args.blas_threads}" if args.blas_threads else ""),
        "quick": quick,
        "machine": machine_info(),
        "seconds": time.perf_counter() - t_start,
        "load_average_at_start": list(load_start),
        "results": results,
        "targets": [
            {"target": lab, "value": v, "goal": g, "met": bool(ok)}
            for lab, v, g, ok in targets(results)
        ],
    }
    print()
    print(table(results))
    print()
    for lab, v, g, ok in targets(results):
        print(f"{'met    ' if ok else 'NOT MET'}  {lab}: {v:.3g} (goal {g})")
    print()
    m = report["machine"]
    print(f"machine: {m['nproc']} x {m['cpu']}; BLAS: {'; '.join(m['blas'])}")
    print(
        f"load average at start {', '.join(f'{x:.1f}' for x in load_start)}, "
        f"at end {', '.join(f'{x:.1f}' for x in m['load_average'])}"
    )
    Path(args.output).write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
