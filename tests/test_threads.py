"""The BLAS thread policy during fits: skbpnn._threads."""

import glob
import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from threadpoolctl import OpenBLASController, threadpool_info, threadpool_limits

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


def pooled_rounds(pool, quiet_fit, rounds, seed):
    """Rounds of 3-4 overlapping fits, small and large, in a persistent pool."""
    rng = np.random.RandomState(seed)
    for _ in range(rounds):
        kinds = rng.choice([small_fit, large_fit], size=rng.randint(3, 5))
        futures = [pool.submit(fit, quiet_fit) for fit in kinds]
        for future in futures:
            future.result()


# catch_warnings is not thread-safe: quiet_fit in threads lets some through.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fits_in_a_persistent_pool_leave_every_library_as_before(quiet_fit):
    """The pool's threads outlive their fits: no limit, and no hold on a
    library (threadpoolctl >= 3.8 lets one thread at a time set a pthreads
    OpenBLAS), may outlive a fit."""
    before = blas_threads()
    with ThreadPoolExecutor(4) as pool:
        for seed in range(2):
            pooled_rounds(pool, quiet_fit, rounds=2, seed=seed)
            assert blas_threads() == before
            # the main thread's own limits take effect in every library
            with threadpool_limits(limits=1, user_api="blas"):
                assert set(blas_threads().values()) == {1}
            assert blas_threads() == before
    assert not _threads._held


def test_the_main_threads_limits_work_after_a_pooled_fit(quiet_fit):
    """The issue's report: one fit in a pool thread, then the main thread's
    threadpool_limits must take effect (with threadpoolctl >= 3.8 it was
    silently ignored while the pool thread lived)."""
    with ThreadPoolExecutor(2) as pool:
        for fit in (small_fit, large_fit):
            pool.submit(fit, quiet_fit).result()
            with threadpool_limits(limits=1, user_api="blas"):
                assert set(blas_threads().values()) == {1}


@pytest.mark.skipif(
    not hasattr(OpenBLASController, "clear_controlling_thread"),
    reason="threadpoolctl < 3.8 has no controlling thread",
)
def test_a_fit_leaves_a_library_another_thread_controls(quiet_fit, seen):
    """Another thread inside its own threadpool_limits controls the pthreads
    OpenBLAS libraries: the fit neither limits nor restores them."""
    before = blas_threads()
    inside, leave = threading.Event(), threading.Event()

    def hold():
        with threadpool_limits(limits=before):  # takes control, changes nothing
            inside.set()
            leave.wait(timeout=60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        inside.wait(timeout=60)
        small_fit(quiet_fit)  # would put every library on one thread
    finally:
        leave.set()
        holder.join()
    openblas = {
        i["filepath"]
        for i in threadpool_info()
        if i["internal_api"] == "openblas" and i.get("threading_layer") == "pthreads"
    }
    if not openblas:
        pytest.skip("no pthreads OpenBLAS loaded")
    assert seen
    for threads in seen:
        for path in openblas:
            assert threads[path] == before[path]
    assert blas_threads() == before
    assert not _threads._held


# Debian's libopenblas0-openmp, which .ci/run installs: a real OpenBLAS built
# with OpenMP, loaded beside numpy's and scipy's pthreads ones.
OPENMP_OPENBLAS = sorted(glob.glob("/usr/lib/*/openblas-openmp/libopenblas.so.0"))

OPENMP_SCRIPT = """
import ctypes, json, sys, threading, warnings
from concurrent.futures import ThreadPoolExecutor

ctypes.CDLL(sys.argv[1])
from threadpoolctl import threadpool_info
from sklearn.datasets import make_blobs
from skbpnn import BackpropClassifier

warnings.simplefilter("ignore")  # max_iter=3
X, y = make_blobs(60, centers=3, n_features=4, random_state=0)


def openmp_counts():
    return sorted(
        i["num_threads"] for i in threadpool_info()
        if i["user_api"] == "blas" and i.get("threading_layer") == "openmp"
    )


before = openmp_counts()
seen = []
with ThreadPoolExecutor(4) as pool:
    for _ in range(3):
        inside = threading.Barrier(4)

        def fit(i, inside=inside):
            def callback(iteration, cost, theta):
                seen.extend(openmp_counts())
                if iteration == 1:
                    inside.wait(timeout=60)  # all four fits overlap here

            BackpropClassifier(max_iter=3 + i, callback=callback).fit(X, y)

        for future in [pool.submit(fit, i) for i in range(4)]:
            future.result()
    everyone = threading.Barrier(4)

    def probe():  # once in every pool thread
        everyone.wait(timeout=60)
        return openmp_counts()

    after = [f.result() for f in [pool.submit(probe) for _ in range(4)]]
print(json.dumps({"before": before, "seen": sorted(set(seen)), "after": after,
                  "main": openmp_counts()}))
"""


@pytest.mark.skipif(
    not OPENMP_OPENBLAS, reason="Debian's libopenblas0-openmp is not installed"
)
def test_an_openmp_openblas_is_restored_in_every_pool_thread():
    """Overlapping fits in a persistent pool with a real OpenMP OpenBLAS
    loaded (limits per thread): during the fits it runs on one thread, and
    afterwards every pool thread, and the main one, has its count again."""
    # The library's default count (two threads here), whatever thread
    # variables the test session has picked up (a dask nanny sets
    # OMP_NUM_THREADS=1 in the environment it starts workers from).
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", OPENMP_SCRIPT, OPENMP_OPENBLAS[0]],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    counts = json.loads(out.stdout.splitlines()[-1])
    if os.cpu_count() == 1:
        pytest.skip("one CPU: the OpenMP OpenBLAS has one thread to begin with")
    assert len(counts["before"]) == 1 and counts["before"][0] > 1
    assert counts["seen"] == [1]
    assert counts["after"] == [counts["before"]] * 4
    assert counts["main"] == counts["before"]
