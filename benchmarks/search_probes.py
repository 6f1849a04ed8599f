"""Would a search on fewer probes make the matrix-free evidence cheaper?

Issue 23 (item 3) asks for points no dearer than about one warm refit, and
the Performance page lists "a check that compares on fewer common probes"
among the remedies not yet tried. The matrix-free evidence estimates every
point's log det and trace from ``_evidence.N_PROBES`` (10) Rademacher
probes, the same at every point of a search; the search compares two
points beyond ``NOISE_FACTOR`` standard errors of their difference. This
script fits ``lambda_="evidence"`` on the course-size case of
``benchmarks/evidence.py`` (section (f): digits upscaled to 20x20,
standardized, 400-25-10, 10285 parameters; the first ``--folds`` of its 5
outer folds, training rows only) with ``N_PROBES`` at each of
``--probes``, one BLAS thread (the order turning from fold to fold), and
prints per fit: its seconds and its estimates', ``fitted_lambda_``,
``log_evidence_ +/- log_evidence_se_``, the points tried and their
scores; then each count's fits and estimates against the first count's.

It measures the search alone: with fewer probes ``log_evidence_`` has a
larger standard error, and a re-estimate of the kept point with 10 probes
(about one estimate of the first count more per fit) is not made here.
The fitted model keeps its probes' seed, not their count: its
``log_evidence(X, y)`` after the script's ``with`` block is on 10 probes,
not the count it was fitted with (the script does not call it). Each fold
draws its own probes (``random_state`` the fold's number), the same for
every count within it: a count's probes are the first of the larger
count's, so the table compares counts on common probes, and the folds
give three draws. The shift of ``log_evidence_`` from the first count's
is printed too (the fewer probes' estimate of the same log det).

The evidence reads ``_evidence.N_PROBES`` and calls ``logdet_and_trace``
through ``_lanczos`` at each point, so the script sets the one and
replaces the other while a fit runs (both restored after) and checks that
every call had the probes asked for. Run::

    python benchmarks/search_probes.py [--folds 2] [--probes 10 4 2]
"""

import argparse
import contextlib
import sys
import time
import warnings
from pathlib import Path

from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evidence as bench  # noqa: E402  (benchmarks/evidence.py)

from skbpnn import BackpropClassifier, _evidence, _lanczos  # noqa: E402


@contextlib.contextmanager
def probes(n_probes, seconds):
    """The evidence on ``n_probes`` probes; each estimate's seconds appended
    to ``seconds``."""
    original, saved = _lanczos.logdet_and_trace, _evidence.N_PROBES

    def timed(*args, **kwargs):
        if kwargs.get("n_probes") != n_probes:
            raise RuntimeError(
                f"an estimate on {kwargs.get('n_probes')} probes, not "
                f"{n_probes}: this script no longer measures what it says"
            )
        start = time.perf_counter()
        estimate = original(*args, **kwargs)
        seconds.append(time.perf_counter() - start)
        return estimate

    _evidence.N_PROBES, _lanczos.logdet_and_trace = n_probes, timed
    try:
        yield
    finally:
        _evidence.N_PROBES, _lanczos.logdet_and_trace = saved, original


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--probes", type=int, nargs="+", default=[10, 4, 2])
    args = parser.parse_args(argv)
    X, y = bench.digits_20x20()
    outer = StratifiedKFold(5, shuffle=True, random_state=0)
    folds = list(outer.split(X, y))[: args.folds]
    print(
        f"course size (benchmarks/evidence.py (f)), folds 1-{len(folds)} of 5, "
        f"400-25-10, one BLAS thread; probes {args.probes}"
    )
    fits = {}  # (probes, fold) -> (seconds of the fit, of its estimates, count)
    evidences = {}  # (probes, fold) -> log_evidence_
    for fold, (train, _) in enumerate(folds):
        X_train = StandardScaler().fit_transform(X[train])
        turn = fold % len(args.probes)
        for n_probes in args.probes[turn:] + args.probes[:turn]:
            seconds = []
            clf = BackpropClassifier((25,), lambda_="evidence", random_state=fold)
            with (
                threadpool_limits(limits=1),
                warnings.catch_warnings(),
                probes(n_probes, seconds),
            ):
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                clf.fit(X_train, y[train])
                fit = time.perf_counter() - start
            if not seconds:
                raise RuntimeError(
                    "the evidence did not call _lanczos.logdet_and_trace: "
                    "this script no longer measures what it says"
                )
            fits[n_probes, fold] = fit, sum(seconds), len(seconds)
            evidences[n_probes, fold] = clf.log_evidence_
            print(
                f"fold {fold + 1}, {n_probes:2d} probes: {fit:.1f} s, of which "
                f"{sum(seconds):.1f} s in {len(seconds)} estimates "
                f"({sum(seconds) / len(seconds):.2f} s each), lambda "
                f"{clf.fitted_lambda_:.4g}, log evidence {clf.log_evidence_:.2f} "
                f"+/- {clf.log_evidence_se_:.2f}, {clf.n_iter_total_} iterations"
            )
            print("  lambdas  " + " ".join(f"{v:.3g}" for v in clf.lambdas_))
            print("  scores   " + " ".join(f"{v:.1f}" for v in clf.scores_))
            sys.stdout.flush()
    base = args.probes[0]
    print(f"\nover the {len(folds)} folds, against {base} probes:")

    def total(n_probes, part):
        return sum(fits[n_probes, f][part] for f in range(len(folds)))

    for n_probes in args.probes:
        fit, est, n = total(n_probes, 0), total(n_probes, 1), total(n_probes, 2)
        per = est / n / (total(base, 1) / total(base, 2))
        shifts = " ".join(
            f"{evidences[n_probes, f] - evidences[base, f]:+.1f}"
            for f in range(len(folds))
        )
        print(
            f"  {n_probes:2d} probes: fits {fit:.1f} s ({fit / total(base, 0):.2f}x), "
            f"{n} estimates of {est / n:.2f} s each ({per:.2f}x); "
            f"log_evidence_ less {base} probes' per fold: {shifts}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
