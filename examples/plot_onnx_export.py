"""
=====================
Deploying with ONNX
=====================

A fitted :class:`~skbpnn.BackpropClassifier`, alone or at the end of a
:class:`~sklearn.pipeline.Pipeline`, exports to ONNX with skl2onnx and runs
in onnxruntime, without scikit-learn or skbpnn on the serving side. This
example exports the digits pipeline, reloads the file with onnxruntime and
checks that it predicts what the estimator predicts, also far from the
training data. It needs ``pip install "skbpnn[onnx]" onnxruntime``.
"""

# %%
# Fit and export
# --------------
# :func:`skbpnn.onnx.to_onnx` takes the fitted model and a sample of the
# input: its dtype (here float32, the usual serving type) is the graph's
# input type, and the graph computes in it, as the estimator does.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbpnn import BackpropClassifier
from skbpnn.onnx import to_onnx

X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = make_pipeline(StandardScaler(), BackpropClassifier(random_state=0))
model.fit(X_train, y_train)

path = Path(tempfile.mkdtemp()) / "digits.onnx"
to_onnx(model, X_train[:1], path)
print(f"wrote {path.name}, {path.stat().st_size / 1024:.1f} KiB")

# %%
# Reload and compare
# ------------------
# The graph has one input ``X`` and two outputs: ``label`` (the classes,
# as ``predict``) and ``probabilities`` (as ``predict_proba``).
session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
print("inputs:", [(i.name, i.type, i.shape) for i in session.get_inputs()])
print("outputs:", [(o.name, o.type, o.shape) for o in session.get_outputs()])

label, proba = session.run(None, {"X": X_test})
print("labels equal to predict:", np.array_equal(label, model.predict(X_test)))
diff = np.abs(proba - model.predict_proba(X_test)).max()
print(f"largest difference from predict_proba: {diff:.1e}")

# %%
# Far from the training data
# --------------------------
# Scaled up, inputs drive the sigmoid units to saturation, where
# onnxruntime's ``Sigmoid`` returns exactly 0 (below about -17 in float32).
# The exported graph takes the probabilities from :math:`\log g(z)` instead,
# so they stay finite and equal to the estimator's at every scale, in
# float32 and in float64.
scales = np.logspace(0, 6, 13)
for dtype, marker in [(np.float32, "o"), (np.float64, "s")]:
    session = ort.InferenceSession(
        to_onnx(model, X_train[:1].astype(dtype)).SerializeToString(),
        providers=["CPUExecutionProvider"],
    )
    diffs = []
    for s in scales:
        Xs = (X_test * s).astype(dtype)
        proba = session.run(None, {"X": Xs})[1]
        diffs.append(np.abs(proba - model.predict_proba(Xs)).max())
    print(f"{np.dtype(dtype).name}: largest difference {max(diffs):.1e}")
    plt.loglog(scales, np.maximum(diffs, 1e-18), marker, label=np.dtype(dtype).name)
plt.axhline(1e-6, color="C0", lw=0.8, ls="--")
plt.axhline(1e-12, color="C1", lw=0.8, ls="--")
plt.xlabel("input scale (X_test times)")
plt.ylabel("max |ONNX - predict_proba|")
plt.title("ONNX probabilities against predict_proba")
plt.legend()
plt.show()

# %%
# In a Pipeline with skl2onnx directly
# ------------------------------------
# Importing :mod:`skbpnn.onnx` registers the converter, so ``skl2onnx.to_onnx``
# converts any pipeline whose steps skl2onnx knows, with its usual
# classifier options (``zipmap``, ``nocl``, ``output_class_labels``).
import skl2onnx  # noqa: E402

onx = skl2onnx.to_onnx(model, X_train[:1], options={"zipmap": False})
print([o.name for o in onx.graph.output])
