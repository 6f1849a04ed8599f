"""One prediction of 10000 rows: onnxruntime against ``predict_proba``.

Run ``python benchmarks/onnx_predict.py`` (needs ``pip install -e ".[test]"``
for skl2onnx and onnxruntime; about half a minute). For the digits network of
``python -m skbpnn`` (StandardScaler, then 64-25-10) and a larger one
(784-128-10 on random data), in float32 and float64, it prints the median
time of

- ``predict_proba`` of the scikit-learn Pipeline on 10000 rows,
- one ``InferenceSession.run`` of the exported ONNX model on the same rows
  (labels and probabilities),

their ratio, and the largest difference of the probabilities. Both run in
this process with their default threads, alternately; absolute times on a
shared machine are noise, so compare the ratios.
"""

import functools
import platform
import time
import warnings

import numpy as np
import onnxruntime as ort
import skl2onnx
import sklearn
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skbpnn
from skbpnn import BackpropClassifier
from skbpnn.onnx import to_onnx

ROWS = 10000


def median_times(functions, repeats=21):
    """Median seconds of each function, run alternately."""
    times = [[] for _ in functions]
    for _ in range(repeats):
        for fn, t in zip(functions, times):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def models():
    X, y = load_digits(return_X_y=True)
    digits = make_pipeline(StandardScaler(), BackpropClassifier(random_state=0))
    digits.fit(X, y)
    rows = np.random.default_rng(0).integers(0, len(X), ROWS)
    yield "digits 64-25-10", digits, X[rows]

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 784))
    y = rng.integers(0, 10, 2000)
    wide = make_pipeline(
        StandardScaler(), BackpropClassifier((128,), max_iter=20, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 20 iterations: a speed test only
        wide.fit(X, y)
    yield "random 784-128-10", wide, rng.standard_normal((ROWS, 784))


def main():
    print(
        f"skbpnn {skbpnn.__version__}, scikit-learn {sklearn.__version__}, "
        f"skl2onnx {skl2onnx.__version__}, onnxruntime {ort.__version__}, "
        f"numpy {np.__version__}, Python {platform.python_version()}"
    )
    print(f"{ROWS} rows, median of 21 runs each")
    print(
        f"{'model':20s} {'dtype':8s} {'predict_proba':>14s} {'onnxruntime':>12s} "
        f"{'ratio':>6s} {'max |dp|':>9s}"
    )
    for name, model, X in models():
        for dtype in (np.float32, np.float64):
            Xd = X.astype(dtype)
            session = ort.InferenceSession(
                to_onnx(model, Xd[:1]).SerializeToString(),
                providers=["CPUExecutionProvider"],
            )
            proba = session.run(None, {"X": Xd})[1]
            diff = np.max(np.abs(proba - model.predict_proba(Xd)))
            sk, onnx = median_times(
                [
                    functools.partial(model.predict_proba, Xd),
                    functools.partial(session.run, None, {"X": Xd}),
                ]
            )
            print(
                f"{name:20s} {np.dtype(dtype).name:8s} {sk * 1e3:11.2f} ms "
                f"{onnx * 1e3:9.2f} ms {sk / onnx:6.2f} {diff:9.1e}"
            )
    print("ratio = predict_proba time / onnxruntime time (above 1: onnxruntime faster)")


if __name__ == "__main__":
    main()
