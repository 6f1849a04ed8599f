"""BackpropClassifier: the course notes' network as a scikit-learn estimator.

The scikit-learn face of the package: parameters and their validation, the
fitted attributes, predictions. ``fit`` prepares the training data (here for
arrays, in ``_dask`` for dask collections), then runs the same steps for
both: initial weights, the BLAS thread policy (``_threads``), L-BFGS
(``_lbfgs``), the fitted attributes. The Design page of the docs draws the
path.
"""

import contextlib
import dataclasses
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit, logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _array_api, _evidence, _targets, backprop
from ._data import TrainingData, is_dask_collection, merge_repeated_rows, rows_per_block
from ._evaluation import Workspace, data_cost_and_gradient, regularize
from ._lbfgs import TrainingInterruptedWarning, run_lbfgs
from ._threads import fit_thread_limits

__all__ = ["BackpropClassifier", "TrainingInterruptedWarning"]


def _dask_module():
    from . import _dask  # imports dask: only reached with a dask input

    return _dask


def _in_memory_fun(X, Y, w, rows, layer_sizes, lambda_, block_rows, workspace):
    """``fun(theta) -> (J, grad)`` over ``X[rows]`` (or X), for L-BFGS.

    ``workspace`` holds the scratch arrays of every evaluation.
    """
    shapes = backprop.layer_shapes(layer_sizes)
    sw_sum = float(X.shape[0] if rows is None else rows.shape[0])
    if w is not None:
        sw_sum = float(np.sum(w, dtype=np.float64))
    dtype = X.dtype

    def fun(theta):
        theta_d = theta.astype(dtype, copy=False)
        data_cost, grad = data_cost_and_gradient(
            theta_d, X, Y, shapes, w, block_rows, workspace, rows
        )
        J, grad = regularize(theta_d, data_cost, grad, shapes, lambda_, sw_sum)
        return J, grad.astype(np.float64, copy=False)

    return fun


# The attributes only a fit by the evidence sets.
_EVIDENCE_ATTRIBUTES = (
    "log_evidence_",
    "log_evidence_se_",
    "n_effective_params_",
    "n_iter_total_",
    "lambdas_",
    "scores_",
)

# Every fit path provides the evidence; a new one that does not says so.
_NO_EVIDENCE = (
    "lambda_='evidence' and log_evidence are not available for this kind of "
    "input: pass numpy arrays, scipy sparse matrices, dask collections or "
    "array API arrays."
)


