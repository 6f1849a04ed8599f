"""Weighted fits: the memory beyond X, and the cost of finding repeated rows.

``fit`` merges repeated ``(x, y)`` rows and sorts the rows when the data has
repeats or weights other than 0 and 1 (see ``skbpnn._data``). This script
measures, on ``--rows`` x 50 float64 data (default 1e6, X is 381 MiB):

- the peak memory a fit (two L-BFGS iterations of a 50-25-5 network) takes
  beyond X, without weights, with ``class_weight="balanced"`` and with
  integer ``sample_weight`` (numpy's allocations, traced by tracemalloc);
- the time of the repeat search (``merge_repeated_rows``), without and with
  weights, against one cost-and-gradient evaluation of the same network on
  the same rows, in the same process, alternated, best of ``--repeat``.

Run on an idle machine::

    python benchmarks/weighted_fit.py
"""

import argparse
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skbpnn import BackpropClassifier, backprop  # noqa: E402
from skbpnn._data import merge_repeated_rows, rows_per_block  # noqa: E402

MiB = 2**20


def peak_beyond_input(X, y, **fit_params):
    clf = BackpropClassifier(hidden_layer_sizes=(25,), max_iter=2, random_state=0)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.set_params(class_weight=fit_params.pop("class_weight", None))
            clf.fit(X, y, **fit_params)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def best_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    m, n, K = args.rows, 50, 5
    rng = np.random.RandomState(0)
    X = rng.randn(m, n)
    y = rng.randint(0, K, m)
    Y = np.eye(K)[y]
    w = rng.randint(1, 4, m).astype(float)
    print(f"X: {m} x {n} float64, {X.nbytes / MiB:.0f} MiB; network 50-25-5")

    print("\npeak memory of fit (2 iterations) beyond X:")
    for label, params in [
        ("no weights", {}),
        ('class_weight="balanced"', {"class_weight": "balanced"}),
        ("integer sample_weight", {"sample_weight": w}),
    ]:
        peak = peak_beyond_input(X, y, **params)
        print(
            f"  {label:24s} {peak / MiB:7.1f} MiB  ({peak / (8 * m):.1f} vectors of m)"
        )

    sizes = (n, 25, K)
    theta = backprop.init_weights(sizes, random_state=0)
    workspace = backprop.Workspace()
    block_rows = rows_per_block(sizes, X.dtype)

    def evaluation():
        backprop.cost_and_gradient(
            theta, X, Y, sizes, 1.0, block_rows=block_rows, workspace=workspace
        )

    evaluation()  # allocates the workspace
    t_eval = best_time(evaluation, args.repeat)
    t_plain = best_time(lambda: merge_repeated_rows(X, Y, None), args.repeat)
    t_weighted = best_time(lambda: merge_repeated_rows(X, Y, w), args.repeat)
    print(f"\none evaluation of the cost and gradient: {t_eval:.3f} s")
    print(
        f"repeat search, no weights:   {t_plain:.3f} s  "
        f"({t_plain / t_eval:.2f} x one evaluation)"
    )
    print(
        f"repeat search, with weights: {t_weighted:.3f} s  "
        f"({t_weighted / t_eval:.2f} x one evaluation)"
    )


if __name__ == "__main__":
    main()
