"""Tests of BackpropClassifier: targets, attributes, options, and its peers."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import is_classifier
from sklearn.datasets import load_digits, make_blobs, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted

from skbpnn import BackpropClassifier
from skbpnn import backprop as bp


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=120, centers=3, n_features=4, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def binary():
    X, y = make_blobs(
        n_samples=100, centers=2, n_features=3, cluster_std=3.0, random_state=1
    )
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def multilabel():
    X, Y = make_multilabel_classification(
        n_samples=80, n_features=5, n_classes=3, random_state=0
    )
    return StandardScaler().fit_transform(X), Y


def mlp_with_weights(clf, X, y):
    """An MLPClassifier(logistic) carrying clf's weights."""
    mlp = MLPClassifier(
        hidden_layer_sizes=clf.layer_sizes_[1:-1],
        activation="logistic",
        solver="lbfgs",
        max_iter=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)
    mlp.coefs_ = [c.copy() for c in clf.coefs_]
    mlp.intercepts_ = [b.copy() for b in clf.intercepts_]
    return mlp


# --------------------------------------------------------------------------
# Fitted attributes
# --------------------------------------------------------------------------


def test_is_a_classifier():
    # ClassifierMixin before BaseEstimator: see the comment in _classifier.py
    assert is_classifier(BackpropClassifier())


def test_fitted_attributes_are_views_of_theta(quiet_fit, blobs):
    X, y = blobs
    clf = quiet_fit(BackpropClassifier(hidden_layer_sizes=(6, 5), random_state=0), X, y)
    assert clf.layer_sizes_ == (4, 6, 5, 3)
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 3
    assert clf.out_activation_ == "logistic"
    assert clf.n_features_in_ == 4
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.theta_.shape == (6 * 5 + 5 * 7 + 3 * 6,)
    assert [T.shape for T in clf.thetas_] == bp.layer_shapes(clf.layer_sizes_)
    for T, W, b in zip(clf.thetas_, clf.coefs_, clf.intercepts_):
        assert np.shares_memory(T, clf.theta_)
        assert np.shares_memory(W, clf.theta_) and np.shares_memory(b, clf.theta_)
        assert_array_equal(W, T[:, 1:].T)
        assert_array_equal(b, T[:, 0])
        assert W.flags.c_contiguous  # MLPClassifier's coefs_ layout
    # writing through a view writes the one vector
    clf.coefs_[1][0, 0] = 123.0
    assert clf.thetas_[1][0, 1] == 123.0
    assert 123.0 in clf.theta_


def test_loss_curve_and_loss(quiet_fit, blobs):
    X, y = blobs
    clf = quiet_fit(BackpropClassifier(random_state=0), X, y)
    assert len(clf.loss_curve_) == clf.n_iter_ > 0
    assert clf.loss_curve_[-1] == pytest.approx(clf.loss_, rel=1e-12)
    assert np.all(np.diff(clf.loss_curve_) <= 1e-12)  # L-BFGS descends
    Y = np.eye(3)[y]
    assert clf.loss_ == pytest.approx(
        bp.cost(clf.theta_, X, Y, clf.layer_sizes_, clf.lambda_), rel=1e-12
    )


def test_unfitted_estimator_is_not_fitted():
    clf = BackpropClassifier()
    # lambda_ ends with "_": check_is_fitted must still see an unfitted model
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    with pytest.raises(NotFittedError):
        clf.predict(np.zeros((2, 3)))
    for name in ("thetas_", "coefs_", "intercepts_"):
        assert not hasattr(clf, name)


def test_pickle_holds_the_weights_once(quiet_fit, blobs):
    X, y = blobs
    clf = quiet_fit(BackpropClassifier(hidden_layer_sizes=(2000,), max_iter=5), X, y)
    data = pickle.dumps(clf)
    assert clf.theta_.nbytes > 100_000
    # theta_ once plus small change; three more copies would be 4x
    assert len(data) < 1.2 * clf.theta_.nbytes + 5_000
    loaded = pickle.loads(data)
    assert_array_equal(loaded.theta_, clf.theta_)
    assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert np.shares_memory(loaded.coefs_[0], loaded.theta_)


# --------------------------------------------------------------------------
# Targets and predictions
# --------------------------------------------------------------------------


