"""The benchmarks' own machinery, where a package change can break it silently.

No timing here: the benchmarks measure, these tests check that what they
measure still exists. Run from a checkout (the sdist has no ``benchmarks/``,
and leaves this file out).
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name):
    """A script of ``benchmarks/`` as a module (it is not a package); the
    ``sys.path`` entry it adds for running from a checkout is taken back."""
    path = BENCHMARKS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    saved, modules = list(sys.path), set(sys.modules)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
        # The scripts import each other by name (``import evidence``).
        for name in set(sys.modules) - modules:
            if (BENCHMARKS / f"{name}.py").exists():
                del sys.modules[name]
    return module


def test_the_time_split_finds_every_function_it_times():
    """A function renamed in the package would drop out of
    ``benchmarks/evidence.py``'s time split (listed as "not found, so not
    timed"), its time moving to "everything else" in the Performance
    page's tables: every name of ``SPLIT_TARGETS`` must be there."""
    evidence = load("evidence")
    split = evidence.TimeSplit()
    with split.timed():
        pass
    assert split.missing == []


def test_the_probe_count_reaches_every_estimate_and_is_restored(monkeypatch):
    """``benchmarks/search_probes.py`` sets ``_evidence.SEARCH_PROBES`` and
    wraps ``_lanczos.logdet_and_trace`` (which checks the count each call
    asks for): a fit on the matrix-free path must score its points with
    the count set and the kept one again on ``N_PROBES``, and both
    attributes must be back afterwards."""
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning

    from skbpnn import BackpropClassifier, _evidence, _lanczos

    search_probes = load("search_probes")
    original, saved = _lanczos.logdet_and_trace, _evidence.SEARCH_PROBES
    monkeypatch.setattr(_evidence, "DENSE_MAX_PARAMS", 0)  # matrix-free
    X, y = load_iris(return_X_y=True)
    counts = []
    monkeypatch.setattr(
        _lanczos,
        "logdet_and_trace",
        lambda *args, **kwargs: (
            counts.append(kwargs["n_probes"]) or original(*args, **kwargs)
        ),
    )
    counting, seconds = _lanczos.logdet_and_trace, []
    clf = BackpropClassifier((3,), lambda_="evidence", max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short refits
        with search_probes.probes(3, seconds):
            clf.fit(X, y)
    assert len(seconds) == len(clf.lambdas_) + 1 > 2
    assert counts == [3] * len(clf.lambdas_) + [_evidence.N_PROBES]
    assert _evidence.SEARCH_PROBES == saved
    assert _lanczos.logdet_and_trace is counting


def test_the_loose_refits_record_every_point_and_restore_the_search():
    """``benchmarks/loose_refits.py`` replaces ``_evidence.search`` (and
    ``_evidence.mode_gtol`` while it refits a point loose): a fit must
    record one entry per point tried, in order, with its margin below the
    best before it, the points that did not score higher than all before
    it marked as losers, every point refit loose (in no more iterations
    than the mode's test asks, some losers in fewer), and both attributes
    must be back afterwards."""
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning

    from skbpnn import BackpropClassifier, _evidence

    loose_refits = load("loose_refits")
    search, mode_gtol = _evidence.search, _evidence.mode_gtol
    X, y = load_iris(return_X_y=True)
    points, extra = [], []
    clf = BackpropClassifier((3,), lambda_="evidence", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with loose_refits.recorded(points, extra):
            clf.fit(X, y)
    assert [p["lambda_"] for p in points] == list(clf.lambdas_)
    assert [p["score"] for p in points] == list(clf.scores_)
    losers = [p for p in points if p["loser"]]
    assert losers and len(extra) == 1
    for i, p in enumerate(points):
        best_before = max([-np.inf] + list(clf.scores_[:i]))
        assert p["loser"] == (p["score"] <= best_before)
        assert p["below"] == best_before - p["score"]
        assert np.isfinite(p["loose_score"]) and p["loose_estimate"] > 0
    # From the same start, the looser test stops no later (both at
    # max_iter where neither fires: a loser at lambda_ 1e-3 on iris).
    assert all(p["loose_n_iter"] <= p["n_iter"] for p in points)
    assert any(p["loose_n_iter"] < p["n_iter"] for p in losers)
    assert _evidence.search is search and _evidence.mode_gtol is mode_gtol


def test_the_loose_refits_totals_follow_their_definitions(capsys):
    """``loose_refits.summarize`` on made-up points with known answers: a
    loser whose loose score is far below the best stays loose (its refit
    and estimate at their loose times), a later point whose loose score
    is within ``delta`` of the best is tightened (its loose estimate paid
    on top), the first point and a diverged one (no loose refit) are left
    out of both."""
    loose_refits = load("loose_refits")

    def point(first, loser, below, score, refit, estimate, loose=None):
        p = dict(first=first, loser=loser, below=below, score=score)
        p.update(refit=refit, estimate=estimate)
        if loose is not None:
            p.update(zip(("loose", "loose_estimate", "loose_score"), loose))
        return p

    points = [
        [
            point(True, False, -np.inf, -10.0, 2.0, 0.5, (1.5, 0.5, -30.0)),
            point(False, True, 40.0, -50.0, 1.0, 0.5, (0.2, 0.4, -45.0)),
            point(False, False, -5.0, -5.0, 1.0, 0.5, (0.2, 0.7, -8.0)),
            point(False, True, 6.0, -11.0, 1.0, 0.6, (0.4, 0.8, -6.0)),
            point(False, True, np.inf, -np.inf, 1.0, 0.0),  # diverged
        ]
    ]
    loose_refits.summarize(points, 10.0, 20.0)
    out = capsys.readouterr().out
    assert "1 fits, 5 points, 2 losers" in out
    assert "0.50x (refits alone 0.30x)" in out
    # search less the losers' refits saved (1.0 - 0.2 and 1.0 - 0.4)
    assert "every loser loose: 0.43x (refits alone 0.23x)" in out
    assert "the first points' -20.00 to -20.00, the others' -3.00 to +5.00" in out
    # delta 3 (the first point's -20 left out): the loser 35 below (loose)
    # stays loose (10 - 0.8 - (0.5 - 0.4)), the one 1 below (loose) and
    # the winner pay their loose estimates (+ 0.7 + 0.8).
    assert "delta 3.00 nats (the largest error): 1 points stay loose, 2 are " in out
    assert "0.70 to 0.80 s): 0.53x" in out
    # The least delta that keeps the winner (5 above the best, -3 loose:
    # 2 above loose) tightened is 0: the loser 1 below (loose) stays loose
    # too (10 - 0.8 - 0.1 - 0.6 - (0.6 - 0.8)), the winner pays 0.7.
    assert "delta 0.00 nats (the least keeping no winner loose): 2 points" in out
    assert "0.70 to 0.70 s): 0.47x" in out
