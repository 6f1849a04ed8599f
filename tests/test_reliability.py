"""Reliability: bad input, numerical extremes, interruption, reproducibility."""

import pickle
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from skbpnn import BackpropClassifier, TrainingInterruptedWarning
from skbpnn import backprop as bp


def make_data(m=60, n=4, classes=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(m, n)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5) if classes == 3 else X[:, 0] > 0
    return X, y.astype(int)


# --------------------------------------------------------------------------
# Bad input: a ValueError (or TypeError) whose message names the problem
# --------------------------------------------------------------------------

X0, y0 = make_data(m=10)

BAD_FIT_INPUTS = {
    "X with NaN": (np.where(X0 > 1, np.nan, X0), y0, None, "NaN"),
    "X with infinity": (np.where(X0 > 1, np.inf, X0), y0, None, "infinity"),
    "sparse X with NaN": (sp.csr_matrix(np.where(X0 > 1, np.nan, X0)), y0, None, "NaN"),
    "y with NaN": (X0, np.where(y0 > 0, np.nan, 0.0), None, "NaN"),
    "X and y of different lengths": (
        X0,
        y0[:5],
        None,
        "inconsistent numbers of samples",
    ),
    "empty X": (X0[:0], y0[:0], None, "0 sample"),
    "1-D X": (X0[:, 0], y0, None, "Expected 2D array"),
    "3-D X": (X0.reshape(10, 2, 2), y0, None, "dim 3"),
    "complex X": (X0 + 1j, y0, None, "Complex data not supported"),
    "object X of strings": (
        np.full((10, 3), "a", dtype=object),
        y0,
        None,
        "string to float",
    ),
    "string X": (np.full((10, 3), "a"), y0, None, "string to float"),
    "ragged X": ([[1.0, 2.0], [3.0]] * 5, y0, None, "inhomogeneous|sequence"),
    "single class": (X0, np.zeros(10), None, "only one class: 0.0"),
    "single class, object labels": (
        X0,
        np.full(10, "a", dtype=object),
        None,
        "class: 'a'",
    ),
    "continuous y": (X0, np.linspace(0, 1, 10), None, "Unknown label type"),
    "multiclass-multioutput y": (X0, np.c_[y0, y0 % 2], None, "multiclass-multioutput"),
    "negative sample_weight": (X0, y0, -np.ones(10), "Negative values .*sample_weight"),
    "NaN sample_weight": (X0, y0, np.full(10, np.nan), "sample_weight contains NaN"),
    # scikit-learn >= 1.9 refuses them itself ("... non-zero"), before ours
    "all-zero sample_weight": (X0, y0, np.zeros(10), "non-zero|sums to zero"),
    "sample_weight of the wrong length": (X0, y0, np.ones(5), r"sample_weight.shape"),
    "one class left by sample_weight": (X0, y0, (y0 == 1) * 1.0, "Only one class"),
}


@pytest.mark.parametrize("case", BAD_FIT_INPUTS, ids=list(BAD_FIT_INPUTS))
def test_bad_fit_input_gets_a_clear_value_error(quiet_fit, case):
    X, y, w, message = BAD_FIT_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        quiet_fit(BackpropClassifier(max_iter=3), X, y, sample_weight=w)


