"""Why ``fit`` limits BLAS threads: the timings behind ``skbpnn._threads``.

Run ``python benchmarks/blas_threads.py``. It prints medians of one
``cost_and_gradient`` evaluation:

1. digits (1797 x 64 -> 25 -> 10, float64) on numpy's BLAS with its default
   threads and with one thread: a second thread does not pay for products
   this small (on a busy machine it makes them several times slower);
2. 10000 x 784 -> 128 -> 10 float32, alone, right after a few BLAS calls of
   scipy's own OpenBLAS (the kind L-BFGS-B makes between evaluations), and
   the same with scipy's BLAS held to one thread: scipy's idle threads keep
   spinning and take the cores from numpy's threads.

3. what the policy gives a whole ``fit``: digits (max_iter=100, tol=0) and
   the float32 network (max_iter=10, tol=0), with ``fit``'s thread policy
   and without it (``fit_thread_limits`` replaced by a no-op), alternately,
   medians and their ratio. ``--load N`` runs N busy processes meanwhile,
   to see the policy on a loaded machine.

Absolute times depend on the machine and its load; compare within a run.
"""

import argparse
import contextlib
import multiprocessing
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.linalg import blas as scipy_blas
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler
from threadpoolctl import ThreadpoolController, threadpool_info

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skbpnn import BackpropClassifier, _classifier, backprop  # noqa: E402
from skbpnn._data import rows_per_block  # noqa: E402


def median_time(fn, repeats=15, before=None):
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def evaluation(X, Y, sizes):
    theta = backprop.init_weights(sizes, random_state=0)
    workspace = backprop.Workspace()
    block_rows = rows_per_block(sizes, X.dtype)

    def evaluate():
        backprop.cost_and_gradient(
            theta, X, Y, sizes, 1.0, block_rows=block_rows, workspace=workspace
        )

    evaluate()
    return evaluate


def busy():
    while True:
        pass


def fit_timings(data, params, repeats):
    """Median fit times with and without fit's thread policy, alternately."""
    policy = _classifier.fit_thread_limits
    times = {"with": [], "without": []}
    for _ in range(repeats):
        for name in times:
            _classifier.fit_thread_limits = (
                policy if name == "with" else lambda *a: contextlib.nullcontext()
            )
            clf = BackpropClassifier(random_state=0, tol=0, **params)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # max_iter reached, on purpose
                clf.fit(*data)
            times[name].append(time.perf_counter() - t0)
    _classifier.fit_thread_limits = policy
    return float(np.median(times["with"])), float(np.median(times["without"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", type=int, default=0, help="busy processes")
    parser.add_argument("--repeats", type=int, default=5, help="fits per median")
    args = parser.parse_args()
    load = [multiprocessing.Process(target=busy, daemon=True) for _ in range(args.load)]
    for p in load:
        p.start()
    try:
        run(args)
    finally:
        for p in load:
            p.terminate()


def run(args):
    load = os.getloadavg()[0]
    print(f"load average at the start: {load:.1f}; busy processes: {args.load}")
    controller = ThreadpoolController()
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    for info in blas:
        print(f"BLAS: {info['filepath']} ({info['num_threads']} threads)")
    numpy_blas = controller.select(
        filepath=[i["filepath"] for i in blas if "numpy" in i["filepath"].lower()]
    )
    scipy_only = controller.select(
        filepath=[i["filepath"] for i in blas if "numpy" not in i["filepath"].lower()]
    )

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    small = evaluation(X, np.eye(10)[y], (64, 25, 10))
    default = median_time(small)
    with numpy_blas.limit(limits=1):
        one = median_time(small)
    print(
        f"digits evaluation: {default * 1e3:.2f} ms on numpy's default threads, "
        f"{one * 1e3:.2f} ms on one thread"
    )

    rng = np.random.RandomState(0)
    X = rng.rand(10000, 784).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.randint(0, 10, 10000)]
    large = evaluation(X, Y, (784, 128, 10))
    vectors = [rng.rand(101770) for _ in range(20)]

    def scipy_blas_calls():  # what L-BFGS-B does between evaluations
        for v in vectors:
            scipy_blas.ddot(v, vectors[0])
            scipy_blas.daxpy(v, vectors[1])

    alone = median_time(large, 10)
    after = median_time(large, 10, before=scipy_blas_calls)
    line = (
        f"float32 evaluation: {alone:.4f} s alone, {after:.4f} s right after "
        "scipy BLAS calls"
    )
    if scipy_only.lib_controllers:
        with scipy_only.limit(limits=1):
            limited = median_time(large, 10, before=scipy_blas_calls)
        line += f", {limited:.4f} s with scipy's BLAS on one thread"
    else:
        line += " (numpy and scipy share one BLAS library here)"
    print(line)

    digits = load_digits(return_X_y=True)
    digits = (StandardScaler().fit_transform(digits[0]), digits[1])
    float32 = (X, rng.randint(0, 10, 10000))
    for name, data, params in [
        ("digits fit, 64-25-10, max_iter=100", digits, {"max_iter": 100}),
        (
            "float32 fit, 10000 x 784-128-10, max_iter=10",
            float32,
            {"hidden_layer_sizes": (128,), "max_iter": 10},
        ),
    ]:
        with_policy, without = fit_timings(data, params, args.repeats)
        print(
            f"{name}: {with_policy:.3f} s with fit's thread policy, {without:.3f} s "
            f"without: {without / with_policy:.2f}x"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
