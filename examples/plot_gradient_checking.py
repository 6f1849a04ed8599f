"""
===============================
Gradient checking, step by step
===============================

Backpropagation is easy to get subtly wrong, and a wrong gradient still lets
the cost go down. Gradient checking compares it with the slope of the cost
measured numerically, one parameter at a time:

.. math::

   \\frac{\\partial J}{\\partial \\theta_p} \\approx
   \\frac{J(\\theta + \\epsilon e_p) - J(\\theta - \\epsilon e_p)}{2 \\epsilon}.

This example does it by hand with the functions of :mod:`skbpnn.backprop`,
then with :func:`~skbpnn.backprop.gradient_check`, and shows what a bug
looks like.
"""

# %%
# A small network and some data
# -----------------------------
# Numerical gradients cost two evaluations of the cost per parameter, so the
# check runs on a small network: 3 inputs, 5 hidden units, 3 classes.
import matplotlib.pyplot as plt
import numpy as np

from skbpnn import backprop

layer_sizes = (3, 5, 3)
rng = np.random.RandomState(0)
X = rng.randn(5, 3)
Y = np.eye(3)[[0, 1, 2, 0, 1]]  # 5 samples, one-hot over K = 3 outputs
lambda_ = 3.0
theta = backprop.init_weights(layer_sizes, random_state=0)
print(f"{theta.size} parameters: shapes {backprop.layer_shapes(layer_sizes)}")


def J(t):
    return backprop.cost(t, X, Y, layer_sizes, lambda_)


# %%
# One parameter by hand
# ---------------------
# Nudge parameter ``p`` up and down by ``epsilon`` and take the slope.
J0, grad = backprop.cost_and_gradient(theta, X, Y, layer_sizes, lambda_)
p, epsilon = 7, 1e-4
e_p = np.zeros_like(theta)
e_p[p] = epsilon
slope = (J(theta + e_p) - J(theta - e_p)) / (2 * epsilon)
print(f"J = {J0:.6f}")
print(f"dJ/dtheta[{p}]: numerical {slope:.10f}, backprop {grad[p]:.10f}")

# %%
# Every parameter
# ---------------
# :func:`~skbpnn.backprop.numerical_gradient` does the same for all of
# them; the relative difference of the two vectors is the number to look at.
numgrad = backprop.numerical_gradient(J, theta, epsilon)
diff = np.linalg.norm(numgrad - grad) / np.linalg.norm(numgrad + grad)
print(f"relative difference: {diff:.2e}")
check = backprop.gradient_check(theta, X, Y, layer_sizes, lambda_)
print(f"gradient_check:      {check:.2e}")

# %%
# The course asks for less than 1e-9. What a bug looks like: regularize the
# bias weights too (a classic slip) and the check fails loudly, although the
# cost still decreases along the wrong gradient.
buggy = grad.copy()
offset = 0
for rows, cols in backprop.layer_shapes(layer_sizes):
    bias = slice(offset, offset + rows)  # column 0 comes first (column-major)
    buggy[bias] += lambda_ / X.shape[0] * theta[bias]
    offset += rows * cols
buggy_diff = np.linalg.norm(numgrad - buggy) / np.linalg.norm(numgrad + buggy)
print(f"with the bias regularized: {buggy_diff:.2e}")

fig, ax = plt.subplots(figsize=(5, 5))
ax.plot(numgrad, grad, "o", label=f"backprop ({diff:.0e})")
ax.plot(numgrad, buggy, "x", label=f"bias regularized ({buggy_diff:.0e})")
lims = [numgrad.min(), numgrad.max()]
ax.plot(lims, lims, "k:", lw=1)
ax.set_xlabel("numerical gradient")
ax.set_ylabel("analytical gradient")
ax.legend()
ax.set_title("each point is one parameter")
plt.show()

# %%
# Choosing epsilon
# ----------------
# Too large a step measures a secant, not a tangent (the error shrinks as
# ``epsilon**2``); too small a step loses the difference to rounding (the
# error grows as ``1/epsilon``). Around 1e-4 to 1e-5 both are small.
epsilons = np.logspace(-9, -1, 17)
diffs = [
    backprop.gradient_check(theta, X, Y, layer_sizes, lambda_, epsilon=e)
    for e in epsilons
]
fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(epsilons, diffs, "o-")
ax.axhline(1e-9, color="k", ls=":", label="the course's threshold, 1e-9")
ax.set_xlabel("epsilon")
ax.set_ylabel("relative difference")
ax.legend()
plt.show()

# %%
# Once the gradient checks out, train without checking:
# ``BackpropClassifier`` only ever calls
# :func:`~skbpnn.backprop.cost_and_gradient`.