def test_bad_predict_input_gets_a_clear_value_error(quiet_fit):
    pd = pytest.importorskip("pandas")
    X, y = make_data()
    clf = quiet_fit(BackpropClassifier(max_iter=3), X, y)
    with pytest.raises(ValueError, match="X has 2 features, but BackpropClassifier"):
        clf.predict(X[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict_proba(np.where(X > 1, np.nan, X))
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = quiet_fit(BackpropClassifier(max_iter=3), frame, y)
    assert list(clf.feature_names_in_) == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(frame.rename(columns={"d": "e"}))


# Invalid parameters are covered name by name in test_classifier.py; here
# hypothesis throws arbitrary arrays, shapes, dtypes and parameters at fit.

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)


def arrays_of(dtype):
    if dtype == "O":
        objects = st.one_of(
            st.floats(), st.integers(-3, 3), st.text(max_size=2), st.none()
        )
        return hnp.arrays("O", SHAPES, elements=objects)
    if dtype in ("f8", "f4"):  # small integers make fits that can succeed
        values = st.one_of(st.floats(width=32), st.integers(-3, 3).map(float))
        return hnp.arrays(dtype, SHAPES, elements=values)
    return hnp.arrays(dtype, SHAPES)  # every value the dtype holds


weird_arrays = st.one_of(
    st.sampled_from(["f8", "f4", "i8", "u1", "?", "c16", "U2", "O"]).flatmap(arrays_of),
    st.lists(st.lists(st.floats(-5, 5), max_size=3), max_size=6),  # ragged
    st.none(),
)
weird_params = st.fixed_dictionaries(
    {},
    optional={
        "hidden_layer_sizes": st.one_of(
            st.tuples(st.integers(-2, 4)),
            st.just(()),
            st.just(2.5),
            st.text(max_size=2),
        ),
        "lambda_": st.one_of(st.floats(allow_nan=True), st.integers(-2, 5)),
        "epsilon_init": st.one_of(st.none(), st.floats(-1, 1e3)),
        "tol": st.floats(-1, 1),
        "class_weight": st.one_of(
            st.none(), st.just("balanced"), st.just("auto"), st.just({0: 2.0, 9: 1.0})
        ),
    },
)


@st.composite
def nearly_valid_inputs(draw):
    """Mostly good data with one or two things wrong, or nothing wrong."""
    m, n = draw(st.integers(1, 12)), draw(st.integers(1, 4))
    odd = st.sampled_from([np.nan, np.inf, -np.inf, 1e300])
    values = st.one_of(st.floats(-10, 10), st.floats(-10, 10), st.floats(-10, 10), odd)
    X = draw(hnp.arrays("f8", (m, n), elements=values))
    dtype = draw(st.sampled_from(["f8", "f4", "i8"]))
    if dtype == "i8":
        X = np.nan_to_num(X, posinf=9, neginf=-9).clip(-9, 9).astype(np.int64)
    elif dtype == "f4":
        with np.errstate(over="ignore"):
            X = X.astype(np.float32)  # 1e300 becomes inf
    n_labels = draw(st.sampled_from([m, m, m, m, m - 1, m + 1]))
    labels = draw(
        st.sampled_from(
            [
                st.integers(0, 2),
                st.sampled_from(["cat", "dog", "emu"]),
                st.sampled_from([0.0, 1.0, 0.5, np.nan]),
            ]
        )
    )
    y = np.array(draw(st.lists(labels, min_size=n_labels, max_size=n_labels)))
    weights = st.sampled_from([1.0, 2.0, 0.5, 3.0, 0.0, -1.0, np.nan, np.inf])
    w = draw(st.none() | st.lists(weights, min_size=m, max_size=m).map(np.array))
    return X, y, w, draw(st.just({}) | weird_params)


@st.composite
def wild_inputs(draw):
    return (
        draw(weird_arrays),
        draw(weird_arrays),
        draw(st.none() | weird_arrays),
        draw(weird_params),
    )


@settings(
    max_examples=400,
    deadline=timedelta(seconds=30),  # a hang, not a speed goal
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=st.one_of(wild_inputs(), nearly_valid_inputs()))
def test_random_malformed_input_only_raises_clear_errors(case):
    X, y, sample_weight, params = case
    clf = BackpropClassifier(max_iter=3, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            clf.fit(X, y, sample_weight=sample_weight)
        except (ValueError, TypeError) as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"
            return
        # accepted: then the model must be usable and finite, not silent garbage
        assert np.all(np.isfinite(clf.theta_))
        proba = clf.predict_proba(X)
    assert np.all(np.isfinite(proba)) and np.all((proba >= 0) & (proba <= 1))
    assert len(clf.predict(X)) == len(proba)


# --------------------------------------------------------------------------
# Numerical extremes: finite results and no overflow warnings
# --------------------------------------------------------------------------

EXTREMES = {
    "features at scale 1e6": ({}, lambda X: X * 1e6),
    "features at scale 1e150": ({}, lambda X: X * 1e150),
    "float32 features at scale 1e30": ({}, lambda X: (X * 1e30).astype(np.float32)),
    "constant features": (
        {},
        lambda X: np.c_[X, np.full(len(X), 7.0), np.zeros(len(X))],
    ),
    "tiny lambda_": ({"lambda_": 1e-12}, lambda X: X),
    "huge lambda_": ({"lambda_": 1e8}, lambda X: X),
    "huge initial weights": ({"epsilon_init": 1e3}, lambda X: X),
}


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("hidden", [(), (6,), (6, 5)])
@pytest.mark.parametrize("case", EXTREMES, ids=list(EXTREMES))
def test_numerical_extremes_stay_finite(quiet_fit, case, hidden):
    params, transform = EXTREMES[case]
    X, y = make_data(m=80)
    X = transform(X)
    clf = quiet_fit(
        BackpropClassifier(
            hidden_layer_sizes=hidden, max_iter=30, random_state=0, **params
        ),
        X,
        y,
    )
    assert np.all(np.isfinite(clf.theta_)) and np.isfinite(clf.loss_)
    assert np.all(np.isfinite(clf.predict_log_proba(X)))
    proba = clf.predict_proba(X)
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=4 * np.finfo(proba.dtype).eps)
    Y = np.eye(3)[y]
    J, grad = bp.cost_and_gradient(clf.theta_ * 1e3, X, Y, clf.layer_sizes_, 1.0)
    assert np.isfinite(J) and np.all(np.isfinite(grad))


def test_absurd_lambda_gives_a_clear_error_not_nan(quiet_fit):
    X, y = make_data()
    with pytest.raises(ValueError, match="lambda_=1e\\+300 is too large"):
        quiet_fit(BackpropClassifier(lambda_=1e300), X, y)


# --------------------------------------------------------------------------
# Interruption and callbacks
# --------------------------------------------------------------------------

SIGINT_SCRIPT = textwrap.dedent(
    """
    import signal, sys, time, warnings
    import numpy as np
    from skbpnn import BackpropClassifier, TrainingInterruptedWarning

    # A child inherits an ignored SIGINT (pytest started with nohup or in the
    # background, as CI runners and IDEs do): Ctrl-C must reach Python here.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    rng = np.random.RandomState(0)
    X, y = rng.randn(3000, 40), rng.randint(0, 5, 3000)  # no end in sight

    def ready(iteration, cost, theta):
        if iteration == 3:
            print("READY", flush=True)

    clf = BackpropClassifier(
        hidden_layer_sizes=(100,), max_iter=100_000, max_fun=1_000_000,
        tol=0.0, random_state=0, callback=ready,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    warned = [w for w in caught if issubclass(w.category, TrainingInterruptedWarning)]
    print("N_ITER", clf.n_iter_, len(clf.loss_curve_), flush=True)
    print("LOSS", repr(clf.loss_), repr(clf.loss_curve_[-1]), flush=True)
    print("WARNED", len(warned), str(warned[0].message) if warned else "", flush=True)
    print("PREDICT", clf.score(X, y) > 0.2, flush=True)
    print("SECOND", flush=True)
    time.sleep(120)  # the second Ctrl-C must interrupt this as usual
    print("NOT INTERRUPTED", flush=True)
    """
)


def test_ctrl_c_keeps_the_last_iterate_and_a_second_one_interrupts():
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGINT_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # A thread reads the child's lines into a queue, so that waiting for one
    # has a deadline (a hang fails the test) and no line sits unseen in a
    # buffer while the parent waits on the pipe.
    lines = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in proc.stdout] + [lines.put(None)],
        daemon=True,
    )
    reader.start()
    deadline = time.monotonic() + 240  # a hang detector, not a speed goal
    seen = []

    def wait_for(marker):
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                proc.kill()
                pytest.fail(
                    f"no {marker!r} from the child: {seen}, {proc.stderr.read()}"
                )
            seen.append(line.strip())
            if line.startswith(marker):
                return

    try:
        wait_for("READY")
        proc.send_signal(signal.SIGINT)
        wait_for("SECOND")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        reader.join(timeout=10)
        stderr = proc.stderr.read()
    finally:
        proc.kill()
    while not lines.empty():
        seen.append(str(lines.get()).strip())
    out = {line.split()[0]: line.split(maxsplit=1)[1:] for line in seen if line}
    n_iter, n_curve = map(int, out["N_ITER"][0].split())
    assert n_iter >= 3 and n_iter == n_curve
    loss, last = out["LOSS"][0].split()
    assert loss == last  # loss_ is the cost of the kept iterate
    assert out["WARNED"][0].startswith("1 Training interrupted")
    assert out["PREDICT"] == ["True"]
    # the second Ctrl-C was not swallowed: it ended the sleep with the usual
    # KeyboardInterrupt
    assert "NOT" not in out, seen
    assert proc.returncode != 0 and "KeyboardInterrupt" in stderr


