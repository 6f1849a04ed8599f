"""
=================================================
Decision boundaries with 0, 1 and 2 hidden layers
=================================================

On two interleaved half moons, a network without hidden layer is logistic
regression: its boundary is a straight line. One hidden layer of 8 sigmoid
units bends it around the moons; a second hidden layer gives a different
curve, no better on data this simple. The colour is ``predict_proba`` of the
second class.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbpnn import BackpropClassifier

X, y = make_moons(n_samples=300, noise=0.25, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

xx, yy = np.meshgrid(np.linspace(-2, 3, 200), np.linspace(-1.5, 2, 200))
grid = np.c_[xx.ravel(), yy.ravel()]

fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharey=True)
for ax, hidden in zip(axes, [(), (8,), (8, 8)]):
    clf = BackpropClassifier(hidden_layer_sizes=hidden, lambda_=0.1, random_state=0)
    model = make_pipeline(StandardScaler(), clf).fit(X_train, y_train)
    proba = model.predict_proba(grid)[:, 1].reshape(xx.shape)
    ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.7)
    ax.contour(xx, yy, proba, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(*X_train.T, c=y_train, cmap="RdBu", edgecolors="k", s=15)
    ax.scatter(*X_test.T, c=y_test, cmap="RdBu", edgecolors="k", s=15, marker="s")
    network = "-".join(map(str, clf.layer_sizes_))
    ax.set_title(
        f"hidden_layer_sizes={hidden}\nnetwork {network}, "
        f"test accuracy {model.score(X_test, y_test):.2f}"
    )
fig.tight_layout()
plt.show()

# %%
# With two classes the network has one output unit (``K = 1``): the black
# line is where its output crosses 0.5, i.e. where ``z`` of the output unit
# is 0. Without hidden layer ``z`` is linear in the inputs, so the line is
# straight.
