"""scikit-learn's estimator checks, every one of them, none expected to fail."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skbpnn import BackpropClassifier


@parametrize_with_checks(
    [
        BackpropClassifier(random_state=0),
        BackpropClassifier(lambda_="evidence", random_state=0),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
