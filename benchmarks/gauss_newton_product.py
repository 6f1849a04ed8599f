"""Cost of the matrix-free evidence's pieces on a 784-256-10 network.

Run ``python benchmarks/gauss_newton_product.py --threads 1`` (about 5
minutes on 2 cores; ``--rows`` and ``--threads`` change the setting). On
random float64 rows, at random weights, it prints:

- the time of one blocked Gauss-Newton-vector product
  (``_evaluation.gauss_newton_product_blocked``) with r = 1 and r = 10
  columns, as a ratio to one cost-and-gradient evaluation
  (``_evaluation.data_cost_and_gradient``) over the same row blocks: medians
  of alternating runs, because absolute times on a shared machine are noise;
- the same product on the bias rows alone (``biases_only``: the weight rows'
  products skipped), the first of the two products of each Lanczos step;
- the time of forming the block ``A_bb`` of the bias rows and columns of
  ``A = G + lambda M + 1e-4 (I - M)`` from such products with unit vectors
  (``_lanczos._unit_vector_block`` on ``PosteriorPrecision.rows``, 5
  columns a product, as the evidence's search asks: 4 probes and the
  decrement's column) against forming it directly
  (``PosteriorPrecision.unmasked_block``, one pass over the rows), as a
  ratio, and the largest difference between the two blocks;
- the extra peak memory (tracemalloc) and the time of
  ``_lanczos.logdet_and_trace`` at its defaults with ``A = G + lambda M +
  1e-4 (I - M)``: as the evidence runs it (``_evidence.PosteriorPrecision``,
  whose products add into the recurrence's array and give the bias rows
  alone where they suffice) and as a plain callable returning a new ``A @
  V`` of every row (what it was before), both with the products' row-block
  buffers in the cost's (already allocated) workspace; the evidence's form
  in a new workspace, without and with ``vector=`` (the Newton decrement's
  column, 11 in all, as a fit by the evidence runs it); and the Lanczos
  part alone (with a diagonal ``A``),
  next to ``n * n_probes`` float64 numbers. The memory does not grow with
  the steps (no reorthogonalization), so the recurrences are cut at
  ``--steps`` (5) to keep the run short; the time printed is for those
  steps.
"""

import argparse
import time
import tracemalloc

import numpy as np
from threadpoolctl import threadpool_limits

from skbpnn import backprop
from skbpnn._data import rows_per_block
from skbpnn._evaluation import (
    Workspace,
    data_cost_and_gradient,
    gauss_newton_product_blocked,
)
from skbpnn._evidence import SEARCH_PROBES, DataCurvature, PosteriorPrecision
from skbpnn._lanczos import _unit_vector_block, logdet_and_trace

MIB = 2**20


def median_times(funs, repeats):
    times = {name: [] for name in funs}
    for _ in range(repeats):
        for name, fun in funs.items():
            start = time.perf_counter()
            fun()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def time_bias_block(operator, P, repeats):
    """Print the times of forming ``A_bb`` by unit-vector products and
    directly, their ratio, and how far apart the two blocks are."""
    biases = operator.bias_rows
    width = SEARCH_PROBES + 1
    blocks = {}

    def by_products():
        blocks["products"] = _unit_vector_block(operator.rows, P, biases, width)

    def direct():
        blocks["direct"] = operator.unmasked_block(biases)

    t = median_times({"products": by_products, "direct": direct}, repeats)
    difference = np.abs(blocks["direct"] - blocks["products"]).max()
    n_products = -(-biases.size // width)
    print(
        f"A_bb ({biases.size} biases) by {n_products} products of {width} unit "
        f"vectors {t['products']:.2f} s, directly {t['direct']:.2f} s: "
        f"{t['products'] / t['direct']:.1f} x; largest difference "
        f"{difference / np.abs(blocks['products']).max():.1e} of the largest entry"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="Lanczos steps")
    parser.add_argument(
        "--block-repeats",
        type=int,
        default=1,
        help="runs of each way of forming A_bb (the products' way takes a minute)",
    )
    args = parser.parse_args()

    sizes = (784, 256, 10)
    shapes = backprop.layer_shapes(sizes)
    rng = np.random.RandomState(0)
    X = rng.rand(args.rows, sizes[0])
    Y = np.eye(sizes[-1])[rng.randint(0, sizes[-1], args.rows)]
    theta = backprop.init_weights(sizes, random_state=0)
    P = theta.size
    block_rows = rows_per_block(sizes, X.dtype)
    workspace = Workspace()
    V1, V10 = rng.randn(P, 1), rng.randn(P, 10)
    lam = 1.0
    mask = backprop.weight_mask(sizes)
    prior = np.where(mask, lam, 1e-4)

    def gv(V, biases_only=False):
        return gauss_newton_product_blocked(
            theta, X, shapes, None, block_rows, workspace, V, biases_only=biases_only
        )

    def cost():
        return data_cost_and_gradient(theta, X, Y, shapes, None, block_rows, workspace)

    with threadpool_limits(args.threads):
        gv(V10), cost()  # warm the workspace
        t = median_times(
            {
                "cost": cost,
                "r=1": lambda: gv(V1),
                "r=10": lambda: gv(V10),
                "biases, r=10": lambda: gv(V10, biases_only=True),
            },
            args.repeats,
        )
        print(f"784-256-10, P = {P}, {args.rows} rows, block_rows = {block_rows}")
        print(f"cost and gradient   {t['cost']:.3f} s")
        for name in ("r=1", "r=10", "biases, r=10"):
            ratio = t[name] / t["cost"]
            r = int(name.rsplit("=", 1)[1])
            print(
                f"G V, {name:12s}  {t[name]:.3f} s = {ratio:.2f} x cost"
                f" ({ratio / r:.2f} x cost per column)"
            )

        def evidence_form(workspace):
            curvature = DataCurvature(X, Y, None, None, shapes, block_rows, workspace)
            return PosteriorPrecision(curvature, theta, prior, mask)

        time_bias_block(evidence_form(workspace), P, args.block_repeats)

        def plain(V):
            out = gauss_newton_product_blocked(
                theta, X, shapes, None, block_rows, workspace, V
            )
            for j in range(V.shape[1]):  # + the prior, no (n, r) temporary
                out[:, j] += prior * V[:, j]
            return out

        # The evidence also asks for v^T A^-1 v (its Newton decrement, one
        # more column): any non-zero v costs the same memory.
        v = np.random.RandomState(1).standard_normal(P)
        for name, fun, vector in (
            (
                "the evidence's form, the cost's workspace",
                evidence_form(workspace),
                None,
            ),
            ("a plain callable, the cost's workspace", plain, None),
            ("the evidence's form, a new workspace", evidence_form(Workspace()), None),
            (
                "the evidence's form with its decrement's vector, a new workspace",
                evidence_form(Workspace()),
                v,
            ),
            ("Lanczos alone", lambda V: prior[:, None] * V, None),
        ):
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            start = time.perf_counter()
            est = logdet_and_trace(
                fun, P, mask, n_steps=args.steps, random_state=0, vector=vector
            )
            seconds = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.stop()
            print(
                f"logdet_and_trace {name}: extra peak {peak / MIB:.1f} MiB "
                f"= {peak / (8 * P * 10):.1f} x n * n_probes float64, "
                f"{est.n_matvecs} products, {seconds:.1f} s"
            )


if __name__ == "__main__":
    main()
