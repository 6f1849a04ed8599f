"""
=============================================
Loss curves for several values of ``lambda_``
=============================================

``loss_curve_`` holds the cost :math:`J(\\Theta)` after every L-BFGS
iteration. A larger ``lambda_`` adds a larger penalty, so its curve ends
higher; the held-out accuracy shows which curve is worth it.
"""

# %%
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbpnn import BackpropClassifier
from skbpnn.plotting import LossCurveDisplay

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

# Most of these fits reach max_iter on a curve that is already flat: the
# picture shows it, so the ConvergenceWarning is not needed here.
warnings.simplefilter("ignore", ConvergenceWarning)

fig, ax = plt.subplots(figsize=(7, 4.5))
for lambda_ in [0.01, 0.3, 3.0, 30.0]:
    clf = BackpropClassifier(lambda_=lambda_, max_iter=100, random_state=0)
    model = make_pipeline(StandardScaler(), clf).fit(X_train, y_train)
    accuracy = model.score(X_test, y_test)
    LossCurveDisplay.from_estimator(
        clf,
        ax=ax,
        label=f"lambda_={lambda_:g}: {clf.n_iter_} it., test acc. {accuracy:.3f}",
    )
    print(f"lambda_={lambda_:<5g} final cost {clf.loss_:.4f}  held-out {accuracy:.3f}")
ax.set_title("BackpropClassifier on the digits: cost per L-BFGS iteration")
plt.show()

# %%
# Every curve falls steeply for some twenty iterations, then flattens. With
# the smallest ``lambda_`` the network fits the training set almost exactly:
# the gradient soon drops below ``tol`` and L-BFGS stops early, at the lowest
# cost but not the best held-out accuracy. The largest ``lambda_`` keeps the
# weights so small that the network underfits. A curve still falling
# steeply at ``max_iter`` would say that more iterations are needed; the
# estimator then also warns with a
# :class:`~sklearn.exceptions.ConvergenceWarning` (silenced above).
