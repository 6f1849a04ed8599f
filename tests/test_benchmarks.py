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
    it marked as losers, every point refit loose (the losers in fewer
    iterations than the mode's test asks), and both attributes must be
    back afterwards."""
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
    assert all(p["loose_n_iter"] < p["n_iter"] for p in losers)
    assert _evidence.search is search and _evidence.mode_gtol is mode_gtol
