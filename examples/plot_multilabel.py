"""
=========================
Multilabel classification
=========================

The course's cost is a sum of :math:`K` independent logistic costs, one per
output unit, so nothing in it assumes that a sample has exactly one class.
Given a 0/1 indicator matrix ``Y`` (one column per label),
:class:`~skbpnn.BackpropClassifier` fits one output unit per label and
predicts each label on its own: a sample can get none, one or several.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_multilabel_classification
from sklearn.metrics import hamming_loss, jaccard_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbpnn import BackpropClassifier

X, Y = make_multilabel_classification(
    n_samples=600, n_features=20, n_classes=5, n_labels=2, random_state=0
)
X_train, X_test, Y_train, Y_test = train_test_split(X, Y, random_state=0)
print("labels per sample:", np.bincount(Y.sum(axis=1)))

clf = BackpropClassifier(hidden_layer_sizes=(20,), lambda_=3.0, random_state=0)
model = make_pipeline(StandardScaler(), clf).fit(X_train, Y_train)
Y_pred = model.predict(X_test)
print(f"network {clf.layer_sizes_}: K = {clf.n_outputs_} output units, one per label")
print(f"Hamming loss {hamming_loss(Y_test, Y_pred):.3f}")
print(
    f"Jaccard score (per sample) {jaccard_score(Y_test, Y_pred, average='samples'):.3f}"
)

# %%
# Each output is its own probability
# ----------------------------------
# ``predict_proba`` returns the five sigmoid outputs, which need not sum to
# 1; ``predict`` thresholds each at 0.5. Rows are 25 test samples; the dots
# mark the labels they really have.
proba = model.predict_proba(X_test[:25])
fig, ax = plt.subplots(figsize=(8, 3))
im = ax.imshow(proba.T, cmap="Greens", vmin=0, vmax=1, aspect="auto")
rows, cols = np.nonzero(Y_test[:25].T)
ax.plot(cols, rows, "k.", label="true label")
ax.set_xlabel("test sample")
ax.set_ylabel("label")
ax.legend(loc="upper right", bbox_to_anchor=(1, 1.25))
fig.colorbar(im, ax=ax, label="predict_proba")
fig.tight_layout()
plt.show()

# %%
# Per-label accuracy
# ------------------
# Every label is a yes/no question answered by its own output unit, on
# hidden features shared by all five.
per_label = (Y_pred == Y_test).mean(axis=0)
for k, acc in enumerate(per_label):
    print(f"label {k}: accuracy {acc:.3f} (positive in {Y_test[:, k].mean():.0%})")
