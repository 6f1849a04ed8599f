"""
====================================================
Choosing ``lambda_`` and the hidden layers by search
====================================================

The regularization strength and the architecture interact, and the training
cost always prefers no regularization and more units. Cross-validation
decides instead: :class:`~sklearn.model_selection.GridSearchCV` treats
:class:`~skbpnn.BackpropClassifier` like any scikit-learn estimator. The heat
map shows the mean cross-validated accuracy of every pair.
"""

# %%
# The search
# ----------
# 500 of the digits and at most 60 L-BFGS iterations per fit keep the 36
# fits (12 pairs, 3 folds) to seconds.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbpnn import BackpropClassifier

X, y = load_digits(return_X_y=True)
X, _, y, _ = train_test_split(X, y, train_size=500, stratify=y, random_state=0)

lambdas = [0.01, 0.1, 1.0, 10.0]
hidden = [(4,), (8,), (16,)]
pipe = make_pipeline(StandardScaler(), BackpropClassifier(max_iter=60, random_state=0))
search = GridSearchCV(
    pipe,
    {
        "backpropclassifier__lambda_": lambdas,
        "backpropclassifier__hidden_layer_sizes": hidden,
    },
    cv=3,
)
with warnings.catch_warnings():
    # 60 iterations do not always converge; the scores are what matters here.
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X, y)
print("best:", search.best_params_, f"accuracy {search.best_score_:.3f}")

# %%
# The heat map
# ------------
# ``cv_results_`` lists the pairs in the grid's order: the last key varies
# fastest, so the scores reshape to (hidden layers, lambdas).
scores = search.cv_results_["mean_test_score"].reshape(len(hidden), len(lambdas))
params = search.cv_results_["params"]
assert params[1]["backpropclassifier__lambda_"] == lambdas[1]

fig, ax = plt.subplots(figsize=(6, 3.5))
im = ax.imshow(scores, cmap="viridis")
ax.set_xticks(range(len(lambdas)), labels=[f"{v:g}" for v in lambdas])
ax.set_yticks(range(len(hidden)), labels=[str(h) for h in hidden])
ax.set_xlabel("lambda_")
ax.set_ylabel("hidden_layer_sizes")
for i, j in np.ndindex(scores.shape):
    color = "black" if scores[i, j] > scores.mean() else "white"
    ax.text(j, i, f"{scores[i, j]:.3f}", ha="center", va="center", color=color)
fig.colorbar(im, ax=ax, label="mean CV accuracy")
ax.set_title("3-fold cross-validated accuracy")
fig.tight_layout()
plt.show()

# %%
# Four hidden units are too few for ten digits: whatever ``lambda_``, the
# accuracy stays far below that of larger networks. With more units the
# accuracy rises, and a moderate ``lambda_`` beats both a tiny one (which
# overfits the 333 training rows of each fold) and a large one (which
# underfits again).