def test_binary_uses_one_output_and_matches_mlpclassifier(quiet_fit, binary):
    X, y = binary
    labels = np.array(["no", "yes"])[y]
    clf = quiet_fit(BackpropClassifier(random_state=0), X, labels)
    assert clf.n_outputs_ == 1
    assert_array_equal(clf.classes_, ["no", "yes"])
    mlp = mlp_with_weights(clf, X, labels)
    assert_allclose(clf.predict_proba(X), mlp.predict_proba(X), rtol=1e-13)
    assert_array_equal(clf.predict(X), mlp.predict(X))
    z = clf.decision_function(X)
    assert z.shape == (len(X),)
    assert_array_equal(clf.predict(X), np.where(z > 0, "yes", "no"))
    assert clf.score(X, labels) > 0.7


def test_multilabel_matches_mlpclassifier(quiet_fit, multilabel):
    X, Y = multilabel
    clf = quiet_fit(BackpropClassifier(random_state=0), X, Y)
    assert clf.n_outputs_ == 3
    mlp = mlp_with_weights(clf, X, Y)
    proba = clf.predict_proba(X)
    assert_allclose(proba, mlp.predict_proba(X), rtol=1e-13)
    assert_array_equal(clf.predict(X), mlp.predict(X))
    assert_array_equal(clf.predict(X), (proba > 0.5).astype(int))
    assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-12)


def test_multilabel_proba_strictly_inside_unit_interval(quiet_fit, multilabel):
    X, Y = multilabel
    clf = quiet_fit(BackpropClassifier(random_state=0, max_iter=5), X, Y)
    clf.theta_ *= 1e4  # saturate every output
    proba = clf.predict_proba(X)
    assert np.all(proba > 0) and np.all(proba < 1)


def test_multiclass_proba_is_normalized_sigmoid_outputs(quiet_fit, blobs):
    X, y = blobs
    clf = quiet_fit(BackpropClassifier(random_state=0), X, y)
    h = bp.feedforward(clf.theta_, X, clf.layer_sizes_)
    assert_allclose(clf.predict_proba(X), h / h.sum(axis=1, keepdims=True), rtol=1e-13)
    assert_array_equal(clf.predict(X), clf.classes_[np.argmax(h, axis=1)])
    assert_allclose(
        clf.decision_function(X),
        bp.feedforward(clf.theta_, X, clf.layer_sizes_, return_z=True),
        rtol=1e-15,
    )
    assert clf.score(X, y) > 0.95


def test_predict_log_proba_is_stable(quiet_fit, blobs, binary):
    for X, y in (blobs, binary):
        clf = quiet_fit(BackpropClassifier(random_state=0, max_iter=5), X, y)
        clf.theta_ *= 1e3  # outputs saturate: log(predict_proba) would be -inf
        log_proba = clf.predict_log_proba(X)
        assert np.all(np.isfinite(log_proba))
        assert np.any(log_proba < -800)  # beyond float64 exp underflow
        proba = clf.predict_proba(X)
        representable = proba > 1e-300
        assert_allclose(
            log_proba[representable],
            np.log(proba[representable]),
            rtol=1e-9,
            atol=1e-15,
        )


def test_string_and_integer_labels_give_the_same_model(quiet_fit, blobs):
    X, y = blobs
    names = np.array(["setosa", "versicolor", "virginica"])
    a = quiet_fit(BackpropClassifier(random_state=0), X, y)
    b = quiet_fit(BackpropClassifier(random_state=0), X, names[y])
    assert_array_equal(a.theta_, b.theta_)
    assert_array_equal(names[a.predict(X)], b.predict(X))