def test_interrupt_before_the_first_iteration_keeps_initial_weights(monkeypatch):
    X, y = make_data()
    calls = []

    def interrupting_cost(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    from skbpnn import _classifier

    original = _classifier.data_cost_and_gradient
    monkeypatch.setattr(_classifier, "data_cost_and_gradient", interrupting_cost)
    with pytest.warns(UserWarning, match="after 0 L-BFGS iterations"):
        clf = BackpropClassifier(random_state=0).fit(X, y)
    assert clf.n_iter_ == 0 and clf.loss_curve_ == []
    assert clf.stop_reason_ == "interrupted"
    assert_array_equal(clf.theta_, bp.init_weights(clf.layer_sizes_, random_state=0))
    assert clf.loss_ == bp.cost(clf.theta_, X, np.eye(3)[y], clf.layer_sizes_, 1.0)


def test_interrupt_after_the_last_iteration_keeps_the_last_iterate(monkeypatch):
    """Ctrl-C while the fit recomputes the cost at the point L-BFGS-B
    returned (after a failed line search its last evaluation was a trial
    point elsewhere): the fit still returns, with the last completed
    iterate and the interruption's warning, not a KeyboardInterrupt."""
    import scipy.optimize

    from skbpnn import _classifier

    X, y = make_data()
    real_minimize, real_cost = (
        scipy.optimize.minimize,
        _classifier.data_cost_and_gradient,
    )
    returned = []

    def minimize(*args, **kwargs):
        result = real_minimize(*args, **kwargs)
        result.x = result.x + 1e-9  # not the last point evaluated
        returned.append(result)
        return result

    def cost(*args, **kwargs):
        if returned:  # the recomputation after minimize returned
            raise KeyboardInterrupt
        return real_cost(*args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", minimize)
    monkeypatch.setattr(_classifier, "data_cost_and_gradient", cost)
    clf = BackpropClassifier(max_iter=5, random_state=0)
    with pytest.warns(TrainingInterruptedWarning, match="after 5 L-BFGS iterations"):
        clf.fit(X, y)
    assert returned and clf.stop_reason_ == "interrupted"
    assert clf.n_iter_ == len(clf.loss_curve_) == 5
    assert clf.loss_ == clf.loss_curve_[-1]
    assert not np.array_equal(clf.theta_, returned[0].x)


def test_callback_sees_every_iteration_and_can_stop_training():
    X, y = make_data()
    seen = []

    def stop_at_five(iteration, cost, theta):
        seen.append((iteration, cost, theta))
        return iteration == 5

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a stop, not a failure
        clf = BackpropClassifier(random_state=0, callback=stop_at_five).fit(X, y)
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5]
    assert clf.n_iter_ == 5 and clf.loss_curve_ == [s[1] for s in seen]
    assert clf.stop_reason_ == "callback"
    assert_array_equal(clf.theta_, seen[-1][2])
    assert not np.shares_memory(seen[-1][2], clf.theta_)  # a copy for the user


# --------------------------------------------------------------------------
# Reproducibility and sharing
# --------------------------------------------------------------------------


def test_same_seed_is_bitwise_reproducible_across_pickle_clone_and_joblib(
    quiet_fit, tmp_path
):
    X, y = make_data(m=100)
    clf = BackpropClassifier(hidden_layer_sizes=(5, 4), random_state=7, max_iter=40)
    reference = quiet_fit(clone(clf), X, y)
    for other in (clone(clf), pickle.loads(pickle.dumps(clf))):
        assert_array_equal(quiet_fit(other, X, y).theta_, reference.theta_)
    other_seed = quiet_fit(clone(clf).set_params(random_state=8), X, y)
    assert not np.array_equal(other_seed.theta_, reference.theta_)
    path = tmp_path / "model.joblib"
    joblib.dump(reference, path)
    loaded = joblib.load(path)
    assert_array_equal(loaded.theta_, reference.theta_)
    assert_array_equal(loaded.predict_proba(X), reference.predict_proba(X))
    assert_array_equal(loaded.predict(X), reference.predict(X))
    restored = pickle.loads(pickle.dumps(reference))
    assert_array_equal(restored.predict_log_proba(X), reference.predict_log_proba(X))
    # the restored views are views again, of the one restored vector
    assert all(np.shares_memory(T, restored.theta_) for T in restored.thetas_)


def test_predict_is_thread_safe(quiet_fit):
    X, y = make_data(m=2000, n=10)
    clf = quiet_fit(BackpropClassifier(hidden_layer_sizes=(30,), max_iter=20), X, y)
    expected_proba, expected = clf.predict_proba(X), clf.predict(X)
    with ThreadPoolExecutor(max_workers=8) as pool:
        probas = list(pool.map(lambda _: clf.predict_proba(X), range(32)))
        labels = list(pool.map(lambda _: clf.predict(X), range(32)))
    for proba, label in zip(probas, labels):
        assert_array_equal(proba, expected_proba)
        assert_array_equal(label, expected)


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(m=st.integers(2, 30), seed=st.integers(0, 2**31 - 1), lambda_=st.floats(0, 5))
def test_cost_is_invariant_to_sample_order_and_weight_two_is_a_duplicate(
    m, seed, lambda_
):
    rng = np.random.RandomState(seed)
    sizes = (3, 4, 2)
    X, Y = rng.randn(m, 3), (rng.rand(m, 2) > 0.5).astype(float)
    w = rng.randint(0, 4, m).astype(float)
    w[0] = 1.0  # never all zero
    theta = bp.init_weights(sizes, random_state=rng)
    J, grad = bp.cost_and_gradient(theta, X, Y, sizes, lambda_, w)
    order = rng.permutation(m)
    J_perm, grad_perm = bp.cost_and_gradient(
        theta, X[order], Y[order], sizes, lambda_, w[order]
    )
    assert_allclose(J_perm, J, rtol=1e-12)
    assert_allclose(grad_perm, grad, rtol=1e-10, atol=1e-14)
    rows = np.repeat(np.arange(m), w.astype(int))
    J_rep, grad_rep = bp.cost_and_gradient(theta, X[rows], Y[rows], sizes, lambda_)
    assert_allclose(J_rep, J, rtol=1e-12)
    assert_allclose(grad_rep, grad, rtol=1e-10, atol=1e-14)
    # unit weights are the unweighted formula
    J_1, grad_1 = bp.cost_and_gradient(theta, X, Y, sizes, lambda_, np.ones(m))
    J_n, grad_n = bp.cost_and_gradient(theta, X, Y, sizes, lambda_)
    assert_allclose(J_1, J_n, rtol=1e-15)
    assert_allclose(grad_1, grad_n, rtol=1e-14, atol=1e-16)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_fit_with_integer_weights_is_bitwise_the_repeated_fit(quiet_fit, seed):
    rng = np.random.RandomState(seed)
    X, y = rng.randn(25, 3), rng.randint(0, 3, 25)
    y[:3] = [0, 1, 2]
    w = rng.randint(0, 4, 25)
    w[:3] = 1
    order = rng.permutation(25)
    est = BackpropClassifier(hidden_layer_sizes=(4,), max_iter=25, random_state=0)
    weighted = quiet_fit(clone(est), X[order], y[order], sample_weight=w[order])
    repeated = quiet_fit(clone(est), np.repeat(X, w, axis=0), np.repeat(y, w))
    assert_array_equal(weighted.theta_, repeated.theta_)
