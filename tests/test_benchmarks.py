"""The benchmarks' own machinery, where a package change can break it silently.

No timing here: the benchmarks measure, these tests check that what they
measure still exists. Run from a checkout (the sdist has no ``benchmarks/``,
and leaves this file out).
"""

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name):
    """A script of ``benchmarks/`` as a module (it is not a package); the
    ``sys.path`` entry it adds for running from a checkout is taken back."""
    path = BENCHMARKS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
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
