"""How L-BFGS-B runs end: skbpnn._lbfgs, directly and through fit."""

import itertools
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from skbpnn import BackpropClassifier
from skbpnn import backprop as bp
from skbpnn._lbfgs import STOP_REASONS, run_lbfgs

OPTIONS = dict(max_iter=100, max_fun=1000, tol=1e-8)


def quadratic(theta):
    return float(theta @ theta), 2 * theta


def cost_at_theta(clf, X, y):
    """The cost at the fitted weights, computed afresh by backprop."""
    Y = clf._binarizer.transform(y).astype(float)
    return bp.cost(clf.theta_, X, Y, clf.layer_sizes_, clf.lambda_)


def test_convergence_is_silent_and_said():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run_lbfgs(quadratic, np.ones(3), **OPTIONS)
    assert result.stop_reason == "converged" and "CONVERGENCE" in result.message
    assert result.loss == quadratic(result.theta)[0]
    assert result.loss_curve[-1] == result.loss


@pytest.mark.parametrize(
    "options, reason",
    [(dict(max_iter=2), "max_iter"), (dict(max_fun=2), "max_fun")],
)
def test_limits_warn_with_scipys_status(options, reason):
    def slow(theta):  # a badly scaled quadratic: many iterations
        scale = np.logspace(0, 4, theta.size)
        return float(np.sum(scale * theta**2)), 2 * scale * theta

    with pytest.warns(ConvergenceWarning, match="scipy's status 1") as record:
        result = run_lbfgs(slow, np.ones(6), **{**OPTIONS, **options})
    assert result.stop_reason == reason
    assert reason in str(record[0].message)  # the advice names the limit


def test_a_failed_line_search_warns_and_reports_the_cost_of_theta():
    """A gradient that does not match the cost: every line search fails."""

    def wrong_gradient(theta):
        return float(theta @ theta), -2 * theta  # the wrong sign

    with pytest.warns(ConvergenceWarning, match="status 2") as record:
        result = run_lbfgs(wrong_gradient, np.ones(3), **OPTIONS)
    assert result.stop_reason == "abnormal"
    assert "scale the data" in str(record[0].message)
    assert result.loss == float(result.theta @ result.theta)


def test_callback_stop_is_not_a_failure():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run_lbfgs(
            quadratic, np.ones(3) * 5, **OPTIONS, callback=lambda i, J, t: i == 1
        )
    assert result.stop_reason == "callback" and result.n_iter == 1


def test_stop_reasons_are_documented():
    doc = BackpropClassifier.__doc__
    assert all(f'"{reason}"' in doc for reason in STOP_REASONS)


def test_abnormal_stops_of_fits_warn_and_loss_is_the_cost_at_theta():
    """Iris times 1e15: line-search failures, after which scipy's ``fun`` is
    its last trial point's cost (7427 against 0.70 at theta_ for seed 1 with
    scipy 1.17). Which scales and seeds fail depends on scipy's L-BFGS-B
    version and on the last bits of the cost, so there are several."""
    X_iris, y = load_iris(return_X_y=True)
    reasons = []
    for scale, random_state in itertools.product([1e15, 1e12, 1e8], range(6)):
        X = X_iris * scale
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf = BackpropClassifier(random_state=random_state).fit(X, y)
        reasons.append(clf.stop_reason_)
        assert clf.loss_ == pytest.approx(cost_at_theta(clf, X, y), rel=1e-12)
        assert clf.loss_curve_[-1] == clf.loss_
        warned = [w for w in caught if w.category is ConvergenceWarning]
        assert len(warned) == (clf.stop_reason_ != "converged")
        if clf.stop_reason_ == "abnormal":
            assert "scipy's status 2" in str(warned[0].message)
    assert "abnormal" in reasons


def test_stop_reason_of_fits(quiet_fit):
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        clf = BackpropClassifier(max_iter=3, random_state=0).fit(X, y)
    assert clf.stop_reason_ == "max_iter"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = BackpropClassifier(
            hidden_layer_sizes=(), max_iter=1000, random_state=0
        ).fit(X, y)
    assert clf.stop_reason_ == "converged"
    assert clf.loss_ == pytest.approx(cost_at_theta(clf, X, y), rel=1e-12)
    # a warm start continues from theta_ and says how it ended again
    again = quiet_fit(clf.set_params(warm_start=True, max_iter=2), X, y)
    assert again.stop_reason_ in ("converged", "max_iter")
    assert_array_equal(again.classes_, [0, 1, 2])
