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

Absolute times depend on the machine and its load; compare within a run.
"""

import sys
import time
from pathlib import Path

import numpy as np
from scipy.linalg import blas as scipy_blas
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler
from threadpoolctl import ThreadpoolController, threadpool_info

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skbpnn import backprop  # noqa: E402
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


def main():
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


if __name__ == "__main__":
    main()
