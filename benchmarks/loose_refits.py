"""What refits loose away from the maximum could save the evidence search.

Issue 22's "tight where it matters": the search holds every refit to the
mode's gradient test (``_evidence.mode_gtol``), at the course size nearly
always until ``max_iter``, so that every score it compares is a mode's.
A search could refit loose (at the user's ``tol``) where a point is far
below the best, and tight only near it. This script measures what that
could save, without building it: it fits ``lambda_="evidence"`` on the
course-size case of ``benchmarks/evidence.py`` (section (f): digits
upscaled to 20x20, standardized, 400-25-10, 10285 parameters; the first
``--folds`` of its 5 outer folds) and ``GridSearchCV`` over (f)'s 9
lambdas (3-fold) on the same rows, one BLAS thread, the order turning
from fold to fold, and records every refit of the search (seconds,
iterations, stop) and every estimate (seconds, score). After the search,
every point is refit again from the same start at the user's ``tol`` (the
mode's test off) and scored there (*loose*); that extra work is not
counted in the fit's time. A *loser* is a point that did not score higher
than every point before it (the check's refits, a walk's overshoot). It
prints per point the tight and the loose refit, the margin below the
best before it, and the loose score's error (loose less tight), then in
total:

* the search's time against the grid's, and its refits' alone;
* the **optimistic bound**: every loser's refit at its loose time, all
  else as measured (the same points, no estimate more): the least time
  that loosening the losers can give with these points, however they
  were told apart;
* **loose first**: what a search that refits every point after the first
  loose first would take with these points. A point whose loose score is
  more than ``delta`` below the best before it stays loose; every other
  point is then refit tight from where the loose refit stopped and scored
  again. ``delta`` is read from the run itself, which a search could not
  do, two ways: the most a loose score fell below its tight one (the
  first points left out), so that no point kept loose would have been
  higher tight; and the least that keeps loose no point that won. The
  accounting is optimistic: the first point of each fit refit tight at
  once (nothing before it could rule it out), and a refit continued from
  a loose one taking only the rest of the tight refit as measured (the
  tightened point pays just its loose estimate on top).

Run::

    python benchmarks/loose_refits.py [--folds 5]
"""

import argparse
import contextlib
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evidence as bench  # noqa: E402  (benchmarks/evidence.py)

from skbpnn import _evidence  # noqa: E402


@contextlib.contextmanager
def recorded(points, extra):
    """Every evidence search's refits and estimates appended to ``points``
    (a dict per point: ``lambda_``, ``refit``, ``n_iter``, ``stop``,
    ``estimate``, ``score``, ``first``, ``loser``, ``below``, ``loose``,
    ``loose_n_iter``, ``loose_estimate``, ``loose_score``); the seconds of
    the loose refits and their estimates appended to ``extra``. A refit
    whose cost diverged has no estimate (``estimate`` 0, ``score``
    ``-inf``, no loose refit). ``_evidence.search`` and
    ``_evidence.mode_gtol`` are restored after."""
    search, mode_gtol = _evidence.search, _evidence.mode_gtol

    def recording(fit_at, evidence, theta0, lambda0, **kwargs):
        mine = []

        def timed_fit(lambda_, start):
            began = time.perf_counter()
            result = fit_at(lambda_, start)
            mine.append(
                dict(
                    lambda_=lambda_,
                    start=start.copy(),
                    refit=time.perf_counter() - began,
                    n_iter=result.n_iter,
                    stop=result.stop_reason,
                    estimate=0.0,
                    score=-np.inf,
                )
            )
            return result

        def timed_evidence(*args, **kw):
            began = time.perf_counter()
            found = evidence(*args, **kw)
            mine[-1].update(
                estimate=time.perf_counter() - began, score=found.log_evidence
            )
            return found

        found = search(timed_fit, timed_evidence, theta0, lambda0, **kwargs)
        began, best = time.perf_counter(), -np.inf
        for i, point in enumerate(mine):
            point["first"] = i == 0
            point["loser"] = point["score"] <= best
            point["below"] = best - point["score"]
            best = max(best, point["score"])
            start = point.pop("start")
            if not np.isfinite(point["score"]):
                continue
            # The refit at the user's tol: mode_gtol read as +inf.
            _evidence.mode_gtol = lambda lambda_: np.inf
            try:
                t = time.perf_counter()
                loose = fit_at(point["lambda_"], start)
                point["loose"] = time.perf_counter() - t
            finally:
                _evidence.mode_gtol = mode_gtol
            t = time.perf_counter()
            score = evidence(loose.theta, point["lambda_"]).log_evidence
            point["loose_estimate"] = time.perf_counter() - t
            point["loose_n_iter"], point["loose_score"] = loose.n_iter, score
        extra.append(time.perf_counter() - began)
        points.extend(mine)
        return found

    _evidence.search = recording
    try:
        yield
    finally:
        _evidence.search, _evidence.mode_gtol = search, mode_gtol


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    X, y, folds = bench.course_folds(
        args.folds, "every point refit loose after the search"
    )
    evidence_s, grid_s, points = [], [], []
    for fold, (train, _) in enumerate(folds):
        order = ["evidence", "grid"] if fold % 2 == 0 else ["grid", "evidence"]
        for which in order:
            model = bench.contender(which)
            if which == "grid":
                patch = contextlib.nullcontext()
            else:
                mine, extra = [], []
                patch = recorded(mine, extra)
            with threadpool_limits(limits=1), warnings.catch_warnings(), patch:
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                model.fit(X[train], y[train])
                seconds = time.perf_counter() - start
            if which == "grid":
                grid_s.append(seconds)
                continue
            if not mine:
                raise RuntimeError(
                    "the fit did not call _evidence.search: "
                    "this script no longer measures what it says"
                )
            evidence_s.append(seconds - sum(extra))
            points.append(mine)
        mine = points[-1]
        print(
            f"fold {fold + 1}: evidence {evidence_s[-1]:.1f} s (refits "
            f"{sum(p['refit'] for p in mine):.1f} s, estimates "
            f"{sum(p['estimate'] for p in mine):.1f} s), grid {grid_s[-1]:.1f} s"
        )
        for p in mine:
            line = (
                f"   lambda_ {p['lambda_']:<7.4g} {'loser' if p['loser'] else 'best '} "
                f"refit {p['refit']:.2f} s ({p['n_iter']} it, {p['stop']}), "
                f"estimate {p['estimate']:.2f} s, score {p['score']:.2f}"
            )
            if p["loser"]:
                line += f", {p['below']:.2f} below the best"
            if "loose" in p:
                line += (
                    f"; loose refit {p['loose']:.2f} s ({p['loose_n_iter']} it), "
                    f"estimate {p['loose_estimate']:.2f} s, "
                    f"its score {p['loose_score'] - p['score']:+.2f}"
                )
            print(line, flush=True)
    summarize(points, sum(evidence_s), sum(grid_s))
    return 0


