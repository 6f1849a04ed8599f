"""
===============================================
Comparing hidden layer sizes by their evidence
===============================================

A larger network always fits the training data better, so the training cost
cannot choose the number of hidden units. The Bayesian evidence can: the
probability of the data under the model, with the weights integrated out,
is the best fit's likelihood times an *Occam factor*, the fraction of the
prior's volume the data leave to the weights. Each weight the data pin down
costs a factor, so the evidence rises while the extra units explain the data
and falls once they only add flexibility (MacKay, 1992, "The evidence
framework applied to classification networks").

``BackpropClassifier(lambda_="evidence")`` chooses ``lambda_`` by this
evidence in one fit, and ``log_evidence_`` is its value at that ``lambda_``:
this example compares hidden layer sizes by it, and by cross-validated
accuracy, on the digits.
"""

# %%
# One evidence fit per hidden layer size
# --------------------------------------
# To keep the example to seconds it uses 600 of the 1797 digits, up to 16
# hidden units and 3-fold cross-validation. Each fold's fit chooses its own
# ``lambda_`` by the evidence of its training rows. ``max_iter=1000`` lets
# the kept refits reach their modes: a kept refit stopped at ``max_iter`` warns,
# and its evidence can be far from its mode's (at ``max_iter=100`` the
# 4-unit network's came out 25 nats higher, at another ``lambda_``).
import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbpnn import BackpropClassifier

X, y = load_digits(return_X_y=True)
X, _, y, _ = train_test_split(X, y, train_size=600, stratify=y, random_state=0)

sizes = [1, 2, 4, 8, 16]
fits = []
for h in sizes:
    clf = BackpropClassifier((h,), lambda_="evidence", max_iter=1000, random_state=0)
    model = make_pipeline(StandardScaler(), clf).fit(X, y)
    cv = cross_val_score(clone(model), X, y, cv=3).mean()
    fits.append((clf, cv))

print("hidden  params  lambda_  gamma   log evidence  std. error  3-fold accuracy")
for h, (clf, cv) in zip(sizes, fits):
    print(
        f"{h:6d}  {clf.theta_.size:6d}  {clf.fitted_lambda_:7.3g}  "
        f"{clf.n_effective_params_:6.1f}  {clf.log_evidence_:12.1f}  "
        f"{clf.log_evidence_se_:10.2g}  {cv:15.3f}"
    )

# %%
# One of the 4-unit network's cross-validation fits warns that its search
# did not settle in its 16 refits: it kept ``lambda_`` near ``1e-5``, close
# to the lower bound of the search, on 400 rows.
#
# Every network here has at most 4000 parameters, so its evidence is exact
# (``log_evidence_se_`` is 0: no random probes), and it is that of a mode:
# the refits are held close to their modes and the Newton decrement left is
# added. The differences between sizes are therefore differences of the
# models, not noise of the estimate; what remains uncertain is which mode
# each fit reached (another ``random_state`` can reach another one). Above
# 4000 parameters the estimate is stochastic: compare sizes only where
# their evidences differ by several ``log_evidence_se_``.

# %%
# The Occam plot
# --------------
# The log evidence (top) and the cross-validated accuracy (bottom) against
# the number of hidden units.
log_evidence = np.array([clf.log_evidence_ for clf, _ in fits])
accuracy = np.array([cv for _, cv in fits])

fig, (ax_ev, ax_acc) = plt.subplots(2, 1, sharex=True, figsize=(6, 6))
ax_ev.plot(sizes, log_evidence, "o-")
ax_ev.set_ylabel("log evidence (nats)")
ax_ev.set_title("Digits (600 rows): evidence and accuracy by hidden units")
best = int(np.argmax(log_evidence))
ax_ev.annotate(
    "largest evidence",
    (sizes[best], log_evidence[best]),
    xytext=(0, -30),
    textcoords="offset points",
    ha="center",
    arrowprops={"arrowstyle": "->"},
)
ax_acc.plot(sizes, accuracy, "o-", color="C1")
ax_acc.set_ylabel("3-fold CV accuracy")
ax_acc.set_xlabel("hidden units")
ax_acc.set_xscale("log", base=2)
ax_acc.set_xticks(sizes, labels=[str(h) for h in sizes])
fig.tight_layout()
plt.show()

# %%
# Networks of one or two units cannot separate ten digits: their evidence
# and their accuracy are both poor. The evidence rises steeply up to a few
# units and then falls, while the accuracy is still rising: here it is
# largest at 8 units, where the 16-unit network is the more accurate one.
# The two criteria need not agree. The evidence scores how probable the
# training rows are under each model, with one Gaussian prior on all its
# weights and a Laplace approximation of one mode of a non-convex cost;
# cross-validation scores predictions on rows held out. Where they disagree,
# the prior or the approximation is what to question (MacKay used such
# disagreements to find where a model's assumptions fail), and
# cross-validation is the safer judge of accuracy. What the evidence gives
# for free is the other side of the picture: every point on its curve took
# one fit, on all the rows, and no data held out.

# %%
# The lambdas found and the well-determined parameters
# ----------------------------------------------------
# ``n_effective_params_`` is MacKay's gamma: how many of the weights the data
# determine, out of all of them; the rest stay near the prior's zero.
# ``fitted_lambda_`` is the lambda each fit chose.
n_params = np.array([clf.theta_.size for clf, _ in fits])
gamma = np.array([clf.n_effective_params_ for clf, _ in fits])
lambdas = np.array([clf.fitted_lambda_ for clf, _ in fits])

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(sizes, n_params, "s--", color="grey", label="parameters")
ax.plot(sizes, gamma, "o-", label="n_effective_params_ (gamma)")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xticks(sizes, labels=[str(h) for h in sizes])
ax.set_xlabel("hidden units")
ax.set_ylabel("parameters")
ax_lam = ax.twinx()
ax_lam.plot(sizes, lambdas, "^:", color="C2", label="fitted_lambda_")
ax_lam.set_yscale("log")
ax_lam.set_ylabel("fitted_lambda_", color="C2")
handles = ax.get_legend_handles_labels()
more = ax_lam.get_legend_handles_labels()
ax.legend(handles[0] + more[0], handles[1] + more[1], loc="lower right")
fig.tight_layout()
plt.show()

# %%
# The evidence of any fitted model
# --------------------------------
# ``log_evidence(X, y)`` computes the log evidence of a fitted network with
# its training data, without refitting: here a 16-unit network with the
# fixed default ``lambda_=1``, against the one that chose its own.
scaler = StandardScaler().fit(X)
fixed = BackpropClassifier((16,), lambda_=1.0, max_iter=1000, random_state=0)
fixed.fit(scaler.transform(X), y)
chosen = fits[sizes.index(16)][0]
print(f"lambda_=1:    log evidence {fixed.log_evidence(scaler.transform(X), y):.1f}")
print(
    f"lambda_={chosen.fitted_lambda_:.3g}: log evidence "
    f"{chosen.log_evidence(scaler.transform(X), y):.1f}"
)
