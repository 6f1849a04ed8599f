"""Would fewer Lanczos steps make the matrix-free evidence cheaper?

Issue 23 (item 3) names "fewer Lanczos steps per probe, with the error
controlled" as a way to cheaper points. The evidence's log det and trace
(:func:`skbpnn._lanczos.logdet_and_trace`) stop their recurrences when, over
the last 5 steps, both estimates moved by less than ``tol`` (0.1) of their
standard errors. This script fits ``lambda_="evidence"`` on the course-size
case of ``benchmarks/evidence.py`` (section (f): digits upscaled to 20x20,
standardized, 400-25-10, 10285 parameters; the first ``--folds`` of its
5 outer folds, training rows only) with ``tol`` at each of ``--tols``, one
BLAS thread (the tols' order turning from fold to fold), and prints per
fit: its seconds and its estimates' (the log det and trace), ``fitted_lambda_``,
the points tried and their scores, and the Lanczos steps per point; then
each tol's fits and estimates against the first tol's, as ratios.

With ``--truncation`` it also estimates every point's log det and trace
again on the same probes with 150 steps and no stopping test, and prints
what the stop left out: half the log det's difference (nats of log
evidence) and the trace's (its estimate is low: ``gamma`` high by
``lambda_`` times it), and the long runs' own steps and whether they
settled. The fits' seconds then include the long runs.

The evidence calls ``logdet_and_trace`` through its module, so the script
replaces that module attribute while a fit runs (restored after) and
checks that it was called. Run::

    python benchmarks/lanczos_tol.py [--folds 2] [--tols 0.1 0.3 1.0] [--truncation]
"""

import argparse
import contextlib
import sys
import time
from pathlib import Path

from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evidence as bench  # noqa: E402  (benchmarks/evidence.py)

from skbpnn import BackpropClassifier, _lanczos  # noqa: E402

LONG_STEPS = 150


@contextlib.contextmanager
def lanczos_tol(tol, truncation, calls):
    """``_lanczos.logdet_and_trace`` with ``tol``; each call's record in
    ``calls`` (with the long run's differences under ``truncation``)."""
    original = _lanczos.logdet_and_trace

    def patched(*args, **kwargs):
        start = time.perf_counter()
        estimate = original(*args, **{**kwargs, "tol": tol})
        record = {
            "steps": int(estimate.n_steps),
            "seconds": time.perf_counter() - start,
        }
        if truncation:
            long = original(*args, **{**kwargs, "tol": 0.0, "n_steps": LONG_STEPS})
            record["logdet"] = 0.5 * (estimate.logdet - long.logdet)
            record["trace"] = estimate.trace - long.trace
            record["long"] = (int(long.n_steps), bool(long.converged))
        calls.append(record)
        return estimate

    _lanczos.logdet_and_trace = patched
    try:
        yield
    finally:
        _lanczos.logdet_and_trace = original


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--tols", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    parser.add_argument("--truncation", action="store_true")
    args = parser.parse_args(argv)
    X, y, folds = bench.course_folds(args.folds, f"Lanczos tol {args.tols}")
    fits = {}  # (tol, fold) -> (seconds of the fit, seconds of its estimates)
    for fold, (train, _) in enumerate(folds):
        X_train = StandardScaler().fit_transform(X[train])
        # The order turns from fold to fold, so that no tol always goes first.
        for tol in (
            args.tols[fold % len(args.tols) :] + args.tols[: fold % len(args.tols)]
        ):
            calls = []
            clf = BackpropClassifier((25,), lambda_="evidence", random_state=0)
            patch = lanczos_tol(tol, args.truncation, calls)
            seconds = bench.timed_course_fit(clf, X_train, y[train], patch, calls)
            estimates = sum(c["seconds"] for c in calls)
            fits[tol, fold] = seconds, estimates, len(calls)
            print(
                f"fold {fold + 1}, tol {tol:g}: {seconds:.1f} s, of which "
                f"{estimates:.1f} s in {len(calls)} estimates "
                f"({estimates / len(calls):.2f} s each), lambda "
                f"{clf.fitted_lambda_:.4g}, log evidence {clf.log_evidence_:.2f} "
                f"+/- {clf.log_evidence_se_:.2f}"
            )
            bench.print_search(clf, 2)
            print("  steps    " + " ".join(str(c["steps"]) for c in calls))
            if args.truncation:
                print(
                    "  log det / 2 less the long run's (nats)  "
                    + " ".join(f"{c['logdet']:+.3f}" for c in calls)
                )
                print(
                    "  trace less the long run's               "
                    + " ".join(f"{c['trace']:+.3f}" for c in calls)
                )
                print(
                    "  the long runs' steps (settled)           "
                    + " ".join(
                        f"{n} ({'yes' if ok else 'no'})"
                        for n, ok in (c["long"] for c in calls)
                    )
                )
            sys.stdout.flush()
    base = args.tols[0]
    print(f"\nover the {len(folds)} folds, against tol {base:g}:")
    for tol in args.tols:
        fit = sum(fits[tol, f][0] for f in range(len(folds)))
        est = sum(fits[tol, f][1] for f in range(len(folds)))
        n = sum(fits[tol, f][2] for f in range(len(folds)))
        fit0 = sum(fits[base, f][0] for f in range(len(folds)))
        per0 = sum(fits[base, f][1] for f in range(len(folds))) / sum(
            fits[base, f][2] for f in range(len(folds))
        )
        print(
            f"  tol {tol:g}: fits {fit:.1f} s ({fit / fit0:.2f}x), "
            f"{n} estimates of {est / n:.2f} s each ({est / n / per0:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