def test_no_hidden_layer_is_regularized_logistic_regression(quiet_fit, binary):
    X, y = binary
    lambda_ = 2.0
    # (1/m) sum loss + lambda/(2m) |w|^2 is (lambda/m) times LogisticRegression's
    # C sum loss + |w|^2 / 2 with C = 1/lambda: the same minimizer.
    lr = LogisticRegression(C=1 / lambda_, tol=1e-12, max_iter=10_000).fit(X, y)
    theta_lr = bp.unroll([np.r_[lr.intercept_, lr.coef_.ravel()].reshape(1, -1)])
    _, grad = bp.cost_and_gradient(theta_lr, X, y.reshape(-1, 1), (3, 1), lambda_)
    assert np.abs(grad).max() < 1e-9  # its optimum is a stationary point of J
    clf = BackpropClassifier(hidden_layer_sizes=(), lambda_=lambda_, tol=1e-10)
    quiet_fit(clf, X, y)
    # our own L-BFGS stops at its tolerances (scipy's ftol lets the cost stop
    # some 1e-9 relative above the minimum): near that optimum, not on it
    assert_allclose(clf.theta_, theta_lr, rtol=1e-3)
    # How far above: the closed-form Hessian of regularized logistic regression,
    # H = (X1^T diag(p (1 - p)) X1 + lambda M) / m, gives the gap to the minimum
    # as g^T H^-1 g / 2 to second order, g the gradient where the fit stopped.
    m = len(y)
    X1 = np.c_[np.ones(m), X]
    p = 1 / (1 + np.exp(-X1 @ theta_lr))
    H = (X1.T * (p * (1 - p))) @ X1 / m + lambda_ / m * np.diag([0.0, 1, 1, 1])
    _, g = bp.cost_and_gradient(clf.theta_, X, y.reshape(-1, 1), (3, 1), lambda_)
    gap = clf.loss_ - bp.cost(theta_lr, X, y, (3, 1), lambda_)
    quadratic = g @ np.linalg.solve(H, g) / 2
    rounding = m * np.finfo(float).eps * clf.loss_  # two sums of m terms
    assert -rounding <= gap <= 2 * quadratic + rounding  # 2: the model's slack


def test_sparse_input_fits_like_dense(quiet_fit, blobs):
    X, y = blobs
    X = X * (np.abs(X) > 0.5)
    dense = quiet_fit(BackpropClassifier(random_state=0, max_iter=15), X, y)
    for container in (sp.csr_matrix, sp.csc_array):
        sparse = quiet_fit(
            BackpropClassifier(random_state=0, max_iter=15), container(X), y
        )
        assert_allclose(sparse.theta_, dense.theta_, rtol=1e-8, atol=1e-10)
        assert_allclose(
            sparse.predict_proba(container(X)), dense.predict_proba(X), rtol=1e-8
        )


def test_float32_input_is_computed_in_float32(quiet_fit, blobs):
    X, y = blobs
    X32 = X.astype(np.float32)
    clf64 = quiet_fit(BackpropClassifier(random_state=0, max_iter=20), X, y)
    clf32 = quiet_fit(BackpropClassifier(random_state=0, max_iter=20), X32, y)
    assert clf32.theta_.dtype == np.float64  # L-BFGS runs in float64
    assert clf32.decision_function(X32).dtype == np.float32
    assert clf64.decision_function(X).dtype == np.float64
    assert_allclose(clf32.loss_, clf64.loss_, rtol=1e-4)
    assert np.mean(clf32.predict(X32) == clf64.predict(X)) > 0.95


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


def test_class_weight(quiet_fit, blobs):
    X, y = blobs
    balanced = quiet_fit(
        BackpropClassifier(random_state=0, class_weight="balanced"), X[10:], y[10:]
    )
    manual = quiet_fit(
        BackpropClassifier(random_state=0),
        X[10:],
        y[10:],
        sample_weight=compute_sample_weight("balanced", y[10:]),
    )
    assert_allclose(balanced.theta_, manual.theta_, rtol=1e-12)
    as_dict = quiet_fit(BackpropClassifier(random_state=0, class_weight={0: 3.0}), X, y)
    w = np.where(y == 0, 3.0, 1.0)
    manual = quiet_fit(BackpropClassifier(random_state=0), X, y, sample_weight=w)
    assert_allclose(as_dict.theta_, manual.theta_, rtol=1e-12)
    with pytest.raises(ValueError, match="class"):
        BackpropClassifier(class_weight={7: 2.0}).fit(X, y)


@pytest.mark.parametrize("weight", [-1.0, np.nan, np.inf])
def test_class_weight_must_be_finite_and_non_negative(blobs, weight):
    # Before, -1 fitted to a cost of -9e7 (the cost unbounded below), and
    # NaN and inf failed later with messages about a zero sum or large
    # features.
    X, y = blobs
    with pytest.raises(ValueError, match="class_weight must be finite and non-neg"):
        BackpropClassifier(class_weight={0: weight}).fit(X, y)


def test_class_weight_is_refused_for_multilabel(multilabel):
    X, Y = multilabel
    with pytest.raises(ValueError, match="class_weight"):
        BackpropClassifier(class_weight="balanced").fit(X, Y)


