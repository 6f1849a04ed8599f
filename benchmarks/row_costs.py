"""The cost's per-row sum over K outputs: one log per output or one per row.

``skbpnn._evaluation.row_costs`` needs ``sum_k log(max(h_k, 1 - h_k))`` for
every row. Two forms compute it: a log of every element, in place, then a row
sum as a BLAS product (the "plain" form), and the log of the product of a
row's K factors (one log per row). This script times both on the same arrays
at K = 10, 30 and 100 in float64 and float32, alternating the two forms and
keeping the best of ``--repeat`` runs, and prints their ratio; skbpnn uses
the faster form of each dtype (the product in float64, the plain form in
float32). Run it on an idle machine::

    python benchmarks/row_costs.py
"""

import argparse
import timeit

import numpy as np
from threadpoolctl import threadpool_limits


def plain_form(z, h, Y, scratch, ones):
    """One in-place log per element, then row sums as a BLAS product."""
    np.subtract(1, h, out=scratch)
    np.maximum(scratch, h, out=scratch)
    np.log(scratch, out=scratch)
    log_max = scratch @ ones
    relu = np.maximum(z, 0, out=scratch) @ ones
    yz = np.multiply(Y, z, out=scratch) @ ones
    return relu - log_max - yz


def product_form(z, h, Y, scratch, ones):
    """One log per row, of the product of its factors (up to K = 120 here,
    which keeps the float32 product above the smallest normal number)."""
    np.subtract(1, h, out=scratch)
    np.maximum(scratch, h, out=scratch)
    factors = scratch[:, :120]
    if factors.shape[1] <= 16:
        product = factors[:, 0].copy()
        for k in range(1, factors.shape[1]):
            product *= factors[:, k]
    else:
        product = np.multiply.reduce(factors, axis=1)
    log_max = np.log(product)
    relu = np.maximum(z, 0, out=scratch) @ ones
    yz = np.multiply(Y, z, out=scratch) @ ones
    return relu - log_max - yz


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    print(f"{args.rows} rows, best of {args.repeat}, one BLAS thread for both forms")
    header = ("dtype", "K", "plain ms", "product ms", "product/plain")
    print("{:8s} {:>4s} {:>9s} {:>11s} {:>14s}".format(*header))
    for dtype in (np.float64, np.float32):
        for K in (10, 30, 100):
            z = (rng.randn(args.rows, K) * 4).astype(dtype)
            h = 1 / (1 + np.exp(-z))
            Y = np.eye(K, dtype=dtype)[rng.randint(0, K, args.rows)]
            scratch = np.empty_like(z)
            ones = np.ones(K, dtype=dtype)
            a = plain_form(z, h, Y, scratch, ones)
            b = product_form(z, h, Y, scratch, ones)
            rel = np.max(np.abs(a - b) / np.maximum(1, np.abs(b)))
            times = {"plain": [], "product": []}
            with threadpool_limits(1, "blas"):
                for _ in range(args.repeat):  # alternate, so load hits both
                    for name, f in (("plain", plain_form), ("product", product_form)):
                        arrays = (z, h, Y, scratch, ones)
                        t = timeit.timeit(lambda f=f, a=arrays: f(*a), number=5)
                        times[name].append(t / 5)
            plain, product = min(times["plain"]), min(times["product"])
            print(
                f"{np.dtype(dtype).name:8s} {K:4d} {plain * 1e3:9.3f} "
                f"{product * 1e3:11.3f} {product / plain:14.2f}   "
                f"(max rel diff {rel:.1e})"
            )


if __name__ == "__main__":
    main()
