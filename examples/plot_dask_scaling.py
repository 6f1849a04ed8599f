"""
=====================================
Scaling out with Dask: search and fit
=====================================

Two ways to use a Dask cluster (``pip install "skbpnn[dask]"``):

* a hyperparameter search whose fits run on the workers, through joblib's
  ``"dask"`` backend, with the same results as the local run;
* an out-of-core fit on a dask array: L-BFGS runs here, on the client, while
  every cost and gradient is summed over the array's chunks on the workers.

The cluster here is a small one inside this process; pointing the same code
at a real cluster only changes the ``Client`` (see :doc:`/scaling`).
"""

# %%
# A local cluster
# ---------------
# Two workers in this process, bound to 127.0.0.1, no dashboard. On a real
# cluster: ``Client("scheduler-address:8786")``.
import warnings

import dask.array as da
import joblib
import matplotlib.pyplot as plt
import numpy as np
from dask.distributed import Client, LocalCluster
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skbpnn import BackpropClassifier

warnings.simplefilter("ignore", ConvergenceWarning)  # short fits, on purpose

cluster = LocalCluster(
    n_workers=2,
    threads_per_worker=1,
    processes=False,  # threads of this process, talking over loopback TCP
    protocol="tcp",
    host="127.0.0.1",
    dashboard_address=None,
)
client = Client(cluster)

# %%
# Hyperparameter search on the cluster
# ------------------------------------
# Nothing changes in the estimator or the search: inside
# ``joblib.parallel_backend("dask")`` the search's ``n_jobs=-1`` fits run on
# the workers. The scores are those of the local run.
X, y = load_digits(return_X_y=True)
X, y = X[:400], y[:400]
pipe = make_pipeline(StandardScaler(), BackpropClassifier(max_iter=30, random_state=0))
grid = {
    "backpropclassifier__lambda_": [0.1, 10.0],
    "backpropclassifier__hidden_layer_sizes": [(8,), (16,)],
}

local = GridSearchCV(pipe, grid, cv=3).fit(X, y)
with joblib.parallel_backend("dask"):
    remote = GridSearchCV(pipe, grid, cv=3, n_jobs=-1).fit(X, y)

print("best parameters:", remote.best_params_)
print(
    "largest score difference, dask vs local:",
    np.abs(
        remote.cv_results_["mean_test_score"] - local.cv_results_["mean_test_score"]
    ).max(),
)

# %%
# Out-of-core fit on a dask array
# -------------------------------
# The data are generated on the workers, chunk by chunk; here they are small
# (16 MB) so that the in-memory fit can be compared, but the client never
# holds them during the dask fit: each evaluation returns one vector of
# ``1 + n_params`` numbers.
rs = da.random.RandomState(0)
Xd = rs.standard_normal((100_000, 20), chunks=(12_500, 20))
yd = (Xd[:, 0] - Xd[:, 1] + 0.5 * Xd[:, 2] ** 2 > 0.5).astype(int)
Xd, yd = client.persist([Xd, yd])  # keep them on the workers between passes

clf = BackpropClassifier((8,), lambda_=0.1, max_iter=20, random_state=0)
clf.fit(Xd, yd)

labels = clf.predict(Xd)  # a lazy dask array
print(type(labels).__name__, labels.shape)
print("training accuracy:", float((labels == yd).mean().compute()))

# %%
# The same fit in memory
# ----------------------
# Same data, same ``random_state``: the same loss, to rounding.
ref = BackpropClassifier((8,), lambda_=0.1, max_iter=20, random_state=0)
ref.fit(Xd.compute(), yd.compute())
print(f"loss in memory {ref.loss_:.10f}, on dask {clf.loss_:.10f}")
print("relative difference:", abs(clf.loss_ - ref.loss_) / ref.loss_)

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(ref.loss_curve_, label="in memory", lw=3, alpha=0.5)
ax.plot(clf.loss_curve_, "--", label="dask array, 8 chunks")
ax.set_xlabel("L-BFGS iteration")
ax.set_ylabel("cost J")
ax.legend()
fig.tight_layout()

# %%
# Shut the cluster down.
client.close()
cluster.close()
