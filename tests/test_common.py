"""scikit-learn's estimator checks, every one of them, none expected to fail."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skbpnn import BackpropClassifier


# The checks fit small random data, unscaled, with the default max_iter: they
# test the API, and some fits end at max_iter. That ConvergenceWarning is
# tested in tests/test_lbfgs.py; here it is a side effect.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([BackpropClassifier(random_state=0)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
