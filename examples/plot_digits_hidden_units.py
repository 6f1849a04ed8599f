"""
=================================================
What the hidden units learn on handwritten digits
=================================================

A network with one hidden layer of 25 units, trained on the 8x8 digits that
ship with scikit-learn. Each hidden unit computes ``g(Theta1[k] @ [1; x])``:
its 64 input weights have the shape of an image, and drawing them shows
which pixels push the unit on (light) or off (dark). This is the course's
picture of the hidden layer, made by
:class:`skbpnn.plotting.HiddenUnitsDisplay`.
"""

# %%
# Train on three quarters of the digits
# -------------------------------------
# The features are standardized first: the sigmoid units saturate on raw
# pixel values of 0 to 16.
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbpnn import BackpropClassifier
from skbpnn.plotting import HiddenUnitsDisplay

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
clf = BackpropClassifier(hidden_layer_sizes=(25,), lambda_=1.0, random_state=0)
model = make_pipeline(StandardScaler(), clf).fit(X_train, y_train)
print(f"network {clf.layer_sizes_}, {clf.n_iter_} L-BFGS iterations")
print(f"held-out accuracy: {model.score(X_test, y_test):.3f}")

# %%
# The hidden units as images
# --------------------------
# ``thetas_[0]`` is the course's ``Theta1``, of shape (25, 65); column 0 is
# the bias, and each row of the other 64 columns is drawn as an 8x8 image,
# scaled to its own largest weight.
fig, ax = plt.subplots(figsize=(5, 5))
HiddenUnitsDisplay.from_estimator(model, ax=ax)
plt.show()

# %%
# Most units respond to strokes in several places at once: a hidden unit is
# a feature shared by several digits, not a template of one. The output
# layer, ``Theta2`` of shape (10, 26), combines them into one score per digit.
# Where it still goes wrong:
ConfusionMatrixDisplay.from_estimator(model, X_test, y_test, colorbar=False)
plt.show()

# %%
# More regularization, smoother units
# -----------------------------------
# With a large ``lambda_`` the weights are pushed towards zero: the units
# become blurrier, broader detectors.
smooth = make_pipeline(
    StandardScaler(), BackpropClassifier(lambda_=30.0, random_state=0)
).fit(X_train, y_train)
print(f"lambda_=30: held-out accuracy {smooth.score(X_test, y_test):.3f}")
fig, ax = plt.subplots(figsize=(5, 5))
HiddenUnitsDisplay.from_estimator(smooth, ax=ax)
ax.set_title("25 hidden units, lambda_=30")
plt.show()
