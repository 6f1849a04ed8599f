"""How much a point's score depends on the weights its refit starts from.

The evidence search scores each ``lambda_`` it tries by the Laplace
evidence at the mode its warm refit reaches, the refit starting from the
best point's weights so far (``skbpnn/_evidence.py``, ``search``). A
network's cost has many modes, so another start can reach another mode at
the same ``lambda_``, with another evidence. The search's comparisons
resolve differences down to their noise margin (0 on the exact path, a few
nats on the matrix-free one), and on the exact path its refinement takes
steps that promise 0.01 nats; a score that moves by more than that with the
start makes those steps select among starts, not among ``lambda_``.

This script measures that at the kept ``lambda_``: it fits
``lambda_="evidence"`` (one BLAS thread) and, inside the fit, once the
search has ended (this extra work is the script's, not the search's),
refits at the kept ``lambda_`` from the final weights of every other point
tried, as the search's own refits are made (its ``fit_at``: the mode's
gradient test, the user's ``max_iter``), and scores each with the search's
own evidence (the same probes on the matrix-free path). The point from
whose weights the kept point's refit started gives the kept point again,
to the last digit (a check). ``--data digits`` is section (b, c)'s digits
(25 hidden units, 1885 parameters, the exact path), ``--data course`` is
section (f) (400-25-10, 10285 parameters, matrix-free); the first
``--folds`` of their 5 outer folds. It prints, for every such refit, the
``lambda_`` it started from, its iterations and stop, and its score less
the kept one's, with the noise margin of that difference
(``_evidence.noise_margin``); then how many scored higher beyond it. Each
fit's search path comes first: ``lambda_ (score, iterations)`` of every
point, in the order tried.

Run::

    python benchmarks/start_dependence.py [--data digits|course] [--folds 2]
"""

import argparse
import contextlib
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evidence as bench  # noqa: E402  (benchmarks/evidence.py)

from skbpnn import _evidence  # noqa: E402


@contextlib.contextmanager
def recorded(fits):
    """Every evidence search's kept point and its refits from the other
    points' weights appended to ``fits``, one dict a search: ``kept`` (its
    ``_evidence.Point``), ``path`` (``(lambda_, score, n_iter)`` of each
    point tried, in order) and ``refits``, a dict per other point with a
    finite score: ``lambda_`` (where its weights come from), ``n_iter``,
    ``stop``, ``difference`` (score less the kept one's), ``margin`` (the
    noise margin of that difference; ``-inf`` and 0 where the refit
    diverged) and ``started_kept`` (the kept point's refit started from
    these weights; no refit is marked where the kept point is the first).
    No refits after Ctrl-C. ``_evidence.search`` is restored after."""
    search = _evidence.search

    def recording(fit_at, evidence, theta0, lambda0, **kwargs):
        found = search(fit_at, evidence, theta0, lambda0, **kwargs)
        kept, refits = found.best, []
        # (After Ctrl-C the user wants the fit back, not more refits.)
        others = [] if found.outcome == "interrupted" else found.points
        for point in others:
            if point is kept or not np.isfinite(point.score):
                continue
            result = fit_at(kept.lambda_, point.result.theta)
            record = {
                "lambda_": point.lambda_,
                "n_iter": result.n_iter,
                "stop": result.stop_reason,
                "difference": -np.inf,  # a diverged refit, as the search scores it
                "margin": 0.0,
                "started_kept": kept.start is point.result.theta,
            }
            if np.all(np.isfinite(result.theta)) and np.isfinite(result.loss):
                ev = evidence(result.theta, kept.lambda_)
                record["difference"] = ev.log_evidence - kept.score
                record["margin"] = _evidence.noise_margin(ev, kept.evidence)
            refits.append(record)
        path = [(p.lambda_, p.score, p.result.n_iter) for p in found.points]
        fits.append({"kept": kept, "refits": refits, "path": path})
        return found

    _evidence.search = recording
    try:
        yield
    finally:
        _evidence.search = search


def summarize(fits):
    """Print each fit's refits and the totals; returns the totals: the
    refits, those higher beyond their margin, and the largest difference
    among all refits and among those that converged (NaN where none)."""
    higher, converged, everything = 0, [], []
    for number, fit in enumerate(fits, 1):
        kept = fit["kept"]
        print(
            f"fit {number}: kept lambda_ {kept.lambda_:.4g}, score "
            f"{kept.score:.3f} ({kept.result.n_iter} iterations, "
            f"{kept.result.stop_reason})"
        )
        print(
            "  the search: "
            + ", ".join(
                f"{lam:.4g} ({score:.2f}, {n})" for lam, score, n in fit["path"]
            )
        )
        for r in fit["refits"]:
            mark = " (the kept point's start)" if r["started_kept"] else ""
            print(
                f"  from lambda_ {r['lambda_']:.4g}: {r['difference']:+.3f} "
                f"(margin {r['margin']:.2f}; {r['n_iter']} iterations, "
                f"{r['stop']}){mark}"
            )
            higher += r["difference"] > r["margin"]
            everything.append(r["difference"])
            if r["stop"] == "converged":
                converged.append(r["difference"])
    totals = {
        "refits": len(everything),
        "higher": higher,
        "largest": max(everything, default=np.nan),
        "largest_converged": max(converged, default=np.nan),
    }
    print(
        f"{totals['refits']} refits at the kept lambda_ from other weights: "
        f"{higher} higher than the kept point beyond the noise margin; the "
        f"largest difference {totals['largest']:+.3f} nats, "
        f"{totals['largest_converged']:+.3f} among refits that converged"
    )
    return totals


def folds(data, n_folds):
    """``(X, y, folds)``: the data and the first ``n_folds`` of the
    benchmark's 5 outer folds."""
    if data == "course":
        return bench.course_folds(n_folds, "start dependence")
    X, y = bench.LOADERS[data](return_X_y=True)
    outer = StratifiedKFold(5, shuffle=True, random_state=0)
    print(f"{data} (benchmarks/evidence.py (b, c)), folds 1-{n_folds} of 5")
    return X, y, list(outer.split(X, y))[:n_folds]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["digits", "course"], default="digits")
    parser.add_argument("--folds", type=int, default=2)
    args = parser.parse_args()
    X, y, chosen = folds(args.data, args.folds)
    fits = []
    for train, _ in chosen:
        clf = bench.contender("evidence")
        with threadpool_limits(limits=1), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the refits' ConvergenceWarning
            with recorded(fits):
                clf.fit(X[train], y[train])
    summarize(fits)


if __name__ == "__main__":
    main()
