"""The array API path (skbpnn/_array_api.py) against the numpy path.

The numpy path is the reference (it is held to the textbook loops,
MLPClassifier and numerical gradients in test_evaluation.py and
test_backprop.py): the same cost and gradient to 1e-12 relative in float64,
the same fit after the same iterations, the same predictions, in
array-api-strict and PyTorch on the CPU. scikit-learn's own array API checks
run in test_common.py.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.fixes import parse_version

from skbpnn import BackpropClassifier
from skbpnn import _array_api as aa

# scikit-learn's array API dispatch needs scipy >= 1.14 (with SCIPY_ARRAY_API=1,
# which conftest.py sets): on older scipy these tests cannot run at all.
if parse_version(scipy.__version__) < parse_version("1.14"):
    pytest.skip(
        f"array API dispatch needs scipy >= 1.14; this is scipy {scipy.__version__}",
        allow_module_level=True,
    )
xs = pytest.importorskip("array_api_strict")
try:
    import torch
except ImportError:
    torch = None

TORCH_ABSENT = "torch is not installed (pip install torch==2.13.0 for its CPU build)"
# Worded as scikit-learn's own CUDA skips, which .ci/run allows (no GPU there).
NO_CUDA = "PyTorch test requires cuda, which is not available"


def _namespaces():
    """(name, to_device) for each namespace and device tested here."""
    yield pytest.param(
        lambda a: xs.asarray(a, device=xs.Device("CPU_DEVICE")),
        id="array_api_strict",
    )
    yield pytest.param(
        lambda a: xs.asarray(a, device=xs.Device("device1")),
        id="array_api_strict-device1",
    )
    yield pytest.param(
        (lambda a: torch.asarray(a, device="cpu")) if torch is not None else None,
        marks=pytest.mark.skipif(torch is None, reason=TORCH_ABSENT),
        id="torch-cpu",
    )
    cuda = torch is not None and torch.cuda.is_available()
    yield pytest.param(
        (lambda a: torch.asarray(a, device="cuda")) if cuda else None,
        marks=pytest.mark.skipif(
            not cuda, reason=TORCH_ABSENT if torch is None else NO_CUDA
        ),
        id="torch-cuda",
    )


NAMESPACES = list(_namespaces())


@pytest.fixture
def dispatch():
    with config_context(array_api_dispatch=True):
        yield


def _data(dtype=np.float64, n_classes=3, m=120, seed=0):
    X, y = make_classification(
        m, 8, n_informative=5, n_classes=n_classes, random_state=seed
    )
    return X.astype(dtype), y


def _fun(X, y, layer_sizes, lambda_, **fit_params):
    data = BackpropClassifier(**fit_params)._training_data(X, y, None, reset=True)
    return data.make_fun(layer_sizes, lambda_)


@pytest.mark.parametrize("to_device", NAMESPACES)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_cost_and_gradient_equal_numpys(to_device, n_classes, dispatch):
    X, y = _data(n_classes=n_classes)
    sizes = (8, 6, 5, 1 if n_classes == 2 else n_classes)
    theta = np.random.RandomState(1).uniform(-2, 2, size=200)
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    theta = theta[:n_params]
    fun_np, rows = _fun(X, y, sizes, 0.7)
    fun_xp, rows_xp = _fun(to_device(X), to_device(y), sizes, 0.7)
    assert rows_xp == 0  # no product in the host's BLAS: it gets one thread
    J, grad = fun_np(theta)
    J_xp, grad_xp = fun_xp(theta)
    assert isinstance(J_xp, float) and grad_xp.dtype == np.float64
    assert_allclose(J_xp, J, rtol=1e-12)
    assert_allclose(grad_xp, grad, rtol=1e-12, atol=1e-12 * np.abs(grad).max())


@pytest.mark.parametrize("to_device", NAMESPACES)
def test_cost_over_row_blocks_equals_one_block(to_device, dispatch):
    X, y = _data(m=300)
    sizes = (8, 7, 3)
    theta = np.random.RandomState(2).uniform(-1, 1, size=9 * 7 + 8 * 3)
    J, grad = _fun(to_device(X), to_device(y), sizes, 1.0)[0](theta)
    with config_context(working_memory=0.001):  # blocks of a few rows
        assert aa.rows_per_block(sizes, np.float64) < 300
        J_b, grad_b = _fun(to_device(X), to_device(y), sizes, 1.0)[0](theta)
    assert_allclose(J_b, J, rtol=1e-12)
    assert_allclose(grad_b, grad, rtol=1e-12, atol=1e-14)


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BackpropClassifier(
            hidden_layer_sizes=(10,), random_state=0, max_iter=25, tol=0, **params
        ).fit(X, y)


@pytest.mark.parametrize("to_device", NAMESPACES)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_fit_equals_numpys_fit(to_device, n_classes, dispatch):
    X, y = _data(n_classes=n_classes)
    ref = _fit(X, y)
    X_xp = to_device(X)
    est = _fit(X_xp, to_device(y))
    assert est.n_iter_ == ref.n_iter_ == 25
    assert_allclose(est.loss_, ref.loss_, rtol=1e-9)
    assert_allclose(aa.to_numpy(est.theta_), ref.theta_, rtol=1e-6, atol=1e-8)
    assert_array_equal(aa.to_numpy(est.predict(X_xp)), ref.predict(X))
    for method in ("predict_proba", "predict_log_proba", "decision_function"):
        result = getattr(est, method)(X_xp)
        assert aa.namespace(result) is not None
        assert result.device == X_xp.device
        assert_allclose(
            aa.to_numpy(result), getattr(ref, method)(X), rtol=1e-6, atol=1e-9
        )


@pytest.mark.parametrize("to_device", NAMESPACES)
def test_float32_evaluates_in_float32(to_device, dispatch):
    X, y = _data(np.float32)
    ref = _fit(X, y)
    est = _fit(to_device(X), to_device(y))
    assert est.theta_.dtype == aa.array_namespace(est.theta_).float64
    assert_allclose(est.loss_, ref.loss_, rtol=1e-4)
    proba = est.predict_proba(to_device(X))
    assert proba.dtype == aa.array_namespace(proba).float32
    assert_allclose(aa.to_numpy(proba), ref.predict_proba(X), atol=1e-3)


def test_device_without_float64(dispatch):
    """array-api-strict's no_float64 device raises whenever float64 is asked for."""
    device = xs.Device("no_float64")
    X, y = _data(np.float32)
    X_d, y_d = xs.asarray(X, device=device), xs.asarray(y, device=device)
    with pytest.raises(ValueError, match="does not support"):
        xs.asarray(X.astype(np.float64), device=device)
    ref = _fit(X, y)
    est = _fit(X_d, y_d, class_weight="balanced")
    est = _fit(X_d, y_d)
    assert est.theta_.dtype == xs.float32 and est.theta_.device == device
    assert_allclose(est.loss_, ref.loss_, rtol=1e-4)
    for method in ("predict", "predict_proba", "predict_log_proba"):
        result = getattr(est, method)(X_d)
        assert result.device == device
    assert_array_equal(aa.to_numpy(est.predict(X_d)), ref.predict(X))