def test_verbose_prints_one_line_per_iteration(quiet_fit, blobs, capsys):
    X, y = blobs
    clf = quiet_fit(BackpropClassifier(random_state=0, max_iter=7, verbose=1), X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == clf.n_iter_ == 7
    assert lines[0].split()[:2] == ["Iteration", "1"]
    assert "cost" in lines[0] and "|grad|" in lines[0] and lines[0].endswith("s")
    assert float(lines[-1].split()[3]) == pytest.approx(clf.loss_, rel=1e-7)
    quiet_fit(BackpropClassifier(random_state=0, max_iter=7), X, y)
    assert capsys.readouterr().out == ""


def test_convergence_warning_when_iterations_run_out(blobs):
    X, y = blobs
    with pytest.warns(ConvergenceWarning, match="max_iter") as record:
        BackpropClassifier(random_state=0, max_iter=2).fit(X, y)
    assert record[0].filename == __file__  # points at the user's fit call
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        BackpropClassifier(hidden_layer_sizes=(), random_state=0, max_iter=1000).fit(
            X, y
        )


def test_warm_start_continues_from_previous_weights(quiet_fit, blobs):
    X, y = blobs
    clf = BackpropClassifier(random_state=0, max_iter=10, warm_start=True)
    quiet_fit(clf, X, y)
    first = clf.theta_.copy()
    first_loss = clf.loss_
    quiet_fit(clf, X, y)
    assert clf.loss_ < first_loss
    # it started where it stopped: the first iterate's cost is below first_loss
    assert clf.loss_curve_[0] < first_loss
    cold = quiet_fit(BackpropClassifier(random_state=0, max_iter=10), X, y)
    assert_array_equal(cold.theta_, first)
    # new hidden sizes: a fresh start with the new shapes
    clf.set_params(hidden_layer_sizes=(4,))
    quiet_fit(clf, X, y)
    assert clf.layer_sizes_ == (4, 4, 3)
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X, np.where(y == 2, 1, y))


def test_non_finite_weights_raise(quiet_fit, blobs, monkeypatch):
    X, y = blobs
    real = scipy.optimize.minimize

    def broken(*args, **kwargs):
        result = real(*args, **kwargs)
        result.x[0] = np.nan
        return result

    monkeypatch.setattr(scipy.optimize, "minimize", broken)
    with pytest.raises(ValueError, match="non-finite"):
        quiet_fit(BackpropClassifier(max_iter=2), X, y)


@pytest.mark.parametrize(
    "params, name",
    [
        ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": (5, -1)}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": (2.5,)}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": 0}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": "25"}, "hidden_layer_sizes"),
        ({"lambda_": -1.0}, "lambda_"),
        ({"lambda_": np.nan}, "lambda_"),
        ({"lambda_": np.inf}, "lambda_"),
        ({"epsilon_init": 0.0}, "epsilon_init"),
        ({"epsilon_init": -0.1}, "epsilon_init"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 2.5}, "max_iter"),
        ({"tol": -1e-3}, "tol"),
        ({"max_fun": 0}, "max_fun"),
        ({"random_state": "seed"}, "random_state"),
        ({"verbose": -1}, "verbose"),
        ({"warm_start": "yes"}, "warm_start"),
        ({"class_weight": "auto"}, "class_weight"),
    ],
)
def test_invalid_parameters_name_the_parameter(blobs, params, name):
    X, y = blobs
    with pytest.raises(ValueError, match=name):
        BackpropClassifier(**params).fit(X, y)


def test_single_class_is_refused(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="only one class"):
        BackpropClassifier().fit(X, np.zeros(len(X)))
    y = np.arange(len(X)) % 2
    with pytest.raises(ValueError, match="Only one class has positive sample_weight"):
        BackpropClassifier().fit(X, y, sample_weight=(y == 1).astype(float))


# --------------------------------------------------------------------------
# In scikit-learn's tools, against MLPClassifier
# --------------------------------------------------------------------------


def test_digits_pipeline_reaches_095_held_out(quiet_fit):
    """The course's accuracy floor on the digits, with the default network.
    (The side-by-side with MLPClassifier is benchmarks/run.py's.)"""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    pipe = make_pipeline(StandardScaler(), BackpropClassifier(random_state=0))
    assert quiet_fit(pipe, X_train, y_train).score(X_test, y_test) > 0.95


def test_html_display_links_to_the_api_page():
    link = "https://skbpnn.readthedocs.io/en/stable/gen_modules/"
    assert BackpropClassifier()._get_doc_link() == (
        link + "skbpnn.BackpropClassifier.html"
    )
    assert link in BackpropClassifier()._repr_html_()
