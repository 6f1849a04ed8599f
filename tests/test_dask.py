"""Dask: hyperparameter search on a cluster, out-of-core fit and prediction.

Every test here except the import check needs dask.distributed and skips
without it; ``pip install -e ".[test]"`` installs it. The cluster is a
LocalCluster of 2 worker processes bound to 127.0.0.1, its HTTP server on a
free port.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import (
    GridSearchCV,
    RandomizedSearchCV,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbpnn import BackpropClassifier


def test_importing_skbpnn_does_not_import_dask():
    code = "import skbpnn, sys; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(scope="module")
def da():
    return pytest.importorskip(
        "dask.array", reason="needs dask: pip install 'skbpnn[dask]'"
    )


@pytest.fixture(scope="module")
def client(da):
    distributed = pytest.importorskip(
        "distributed", reason="needs dask.distributed: pip install 'skbpnn[dask]'"
    )
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",  # a free port: no clash with another cluster
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def data():
    # Continuous features: no two rows repeat, so the in-memory fit does not
    # merge rows and both fits minimize the very same sum.
    X, y = make_classification(
        n_samples=600, n_features=8, n_informative=5, n_classes=3, random_state=0
    )
    return StandardScaler().fit_transform(X), y


def rel(a, b):
    return abs(a - b) / abs(b)


# --------------------------------------------------------------------------
# Out-of-core fit equals the in-memory fit


@pytest.mark.parametrize(
    "case", ["multiclass", "binary", "sample_weight", "balanced", "dict", "lambda0"]
)
def test_dask_fit_equals_in_memory_fit(quiet_fit, da, client, data, case):
    X, y = data
    # Each iteration is a round trip to the cluster; 6 of them compare 6 points
    # of the loss curve and the weights they lead to.
    kwargs = {"hidden_layer_sizes": (6,), "random_state": 0, "max_iter": 6}
    fit_kw = {}
    if case == "binary":
        y = (y == 1).astype(int)
    elif case == "sample_weight":
        fit_kw["sample_weight"] = np.random.RandomState(0).uniform(0, 3, len(y))
    elif case == "balanced":
        y = np.where(y == 2, 0, y)[:500]  # unbalanced
        X = X[:500]
        kwargs["class_weight"] = "balanced"
    elif case == "dict":
        kwargs["class_weight"] = {0: 1.0, 1: 3.0, 2: 0.5}
    elif case == "lambda0":
        kwargs["lambda_"] = 0.0
    # Chunks of unequal sizes, and X split across columns too.
    Xd = da.from_array(X, chunks=(137, 5))
    yd = da.from_array(y, chunks=(250,))
    fit_kw_d = {k: da.from_array(v, chunks=(100,)) for k, v in fit_kw.items()}
    ref = quiet_fit(BackpropClassifier(**kwargs), X, y, **fit_kw)
    clf = quiet_fit(BackpropClassifier(**kwargs), Xd, yd, **fit_kw_d)

    print(f"{case}: relative loss difference {rel(clf.loss_, ref.loss_):.1e}")
    assert rel(clf.loss_, ref.loss_) < 1e-6
    assert clf.n_iter_ == ref.n_iter_
    assert_allclose(clf.loss_curve_, ref.loss_curve_, rtol=1e-6)
    assert_array_equal(clf.classes_, ref.classes_)
    assert clf.layer_sizes_ == ref.layer_sizes_
    assert clf.n_features_in_ == ref.n_features_in_
    pred = clf.predict(Xd)
    assert isinstance(pred, da.Array)
    assert_array_equal(pred.compute(), ref.predict(X))
    assert_allclose(clf.predict_proba(Xd).compute(), ref.predict_proba(X), atol=1e-6)


def test_dask_fit_float32(quiet_fit, da, client, data):
    X, y = data
    X = X.astype(np.float32)
    kwargs = {"hidden_layer_sizes": (6,), "random_state": 0, "max_iter": 10}
    ref = quiet_fit(BackpropClassifier(**kwargs), X, y)
    clf = quiet_fit(BackpropClassifier(**kwargs), da.from_array(X, chunks=200), y)
    # Each evaluation is computed in float32; the chunk sums are added in
    # float64, so the two fits agree to float32 rounding, not to 1e-6.
    print(f"float32: relative loss difference {rel(clf.loss_, ref.loss_):.1e}")
    assert rel(clf.loss_, ref.loss_) < 1e-5
    z = clf.decision_function(da.from_array(X, chunks=200))
    assert z.dtype == np.float32
    assert np.mean(z.compute().argmax(1) == ref.predict(X)) > 0.98


def test_threaded_scheduler_without_client(quiet_fit, da, data):
    # Without a distributed Client dask's local threads do the same sums.
    X, y = data
    kwargs = {"hidden_layer_sizes": (4,), "random_state": 1, "max_iter": 8}
    ref = quiet_fit(BackpropClassifier(**kwargs), X, y)
    clf = quiet_fit(BackpropClassifier(**kwargs), da.from_array(X, chunks=100), y)
    assert rel(clf.loss_, ref.loss_) < 1e-6


@pytest.mark.parametrize("weighted", [False, True])
def test_dask_gauss_newton_bias_block_is_the_in_memory_one(da, client, data, weighted):
    # G's bias block summed over chunks of unequal sizes, one of them empty,
    # and float32 chunks: the in-memory block (float64 whatever X's dtype),
    # to the rounding of the chunks' sum; and the bias rows and columns of
    # the chunks' summed G.
    from skbpnn import backprop
    from skbpnn._dask import DaskCurvature
    from skbpnn._evidence import DataCurvature

    X, y = data
    w = np.random.RandomState(0).uniform(0, 3, len(y)) if weighted else None
    sizes = (X.shape[1], 5, 4, 3)
    shapes = backprop.layer_shapes(sizes)
    theta = backprop.init_weights(sizes, epsilon_init=1.5, random_state=0)
    biases = ~backprop.weight_mask(sizes)
    chunks = (200, 0, 137, 263)
    for X_in in (X, X.astype(np.float32)):
        Xd = da.from_array(X_in, chunks=(chunks, X.shape[1]))
        yd = da.from_array(y, chunks=(chunks,))
        wd = None if w is None else da.from_array(w, chunks=(chunks,))[:, None]
        chunked = DaskCurvature(Xd, yd[:, None], wd, np.unique(y), shapes, 1.0)
        in_memory = DataCurvature(X_in, np.eye(3)[y], w, None, shapes, 100)
        G_bb = chunked.gauss_newton_bias_block(theta)
        expected = in_memory.gauss_newton_bias_block(theta)
        assert G_bb.shape == expected.shape == (12, 12)
        atol = 1e-12 * np.abs(expected).max()
        assert_allclose(G_bb, expected, rtol=1e-12, atol=atol)
        G = chunked.gauss_newton(theta)
        assert_allclose(G_bb, G[np.ix_(biases, biases)], rtol=1e-12, atol=atol)


def test_dask_warm_start_continues_like_in_memory(quiet_fit, da, client, data):
    X, y = data
    Xd, yd = da.from_array(X, chunks=150), da.from_array(y, chunks=150)
    kwargs = {"hidden_layer_sizes": (5,), "random_state": 0, "max_iter": 5}
    ref = BackpropClassifier(warm_start=True, **kwargs)
    clf = BackpropClassifier(warm_start=True, **kwargs)
    for _ in range(2):
        quiet_fit(ref, X, y)
        quiet_fit(clf, Xd, yd)
    assert rel(clf.loss_, ref.loss_) < 1e-6
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(Xd, da.where(yd == 2, 3, yd))


def test_dask_fit_warns_and_reports_like_in_memory(da, client, data, capsys):
    X, y = data
    clf = BackpropClassifier((4,), random_state=0, max_iter=3, verbose=1)
    with pytest.warns(ConvergenceWarning) as record:
        clf.fit(da.from_array(X, chunks=200), da.from_array(y, chunks=200))
    assert record[0].filename == __file__  # points at the user's fit call
    assert clf.n_iter_ == 3 == len(clf.loss_curve_)
    assert capsys.readouterr().out.count("Iteration") == 3


def test_dask_fit_checks_lazily_and_raises(quiet_fit, da, client, data):
    X, y = data
    Xd, yd = da.from_array(X, chunks=200), da.from_array(y, chunks=200)
    clf = BackpropClassifier((3,), max_iter=2)
    with pytest.raises(ValueError, match="NaN or infinity"):
        clf.fit(da.where(Xd > 2.5, np.nan, Xd), yd)
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(Xd, da.zeros_like(yd))
    with pytest.raises(ValueError, match="same number of rows"):
        clf.fit(Xd, yd[:-1])
    with pytest.raises(ValueError, match="multilabel"):
        clf.fit(Xd, da.stack([yd == 0, yd == 1], axis=1).astype(int))
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(Xd, Xd[:, 0])
    with pytest.raises(ValueError, match="non-negative"):
        clf.fit(Xd, yd, sample_weight=-da.ones(len(y), chunks=200))
    with pytest.raises(ValueError, match="Only one class"):
        clf.fit(Xd, yd, sample_weight=(yd == 0).astype(float))
    quiet_fit(clf, Xd, yd)
    with pytest.raises(ValueError, match="features"):
        clf.predict(Xd[:, :5])


def test_dask_predict_on_in_memory_fit_is_lazy_and_equal(quiet_fit, da, client, data):
    X, y = data
    ref = quiet_fit(BackpropClassifier((5,), random_state=0, max_iter=30), X, y)
    Xd = da.from_array(X, chunks=(77, 3))
    for method in ("predict", "predict_proba", "predict_log_proba"):
        out = getattr(ref, method)(Xd)
        assert isinstance(out, da.Array)
        assert_allclose(out.compute(), getattr(ref, method)(X))
    yb = (y == 1).astype(int)
    ref_b = quiet_fit(BackpropClassifier((5,), random_state=0, max_iter=30), X, yb)
    z = ref_b.decision_function(Xd)
    assert z.shape == (len(y),)
    assert_allclose(z.compute(), ref_b.decision_function(X))


def test_dask_dataframe(quiet_fit, da, client, data):
    dd = pytest.importorskip("dask.dataframe", reason="needs dask[dataframe]")
    pd = pytest.importorskip("pandas")
    X, y = data
    columns = [f"f{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X, columns=columns)
    kwargs = {"hidden_layer_sizes": (4,), "random_state": 0, "max_iter": 10}
    ref = quiet_fit(BackpropClassifier(**kwargs), df, y)
    ddf = dd.from_pandas(df, npartitions=3)
    dy = dd.from_pandas(pd.Series(y), npartitions=3)
    clf = quiet_fit(BackpropClassifier(**kwargs), ddf, dy)
    assert rel(clf.loss_, ref.loss_) < 1e-6
    assert_array_equal(clf.feature_names_in_, columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature-name warning
        assert_array_equal(clf.predict(ddf).compute(), ref.predict(df))


# --------------------------------------------------------------------------
# Hyperparameter search with joblib's dask backend equals the local run


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400], y[:400]


def _search_scores(search, X, y, backend):
    import joblib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if backend is None:
            search.fit(X, y)
        else:
            with joblib.parallel_backend(backend):
                search.fit(X, y)
    return search


@pytest.mark.parametrize("pipeline", [False, True])
def test_grid_search_on_dask_equals_local(client, digits, pipeline):
    X, y = digits
    clf = BackpropClassifier((10,), random_state=0, max_iter=30)
    grid = {"lambda_": [0.1, 3.0], "hidden_layer_sizes": [(5,), (10,)]}
    if pipeline:
        clf = make_pipeline(StandardScaler(), clf)
        grid = {f"backpropclassifier__{k}": v for k, v in grid.items()}
    local = _search_scores(GridSearchCV(clf, grid, cv=3), X, y, None)
    remote = _search_scores(GridSearchCV(clf, grid, cv=3, n_jobs=-1), X, y, "dask")
    assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == local.best_params_
    assert_array_equal(remote.predict(X), local.predict(X))


def test_randomized_search_and_cross_val_score_on_dask(client, digits):
    import joblib
    from scipy.stats import loguniform

    X, y = digits
    pipe = make_pipeline(
        StandardScaler(), BackpropClassifier((8,), random_state=0, max_iter=30)
    )
    dist = {"backpropclassifier__lambda_": loguniform(1e-2, 1e1)}

    def search(n_jobs):
        return RandomizedSearchCV(
            pipe, dist, n_iter=4, cv=3, random_state=0, n_jobs=n_jobs
        )

    local = _search_scores(search(None), X, y, None)
    remote = _search_scores(search(-1), X, y, "dask")
    assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == local.best_params_

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local_scores = cross_val_score(pipe, X, y, cv=4)
        with joblib.parallel_backend("dask"):
            remote_scores = cross_val_score(pipe, X, y, cv=4, n_jobs=-1)
    assert_allclose(remote_scores, local_scores)


# --------------------------------------------------------------------------
# Out of core: more than 1 GiB on the workers, little memory on the client


class _PeakRSS:
    """The largest resident set size of this process while in the block."""

    def __init__(self, interval=0.005):
        import psutil  # a dependency of distributed

        self._process = psutil.Process()
        self._interval = interval

    def _sample(self):
        while not self._done.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self._interval)

    def __enter__(self):
        self.start = self.peak = self._process.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        self.increase = self.peak - self.start


@pytest.mark.slow
def test_out_of_core_fit_of_more_than_1_gib(da, client):
    n_features, chunk_rows = 64, 200_000  # 100 MiB per float64 chunk
    n_rows = 12 * chunk_rows + 100_000
    # Generated on the workers, chunk by chunk, at every pass: never whole.
    X = da.random.RandomState(0).standard_normal(
        (n_rows, n_features), chunks=(chunk_rows, n_features)
    )
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int8)
    assert X.nbytes > 2**30

    clf = BackpropClassifier((4,), random_state=0, max_iter=3)
    t0 = time.perf_counter()
    with _PeakRSS() as rss, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        accuracy = float((clf.predict(X) == y).mean().compute())
    seconds = time.perf_counter() - t0
    print(
        f"\nout-of-core fit of {X.nbytes / 2**30:.2f} GiB: client peak RSS "
        f"increase {rss.increase / 2**20:.1f} MiB, {seconds:.1f} s, "
        f"loss {clf.loss_:.4f}, accuracy {accuracy:.3f}"
    )
    assert clf.n_iter_ == 3 and np.isfinite(clf.loss_)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert accuracy > 0.7
    assert rss.increase < 200 * 2**20

    # The control: the same measurement sees a 256 MiB array on the client.
    with _PeakRSS() as control:
        np.ones(2**25).sum()
    assert control.increase > 200 * 2**20


# --------------------------------------------------------------------------
# A worker lost in the middle of a fit


@pytest.fixture(scope="module")
def nannies(da):
    """A cluster of its own, whose workers the tests kill: each worker
    process is watched by a nanny, which starts a new one when it dies."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,  # with a nanny per worker
            host="127.0.0.1",
            dashboard_address=":0",  # a free port: no clash with another cluster
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def recomputable_data(da):
    # Generated on the workers from a seed: a lost chunk can be made again.
    X = da.random.RandomState(0).standard_normal((100_000, 16), chunks=(10_000, 16))
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] * X[:, 3] > 0).astype(np.int8)
    return X, y


