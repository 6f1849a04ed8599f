"""The BLAS thread policy during fits: skbpnn._threads."""

import threading

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from threadpoolctl import threadpool_info, threadpool_limits

from skbpnn import BackpropClassifier, _classifier, _threads


def blas_threads():
    return {
        i["filepath"]: i["num_threads"]
        for i in threadpool_info()
        if i["user_api"] == "blas"
    }


SMALL = make_blobs(n_samples=60, centers=3, n_features=4, random_state=0)
# 100 x 2000 x 200 = 4e7 multiply-adds: above the small-product threshold
LARGE = make_blobs(n_samples=100, centers=2, n_features=2000, random_state=0)


def small_fit(quiet_fit, **params):
    return quiet_fit(BackpropClassifier(max_iter=2, **params), *SMALL)


def large_fit(quiet_fit, **params):
    clf = BackpropClassifier(hidden_layer_sizes=(200,), max_iter=2, **params)
    return quiet_fit(clf, *LARGE)


@pytest.fixture
def seen(monkeypatch):
    """The BLAS thread counts at every evaluation of the fits."""
    seen = []
    real = _classifier.data_cost_and_gradient

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(_classifier, "data_cost_and_gradient", spy)
    return seen


def test_numpy_blas_is_found_by_what_numpy_reports():
    libraries = _threads._blas_libraries()
    numpy_paths = {lib.filepath for lib in libraries["all"]} - {
        lib.filepath for lib in libraries["others"]
    }
    # numpy's wheels ship their OpenBLAS in numpy.libs; scipy's in scipy.libs
    expected = {p for p in blas_threads() if "numpy.libs" in p or ".dylibs" in p}
    if not expected:
        pytest.skip("numpy's BLAS is not the one its wheel ships")
    assert numpy_paths == expected


def test_fit_limits_blas_threads_and_restores_them(quiet_fit, seen):
    before = blas_threads()
    numpy_paths = {lib.filepath for lib in _threads._blas_libraries()["all"]} - {
        lib.filepath for lib in _threads._blas_libraries()["others"]
    }
    # small products: every BLAS library on one thread
    small_fit(quiet_fit)
    assert seen and all(set(threads.values()) == {1} for threads in seen)
    assert blas_threads() == before
    # large products: numpy's BLAS keeps its threads, the others (scipy's,
    # which L-BFGS-B uses) get one
    seen.clear()
    large_fit(quiet_fit)
    assert seen
    for threads in seen:
        for path, n in threads.items():
            assert n == (before[path] if path in numpy_paths else 1)
    assert blas_threads() == before


# catch_warnings is not thread-safe: quiet_fit in threads lets some through.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_overlapping_fits_in_threads_restore_every_library(quiet_fit):
    """Fits started together in threads, small and large, ending in any
    order: once all have returned, every library has its count again."""
    before = blas_threads()
    rng = np.random.RandomState(0)
    for _ in range(6):
        kinds = rng.choice([small_fit, large_fit], size=3)
        barrier = threading.Barrier(len(kinds))
        errors = []

        def run(fit, barrier=barrier, errors=errors):
            try:
                barrier.wait()
                fit(quiet_fit)
            except Exception as exc:  # reported below, from the main thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(fit,)) for fit in kinds]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert blas_threads() == before
    assert not _threads._held


def test_a_users_limits_are_kept_inside_and_restored_after(quiet_fit, seen):
    before = blas_threads()
    with threadpool_limits(limits=1, user_api="blas"):
        inside = blas_threads()
        large_fit(quiet_fit)
        assert all(threads == inside for threads in seen)  # never raised
        assert blas_threads() == inside
    assert blas_threads() == before


def test_a_fit_that_raises_midway_restores_the_counts(quiet_fit):
    before = blas_threads()

    def fail(iteration, cost, theta):
        raise RuntimeError("stop here")

    for fit in (small_fit, large_fit):
        with pytest.raises(RuntimeError, match="stop here"):
            fit(quiet_fit, callback=fail)
        assert blas_threads() == before
    assert not _threads._held
