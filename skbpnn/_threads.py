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

Thread counts are process-wide, and fits run concurrently in real programs
(a web service, GridSearchCV with the threading backend). So every library
keeps a count of the fits that hold it: the first to limit it saves its
thread count, the last to release it restores that count, whatever order
the fits end in. A user's own ``threadpool_limits`` around a fit is the
count saved and restored, and is never raised inside the fit.
"""

import contextlib
import os
import threading

import numpy as np
from threadpoolctl import ThreadpoolController  # a requirement of scikit-learn

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


@contextlib.contextmanager
def _holding(libraries):
    """One thread in each of ``libraries`` while the block runs."""
    with _lock:
        for lib in libraries:
            entry = _held.get(lib.filepath)
            if entry is None:
                _held[lib.filepath] = [1, lib.num_threads]
                if lib.num_threads > 1:
                    lib.set_num_threads(1)
            else:
                entry[0] += 1
    try:
        yield
    finally:
        with _lock:
            for lib in libraries:
                entry = _held[lib.filepath]
                entry[0] -= 1
                if entry[0] == 0:
                    del _held[lib.filepath]
                    if lib.num_threads != entry[1]:
                        lib.set_num_threads(entry[1])


def fit_thread_limits(layer_sizes, rows):
    """The limits for a fit whose largest product has ``rows`` rows.

    A context manager: one BLAS thread everywhere for a network whose
    products are all small, else one thread in the BLAS libraries other than
    numpy's; restored when the last overlapping fit leaves.
    """
    largest = rows * max(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))
    libraries = _blas_libraries()
    return _holding(libraries["all" if largest < SMALL_PRODUCT else "others"])
