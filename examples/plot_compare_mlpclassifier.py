"""
==============================================
Side by side with scikit-learn's MLPClassifier
==============================================

:class:`~sklearn.neural_network.MLPClassifier` with
``activation="logistic"``, ``solver="lbfgs"`` and ``alpha=lambda_`` is
almost the same model as :class:`~skbpnn.BackpropClassifier`: the same
sigmoid hidden units, the same penalty :math:`\\frac{\\lambda}{2m}\\sum W^2`
without the biases, the same optimizer. This example checks that the two
compute the same function from the same weights, then fits both.
"""

# %%
# Same weights, same outputs
# --------------------------
# For a binary problem both have one sigmoid output unit. Copy skbpnn's
# weights into an MLPClassifier (``coefs_[l] == thetas_[l][:, 1:].T``,
# ``intercepts_[l] == thetas_[l][:, 0]``) and compare.
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skbpnn import BackpropClassifier

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
is_odd_train, is_odd_test = y_train % 2, y_test % 2

lambda_ = 1.0
bp = BackpropClassifier((10,), lambda_=lambda_, random_state=0)
bp.fit(X_train, is_odd_train)
mlp = MLPClassifier((10,), activation="logistic", solver="lbfgs", alpha=lambda_)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    mlp.fit(X_train, is_odd_train)  # one fit sets up its attributes
mlp.coefs_ = [W.copy() for W in bp.coefs_]
mlp.intercepts_ = [b.copy() for b in bp.intercepts_]

same_proba = np.allclose(bp.predict_proba(X_test), mlp.predict_proba(X_test))
print("same predict_proba from the same weights:", same_proba)

# The cost: mean log loss plus lambda_ / (2 m) times the squared weights.
m = X_train.shape[0]
penalty = lambda_ / (2 * m) * sum(np.sum(W**2) for W in mlp.coefs_)
J_mlp = log_loss(is_odd_train, mlp.predict_proba(X_train)) + penalty
print(f"cost: skbpnn {bp.loss_:.10f}, recomputed from MLPClassifier {J_mlp:.10f}")

# %%
# Fitted side by side on the ten digits
# -------------------------------------
# With more than two classes the output layers differ: skbpnn keeps the
# course's ten sigmoid units (one-vs-all), MLPClassifier uses a softmax.
# Same hidden layer, same ``lambda_``/``alpha``, same iteration budget.
#
# Each fit runs twice: with each estimator's own BLAS threads, then with both
# held to one thread by :func:`threadpoolctl.threadpool_limits`. The two
# show where a speed-up comes from: ``fit`` holds BLAS threads down while it
# runs (see the Performance page), and MLPClassifier does not.


def estimators():
    return [
        ("BackpropClassifier", BackpropClassifier((25,), lambda_=1.0, random_state=0)),
        (
            "MLPClassifier",
            MLPClassifier(
                (25,),
                activation="logistic",
                solver="lbfgs",
                alpha=1.0,
                max_iter=200,
                random_state=0,
            ),
        ),
    ]


def timed_fit(clf):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    return time.perf_counter() - start


results = {}
for name, clf in estimators():
    seconds = timed_fit(clf)
    with threadpool_limits(limits=1, user_api="blas"):
        seconds_one_thread = timed_fit(clf)
    results[name] = (clf.score(X_test, y_test), seconds, seconds_one_thread)
    print(
        f"{name:18s} accuracy {results[name][0]:.3f}  {clf.n_iter_} iterations "
        f"in {seconds:.2f} s ({seconds_one_thread:.2f} s on one BLAS thread)"
    )

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
names = list(results)
ax1.bar(names, [results[n][0] for n in names], color=["C0", "C1"])
ax1.set_ylim(0.9, 1.0)
ax1.set_title("held-out accuracy")
x = np.arange(len(names))
ax2.bar(x - 0.2, [results[n][1] for n in names], 0.4, label="own threads")
ax2.bar(x + 0.2, [results[n][2] for n in names], 0.4, label="one BLAS thread")
ax2.set_xticks(x, names)
ax2.set_title("fit time (s), this machine")
ax2.legend()
fig.tight_layout()
plt.show()

# %%
# The accuracies are close; timings on a shared machine are noise beyond
# their ratio. Where a speed-up comes from: with their own threads, most of
# the difference is the thread policy. scipy's wheel ships its own OpenBLAS,
# which L-BFGS-B uses, and its idle threads take the cores from numpy's
# products; for a network this small a second thread does not pay anyway.
# On one BLAS thread each, what remains is the evaluation (skbpnn's is about
# 1.1-1.2x faster on digits) and the iterations: here MLPClassifier's softmax
# output needs fewer than the course's ten sigmoid units, so its fit can be
# the faster one. ``benchmarks/run.py`` measures both ways on identical
# weights. The names map as in the :ref:`user guide's notation table
# <user_guide>`: ``lambda_`` is ``alpha``, ``thetas_`` holds ``coefs_`` and
# ``intercepts_`` in one matrix per layer.
