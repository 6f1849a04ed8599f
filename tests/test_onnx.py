"""skbpnn.onnx: the exported graph, run by onnxruntime, computes what the
estimator computes, inside and far outside the training range.

The printed lines are the agreement figures (``pytest -rP``).
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy.special import log_expit, logsumexp
from sklearn.compose import ColumnTransformer
from sklearn.datasets import (
    load_breast_cancer,
    load_iris,
    make_multilabel_classification,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skbpnn import BackpropClassifier
from skbpnn import backprop as bp

skl2onnx = pytest.importorskip(
    "skl2onnx", reason='skl2onnx is not installed (pip install "skbpnn[onnx]")'
)
ort = pytest.importorskip(
    "onnxruntime", reason='onnxruntime is not installed (pip install "skbpnn[test]")'
)
pd = pytest.importorskip("pandas", reason="pandas is not installed")
import skbpnn.onnx  # noqa: E402  (registers the converter)
from skbpnn.onnx import INSTALL_HINT, register, to_onnx  # noqa: E402

# The tolerances of the issue: float32 and float64 graphs against the
# estimator's predict_proba on the same input. Far from the training data a
# float32 graph may differ by more, by rounding alone: there the tolerance is
# also the forward error bound of the two float32 computations
# (_float32_error_bound), which depends on the input and not on which BLAS
# kernel (summation order) either side happens to use.
TOL = {np.float32: 1e-6, np.float64: 1e-12}
SCALES = (1.0, 1e3, 1e6)  # 1e3 and 1e6: far outside the training range


def _scalers(model):
    """The StandardScalers a pipeline applies before the classifier."""
    if isinstance(model, StandardScaler):
        return [model]
    if isinstance(model, Pipeline):
        return [s for _, step in model.steps[:-1] for s in _scalers(step)]
    if isinstance(model, ColumnTransformer):
        return [s for t in model.named_transformers_.values() for s in _scalers(t)]
    return []


def _float32_error_bound(model, X):
    """A bound on |float32 predict_proba - exact| per entry, times 2 (two sides).

    The exact values are those of real arithmetic on the float32 input and the
    float32 weights. With u the unit roundoff, a computed ``z = b + W a`` of n
    terms is within ``gamma_(n+1) (|b| + |W| |a|)`` of the exact one on the
    computed ``a`` (Higham, Accuracy and Stability of Numerical Algorithms,
    section 3.1), and an input error ``da`` adds ``|W| da``; a sigmoid adds
    ``max sigma' dz`` over the interval ``z +- dz`` and ``4 u`` for its own
    rounding. A StandardScaler's ``(x - mean) / scale`` in float32, with
    ``mean`` and ``scale`` rounded to float32 too, is within ``4 u (|x'| +
    |mean / scale|)``. Worst-case bounds: real differences are far smaller.
    """
    u = np.finfo(np.float32).eps / 2
    clf = model[-1] if isinstance(model, Pipeline) else model
    a = np.asarray(model[:-1].transform(X) if clf is not model else X, np.float64)
    offset = max(
        (np.max(np.abs(s.mean_ / s.scale_)) for s in _scalers(model)), default=None
    )
    da = np.zeros_like(a) if offset is None else 4 * u * (np.abs(a) + offset)
    thetas = bp.roll(clf.theta_.astype(np.float32).astype(np.float64), clf.layer_sizes_)
    for Theta in thetas:
        b, W = Theta[:, 0], Theta[:, 1:]
        n = W.shape[1] + 1
        gamma = n * u / (1 - n * u)
        z = b + a @ W.T
        dz = gamma * (np.abs(b) + (np.abs(a) + da) @ np.abs(W).T) + da @ np.abs(W).T
        nearest = np.clip(0.0, z - dz, z + dz)  # where sigma' is largest
        h = bp.sigmoid(z)
        da = bp.sigmoid_gradient(nearest) * dz + 4 * u * h
        a = h
    # The outputs go through logarithms (log_expit, logsumexp) and back: a
    # relative error of u |log h| more.
    log_h = log_expit(z)
    if clf._binarizer.y_type_ != "multiclass":  # h, or [1 - h, h]
        dp = da + u * h * np.abs(log_h)
        return 2 * (np.hstack([dp, dp]) if clf.n_outputs_ == 1 else dp)
    # p_k = h_k / sum h: the relative error of h_k plus that of the sum, at
    # most the largest of the h_j's; log h moves by (1 - h) dz at most.
    relative = (1 - bp.sigmoid(z - dz)) * dz + u * (4 + np.abs(log_h))
    log_p = log_h - logsumexp(log_h, axis=1, keepdims=True)
    p = np.exp(log_p)
    dp = p * (relative + relative.max(axis=1, keepdims=True))
    dp += u * p * (8 + np.abs(log_p))
    return 2 * dp


def _session(onx):
    return ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def _fit(model, X, y):
    with warnings.catch_warnings():
        # A few of these small fits stop at max_iter: irrelevant to export.
        warnings.simplefilter("ignore", UserWarning)
        return model.fit(X, y)


def _iris_frame():
    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    X["size"] = np.where(X["petal_length"] < 2.5, "small", "large").astype(object)
    return X, y


def _case(name):
    """(model, X, scale(X, s)) for one case of the agreement test."""
    iris_X, iris_y = load_iris(return_X_y=True)
    iris_std = StandardScaler().fit_transform(iris_X)
    iris_names = np.array(["setosa", "versicolor", "virginica"])[iris_y]

    def scaled(X, s):
        return X * s

    if name == "iris":
        model = BackpropClassifier(random_state=0)
        return _fit(model, iris_std, iris_y), iris_std, scaled
    if name == "iris-strings-pipeline":
        model = make_pipeline(StandardScaler(), BackpropClassifier(random_state=0))
        return _fit(model, iris_X, iris_names), iris_X, scaled
    if name == "breast-cancer-2-hidden-pipeline":
        X, y = load_breast_cancer(return_X_y=True)
        model = make_pipeline(
            StandardScaler(), BackpropClassifier((20, 10), random_state=0)
        )
        return _fit(model, X, y), X, scaled
    if name == "multilabel":
        X, Y = make_multilabel_classification(
            n_samples=300, n_features=10, n_classes=4, random_state=0
        )
        X = StandardScaler().fit_transform(X)
        return _fit(BackpropClassifier(random_state=0), X, Y), X, scaled
    if name == "column-transformer-pipeline":
        X, y = _iris_frame()
        numeric = list(X.columns[:4])
        columns = ColumnTransformer(
            [("num", StandardScaler(), numeric), ("cat", OneHotEncoder(), ["size"])]
        )
        model = make_pipeline(columns, BackpropClassifier((8, 6), random_state=0))

        def scaled_frame(X, s):
            X = X.copy()
            X[numeric] = X[numeric] * s
            return X

        return _fit(model, X, y), X, scaled_frame
    raise ValueError(name)


CASES = [
    "iris",
    "iris-strings-pipeline",
    "breast-cancer-2-hidden-pipeline",
    "multilabel",
    "column-transformer-pipeline",
]


def _feeds(session, X):
    if isinstance(X, pd.DataFrame):
        return {
            i.name: X[i.name].to_numpy().reshape(-1, 1) for i in session.get_inputs()
        }
    (only,) = session.get_inputs()
    return {only.name: X}


def _astype(X, dtype):
    if isinstance(X, pd.DataFrame):
        return X.astype({c: dtype for c in X.columns if X[c].dtype.kind == "f"})
    return X.astype(dtype)


@pytest.fixture(scope="module", params=CASES)
def case(request):
    return request.param, *_case(request.param)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_graph_agrees_with_estimator(case, dtype):
    name, model, X, scaled = case
    X = _astype(X, dtype)
    onx = to_onnx(model, X[:1])
    session = _session(onx)
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    for s in SCALES:
        Xs = _astype(scaled(X, s), dtype)
        label, proba = session.run(None, _feeds(session, Xs))
        expected = model.predict_proba(Xs)
        assert np.all(np.isfinite(expected))
        diff = np.abs(proba - expected)
        # float32: entry by entry, since the bound is small where the
        # sigmoids saturate
        tol = TOL[dtype]
        if dtype == np.float32:
            tol = np.maximum(tol, _float32_error_bound(model, Xs))
        same = np.array_equal(label, model.predict(Xs))
        print(
            f"{name} {np.dtype(dtype).name} X*{s:g}: labels equal {same}, "
            f"max |proba difference| {diff.max():.2e}, at most "
            f"{np.max(diff / tol):.2g} of the tolerance"
        )
        assert proba.dtype == dtype
        assert np.all(np.isfinite(proba))
        assert same
        assert np.all(diff <= tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_probabilities_finite_where_sigmoid_underflows(n_classes, dtype):
    # Every output unit far below the point where onnxruntime's Sigmoid is
    # exactly 0 (about -17 in float32, -40 in float64), so that h / sum(h)
    # computed from h would be 0 / 0; predict_proba stays finite.
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = y if n_classes == 3 else (y == 1).astype(int)
    clf = _fit(BackpropClassifier(random_state=0), X, y)
    clf.intercepts_[-1][:] -= 200  # a view of theta_: shifts every z by -200
    X = X.astype(dtype)
    z = clf.decision_function(X).reshape(len(X), -1)
    assert np.all(z < -100)
    session = _session(to_onnx(clf, X[:1]))
    label, proba = session.run(None, {"X": X})
    expected = clf.predict_proba(X)
    diff = np.max(np.abs(proba - expected))
    # Here z itself carries a rounding error of about eps * |z| (1.5e-5 at
    # z = -200 in float32) in the estimator and in the graph alike, as
    # their products sum in different orders, and p = softmax(z) moves by
    # as much: the tolerance adds that to the issue's.
    tol = TOL[dtype] + 4 * np.finfo(dtype).eps * np.max(np.abs(z))
    print(
        f"{n_classes} classes, every z < -100, {np.dtype(dtype).name}: "
        f"labels equal, max |proba difference| {diff:.2e} (tolerance {tol:.1e})"
    )
    assert np.all(np.isfinite(proba))
    assert np.array_equal(label, clf.predict(X))
    assert diff <= tol


@pytest.fixture(scope="module")
def iris_strings():
    X, y = load_iris(return_X_y=True)
    y = np.array(["setosa", "versicolor", "virginica"])[y]
    model = make_pipeline(StandardScaler(), BackpropClassifier(random_state=0))
    return _fit(model, X, y), X.astype(np.float32)


def test_skl2onnx_to_onnx_converts_a_pipeline(iris_strings):
    model, X = iris_strings
    onx = skl2onnx.to_onnx(model, X[:1], options={"zipmap": False})
    label, proba = _session(onx).run(None, {"X": X})
    np.testing.assert_array_equal(label, model.predict(X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-6)


def test_zipmap_options(iris_strings):
    model, X = iris_strings
    expected = model.predict_proba(X[:3])
    session = _session(to_onnx(model, X[:1], zipmap=True))
    label, dicts = session.run(None, {"X": X[:3]})
    np.testing.assert_array_equal(label, model.predict(X[:3]))
    assert [sorted(d) for d in dicts] == [["setosa", "versicolor", "virginica"]] * 3
    got = [[d[c] for c in model.classes_] for d in dicts]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)

    session = _session(to_onnx(model, X[:1], zipmap="columns"))
    names = [o.name for o in session.get_outputs()]
    assert names == ["output_label", "ssetosa", "sversicolor", "svirginica"]
    columns = session.run(None, {"X": X[:3]})[1:]
    np.testing.assert_allclose(np.column_stack(columns), expected, atol=1e-6)


def test_nocl_gives_class_indices(iris_strings):
    model, X = iris_strings
    label, _ = _session(to_onnx(model, X[:1], nocl=True)).run(None, {"X": X})
    predicted = model.predict(X)
    np.testing.assert_array_equal(model.classes_[label], predicted)


def test_output_class_labels(iris_strings):
    model, X = iris_strings
    session = _session(to_onnx(model, X[:1], output_class_labels=True))
    *_, classes = session.run(None, {"X": X[:2]})
    np.testing.assert_array_equal(classes, model.classes_)


def test_zipmap_with_float64_says_why():
    model, X = _case("iris")[:2]
    with pytest.raises(TypeError, match="zipmap=True needs float32 input"):
        to_onnx(model, X[:1], zipmap=True)


def test_integer_input_is_refused_clearly():
    model, X = _case("iris")[:2]
    with pytest.raises(TypeError, match="float32 or float64 input"):
        to_onnx(model, X[:1].astype(np.int64))


def test_to_onnx_writes_the_file(tmp_path):
    model, X = _case("iris")[:2]
    path = tmp_path / "model.onnx"
    onx = to_onnx(model, X.shape[1], path, dtype=np.float32)
    assert path.read_bytes() == onx.SerializeToString()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    X = X.astype(np.float32)
    label, proba = session.run(None, {"X": X})
    np.testing.assert_array_equal(label, model.predict(X))
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-6)


def test_register_twice_is_harmless():
    register()
    register()
    model, X = _case("iris")[:2]
    assert len(to_onnx(model, X[:1]).graph.output) == 2


def _run(code):
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_import_skbpnn_does_not_import_skl2onnx():
    code = "import sys, skbpnn; print('skl2onnx' in sys.modules)"
    assert _run(code) == "False"


def test_importing_skbpnn_onnx_registers_the_converter():
    code = """
import numpy as np, skl2onnx
from sklearn.datasets import load_iris
from skbpnn import BackpropClassifier
import skbpnn.onnx
X, y = load_iris(return_X_y=True)
clf = BackpropClassifier(max_iter=5).fit(X, y)
print(len(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False}).graph.output))
"""
    assert _run(code) == "2"


def test_without_skl2onnx_the_module_imports_and_says_how_to_install():
    # sys.modules[name] = None makes "import name" raise ImportError.
    code = """
import sys
sys.modules["skl2onnx"] = None
import skbpnn.onnx
try:
    skbpnn.onnx.to_onnx(None, 4)
except ImportError as exc:
    print(exc)
"""
    assert _run(code) == INSTALL_HINT
    assert INSTALL_HINT == 'ONNX export needs skl2onnx: pip install "skbpnn[onnx]"'
    assert skbpnn.onnx.INSTALL_HINT is INSTALL_HINT