def summarize(points, search, grid):
    """The totals over every fit's ``points`` (see the module's docstring)."""
    everything = [p for mine in points for p in mine]
    scored = [p for p in everything if "loose" in p]
    losers = [p for p in scored if p["loser"]]
    refits = sum(p["refit"] for p in everything)
    print(f"\nover {len(points)} fits, {len(everything)} points, {len(losers)} losers:")
    print(
        f"  evidence {search:.1f} s against the grid's {grid:.1f} s: "
        f"{search / grid:.2f}x (refits alone {refits / grid:.2f}x)"
    )
    if not losers:
        return

    def saved(some):
        return sum(p["refit"] - p["loose"] for p in some)

    print(
        f"  optimistic bound, every loser loose: "
        f"{(search - saved(losers)) / grid:.2f}x "
        f"(refits alone {(refits - saved(losers)) / grid:.2f}x)"
    )

    def error(p):
        return p["loose_score"] - p["score"]

    first = [error(p) for p in scored if p["first"]]
    later = [p for p in scored if not p["first"]]
    margins = [p["below"] for p in losers]
    print(
        f"  loose scores' error (loose less tight): the first points' "
        f"{min(first):+.2f} to {max(first):+.2f}, the others' "
        f"{min(map(error, later)):+.2f} to {max(map(error, later)):+.2f}; "
        f"losers' margins {min(margins):.2f} to {max(margins):.2f}"
    )
    # Loose first (optimistic): a later point stays loose where its loose
    # score is more than delta below the best before it; else it is refit
    # tight from the loose one (the rest of the tight refit) and its loose
    # estimate is paid on top. delta: the largest amount a loose score fell
    # below its tight one, then the least that keeps no winner loose.
    winners = [p["below"] - error(p) for p in later if not p["loser"]]
    for name, delta in (
        ("the largest error", max(0.0, -min(map(error, later)))),
        ("the least keeping no winner loose", max([0.0] + winners)),
    ):
        kept = [p for p in later if p["below"] - error(p) > delta]
        tightened = [p for p in later if p not in kept]
        time_ = (
            search
            - saved(kept)
            - sum(p["estimate"] - p["loose_estimate"] for p in kept)
            + sum(p["loose_estimate"] for p in tightened)
        )
        print(
            f"  loose first, delta {delta:.2f} nats ({name}): {len(kept)} points "
            f"stay loose, {len(tightened)} are tightened (loose estimates "
            f"{min((p['loose_estimate'] for p in tightened), default=0):.2f} to "
            f"{max((p['loose_estimate'] for p in tightened), default=0):.2f} s): "
            f"{time_ / grid:.2f}x"
        )


if __name__ == "__main__":
    sys.exit(main())