@pytest.mark.skipif(torch is None, reason=TORCH_ABSENT)
def test_fitted_weights_are_views_of_theta_(dispatch):
    X, y = _data()
    est = _fit(torch.asarray(X), torch.asarray(y))
    theta = est.theta_
    assert isinstance(theta, torch.Tensor)
    storage = theta.untyped_storage().data_ptr()
    ref = _fit(X, y)
    for Theta, coef, intercept, Theta_ref in zip(
        est.thetas_, est.coefs_, est.intercepts_, ref.thetas_
    ):
        for view in (Theta, coef, intercept):
            assert view.untyped_storage().data_ptr() == storage
        assert_allclose(Theta.numpy(), Theta_ref, rtol=1e-6, atol=1e-8)
    assert_allclose(est.coefs_[1].numpy(), ref.coefs_[1], rtol=1e-6, atol=1e-8)
    theta[0] = 123.0
    assert est.thetas_[0][0, 0] == 123.0  # the views read theta_ itself

    clone = pickle.loads(pickle.dumps(est))
    assert isinstance(clone.theta_, torch.Tensor)
    assert_allclose(
        clone.predict_proba(torch.asarray(X)).numpy(),
        est.predict_proba(torch.asarray(X)).numpy(),
    )


@pytest.mark.parametrize("to_device", NAMESPACES)
def test_weights_and_multilabel(to_device, dispatch):
    X, y = _data(n_classes=3)
    w = np.random.RandomState(0).randint(0, 3, size=y.shape[0]).astype(float)
    ref = _fit(X, y, class_weight={0: 2.0})
    est = _fit(to_device(X), to_device(y), class_weight={0: 2.0})
    assert_allclose(est.loss_, ref.loss_, rtol=1e-9)
    # Zero weights and integer weights: the numpy path merges and drops rows,
    # this path weights them; equal up to rounding.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = BackpropClassifier((10,), random_state=0, max_iter=25, tol=0).fit(
            X, y, sample_weight=w
        )
        est = BackpropClassifier((10,), random_state=0, max_iter=25, tol=0).fit(
            to_device(X), to_device(y), sample_weight=to_device(w)
        )
    assert_allclose(est.loss_, ref.loss_, rtol=1e-9)

    Y = np.stack([y == 0, y == 1], axis=1).astype(np.int64)
    ref = _fit(X, Y)
    est = _fit(to_device(X), to_device(Y))
    assert_allclose(est.loss_, ref.loss_, rtol=1e-9)
    X_xp = to_device(X)
    assert_array_equal(aa.to_numpy(est.predict(X_xp)), ref.predict(X))
    assert_allclose(aa.to_numpy(est.predict_proba(X_xp)), ref.predict_proba(X))


