"""skbpnn.plotting: the drawn pictures hold the estimator's numbers."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbpnn import BackpropClassifier
from skbpnn.plotting import HiddenUnitsDisplay, LossCurveDisplay, hidden_unit_images

matplotlib = pytest.importorskip(
    "matplotlib", reason='matplotlib is not installed (pip install "skbpnn[plot]")'
)
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(scope="module")
def fitted(quiet_fit):
    # 15 iterations, not converged: the pictures need weights, not a good
    # network, so the ConvergenceWarning is left out.
    X, y = load_digits(return_X_y=True)
    clf = BackpropClassifier(hidden_layer_sizes=(6,), max_iter=15, random_state=0)
    return quiet_fit(make_pipeline(StandardScaler(), clf), X[:300], y[:300])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_hidden_unit_images_tiles_each_unit_scaled():
    weights = np.array([[1.0, -2.0, 0.5, 4.0], [0.0, 0.0, 0.0, 0.0]])
    mosaic = hidden_unit_images(weights, n_cols=2, pad=1)
    assert mosaic.shape == (1 * (2 + 1) + 1, 2 * (2 + 1) + 1)
    np.testing.assert_array_equal(mosaic[1:3, 1:3], [[0.25, -0.5], [0.125, 1.0]])
    np.testing.assert_array_equal(mosaic[1:3, 4:6], 0.0)  # a zero unit stays 0
    assert np.isnan(mosaic[0]).all() and np.isnan(mosaic[:, 3]).all()


def test_hidden_unit_images_non_square_inputs_are_rows():
    assert hidden_unit_images(np.ones((3, 5)), n_cols=1).shape == (7, 7)
    with pytest.raises(ValueError, match="does not hold 5"):
        hidden_unit_images(np.ones((3, 5)), image_shape=(2, 2))


def test_hidden_units_display_from_pipeline(fitted):
    clf = fitted[-1]
    _, ax = plt.subplots()
    display = HiddenUnitsDisplay.from_estimator(fitted, ax=ax)
    assert display.ax_ is ax and display.figure_ is ax.figure
    image = display.im_.get_array()
    # 6 units of 8x8 pixels on a 3x3 grid with 1 pixel of padding.
    assert image.shape == (2 * 9 + 1, 3 * 9 + 1)
    unit0 = clf.thetas_[0][0, 1:].reshape(8, 8)
    np.testing.assert_allclose(image[1:9, 1:9], unit0 / np.abs(unit0).max())
    assert ax.get_title() == "6 hidden units (input weights)"


# 5 iterations: the titles need a fitted network, not a converged one.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_no_hidden_layer_draws_the_output_units():
    # Logistic regression: the first layer's units are the output units.
    X, y = load_digits(n_class=3, return_X_y=True)
    clf = BackpropClassifier(hidden_layer_sizes=(), max_iter=5, random_state=0)
    clf.fit(X / 16, y)
    display = HiddenUnitsDisplay.from_estimator(clf)
    assert display.ax_.get_title() == "3 output units (input weights)"
    clf.fit(X[y < 2] / 16, y[y < 2])  # binary: K = 1
    display = HiddenUnitsDisplay.from_estimator(clf)
    assert display.ax_.get_title() == "1 output unit (input weights)"


def test_loss_curve_display(fitted):
    clf = fitted[-1]
    display = LossCurveDisplay.from_estimator(clf)
    x, y = display.line_.get_data()
    np.testing.assert_array_equal(y, clf.loss_curve_)
    np.testing.assert_array_equal(x, np.arange(1, len(clf.loss_curve_) + 1))
    assert display.ax_.get_yscale() == "log"
    assert display.line_.get_label() == "lambda_=1"
    # plot() again on another Axes, the scikit-learn Display convention
    _, ax = plt.subplots()
    assert display.plot(ax=ax, log_scale=False).ax_ is ax


def test_loss_curve_display_of_an_evidence_fit(quiet_fit):
    """With ``lambda_="evidence"`` the label gives the lambda_ chosen (the
    string "evidence" made the default label's format fail)."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    clf = quiet_fit(BackpropClassifier((3,), lambda_="evidence", random_state=0), X, y)
    display = LossCurveDisplay.from_estimator(clf)
    np.testing.assert_array_equal(display.line_.get_data()[1], clf.loss_curve_)
    assert display.line_.get_label() == f"lambda_={clf.fitted_lambda_:g} (evidence)"


def test_unfitted_estimator_is_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(BackpropClassifier())


def test_import_without_matplotlib_and_clear_error():
    # A blocked matplotlib: importing skbpnn.plotting works, drawing says how
    # to install it.
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import skbpnn.plotting as p\n"
        "try:\n"
        "    p.LossCurveDisplay([1.0, 0.5]).plot()\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    # quoted: zsh reads unquoted brackets as a glob pattern
    assert 'pip install "skbpnn[plot]"' in out
