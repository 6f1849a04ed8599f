"""numpy on the CPU against PyTorch (on CUDA when present), side by side.

Run ``python benchmarks/gpu.py`` as is on a machine with an NVIDIA GPU and
PyTorch's CUDA build; elsewhere it runs the torch column on the CPU
(``--device cpu`` forces that). ``--quick`` uses 20000 rows instead of
100000 and fewer iterations (about a minute on 2 CPU cores).

For each problem (100000 x 784-256-10 and the digits' 1797 x 64-25-10) and
dtype (float32, float64) it prints, measured in one process:

- per evaluation: the median time of one cost-and-gradient evaluation as
  L-BFGS calls it (``theta`` from the host, the gradient and cost back), on
  numpy's path and on torch's (``array_api_dispatch=True``), and their ratio;
- per fit: ``BackpropClassifier.fit`` for the same iterations (``tol=0``),
  both ways, and their ratio;
- the host's L-BFGS-B time per iteration (the fit's time outside the
  evaluations, from the torch fit's optimizer loop), which no device speeds up.

Ratios are numpy / torch: above 1, torch is faster.
"""

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # before scipy is imported

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skbpnn import BackpropClassifier, backprop  # noqa: E402
from skbpnn._lbfgs import run_lbfgs  # noqa: E402
from skbpnn._threads import fit_thread_limits  # noqa: E402

LAMBDA = 1.0


def problems(quick):
    """(name, X, y, hidden) for each problem."""
    m = 20000 if quick else 100000
    rng = np.random.RandomState(0)
    X = rng.standard_normal((m, 784))
    y = rng.randint(0, 10, size=m)
    yield f"{m} x 784-256-10", X, y, (256,)
    X, y = load_digits(return_X_y=True)
    yield "1797 x 64-25-10", StandardScaler().fit_transform(X), y, (25,)


def median_time(fn, repeats, min_time=0.2):
    """Median seconds of ``fn()`` over ``repeats`` runs (at least ``min_time``)."""
    fn()  # warm up: allocations, CUDA kernels, caches
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 50 * repeats:
            break
    return float(np.median(times))


def fun_for(X, y, sizes, dispatch):
    """The fit's ``fun(theta)`` and its BLAS thread limits, for X as given."""
    with sklearn.config_context(array_api_dispatch=dispatch):
        data = BackpropClassifier()._training_data(X, y, None, reset=True)
        fun, product_rows = data.make_fun(sizes, LAMBDA)
    return fun, product_rows


def bench(name, X, y, hidden, dtype, torch, device, repeats, max_iter):
    X = X.astype(dtype)
    sizes = (X.shape[1], *hidden, 10)
    theta = backprop.init_weights(sizes, random_state=0)
    X_t, y_t = torch.asarray(X, device=device), torch.asarray(y, device=device)

    fun_np, rows = fun_for(X, y, sizes, dispatch=False)
    with fit_thread_limits(sizes, rows):  # as the numpy fit runs it
        eval_np = median_time(lambda: fun_np(theta), repeats)
    with sklearn.config_context(array_api_dispatch=True):
        fun_t, rows = fun_for(X_t, y_t, sizes, dispatch=True)
        limits = fit_thread_limits(sizes, rows)  # as the torch fit runs it
        limits.__enter__()
        eval_t = median_time(lambda: fun_t(theta), repeats)
        J_np, J_t = fun_np(theta)[0], fun_t(theta)[0]

        # The optimizer loop alone: time outside the evaluations is the host's.
        inside = [0.0]

        def timed(theta):
            t0 = time.perf_counter()
            out = fun_t(theta)
            inside[0] += time.perf_counter() - t0
            return out

        t0 = time.perf_counter()
        result = run_lbfgs(timed, theta, max_iter=max_iter, max_fun=15000, tol=0.0)
        host = (time.perf_counter() - t0 - inside[0]) / max(result.n_iter, 1)
        limits.__exit__(None, None, None)

    def fit(X_, y_, dispatch):
        est = BackpropClassifier(
            hidden, LAMBDA, max_iter=max_iter, tol=0, random_state=0
        )
        with sklearn.config_context(array_api_dispatch=dispatch):
            t0 = time.perf_counter()
            est.fit(X_, y_)
            if dispatch:
                est.theta_.cpu()  # wait for the device
            return time.perf_counter() - t0, est.loss_

    fit_np, loss_np = fit(X, y, False)
    fit_t, loss_t = fit(X_t, y_t, True)
    return {
        "problem": name,
        "dtype": np.dtype(dtype).name,
        "eval_np": eval_np,
        "eval_t": eval_t,
        "fit_np": fit_np,
        "fit_t": fit_t,
        "host_iter": host,
        "cost_rel": abs(J_t - J_np) / abs(J_np),
        "loss_rel": abs(loss_t - loss_np) / abs(loss_np),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20000 rows, fewer runs")
    parser.add_argument("--device", help="torch device (default: cuda if present)")
    parser.add_argument("--max-iter", type=int, default=None)
    args = parser.parse_args(argv)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    repeats = 3 if args.quick else 7
    max_iter = args.max_iter or (5 if args.quick else 20)
    print(
        f"numpy {np.__version__} (CPU) vs torch {torch.__version__} on {device}; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"torch threads {torch.get_num_threads()}"
        + (f", {torch.cuda.get_device_name()}" if device.startswith("cuda") else "")
    )
    print(f"fits: {max_iter} L-BFGS iterations, tol=0; ratios numpy / torch\n")
    header = (
        f"{'problem':<22}{'dtype':<9}{'eval numpy':>11}{'eval torch':>11}"
        f"{'ratio':>7}{'fit numpy':>11}{'fit torch':>11}{'ratio':>7}"
        f"{'L-BFGS/iter':>13}{'cost rel diff':>15}"
    )
    print(header)
    print("-" * len(header))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, X, y, hidden in problems(args.quick):
            for dtype in (np.float32, np.float64):
                r = bench(name, X, y, hidden, dtype, torch, device, repeats, max_iter)
                print(
                    f"{r['problem']:<22}{r['dtype']:<9}"
                    f"{r['eval_np'] * 1e3:>9.2f}ms{r['eval_t'] * 1e3:>9.2f}ms"
                    f"{r['eval_np'] / r['eval_t']:>7.2f}"
                    f"{r['fit_np']:>10.2f}s{r['fit_t']:>10.2f}s"
                    f"{r['fit_np'] / r['fit_t']:>7.2f}"
                    f"{r['host_iter'] * 1e3:>11.2f}ms{r['cost_rel']:>15.1e}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