@pytest.mark.parametrize("to_device", NAMESPACES)
def test_warm_start_continues_on_host(to_device, dispatch):
    X, y = _data()
    X_xp, y_xp = to_device(X), to_device(y)
    est = _fit(X_xp, y_xp, warm_start=True)
    first = aa.to_numpy(est.theta_).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.set_params(max_iter=1).fit(X_xp, y_xp)
    assert not np.array_equal(aa.to_numpy(est.theta_), first)
    assert est.loss_ < est.loss_curve_[0] + 1e-12


def test_string_labels_come_back_as_numpy(dispatch):
    X, y = _data(n_classes=2)
    labels = np.array(["no", "yes"])[y]
    est = _fit(xs.asarray(X), labels)
    assert_array_equal(est.predict(xs.asarray(X)), _fit(X, labels).predict(X))


def test_other_namespace_at_predict_raises(dispatch):
    X, y = _data()
    est = _fit(xs.asarray(X), xs.asarray(y))
    with pytest.raises(ValueError, match=r"BackpropClassifier.predict\(\) must use"):
        est.predict(X)
    with pytest.raises(ValueError, match="must use the same namespace"):
        est.predict_proba(xs.asarray(X, device=xs.Device("device1")))
    with config_context(array_api_dispatch=False):
        with pytest.raises(ValueError, match="fitted on array_api_strict arrays"):
            est.predict(X)
    numpy_fit = _fit(X, y)
    with pytest.raises(ValueError, match="must use the same namespace"):
        numpy_fit.predict(xs.asarray(X))


def test_numpy_input_under_dispatch_takes_the_numpy_path(dispatch):
    X, y = _data()
    est = _fit(X, y)
    assert isinstance(est.theta_, np.ndarray)
    assert_array_equal(est.theta_, _fit_without_dispatch(X, y).theta_)


def _fit_without_dispatch(X, y):
    with config_context(array_api_dispatch=False):
        return _fit(X, y)


@pytest.mark.parametrize("to_device", NAMESPACES)
def test_ufunc_steps_equal_the_array_api_steps(to_device, dispatch):
    """The ``out=`` forms written for CuPy, run here with numpy's ufuncs."""
    from scipy.special import expit

    X, y = _data(m=50)
    X_xp = to_device(X)
    xp = aa.array_namespace(X_xp)
    z = np.linspace(-800, 800, 41)
    generic = aa.to_numpy(aa._Ops(xp).sigmoid_(to_device(z)))
    ufunc = aa._UfuncOps(np, np, expit).sigmoid_(z.copy())
    assert_allclose(generic, ufunc, rtol=1e-15, atol=1e-300)  # subnormals
    assert_allclose(generic, expit(z), rtol=1e-15, atol=1e-300)
    sizes = (8, 4, 3)
    theta = np.random.RandomState(0).uniform(-1, 1, size=9 * 4 + 5 * 3)
    Y = np.eye(3)[y]
    shapes = [(4, 9), (3, 5)]
    cost_np, grad_np = aa.data_cost_and_gradient(
        theta, X, Y, None, shapes, 50, aa._UfuncOps(np, np, expit), np.float64
    )
    J, grad = _fun(X_xp, to_device(y), sizes, 0.0)[0](theta)
    assert_allclose(float(cost_np) / 50, J, rtol=1e-12)
    assert_allclose(grad_np / 50, grad, rtol=1e-12, atol=1e-15)
