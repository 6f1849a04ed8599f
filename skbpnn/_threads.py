"""The BLAS thread policy during a fit.

Two limits, both against oversubscription, as scikit-learn takes care in
KMeans:

- a network whose products are all small gets one BLAS thread in every
  library: a second thread does not pay for them (digits, 64-25-10: 1.40 ms
  per evaluation on two threads, 1.47 ms on one, idle; 15 ms against 1.4 ms
  at a load of 6);
- otherwise, BLAS libraries other than numpy's (scipy's wheels ship their
  own OpenBLAS, which L-BFGS-B uses for its vector work) get one thread.
  Their idle threads keep spinning after each L-BFGS-B step and take the
  cores from numpy's threads during the next evaluation's products:
  measured 0.038 s per float32 evaluation (10000 x 784-128-10) alone, 0.076 s
  right after L-BFGS-B's calls, 0.045 s with scipy's BLAS held to one
  thread. Where numpy's library cannot be told from the others (they are
  one library, or numpy does not say which is its own), nothing is limited.

Fits run concurrently in real programs (a web service, a persistent thread
pool, GridSearchCV with the threading backend), so no limit may outlive a
fit, in any thread. Libraries come in two kinds:

- process-wide (a pthreads OpenBLAS, MKL, BLIS): one count for the whole
  process. Each keeps a count of the fits that hold it: the first to limit
  it saves its thread count, the last to release it restores that count,
  whatever order the fits end in and in whichever threads. threadpoolctl
  >= 3.8 lets one thread at a time set a pthreads OpenBLAS (the "controlling
  thread"; others are silently ignored): a fit takes that control only for
  the moment of its own call and gives it back at once, so that any thread
  can set limits afterwards. Where another thread holds control (inside its
  own ``threadpool_limits``), the fit leaves that library to it, neither
  limiting nor restoring it;
- per-thread (an OpenMP OpenBLAS under threadpoolctl >= 3.8, which sets it
  through ``omp_set_num_threads``, the calling thread's own setting): the
  fitting thread limits and restores its own count, untouched by other
  threads' fits.

A user's own ``threadpool_limits`` around a fit is the count saved and
restored, and is never raised inside the fit.
"""

import contextlib
import os
import threading

import numpy as np
from threadpoolctl import OpenBLASController, ThreadpoolController

# Below this many multiply-adds, no product of an evaluation gains from a
# second BLAS thread; on a busy machine the threads' hand-offs make such
# products several times slower. (digits, 64-25-10: 2.9e6, one thread;
# 20000 x 784-256-10: 4e9, all threads.)
SMALL_PRODUCT = 2e7

_lock = threading.Lock()
_libraries = {}  # "all" and "others": lists of threadpoolctl LibControllers
_held = {}  # filepath -> [number of fits holding it, its thread count before]


def _numpy_blas(blas):
    """The LibControllers of ``blas`` that are numpy's own library.

    First by what numpy reports of its build (the BLAS name and version,
    numpy >= 1.25), where exactly one loaded library matches; otherwise the
    libraries numpy's wheel ships beside its package (``numpy.libs``,
    ``numpy/.dylibs``).
    """
    try:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name, version = str(config.get("name", "")), str(config.get("version", ""))
    except (TypeError, KeyError, AttributeError):  # numpy < 1.25: no dicts
        name = version = ""
    reported = [
        lib
        for lib in blas
        if version
        and lib.version == version
        and lib.internal_api in name.replace("-", "").lower()
    ]
    if len(reported) == 1:
        return reported
    package = os.path.dirname(os.path.realpath(np.__file__))
    shipped = (package + ".libs" + os.sep, os.path.join(package, ".dylibs") + os.sep)
    return [lib for lib in blas if os.path.realpath(lib.filepath).startswith(shipped)]


def _blas_libraries():
    """``{"all": [...], "others": [...]}``, found once per process."""
    with _lock:
        if not _libraries:
            controller = ThreadpoolController()
            blas = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
            numpy_libs = _numpy_blas(blas)
            _libraries["all"] = blas
            _libraries["others"] = (
                [lib for lib in blas if lib not in numpy_libs] if numpy_libs else []
            )
        return _libraries


# threadpoolctl >= 3.8 sets an OpenMP OpenBLAS through the OpenMP API, per
# thread, and gives a pthreads one to one controlling thread at a time.
_OPENMP_PER_THREAD = hasattr(OpenBLASController, "_real_set_num_threads")


def _per_thread(lib):
    """Whether ``lib``'s thread count is the calling thread's own."""
    return (
        _OPENMP_PER_THREAD
        and lib.internal_api == "openblas"
        and getattr(lib, "threading_layer", None) == "openmp"
    )


def _controlling_thread(lib):
    """The live thread that alone may set ``lib`` (threadpoolctl >= 3.8), or None."""
    state = getattr(type(lib), "_SHARED_STATE", None)
    owner = getattr(state, "controlling_thread", None)
    return owner if owner is not None and owner.is_alive() else None


def _set_threads(lib, n):
    """Set ``lib`` to ``n`` threads from this thread, keeping no control of it.

    Returns False, having changed nothing, where another thread controls the
    library: the fit does not fight it.
    """
    owner = _controlling_thread(lib)
    if owner is not None and owner is not threading.current_thread():
        return False
    lib.set_num_threads(n)
    if owner is None:
        # Give back the control this call took (a no-op before threadpoolctl
        # 3.8, and for a thread that already held it, e.g. inside the user's
        # own threadpool_limits).
        release = getattr(type(lib), "clear_controlling_thread", None)
        if release is not None:
            release()
    return lib.num_threads == n  # another thread may have taken control first


@contextlib.contextmanager
def _holding(libraries):
    """One thread in each of ``libraries`` while the block runs."""
    own = [lib for lib in libraries if _per_thread(lib)]
    shared = [lib for lib in libraries if not _per_thread(lib)]
    # Per-thread libraries: this thread's own count, saved and restored here.
    saved = [(lib, lib.num_threads) for lib in own if lib.num_threads > 1]
    held = []
    try:
        for lib, _ in saved:
            lib.set_num_threads(1)
        with _lock:
            for lib in shared:
                entry = _held.get(lib.filepath)
                if entry is not None:
                    entry[0] += 1
                else:
                    before = lib.num_threads
                    if before > 1 and not _set_threads(lib, 1):
                        continue  # another thread controls it: left to that thread
                    _held[lib.filepath] = [1, before]
                held.append(lib)
        yield
    finally:
        with _lock:
            for lib in held:
                entry = _held[lib.filepath]
                entry[0] -= 1
                if entry[0] == 0:
                    del _held[lib.filepath]
                    if lib.num_threads != entry[1]:
                        _set_threads(lib, entry[1])
        for lib, n in saved:
            lib.set_num_threads(n)


def fit_thread_limits(layer_sizes, rows):
    """The limits for a fit whose largest product has ``rows`` rows.

    A context manager: one BLAS thread everywhere for a network whose
    products are all small, else one thread in the BLAS libraries other than
    numpy's; restored when the last overlapping fit leaves.
    """
    largest = rows * max(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
    libraries = _blas_libraries()
    return _holding(libraries["all" if largest < SMALL_PRODUCT else "others"])