# ClassifierMixin must come before BaseEstimator: with scikit-learn >= 1.6 the
# order (BaseEstimator, ClassifierMixin) makes the estimator type "None", so
# is_classifier() is False, cross-validation does not stratify and
# check_estimator skips the classifier checks.
class BackpropClassifier(ClassifierMixin, BaseEstimator):
    """Sigmoid neural network trained by backpropagation and L-BFGS.

    The classic network of the course notes: every unit is a sigmoid, the
    cost is the sum over the output units of the logistic (cross-entropy)
    cost, averaged over samples, plus ``lambda_ / (2 m)`` times the sum of
    the squared non-bias weights. Its gradient comes from backpropagation and
    scipy's L-BFGS-B minimizes it over the one unrolled parameter vector.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(25,)
        Units of each hidden layer. ``()`` gives no hidden layer: the network
        is then one-vs-all regularized logistic regression. The default is
        the course's 25 units.
    lambda_ : float or "evidence", default=1.0
        Regularization strength, ``>= 0``. It equals MLPClassifier's
        ``alpha``: both divide the penalty by ``2 m`` (the sum of the sample
        weights). The default is the course's. ``"evidence"`` chooses it from
        the training data in one fit, as the maximum of the Bayesian
        evidence (MacKay's Laplace approximation, see Notes), refitting warm
        at each ``lambda_`` tried, instead of a grid search.
    epsilon_init : float or None, default=None
        Initial weights are uniform on ``[-eps, eps]``. None uses
        ``eps = sqrt(6) / sqrt(s_l + s_{l+1})`` per layer; a positive float
        is used for every layer.
    max_iter : int, default=200
        Maximum L-BFGS iterations (MLPClassifier's default); with
        ``lambda_="evidence"``, of each refit (``n_iter_`` counts those of
        the refit kept, ``n_iter_total_`` those of all). A refit stopped by
        it short of its mode is corrected by the Newton decrement (see
        ``log_evidence_``); the kept one warns, as its log evidence is then
        not certified to be its mode's.
    tol : float, default=1e-4
        L-BFGS-B's ``gtol`` (MLPClassifier's default): it stops when the
        largest component of the (projected) gradient is at most ``tol``.
        It also stops, whatever ``tol``, when an iteration lowers the cost
        by a relative ``(J_k - J_{k+1}) / max(|J_k|, |J_{k+1}|, 1)`` of at
        most ``ftol`` = 2.2e-9 (scipy's default, ``factr * eps``), and at
        ``max_iter`` or ``max_fun``. A smaller ``tol`` makes the gradient
        test stricter; ``tol=0`` leaves only the relative-decrease test and
        the limits. ``stop_reason_`` says which ended the fit. With
        ``lambda_="evidence"``, for any network, the refits use
        ``min(tol, mode_gtol(lambda_) / m)`` (``m`` the sum of the sample
        weights): they stop when the largest component of the gradient of
        the summed cost ``S = m J``, where the Laplace approximation is
        taken, is at most ``1e-5`` nats (``_evidence.MODE_GTOL``), or
        ``1e-5 * lambda_ / 1e-2`` below ``lambda_ = 1e-2``
        (``_evidence.mode_gtol``; at small ``lambda_`` the relative-decrease
        test is the one that ends them), or by the relative-decrease test,
        or at ``max_iter``. So ``tol`` does not decide where the evidence is
        taken (only a ``tol`` below ``mode_gtol(lambda_) / m`` tightens the
        refits): the evidence is that of a mode, and ``fitted_lambda_``
        does not depend on ``tol``.
    max_fun : int, default=15000
        Maximum cost evaluations (MLPClassifier's default).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights. A fit by the evidence also draws from it
        (``None`` too) one seed for the random probes of the matrix-free
        log evidence (above 4000 parameters), and keeps it: every
        ``lambda_`` of the search uses the same probes, and
        :meth:`log_evidence` of the fitted model uses them again. A fit by
        a number draws nothing more; its first :meth:`log_evidence` draws
        the seed, and keeps it. The same seed and data give bitwise the
        same ``theta_``.
    verbose : int, default=0
        ``>= 1`` prints one line per iteration: iteration, cost, gradient
        norm and elapsed seconds; with ``lambda_="evidence"``, also one line
        before each refit of the search: its ``lambda_``, and the best
        ``lambda_`` so far with its log evidence.
    warm_start : bool, default=False
        Start from the previous ``theta_`` when the layer sizes are the same
        (with other sizes training starts afresh). The classes must be the
        same as in the previous fit.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``, as in
        :class:`~sklearn.linear_model.LogisticRegression`. "balanced" uses
        ``n_samples / (n_classes * np.bincount(y))``. Not for multilabel
        targets.
    callback : callable or None, default=None
        Called after every L-BFGS iteration as
        ``callback(iteration, cost, theta)`` with a copy of the unrolled
        weights; returning True stops training there (without a
        ConvergenceWarning), to stop on a condition of your own. With
        ``lambda_="evidence"`` it is called in every refit (``iteration``
        counting from 1 in each), and True ends the search: the refit it
        stopped is scored as any other, and the refit kept, the best
        scored, may be another (``stop_reason_`` is the kept refit's).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (for multilabel targets, ``arange(n_labels)``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit, when X has string column names.
    layer_sizes_ : tuple of int
        ``(s_1, ..., s_L)``: inputs, hidden layers, output units ``K``.
    theta_ : ndarray of shape (n_params,)
        The unrolled weights, column-major per layer: the one array that owns
        them. The attributes below are views of it. For an array API input
        under ``array_api_dispatch``, an array of ``X``'s namespace on its
        device.
    thetas_ : list of ndarray
        ``Theta_l`` of shape ``(s_{l+1}, s_l + 1)``, column 0 the bias.
    coefs_ : list of ndarray
        MLPClassifier's layout, ``coefs_[l] = thetas_[l][:, 1:].T``, shape
        ``(s_l, s_{l+1})``.
    intercepts_ : list of ndarray
        ``intercepts_[l] = thetas_[l][:, 0]``, shape ``(s_{l+1},)``.
    loss_ : float
        The cost ``J`` at ``theta_`` (recomputed where L-BFGS-B's last
        evaluation was elsewhere, as after a failed line search).
    loss_curve_ : list of float
        The cost after every L-BFGS iteration; the last entry is ``loss_``.
        With ``lambda_="evidence"``, of the refit at ``fitted_lambda_``.
    n_iter_ : int
        L-BFGS iterations run, at most ``max_iter``. With
        ``lambda_="evidence"``, those of the refit at ``fitted_lambda_``
        only, the fit that ``loss_curve_`` and ``stop_reason_`` describe.
    n_iter_total_ : int
        Only with ``lambda_="evidence"``: the L-BFGS iterations of all the
        refits of the search (``n_iter_`` included), the total work of the
        fit.
    fitted_lambda_ : float
        The ``lambda_`` that ``theta_`` was fitted with: ``lambda_`` itself
        when it is a number, the one of the highest log evidence with
        ``lambda_="evidence"``.
    log_evidence_ : float
        Only with ``lambda_="evidence"``: the log evidence
        ``log p(D | fitted_lambda_)`` of the mode nearest ``theta_``: the
        Laplace approximation at ``theta_`` plus the Newton decrement
        ``1/2 g^T A^-1 g`` (``g`` the gradient of the summed cost there),
        the drop of the cost that a Gauss-Newton step from ``theta_`` to
        the mode would give: the value at the mode, up to the change of
        ``log det A`` along that step (see :meth:`log_evidence` and the
        User guide). Always the largest of ``scores_``; NaN where Ctrl-C
        stopped the first refit or its evidence (see above).
    log_evidence_se_ : float
        Only with ``lambda_="evidence"``: the standard error of
        ``log_evidence_``: 0 on the exact path (up to 4000 parameters),
        else half the standard error of the stochastic Lanczos estimate of
        ``log det A`` (10 probes; the estimate of the error is itself
        uncertain, by a factor up to about 3).
    n_effective_params_ : float
        Only with ``lambda_="evidence"``: MacKay's ``gamma = k - lambda_
        tr(A^-1 M)`` at ``theta_``, the number of weights the data
        determine (between 0 and the number ``k`` of non-bias weights):
        exact up to 4000 parameters (from the inverse of the Cholesky
        factor of ``A``), the stochastic trace estimate above.
    lambdas_ : ndarray of shape (n_tried,)
        Only with ``lambda_="evidence"``: the ``lambda_`` values tried, in
        order (BayesianRidge's ``scores_`` history); ``fitted_lambda_`` is
        one of them. Like ``theta_``, an array of ``X``'s namespace on its
        device for an array API input (so is ``scores_``).
    scores_ : ndarray of shape (n_tried,)
        Only with ``lambda_="evidence"``: the log evidence at each of
        ``lambdas_``, each that of the mode its own warm refit reached (as
        ``log_evidence_``), ``-inf`` for a refit whose cost diverged. Above
        4000 parameters, the kept point's is ``log_evidence_`` (10
        probes) and every other is ``log_evidence_`` less its difference
        from the kept point on the search's 4 common probes, on which the
        search compared them (so its standard error is
        ``log_evidence_se_`` and that of the difference combined).
    stop_reason_ : str
        How the fit ended: ``"converged"`` (one of L-BFGS-B's tests, see
        ``tol``), ``"max_iter"`` or ``"max_fun"`` (a limit reached),
        ``"abnormal"`` (the line search failed: the weights are the last
        accepted iterate), ``"callback"`` (``callback`` returned True) or
        ``"interrupted"`` (Ctrl-C). Every reason but ``"converged"``,
        ``"callback"`` and ``"interrupted"`` also gives a
        :class:`~sklearn.exceptions.ConvergenceWarning` that names scipy's
        status and message; with ``lambda_="evidence"``, those of the kept
        refit (they describe it), which after a callback's True or a Ctrl-C
        in a later refit is another, of its own reason.
    n_layers_ : int
        Number of layers ``L``, input and output included.
    n_outputs_ : int
        Output units ``K``: 1 for binary targets, else one per class/label.
    out_activation_ : str
        Always ``"logistic"``.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The general multi-layer perceptron.
    skbpnn.backprop.cost_and_gradient : The cost and gradient minimized here.

    Notes
    -----
    The course notes' notation and scikit-learn's: ``Theta_l`` is ``thetas_[l]``;
    ``Theta_l[:, 1:]`` is ``coefs_[l].T`` and ``Theta_l[:, 0]`` is
    ``intercepts_[l]``; ``lambda_`` is MLPClassifier's ``alpha``; ``K`` is
    ``n_outputs_``. In the evidence's notation (MacKay 1992), ``lambda_`` is
    the precision of a Gaussian prior on the non-bias weights ``w`` (the
    ``coefs_``), the biases (``intercepts_``) get a broad prior of precision
    ``1e-4`` (:data:`skbpnn.backprop.BIAS_PRECISION`), ``E_D = m J_data`` is
    the summed weighted cross-entropy, ``gamma`` is ``n_effective_params_``.

    ``lambda_="evidence"`` (MacKay, "The evidence framework applied to
    classification networks", Neural Computation 4(5), 1992): the log
    evidence ``-S + k/2 log(lambda_) + (P - k)/2 log(1e-4) - 1/2 log det A``
    with ``S = E_D + lambda_/2 |w|^2 + 1e-4/2 |b|^2`` and
    ``A = G + lambda_ M + 1e-4 (I - M)``, ``G`` the Gauss-Newton matrix, is
    maximized over ``lambda_``, each point a warm refit and the evidence
    of its mode: the refits are held to a gradient of ``S`` of ``1e-5``
    nats, less for small ``lambda_`` (see ``tol``), and the Newton
    decrement ``1/2 g^T A^-1 g`` left at the refit's weights is added.
    The search, within ``[1e-6, 1e6]``
    and at most 16 refits: (1) start at ``lambda_ = 1`` (a warm start: at
    the previous ``fitted_lambda_``); (2) bracket, walking in
    ``log lambda_`` towards MacKay's update ``gamma / |w|^2`` while the
    evidence rises, or the other way if the first step loses; (3) refine at
    the vertex of a parabola through the best point and its neighbours; (4)
    check that refits warm from the best weights at ``lambda_ * 1.5`` and
    ``/ 1.5`` score no higher (else refine and check again); (5) keep the
    highest score of all points tried. Up to 4000 parameters ``G`` is formed
    and factorized (exact log det and decrement at every point, ``gamma``
    where a point beats all before it, the first and the kept one among
    them);
    above, they are stochastic Lanczos estimates from Gauss-Newton-vector
    products (no ``P x P`` array), with the same probes at every point (4
    in the search, all 10 for the kept point at the end), and steps 2 to
    4 count a point higher only beyond the noise of the difference (3.3
    standard errors: a t quantile for 4 probes, the level of 2 under the
    normal law). A maximum at a bound (at the lower one, the
    evidence still rising as ``lambda_ -> 0``: separable data; at the upper
    one, too little data) or a search that does not settle gives a
    :class:`~sklearn.exceptions.ConvergenceWarning` saying so, and the best
    point found is kept; so does a kept model that the data do not determine
    (``n_effective_params_ < 0.01``: a constant model). A search that
    settles inside the bounds does not warn, whatever the training
    accuracy. The kept refit's own L-BFGS warning is shown wherever it
    stopped abnormally (``max_iter``, out of evaluations, its line search
    failed): its log evidence is then not certified to be its mode's
    (raise ``max_iter``); the Lanczos estimates' "did not settle" warning
    once per fit. The evidence
    of a non-convex network is that of one mode, and it varies between the
    modes warm refits reach; the User guide's "Choosing ``lambda_`` by the
    evidence" has the math and the limits.
    Dask collections get ``G`` (or its products) and ``E_D`` as sums over
    their chunks on the workers; array API inputs are fitted in their
    namespace and the evidence is computed on a host copy of the data.

    Binary targets use one output unit and predict the positive class when
    its output is above 0.5. Multiclass targets use one sigmoid unit per
    class (one-vs-all, the course's cost, not a softmax): ``predict`` is the
    unit with the largest output and ``predict_proba`` rows are the sigmoid
    outputs divided by their sum. Multilabel targets use one unit per label,
    each thresholded at 0.5; ``predict_proba`` returns the sigmoid outputs,
    kept strictly inside (0, 1).

    Ctrl-C during ``fit`` stops training: the estimator keeps the weights of
    the last completed iteration (with ``n_iter_`` and ``loss_curve_`` up to
    it), warns with :class:`TrainingInterruptedWarning` and returns, so the
    minutes already spent are not lost. A second Ctrl-C interrupts as usual.
    With ``lambda_="evidence"``, Ctrl-C, in a refit or while a point's log
    evidence is computed, ends the search at once without that point
    (its evidence is not computed), keeping the best point scored before
    it, or, where none was, the first refit with ``log_evidence_``,
    ``log_evidence_se_`` and ``n_effective_params_`` NaN;
    ``n_iter_total_`` still counts every iteration run. On the matrix-free
    path the kept point is then not estimated again on all the probes
    (``log_evidence_`` is the search's, on 4, with their standard error),
    and Ctrl-C during that second estimate keeps the search's as well.

    Array API inputs (PyTorch tensors, CuPy arrays, ...) are fitted and
    predicted in their own namespace and on their own device when
    ``sklearn.set_config(array_api_dispatch=True)`` is on (scipy >= 1.14 with
    ``SCIPY_ARRAY_API=1``): each evaluation runs on ``X``'s device, L-BFGS-B
    on the host; ``theta_`` and its views, and the predictions, are then
    arrays of ``X``'s namespace on its device (float64, or float32 on a
    device without float64), and ``classes_`` stays numpy. Repeated rows are
    not merged there. The "GPU and other array libraries" page has the
    details.

    Float32 data is computed in float32 in every evaluation, while L-BFGS and
    ``theta_`` stay float64. Evaluations run over row blocks sized by
    scikit-learn's ``working_memory`` setting, so memory stays bounded.

    Identical ``(x, y)`` rows are merged into one row carrying the summed
    weight, and zero-weight rows are dropped, so that integer weights and
    repeated rows give bitwise the same fit. ``X`` is never copied for it:
    the fit reads the distinct rows through an index, a 1 MiB piece at a
    time.

    BLAS threads during ``fit``: a network whose matrix products are all
    small (under 2e7 multiply-adds) runs on one BLAS thread, where a second
    thread does not pay; otherwise the BLAS libraries other than numpy's
    (the one scipy's L-BFGS-B uses) run on one thread, so that their
    spinning threads do not take the cores from numpy's products. No limit
    outlives a fit, in any thread: a process-wide library's count is
    restored when the last of any overlapping fits returns or raises, a
    per-thread one's (an OpenMP OpenBLAS) by the thread that set it, and a
    fit keeps no hold on a library, so any thread can set limits with
    ``threadpoolctl.threadpool_limits`` afterwards. A ``threadpool_limits``
    around ``fit`` is kept. Where another thread holds a library (inside its
    own ``threadpool_limits``, with threadpoolctl >= 3.8), ``fit`` leaves
    that library's count to it. The Performance page gives the
    measurements.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skbpnn import BackpropClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), BackpropClassifier(random_state=0))
    >>> clf.fit(X[:1000], y[:1000]).score(X[1000:], y[1000:]) > 0.9
    True
    """

    # The "?" link of the HTML display (Jupyter): scikit-learn's doc-link
    # hooks, pointing at the page docs/api.rst's autosummary writes.
    _doc_link_module = "skbpnn"
    _doc_link_template = (
        "https://skbpnn.readthedocs.io/en/stable/gen_modules/"
        "{estimator_module}.{estimator_name}.html"
    )

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "lambda_": [Interval(Real, 0, None, closed="left"), StrOptions({"evidence"})],
        "epsilon_init": [None, Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "callback": [callable, None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(25,),
        lambda_=1.0,
        *,
        epsilon_init=None,
        max_iter=200,
        tol=1e-4,
        max_fun=15000,
        random_state=None,
        verbose=0,
        warm_start=False,
        class_weight=None,
        callback=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.lambda_ = lambda_
        self.epsilon_init = epsilon_init
        self.max_iter = max_iter
        self.tol = tol
        self.max_fun = max_fun
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.class_weight = class_weight
        self.callback = callback

    def __sklearn_is_fitted__(self):
        # lambda_ ends with "_", so check_is_fitted's default test (any
        # attribute ending in "_") would call an unfitted estimator fitted.
        return hasattr(self, "theta_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags

    # Views of theta_, derived on access so that the weights live (and are
    # pickled) once.
    @property
    def thetas_(self):
        """``Theta_l`` matrices, views of ``theta_``."""
        if not hasattr(self, "theta_"):
            raise AttributeError("'thetas_' is available after fit.")
        if _array_api.is_fitted_in_namespace(self):
            return _array_api.roll(self.theta_, self.layer_sizes_)
        return backprop.roll(self.theta_, self.layer_sizes_)

    @property
    def coefs_(self):
        """Weight matrices in MLPClassifier's layout, views of ``theta_``."""
        if not hasattr(self, "theta_"):
            raise AttributeError("'coefs_' is available after fit.")
        return [Theta[:, 1:].T for Theta in self.thetas_]

    @property
    def intercepts_(self):
        """Bias vectors, views of ``theta_``."""
        if not hasattr(self, "theta_"):
            raise AttributeError("'intercepts_' is available after fit.")
        return [Theta[:, 0] for Theta in self.thetas_]

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        sizes = tuple(np.ravel(np.asarray(sizes, dtype=object)))
        return backprop._positive_ints(sizes, "hidden_layer_sizes")

    def _training_data(self, X, y, sample_weight, reset):
        """Validate arrays ``X``, ``y`` and the weights: the in-memory fit's data."""
        if _array_api.namespace(X) is not None:
            return _array_api.training_data(self, X, y, sample_weight, reset)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        y, Y, binarizer = _targets.encode(y)
        Y = Y.astype(X.dtype)
        w = _targets.sample_weights(sample_weight, self.class_weight, y, binarizer, X)
        if sp.issparse(X):
            # Row blocks and repeated rows are read row-wise: CSC becomes CSR
            # (slicing rows of a CSC matrix would copy it at every block).
            X = X.tocsr()
            if not X.has_canonical_format:
                X = X.copy()
                X.sum_duplicates()
        rows, w = merge_repeated_rows(X, Y, w)
        # One set of scratch arrays for every evaluation of this fit: the
        # refits of lambda_="evidence" and its Gauss-Newton products share it.
        workspace = Workspace()

        def make_fun(layer_sizes, lambda_):
            # Read through rows, a block's rows of Y are gathered into a
            # buffer (those of X a 1 MiB piece at a time, see GatheredRows).
            gathered = 0 if rows is None else Y.shape[1]
            block_rows = rows_per_block(layer_sizes, X.dtype, gathered)
            fun = _in_memory_fun(
                X, Y, w, rows, layer_sizes, lambda_, block_rows, workspace
            )
            return fun, min(block_rows, X.shape[0])

        def curvature(layer_sizes):
            gathered = 0 if rows is None else Y.shape[1]
            block_rows = rows_per_block(layer_sizes, X.dtype, gathered)
            shapes = backprop.layer_shapes(layer_sizes)
            return _evidence.DataCurvature(X, Y, w, rows, shapes, block_rows, workspace)

        return TrainingData(
            binarizer, X.shape[1], Y.shape[1], make_fun, curvature=curvature
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network by L-BFGS on the regularized cost.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 data is computed in float32. A dask array
            or DataFrame is fitted out of core (see the Scaling page).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; a weight of 2 counts a sample twice.

        Returns
        -------
        self : BackpropClassifier
            The fitted estimator.
        """
        hidden = self._hidden_sizes()
        continuing = self.warm_start and hasattr(self, "theta_")
        if is_dask_collection(X):
            data = _dask_module().training_data(
                self, X, y, sample_weight, reset=not continuing
            )
        else:
            data = self._training_data(X, y, sample_weight, reset=not continuing)
        if continuing:
            _targets.check_same_classes(self._binarizer, data.binarizer)
        layer_sizes = (data.n_features, *hidden, data.n_outputs)
        if continuing and tuple(self.layer_sizes_) == layer_sizes:
            theta0 = _array_api.host_float64(self.theta_)
        else:
            theta0 = backprop.init_weights(
                layer_sizes, self.epsilon_init, self.random_state
            )
        by_evidence = isinstance(self.lambda_, str)
        if by_evidence and data.curvature is None:
            raise ValueError(_NO_EVIDENCE)
        lambda_ = 1.0 if by_evidence else self.lambda_
        if by_evidence and continuing and hasattr(self, "fitted_lambda_"):
            lambda_ = self.fitted_lambda_  # the search starts where it ended
        fun, product_rows = data.make_fun(layer_sizes, lambda_)
        limits = (
            contextlib.nullcontext()
            if product_rows is None
            else fit_thread_limits(layer_sizes, product_rows)
        )

        def fit_at(lambda_, theta_start, fun=None, tol=self.tol, warn=True):
            if fun is None:
                fun = data.make_fun(layer_sizes, lambda_)[0]
            return run_lbfgs(
                fun,
                theta_start,
                max_iter=self.max_iter,
                max_fun=self.max_fun,
                tol=tol,
                verbose=self.verbose,
                callback=self.callback,
                # run_lbfgs, fit_at, fit, _fit_context's wrapper, the user
                stacklevel=5,
                warn=warn,
            )

        # The probes of every matrix-free evidence of this model, drawn once.
        # (A fit by a number draws it only if log_evidence asks for it, so
        # that it leaves the caller's random stream as it was.)
        evidence_seed = _evidence.seed_from(self.random_state) if by_evidence else None
        with limits:
            if by_evidence:
                found = self._search_lambda(
                    data, layer_sizes, fit_at, theta0, lambda_, evidence_seed
                )
                result, lambda_ = found.best.result, found.best.lambda_
            else:
                result = fit_at(lambda_, theta0, fun)
        if (
            not np.all(np.isfinite(result.theta))
            or not np.isfinite(result.loss)
            or (result.stop_reason == "abnormal" and result.non_finite)
        ):
            # The cost overflowed on the way: the weights are not a fit.
            raise ValueError(
                "L-BFGS produced non-finite weights or cost: the input features "
                "are too large (scale them, e.g. with StandardScaler), the sample "
                "weights' sum too small (it divides the penalty), or "
                f"lambda_={lambda_!r} is too large."
            )
        for name in _EVIDENCE_ATTRIBUTES:
            if hasattr(self, name):
                delattr(self, name)  # from an earlier fit by the evidence
        self.fitted_lambda_ = float(lambda_)
        self._evidence_seed = evidence_seed
        if by_evidence:
            self.log_evidence_ = float(found.best.score)
            self.log_evidence_se_ = float(found.best.evidence.std)
            self.n_effective_params_ = float(found.best.evidence.gamma)
            refits = [p.result for p in found.points] + found.unscored
            self.n_iter_total_ = sum(result.n_iter for result in refits)
            # Fitted arrays in X's namespace, as theta_ (array API inputs).
            fitted = data.fitted_theta or np.asarray
            self.lambdas_ = fitted(np.array([p.lambda_ for p in found.points]))
            self.scores_ = fitted(np.array([p.score for p in found.points]))

        self._binarizer = data.binarizer
        self.classes_ = data.binarizer.classes_
        self.theta_ = (
            result.theta
            if data.fitted_theta is None
            else data.fitted_theta(result.theta)
        )
        self.layer_sizes_ = layer_sizes
        self.n_layers_ = len(layer_sizes)
        self.n_outputs_ = layer_sizes[-1]
        self.out_activation_ = "logistic"
        self.loss_ = result.loss
        self.loss_curve_ = result.loss_curve
        self.n_iter_ = result.n_iter
        self.stop_reason_ = result.stop_reason
        return self

    def _search_lambda(self, data, layer_sizes, fit_at, theta0, lambda0, seed):
        """Run :func:`_evidence.search`; emit its warnings once, at the caller."""
        curvature = data.curvature(layer_sizes)
        method = _evidence.choose_method(theta0.size)
        evidence = _evidence.EvidenceFunction(curvature, method, seed)

        # The Laplace approximation is taken at a mode of S = m J: the refits
        # hold the gradient of S (tol / m holds that of J = S / m) to
        # mode_gtol(lambda_) whatever tol, and the evidence adds the small
        # Newton decrement left.
        def refit(lambda_, theta_start):
            tol = min(self.tol, _evidence.mode_gtol(lambda_) / curvature.sw_sum)
            return fit_at(lambda_, theta_start, tol=tol, warn=False)

        found = _evidence.search(
            refit, evidence, theta0, lambda0, progress=self._search_progress
        )
        if found.outcome != "interrupted":
            try:
                # The kept point on all the probes (matrix-free), the others
                # by their differences on the search's.
                found = evidence.rescore(found)
            except KeyboardInterrupt:
                # The search's scores kept (log_evidence_ on its probes),
                # and its outcome, whose warning still holds.
                found = dataclasses.replace(found, rescore_interrupted=True)
        # The warnings of the refits along the way are the search's business.
        # The kept refit's is the user's wherever it stopped abnormally (at
        # max_iter, out of evaluations, its line search failed): its
        # evidence is then not certified to be its mode's. (The Newton
        # decrement corrects the cost's part, but not log det A's change
        # along a flat valley of the cost: 8 nats off with a decrement of
        # 0.03 at max_iter on 600 rows of digits, 64-3-10.) A Ctrl-C, in a
        # refit or an evidence, is the search's interruption message's.
        kept = found.best.result
        if kept.warning is not None and kept.stop_reason != "interrupted":
            category, text = kept.warning
            warnings.warn(text, category, stacklevel=4)
        interrupted = _evidence.interruption_message(found)
        if interrupted is not None:
            warnings.warn(interrupted, TrainingInterruptedWarning, stacklevel=4)
        if not all(p.evidence.converged for p in found.points):
            warnings.warn(_evidence.LANCZOS_MESSAGE, ConvergenceWarning, stacklevel=4)
        message = _evidence.message(found)
        if message is not None:
            warnings.warn(message, ConvergenceWarning, stacklevel=4)
        return found

    def _search_progress(self, n, lambda_, best):
        """With ``verbose``, a line before each refit of the evidence's search."""
        if not self.verbose:
            return
        line = f"Evidence refit {n:2d} at lambda_={lambda_:.4g}"
        if best is not None:
            line += f", best so far lambda_={best.lambda_:.4g} ({best.score:.6g})"
        print(line, flush=True)

    def log_evidence(self, X, y, sample_weight=None):
        """The log evidence of the fitted weights, with (X, y) as training data.

        MacKay's evidence ``log p(D | lambda_)`` with ``lambda_ =
        fitted_lambda_``, of the mode nearest ``theta_``: the Laplace
        approximation at ``theta_`` plus the Newton decrement ``1/2 g^T
        A^-1 g`` (``g`` the gradient of the summed cost at ``theta_``),
        what a Gauss-Newton step to the mode would add. It is the quantity
        ``lambda_="evidence"`` maximizes, for any fitted model and without
        refitting, so that models (hidden layer sizes, ``lambda_``) fitted
        to the same data can be compared. Exact (``G`` formed, Cholesky) up
        to 4000 parameters; above, a stochastic Lanczos estimate whose
        probes come from the seed the fit drew from ``random_state`` and
        kept, so that repeated calls give the same number (its standard
        error is ``log_evidence_se_`` after ``lambda_="evidence"``); see
        the User guide. ``class_weight`` applies as in ``fit``, and
        ``sample_weight`` as repeated rows: weights scaled by ``c`` act
        as ``c`` times the data (the prior does not scale).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The training data of the fit (numpy or scipy sparse).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Its targets, with the fit's classes.
        sample_weight : array-like of shape (n_samples,), default=None
            The fit's sample weights.

        Returns
        -------
        log_evidence : float
            In nats; ``-inf`` for ``fitted_lambda_ = 0`` (an improper prior).
            With the fit's own data after ``lambda_="evidence"``, equal to
            ``log_evidence_`` (to the rounding of the BLAS kernels, whose
            threads the fit may have limited), for any ``random_state``;
            above 4000 parameters, not where Ctrl-C stopped the search or
            its kept point's second estimate (``log_evidence_`` is then
            on the search's 4 probes, this on all 10).

        Warns
        -----
        ConvergenceWarning
            Where the Newton decrement is above 0.5 nats
            (``_evidence.MODE_DECREMENT``): ``theta_`` is far from a mode of
            the cost on (X, y), as for data other than the fit's (or scaled
            otherwise), or a fit stopped early; the value is then an
            extrapolation. And where the stochastic estimates did not
            settle.
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            data = _dask_module().training_data(self, X, y, sample_weight, reset=False)
        else:
            data = self._training_data(X, y, sample_weight, reset=False)
        if data.curvature is None:
            raise ValueError(_NO_EVIDENCE)
        _targets.check_same_classes(self._binarizer, data.binarizer, "log_evidence")
        if self.fitted_lambda_ == 0:
            return -np.inf  # an improper prior (A = G may be singular)
        curvature = data.curvature(self.layer_sizes_)
        theta = _array_api.host_float64(self.theta_)
        if getattr(self, "_evidence_seed", None) is None:
            # Fitted with a number for lambda_ (or by skbpnn < 0.3): the
            # probes' seed is drawn now, once, and kept.
            self._evidence_seed = _evidence.seed_from(self.random_state)
        seed = self._evidence_seed
        evidence = _evidence.evidence_at(
            curvature,
            theta,
            self.fitted_lambda_,
            method=_evidence.choose_method(theta.size),
            seed=seed,
            gamma_above=np.inf,  # only the log evidence is returned
        )
        if evidence.decrement > _evidence.MODE_DECREMENT:
            warnings.warn(
                _evidence.far_from_mode_message(evidence.decrement),
                ConvergenceWarning,
                stacklevel=2,
            )
        if not evidence.converged:
            warnings.warn(_evidence.LANCZOS_MESSAGE, ConvergenceWarning, stacklevel=2)
        return float(evidence.log_evidence)

    def _decision(self, X):
        """Output-layer ``z`` of shape (n_samples, K), in row blocks."""
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=(np.float64, np.float32),
            reset=False,
        )
        n = X.shape[0]
        block = rows_per_block(self.layer_sizes_, X.dtype)
        if block >= n:
            return backprop.feedforward(
                self.theta_, X, self.layer_sizes_, return_z=True
            )
        if hasattr(X, "format") and X.format == "csc":
            X = X.tocsr()
        return np.vstack(
            [
                backprop.feedforward(
                    self.theta_, X[i : i + block], self.layer_sizes_, return_z=True
                )
                for i in range(0, n, block)
            ]
        )

    def decision_function(self, X):
        """The output layer's input ``z^(L)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        z : ndarray of shape (n_samples,) or (n_samples, ``n_outputs_``)
            1-D for binary targets (positive means the second class).
        """
        if is_dask_collection(X):
            return _dask_module().predict(self, X, "decision_function")
        if _array_api.uses_namespace(self, X):
            return _array_api.predict(self, X, "decision_function")
        z = self._decision(X)
        return z.ravel() if self.n_outputs_ == 1 else z

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels; for multilabel targets a 0/1 indicator matrix.
        """
        if is_dask_collection(X):
            return _dask_module().predict(self, X, "predict")
        if _array_api.uses_namespace(self, X):
            return _array_api.predict(self, X, "predict")
        z = self._decision(X)
        if self._binarizer.y_type_ == "multilabel-indicator":
            return (z > 0).astype(self._binarizer.classes_.dtype)
        if self.n_outputs_ == 1:
            # g(z) > 0.5  <=>  z > 0
            return self.classes_[(z[:, 0] > 0).astype(np.intp)]
        return self.classes_[np.argmax(z, axis=1)]

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed from ``z`` without underflow.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        if is_dask_collection(X):
            return _dask_module().predict(self, X, "predict_log_proba")
        if _array_api.uses_namespace(self, X):
            return _array_api.predict(self, X, "predict_log_proba")
        return self._log_proba(self._decision(X))

    def _log_proba(self, z):
        if self.n_outputs_ == 1:
            # log g(-z) and log g(z): log(1 - g(z)) = log g(-z)
            return np.hstack([log_expit(-z), log_expit(z)])
        log_h = log_expit(z)
        if self._binarizer.y_type_ == "multilabel-indicator":
            return log_h
        # log(h_k / sum_j h_j) = log h_k - logsumexp_j(log h_j)
        return log_h - logsumexp(log_h, axis=1, keepdims=True)

    def predict_proba(self, X):
        """Probability of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Binary: ``[1 - h, h]``. Multiclass: the sigmoid outputs divided
            by their sum. Multilabel: the sigmoid outputs, strictly inside
            (0, 1).
        """
        if is_dask_collection(X):
            return _dask_module().predict(self, X, "predict_proba")
        if _array_api.uses_namespace(self, X):
            return _array_api.predict(self, X, "predict_proba")
        z = self._decision(X)
        if self._binarizer.y_type_ == "multilabel-indicator":
            h = expit(z, out=z)
            info = np.finfo(h.dtype)
            return np.clip(h, info.tiny, 1 - info.eps, out=h)
        return np.exp(self._log_proba(z))
