"""The matrix-free evidence search on fewer probes than the kept point's.

The matrix-free evidence (:func:`skbpnn._evidence.evidence_at`) estimates
a point's log det and trace from Rademacher probes drawn from the fit's
one seed. The search scores its points on ``_evidence.SEARCH_PROBES`` (4)
of them and compares them by their differences on these common probes;
then the kept point is estimated again on all ``_evidence.N_PROBES`` (10),
the first of which are the search's, and the other scores keep their
differences from it (``EvidenceFunction.rescore``). This script fits
``lambda_="evidence"`` on the course-size case of ``benchmarks/evidence.py``
(section (f): digits upscaled to 20x20, standardized, 400-25-10, 10285
parameters; the first ``--folds`` of its 5 outer folds, training rows
only) with ``SEARCH_PROBES`` at each of ``--probes`` (10: the search on
every probe, no second estimate, as before the change), one BLAS thread
(the order turning from fold to fold), and prints per fit: its seconds and
its estimates', ``fitted_lambda_``, ``log_evidence_ +/-
log_evidence_se_``, the points tried and their scores; then each count's
fits and estimates against the first count's, and ``log_evidence_``'s
difference from the first count's.

Each fit's probes (and initial weights) come from ``random_state``: the
fold's number, or each of ``--seeds``, the same for every count, so the
counts are compared on common probes. With ``--seeds`` it also prints
how many fits kept the same ``lambda_`` as the first count and the mean
accuracy on the held-out folds.

The evidence reads ``_evidence.SEARCH_PROBES`` when a fit starts and calls
``logdet_and_trace`` through ``_lanczos``, so the script sets the one and
replaces the other while a fit runs (both restored after) and checks that
every call had the search's count or ``N_PROBES``. Run::

    python benchmarks/search_probes.py [--folds 3] [--probes 10 4 2] [--seeds 1 2 3]
"""

import argparse
import contextlib
import sys
import time
from pathlib import Path

from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evidence as bench  # noqa: E402  (benchmarks/evidence.py)

from skbpnn import BackpropClassifier, _evidence, _lanczos  # noqa: E402


@contextlib.contextmanager
def probes(n_probes, seconds):
    """The search on ``n_probes`` probes; each estimate's seconds appended
    to ``seconds``."""
    original, saved = _lanczos.logdet_and_trace, _evidence.SEARCH_PROBES

    def timed(*args, **kwargs):
        if kwargs.get("n_probes") not in (n_probes, _evidence.N_PROBES):
            raise RuntimeError(
                f"an estimate on {kwargs.get('n_probes')} probes, not "
                f"{n_probes}: this script no longer measures what it says"
            )
        start = time.perf_counter()
        estimate = original(*args, **kwargs)
        seconds.append(time.perf_counter() - start)
        return estimate

    _evidence.SEARCH_PROBES, _lanczos.logdet_and_trace = n_probes, timed
    try:
        yield
    finally:
        _evidence.SEARCH_PROBES, _lanczos.logdet_and_trace = saved, original


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--probes", type=int, nargs="+", default=[10, 4, 2])
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="random_state of the fits (default: the fold's number)",
    )
    args = parser.parse_args(argv)
    X, y, folds = bench.course_folds(
        args.folds, f"probes {args.probes}, seeds {args.seeds or 'the folds'}"
    )
    # (probes, fold, seed) -> seconds of the fit, of its estimates, their
    # count, log_evidence_, fitted_lambda_, held-out accuracy
    fits = {}
    runs = []
    for fold, (train, test) in enumerate(folds):
        scaler = StandardScaler().fit(X[train])
        X_train, X_test = scaler.transform(X[train]), scaler.transform(X[test])
        for seed in args.seeds or [fold]:
            runs.append((fold, seed))
            turn = len(runs) % len(args.probes)
            for n_probes in args.probes[turn:] + args.probes[:turn]:
                seconds = []
                clf = BackpropClassifier((25,), lambda_="evidence", random_state=seed)
                patch = probes(n_probes, seconds)
                fit = bench.timed_course_fit(clf, X_train, y[train], patch, seconds)
                accuracy = clf.score(X_test, y[test])
                fits[n_probes, fold, seed] = (
                    fit,
                    sum(seconds),
                    len(seconds),
                    clf.log_evidence_,
                    clf.fitted_lambda_,
                    accuracy,
                )
                print(
                    f"fold {fold + 1}, seed {seed}, {n_probes:2d} probes: "
                    f"{fit:.1f} s, of which {sum(seconds):.1f} s in "
                    f"{len(seconds)} estimates ({sum(seconds) / len(seconds):.2f} "
                    f"s each), lambda {clf.fitted_lambda_:.4g}, log evidence "
                    f"{clf.log_evidence_:.2f} +/- {clf.log_evidence_se_:.2f}, "
                    f"{clf.n_iter_total_} iterations, held-out accuracy "
                    f"{accuracy:.4f}"
                )
                bench.print_search(clf, 1)
                sys.stdout.flush()
    base = args.probes[0]
    print(f"\nover {len(runs)} fits (fold, seed), against {base} probes:")

    def total(n_probes, part):
        return sum(fits[(n_probes, *run)][part] for run in runs)

    for n_probes in args.probes:
        fit, est, n = total(n_probes, 0), total(n_probes, 1), total(n_probes, 2)
        per = est / n / (total(base, 1) / total(base, 2))
        shifts = " ".join(
            f"{fits[(n_probes, *run)][3] - fits[(base, *run)][3]:+.1f}" for run in runs
        )
        same = sum(fits[(n_probes, *run)][4] == fits[(base, *run)][4] for run in runs)
        print(
            f"  {n_probes:2d} probes: fits {fit:.1f} s ({fit / total(base, 0):.2f}x), "
            f"{n} estimates of {est / n:.2f} s each ({per:.2f}x); the same "
            f"lambda_ in {same} of {len(runs)}; mean held-out accuracy "
            f"{total(n_probes, 5) / len(runs):.4f}; log_evidence_ less "
            f"{base} probes': {shifts}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
