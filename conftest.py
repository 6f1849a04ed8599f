"""Test session set-up shared by tests/ and the doctests in skbpnn/."""

import importlib.util
import os
import warnings

import pytest

# scikit-learn's check_array_api_input is skipped unless SciPy's array API
# support is switched on, and SciPy reads this only when it is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# skbpnn/onnx.py imports without skl2onnx, but its doctest converts a model:
# without the onnx extra it is not collected (tests/test_onnx.py then says
# why it skips).
if importlib.util.find_spec("skl2onnx") is None:
    collect_ignore = ["skbpnn/onnx.py"]


def _quiet_fit(estimator, *args, **kwargs):
    """``estimator.fit(*args, **kwargs)`` without its ConvergenceWarning."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


@pytest.fixture(scope="session")
def quiet_fit():
    """Fit without the ConvergenceWarning of short test fits (``max_iter=5``).

    Session-scoped, so that hypothesis tests may take it too.
    """
    return _quiet_fit