def timed_fit(X, y, callback=None):
    clf = BackpropClassifier((8,), random_state=0, max_iter=15, callback=callback)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    return clf, time.perf_counter() - start


def killer(pid, at_iteration, killed):
    """A fit ``callback`` that SIGKILLs process ``pid`` after an iteration."""

    def callback(iteration, cost, theta):
        if iteration == at_iteration:
            os.kill(pid, signal.SIGKILL)
            killed.append(iteration)

    return callback


@pytest.mark.slow
@pytest.mark.parametrize("persisted", [False, True], ids=["recomputed", "persisted"])
def test_fit_survives_a_killed_worker(da, nannies, persisted):
    distributed = pytest.importorskip("distributed")
    client = nannies
    client.wait_for_workers(2, timeout=60)
    X, y = recomputable_data(da)
    if persisted:
        X, y = client.persist([X, y])
        distributed.wait([X, y])
    pids = client.run(os.getpid)  # worker address -> process id
    if persisted:
        # The worker holding the most chunks of X: its chunks are lost with
        # it, and the scheduler computes them again from their graph.
        holders = [w for workers in client.who_has(X).values() for w in workers]
        victim = max(pids, key=holders.count)
        assert holders.count(victim) > 0
    else:
        victim = min(pids)
    ref, ref_seconds = timed_fit(X, y)  # fault-free, the same data
    killed = []
    clf, seconds = timed_fit(X, y, killer(pids[victim], 3, killed))
    rel = abs(clf.loss_ - ref.loss_) / ref.loss_
    print(
        f"\nfault-free fit: {ref.n_iter_} iterations, {ref_seconds:.1f} s; a "
        f"worker killed at iteration 3 ({'persisted' if persisted else 'recomputed'}"
        f" data): {clf.n_iter_} iterations, {seconds:.1f} s, relative loss "
        f"difference {rel:.1e}"
    )
    # The worker was killed mid-fit, and its nanny started another process.
    assert killed == [3]
    assert victim not in client.scheduler_info()["workers"]
    client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in client.run(os.getpid).values()
    # The fit is the fault-free one.
    assert clf.n_iter_ == ref.n_iter_ == 15
    assert rel <= 1e-9
    assert_allclose(clf.loss_curve_, ref.loss_curve_, rtol=1e-9)
    assert_allclose(clf.theta_, ref.theta_, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_fit_on_scattered_data_does_not_survive_a_killed_worker(da, nannies):
    # client.scatter puts the only copy of each chunk on a worker: no graph
    # can make it again, and the fit raises.
    distributed = pytest.importorskip("distributed")
    client = nannies
    client.wait_for_workers(2, timeout=60)
    X, y = (a.compute() for a in recomputable_data(da))
    rows = 10_000
    chunks = [client.scatter(X[i : i + rows]) for i in range(0, len(X), rows)]
    X = da.concatenate(
        [da.from_delayed(c, (rows, X.shape[1]), dtype=X.dtype) for c in chunks]
    )
    holders = [w for c in chunks for w in client.who_has(c)[c.key]]
    pids = client.run(os.getpid)
    victim = max(pids, key=holders.count)
    assert holders.count(victim) > 0
    killed = []
    with pytest.raises(distributed.client.FutureCancelledError):
        timed_fit(X, da.from_array(y, chunks=rows), killer(pids[victim], 3, killed))
    assert killed == [3]
    client.wait_for_workers(2, timeout=60)
