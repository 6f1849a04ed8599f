"""The fast forms of :mod:`skbpnn.backprop`'s formulas: blocks, buffers, in place.

:mod:`skbpnn.backprop` states the course notes' math and checks its
arguments; this module is what it (and the fit paths) run for every cost and
gradient evaluation, written for speed and bounded memory:

- rows are evaluated in blocks and the blocks' sums added, so activations
  never hold more than one block;
- every elementwise step runs in place in scratch arrays kept by a
  :class:`Workspace` across evaluations;
- the rows may be read through an index (the fit's merged and sorted rows)
  instead of in order, a few at a time (:class:`GatheredRows`), so that
  reordering rows never copies ``X``;
- the cost is written in a form that stays finite when outputs saturate.

The arguments are taken as checked (``backprop`` and the fit paths check
them): ``theta`` in the computation's dtype, ``Y`` of shape ``(m, K)`` and
``w`` None or of shape ``(m,)`` in that dtype. Imports nothing of the package.
"""

import numpy as np
from scipy.special import expit


def is_sparse(X):
    """Whether ``X`` is a scipy sparse matrix or array (without importing scipy)."""
    return hasattr(X, "tocsr") and not isinstance(X, np.ndarray)


def roll_views(theta, shapes):
    """``Theta_l`` views of ``theta``, column-major, for the given ``shapes``."""
    thetas = []
    start = 0
    for shape in shapes:
        end = start + shape[0] * shape[1]
        thetas.append(theta[start:end].reshape(shape, order="F"))
        start = end
    return thetas


def fast_sigmoid(z, out):
    """``out <- g(z)``; returns ``out``, which may be ``z`` itself.

    float64 uses scipy's ``expit``. float32 uses the identity
    ``g(z) = (1 + tanh(z / 2)) / 2``, because numpy's float32 ``tanh`` is
    vectorized (SIMD) and about three times faster than ``expit``; its
    absolute error, a few float32 ulps, is what float32 promises anyway, and it
    saturates to exactly 0 and 1 without overflow.
    """
    if z.dtype == np.float32:
        np.multiply(z, 0.5, out=out)
        np.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        return out
    return expit(z, out=out)


def forward(thetas, X, dtype, buffers=None):
    """Forward propagation; returns the activations of every layer.

    ``activations[0]`` is ``X`` and ``activations[-1]`` the output layer's
    ``z`` (not ``g(z)``): the cost and ``predict_log_proba`` need ``z``.
    ``buffers`` are optional preallocated ``(m, s_l)`` arrays, one per
    layer after the input, written in place.
    """
    activations = [X]
    a = X
    last = len(thetas) - 1
    for l, Theta in enumerate(thetas):
        W, b = Theta[:, 1:], Theta[:, 0]
        if buffers is None:
            z = np.asarray(a @ W.T, dtype=dtype)
        elif isinstance(a, GatheredRows):
            z = a.matmul_transposed(W, out=buffers[l])
        else:
            z = buffers[l]
            _product(a, W.T, z)
        z += b  # z^(l+1) = Theta^(l) [1; a^(l)]
        if l < last:
            fast_sigmoid(z, out=z)  # a^(l+1) = g(z^(l+1)), in place
        activations.append(z)
        a = z
    return activations


# log(max(h, 1 - h)) is at least log(0.5), so a product of up to this many
# such factors stays above the smallest normal float64 (2^-1022): its log is
# finite.
_MAX_FACTORS = 1000


def row_costs(z, h, Y, scratch, ones):
    """``sum_k -[y_k log h_k + (1 - y_k) log(1 - h_k)]`` for each row.

    Written from ``z`` and ``h = g(z)`` in the form that stays finite when
    ``h`` saturates: ``log(1 + e^z) - y z`` with
    ``log(1 + e^z) = max(z, 0) - log(max(h, 1 - h))``; the log's argument is
    in [0.5, 1]. ``scratch`` is an array like ``z``, overwritten; ``ones`` a
    vector of ``K`` ones in ``z``'s dtype, so that the row sums are BLAS
    products.

    The K logs of a row are taken the faster way for the dtype
    (``benchmarks/row_costs.py`` measures both at K = 10, 30, 100): float64
    takes one log of the product of a row's factors (up to ``_MAX_FACTORS``
    at a time), 4-10% faster than K logs, the same value up to rounding;
    float32 takes a vectorized log of every element in place, 12-36% faster
    than the product. Every step runs in ``z``'s dtype, so float32 input
    gives float32 row costs (the caller sums them over the rows in float64).
    """
    np.subtract(1, h, out=scratch)
    np.maximum(scratch, h, out=scratch)
    if z.dtype == np.float32:
        np.log(scratch, out=scratch)
        log_max = scratch @ ones
    else:
        log_max = np.zeros(z.shape[0])
        for start in range(0, z.shape[1], _MAX_FACTORS):
            factors = scratch[:, start : start + _MAX_FACTORS]
            if factors.shape[1] <= 16:  # a few column products beat a reduction
                product = factors[:, 0].copy()
                for k in range(1, factors.shape[1]):
                    product *= factors[:, k]
            else:
                product = np.multiply.reduce(factors, axis=1)
            log_max += np.log(product)
    relu = np.maximum(z, 0, out=scratch) @ ones
    yz = np.multiply(Y, z, out=scratch) @ ones
    return relu - log_max - yz


class Workspace:
    """Scratch arrays reused across evaluations of the same shapes.

    Pass one to :func:`skbpnn.backprop.cost_and_gradient` (``workspace=``)
    when evaluating many times, as an optimizer does: the activations,
    deltas and cost scratch of each row block are then allocated once
    instead of at every call. A cache, not state: the result of an
    evaluation never depends on what a workspace held before. One workspace
    must not be shared by two threads at once.

    Examples
    --------
    >>> import numpy as np
    >>> from skbpnn import backprop
    >>> workspace = backprop.Workspace()
    >>> X, Y = np.ones((4, 2)), np.array([[1.0], [0.0], [1.0], [0.0]])
    >>> J, grad = backprop.cost_and_gradient(
    ...     np.zeros(13), X, Y, (2, 3, 1), workspace=workspace
    ... )
    >>> round(J, 6)
    0.693147
    """

    def __init__(self):
        self._arrays = {}

    def get(self, key, shape, dtype):
        """An uninitialized array of ``shape`` and ``dtype``, kept under ``key``."""
        arr = self._arrays.get(key)
        rows = shape[0]
        if (
            arr is None
            or arr.dtype != dtype
            or arr.shape[1:] != shape[1:]
            or arr.shape[0] < rows
        ):
            arr = np.empty(shape, dtype=dtype)
            self._arrays[key] = arr
        return arr[:rows]

    def ones(self, n, dtype):
        """A vector of ``n`` ones (for sums as BLAS products)."""
        key = ("ones", np.dtype(dtype))
        arr = self._arrays.get(key)
        if arr is None or arr.shape[0] < n:
            arr = np.ones(n, dtype=dtype)
            self._arrays[key] = arr
        return arr[:n]


# The most one gathered piece of X holds (see GatheredRows): at 50 float64
# features, 2621 rows, enough for the products to run at full speed.
GATHER_BYTES = 2**20


class GatheredRows:
    """``X[index]`` for the products of an evaluation, without copying it.

    The fit reads the distinct rows of ``X`` through an index (repeated rows
    merged, sorted). Gathering a whole block of them would copy that block
    of ``X``, as large as ``X`` itself for a small data set. Instead, the two
    products that read ``X`` (the first layer's ``z`` and the first layer's
    weight gradient) run over pieces of at most ``GATHER_BYTES``, each
    gathered into one workspace buffer.
    """

    def __init__(self, X, index, workspace):
        self.X, self.index, self.workspace = X, index, workspace
        self.shape = (index.shape[0], X.shape[1])
        self.dtype = X.dtype

    def pieces(self):
        """``(start, stop, X[index[start:stop]])`` over all the rows."""
        X, n = self.X, self.shape[0]
        step = max(64, GATHER_BYTES // (X.shape[1] * X.dtype.itemsize))
        for start in range(0, n, step):
            index = self.index[start : start + step]
            stop = start + index.shape[0]
            if is_sparse(X):
                yield start, stop, X[index]
            else:
                out = self.workspace.get(
                    "gather", (index.shape[0], X.shape[1]), X.dtype
                )
                # mode="clip" writes straight into out ("raise" would buffer
                # a copy); the indices are valid by construction.
                yield start, stop, np.take(X, index, axis=0, out=out, mode="clip")

    def matmul_transposed(self, W, out):
        """``out <- X[index] @ W.T``."""
        for start, stop, piece in self.pieces():
            _product(piece, W.T, out[start:stop])
        return out

    def transposed_matmul(self, delta, out, scratch):
        """``out <- X[index].T @ delta``, summed over the pieces in ``scratch``."""
        for start, stop, piece in self.pieces():
            target = out if start == 0 else scratch
            _product(piece.T, delta[start:stop], target)
            if start > 0:
                out += scratch
        return out


def _product(A, B, out):
    """``out <- A @ B`` for a dense or sparse ``A``, into ``out`` itself."""
    if is_sparse(A):
        out[...] = A @ B
    else:
        np.dot(A, B, out=out)


def data_cost_and_gradient(theta, X, Y, shapes, w, block_rows, workspace, rows=None):
    """The data term of the cost and its gradient, summed, not normalized.

    Returns ``sum_i w_i J_i`` (a float) and ``sum_i w_i dJ_i/dtheta`` (a new
    vector in ``theta``'s dtype), evaluated over blocks of ``block_rows``
    rows: no regularization, no division by ``sum(w)``. Sums over disjoint
    sets of rows add up, so this is also what the Dask path computes on each
    chunk, on the workers, before adding the chunks' sums and calling
    :func:`regularize`.

    ``rows``, when given, is an index vector: the evaluation runs over
    ``X[rows]`` and ``Y[rows]`` in that order (``w`` is aligned with
    ``rows``); a block's rows of ``Y`` are gathered into a workspace array,
    those of ``X`` are read by :class:`GatheredRows`.
    """
    m = X.shape[0] if rows is None else rows.shape[0]
    dtype = theta.dtype
    thetas = roll_views(theta, shapes)
    block_rows = max(1, min(block_rows, m))  # a Dask chunk may be empty
    grad = np.zeros(theta.shape, dtype=dtype)
    grad_thetas = roll_views(grad, shapes)
    # Per-block gradients go straight into grad's views for the first block
    # and into a scratch vector, then added, for the others.
    scratch = None
    data_cost = 0.0
    for start in range(0, m, block_rows):
        stop = min(start + block_rows, m)
        if start == 0:
            target = grad_thetas
        else:
            if scratch is None:
                scratch = workspace.get("grad", theta.shape, dtype)
            target = roll_views(scratch, shapes)
        if rows is None:
            X_block, Y_block = X[start:stop], Y[start:stop]
        else:
            index = rows[start:stop]
            X_block = GatheredRows(X, index, workspace)
            Y_block = np.take(
                Y,
                index,
                axis=0,
                mode="clip",
                out=workspace.get("Y", (stop - start, Y.shape[1]), Y.dtype),
            )
        data_cost += block_cost_and_gradient(
            thetas,
            X_block,
            Y_block,
            None if w is None else w[start:stop],
            target,
            workspace,
        )
        if start > 0:
            grad += scratch
    return data_cost, grad


def regularize(theta, data_cost, grad, shapes, lambda_, sw_sum):
    """``J`` and its gradient from the summed data term: add the penalty, divide.

    ``grad`` (the summed data gradient, in ``theta``'s dtype) is updated in
    place and returned.
    """
    # Regularization: the non-bias weights of each layer are the contiguous
    # segment after its s_{l+1} bias weights (column-major layout).
    reg = 0.0
    if lambda_ > 0:
        start = 0
        for s_next, cols in shapes:
            seg = slice(start + s_next, start + s_next * cols)
            reg += float(np.dot(theta[seg], theta[seg]))
            grad[seg] += lambda_ * theta[seg]
            start += s_next * cols
    grad /= sw_sum
    J = (data_cost + 0.5 * lambda_ * reg) / sw_sum
    return J, grad


def n_biases(shapes):
    """The number of biases, the rows of a ``biases_only`` product."""
    return sum(s_next for s_next, _ in shapes)


def gauss_newton_product_blocked(
    theta,
    X,
    shapes,
    w,
    block_rows,
    workspace,
    V,
    rows=None,
    *,
    out=None,
    biases_only=False,
):
    """``G @ V``, the Gauss-Newton matrix of the data term times vectors, in blocks.

    ``G = sum_i w_i J_i^T diag(h_i (1 - h_i)) J_i``, ``J_i`` the ``(K, P)``
    Jacobian of row ``i``'s output ``z^(L)`` with respect to ``theta``: the
    fast form of :func:`skbpnn.backprop.gauss_newton_product`, over the
    same row blocks, ``rows`` index, sparse ``X`` and float32 computation as
    :func:`data_cost_and_gradient` (whose argument conventions it takes).

    ``V`` of shape ``(P,)`` or ``(P, r)`` (any float dtype) gives a float64
    result of the same shape. The ``r`` columns travel together through
    one forward pass with directional derivatives and one backward pass, so
    every product is one matrix-matrix (BLAS 3) call with ``r`` times the
    columns of the cost's. Per row and hidden unit a block holds ``2 + r``
    numbers (activation, ``g'``, and the ``r`` directional derivatives,
    which the backward pass's deltas then overwrite), so the block is cut to
    ``block_rows`` times the cost's numbers per row over these: the buffers
    hold no more than the cost's at ``block_rows``. Besides them, three
    arrays of ``P * r`` numbers: ``V`` in the computation's dtype and
    layout, one layer's block sums, and the result.

    ``out``, a float64 array of ``V``'s shape, takes the result: ``G @ V``
    is added to what it holds, and no result array is allocated.
    ``biases_only`` returns the bias rows of ``G @ V`` alone, those of each
    layer in turn (``(n_biases,)`` or ``(n_biases, r)``), and skips the
    weight rows' products, about half a product's time (``out`` is then
    not used).
    """
    V = np.asarray(V)
    vector = V.ndim == 1
    V2 = V.reshape(-1, 1) if vector else V
    r = V2.shape[1]
    dtype = theta.dtype
    m = X.shape[0] if rows is None else rows.shape[0]
    thetas = roll_views(theta, shapes)
    if biases_only:
        result = np.zeros((n_biases(shapes), r))
    elif out is None:
        result = np.zeros((theta.shape[0], r))
    else:
        result = out[:, None] if vector else out  # views: out takes the sums
    # Per layer, the directions dTheta_l = (db_l, dW_l) of the r columns in
    # the block layout (units of a row, then directions): db as (r, s_{l+1}),
    # dW^T as (s_l, r * s_{l+1}); and the result's views in theta's layout,
    # (s_{l+1}, r) and (s_l, s_{l+1}, r).
    # (With biases_only, the weights' views are None: not computed.)
    dbs, dWTs, out_bs, out_WTs = [], [], [], []
    start = bias_start = 0
    for s_next, cols in shapes:
        bias = slice(start, start + s_next)
        weights = slice(start + s_next, start + s_next * cols)
        dbs.append(np.ascontiguousarray(V2[bias].T, dtype=dtype))
        dWT = np.empty((cols - 1, r, s_next), dtype=dtype)
        dWT[...] = V2[weights].reshape(cols - 1, s_next, r).transpose(0, 2, 1)
        # None for a zero dW (V on biases only): its products are skipped.
        dWTs.append(dWT.reshape(cols - 1, r * s_next) if dWT.any() else None)
        if biases_only:
            out_bs.append(result[bias_start : bias_start + s_next])
            out_WTs.append(None)
        else:
            out_bs.append(result[bias])
            out_WTs.append(result[weights].reshape(cols - 1, s_next, r))
        start += s_next * cols
        bias_start += s_next

    # Numbers per row: the cost's (as in _data.rows_per_block) and these,
    # with the scratch of R{a^(l)} Theta^T's layers after the first.
    widths = [s_next for s_next, _ in shapes]
    hidden, K = sum(widths[:-1]), widths[-1]
    units = (2 + r) * (hidden + K) + r * max(widths[1:], default=0)
    block_rows = max(1, min(block_rows * (2 * hidden + 3 * K) // units, m))
    for start in range(0, m, block_rows):
        stop = min(start + block_rows, m)
        if rows is None:
            X_block = X[start:stop]
        else:
            X_block = GatheredRows(X, rows[start:stop], workspace)
        block_gauss_newton_product(
            thetas,
            X_block,
            None if w is None else w[start:stop],
            dbs,
            dWTs,
            out_bs,
            out_WTs,
            workspace,
        )
    return result[:, 0] if vector else result


def block_gauss_newton_product(thetas, X, w, dbs, dWTs, out_bs, out_WTs, workspace):
    """Add one block's ``sum_i w_i J_i^T D_i J_i V`` to the result's views.

    An ``out_WTs`` entry of None skips that layer's weight rows.

    The R-operator forward pass (``R{.}`` the directional derivative along
    ``V``'s columns), then the backward pass of backpropagation started from
    ``D R{z^(L)}`` instead of ``a^(L) - y``. Directional derivatives and
    deltas are ``(m, r * s)`` arrays, row by row the ``r`` directions of a
    layer's ``s`` units, so that ``R{a} Theta^T`` and ``delta Theta`` are one
    product of ``(m r, s)`` arrays and ``a dTheta^T``, ``a^T delta`` one
    product with ``r * s`` columns.
    """
    m = X.shape[0]
    dtype = thetas[0].dtype
    r = dbs[0].shape[0]
    last = len(thetas) - 1
    buffers = [
        workspace.get(("a", l), (m, Theta.shape[0]), dtype)
        for l, Theta in enumerate(thetas)
    ]

    # Phase 1, feedforward, and the directional derivatives beside it:
    # R{z^(l+1)} = dTheta^(l) [1; a^(l)] + Theta^(l)[:, 1:] R{a^(l)}, with
    # R{a^(1)} = 0 and R{a^(l+1)} = g'(z^(l+1)) .* R{z^(l+1)}.
    activations = forward(thetas, X, dtype, buffers)
    gprimes = [None]
    Rs = []
    for l, Theta in enumerate(thetas):
        s_next = Theta.shape[0]
        a = activations[l]
        # Flat buffers, so that another r (or block) reuses them.
        R = workspace.get(("R", l), (m * r * s_next,), dtype)
        R = R.reshape(m, r * s_next)
        if l == 0:
            if dWTs[l] is None:
                R.fill(0)
            elif isinstance(a, GatheredRows):
                a.matmul_transposed(dWTs[l].T, out=R)
            else:
                _product(a, dWTs[l], R)
        else:
            np.dot(
                Rs[-1].reshape(m * r, -1),
                Theta[:, 1:].T,
                out=R.reshape(m * r, s_next),
            )
            if dWTs[l] is not None:
                # a^(l) dW^T into one flat buffer shared by the layers.
                scratch = workspace.get("R_scratch", (m * r * s_next,), dtype)
                scratch = scratch.reshape(m, r * s_next)
                np.dot(a, dWTs[l], out=scratch)
                R += scratch
        R3 = R.reshape(m, r, s_next)
        R3 += dbs[l]
        if l < last:
            # g'(z^(l+1)) = a^(l+1) (1 - a^(l+1)), kept for the backward pass.
            a_next = activations[l + 1]
            gprime = workspace.get(("gprime", l + 1), a_next.shape, dtype)
            np.subtract(1, a_next, out=gprime)
            gprime *= a_next
            gprimes.append(gprime)
        else:
            # D = w h (1 - h), h = g(z^(L)), written over z^(L).
            z = activations[-1]
            h = fast_sigmoid(z, out=z)
            one_minus_h = workspace.get("h", z.shape, dtype)
            np.subtract(1, h, out=one_minus_h)
            gprime = np.multiply(h, one_minus_h, out=z)
            if w is not None:
                gprime *= w[:, None]
        R3 *= gprime[:, None, :]
        Rs.append(R)

    # Phase 2, backward pass from delta^(L) = D R{z^(L)}:
    # delta^(l) = delta^(l+1) Theta^(l)[:, 1:] .* g'(z^(l)), and
    # (G V)_l = delta^(l+1)^T [1, a^(l)], added into the result.
    ones_m = workspace.ones(m, dtype)
    for l in range(last, -1, -1):
        delta = Rs[l]
        s_next = thetas[l].shape[0]
        a_prev = activations[l]
        s_l = a_prev.shape[1]
        out_bs[l] += np.dot(ones_m, delta).reshape(r, s_next).T
        if out_WTs[l] is not None:
            scratch = workspace.get("gn_grad", (s_l * r * s_next,), dtype)
            scratch = scratch.reshape(s_l, r * s_next)
            out_W = out_WTs[l]
            if isinstance(a_prev, GatheredRows):
                for start, stop, piece in a_prev.pieces():
                    _product(piece.T, delta[start:stop], scratch)
                    out_W += scratch.reshape(s_l, r, s_next).transpose(0, 2, 1)
            else:
                _product(a_prev.T, delta, scratch)
                out_W += scratch.reshape(s_l, r, s_next).transpose(0, 2, 1)
        if l == 0:
            break
        delta_prev = Rs[l - 1]  # R{a^(l)} is spent: its buffer takes delta^(l)
        np.dot(
            delta.reshape(m * r, s_next),
            thetas[l][:, 1:],
            out=delta_prev.reshape(m * r, s_l),
        )
        delta_prev.reshape(m, r, s_l)[...] *= gprimes[l][:, None, :]


def block_cost_and_gradient(thetas, X, Y, w, grad_thetas, workspace):
    """Unnormalized cost and gradient of one block of rows.

    Returns ``sum_i w_i sum_k cost_ik`` and writes ``sum_i w_i dcost_i/dTheta``
    (without regularization, not divided by ``sum(w)``) into ``grad_thetas``.

    Per hidden unit a row holds two numbers (its activation and its delta),
    per output unit three (``z``, ``h`` and one cost scratch array): every
    elementwise step runs in place in these workspace arrays.
    """
    m = X.shape[0]
    dtype = thetas[0].dtype
    n_layers = len(thetas) + 1
    buffers = [
        workspace.get(("a", l), (m, Theta.shape[0]), dtype)
        for l, Theta in enumerate(thetas)
    ]

    # Phase 1, feedforward: a^(1) = x, a^(l+1) = g(Theta^(l) [1; a^(l)]).
    activations = forward(thetas, X, dtype, buffers)
    z = activations[-1]
    h = fast_sigmoid(z, out=workspace.get("h", z.shape, dtype))

    # -[y log h + (1 - y) log(1 - h)] per row, finite when h saturates.
    costs = row_costs(
        z,
        h,
        Y,
        scratch=workspace.get("cost", z.shape, dtype),
        ones=workspace.ones(z.shape[1], dtype),
    )
    # The sum over rows in float64, whatever the dtype of the rows' costs.
    if w is None:
        data_cost = float(np.sum(costs, dtype=np.float64))
    else:
        data_cost = float(
            np.dot(
                w.astype(np.float64, copy=False), costs.astype(np.float64, copy=False)
            )
        )

    # Phase 2, backward pass.
    ones_m = workspace.ones(m, dtype)
    delta = np.subtract(h, Y, out=z)  # delta^(L) = a^(L) - y
    if w is not None:
        delta *= w[:, None]
    for l in range(n_layers - 2, -1, -1):
        a_prev = activations[l]
        G = grad_thetas[l]
        # Delta^(l) = delta^(l+1)^T [1, a^(l)]: column 0 is the bias gradient,
        # the rest (as its transpose, C-contiguous) the weight gradient.
        np.dot(ones_m, delta, out=G[:, 0])  # column sums, as one BLAS call
        if isinstance(a_prev, GatheredRows):
            scratch = workspace.get("gather_grad", G[:, 1:].T.shape, dtype)
            a_prev.transposed_matmul(delta, G[:, 1:].T, scratch)
        else:
            _product(a_prev.T, delta, G[:, 1:].T)
        if l == 0:
            break
        # delta^(l) = delta^(l+1) Theta^(l)[:, 1:] .* g'(z^(l)), g' = a (1 - a).
        # a^(l) is not needed after the product above, so 1 - a overwrites
        # it: three in-place passes and no g' array.
        delta_prev = workspace.get(("delta", l), a_prev.shape, dtype)
        np.dot(delta, thetas[l][:, 1:], out=delta_prev)
        delta_prev *= a_prev
        np.subtract(1, a_prev, out=a_prev)
        delta_prev *= a_prev
        delta = delta_prev
    return data_cost


# The most the scratch of one row block of a Gauss-Newton matrix holds (the
# Jacobians U^(l), the per-row factors C and the products abar abar^T).
GAUSS_NEWTON_BLOCK_BYTES = 32 * 2**20

# Of which the products abar abar^T of one pair of layers take at most this
# many columns per row (more rows per block, the products split in columns).
_GAUSS_NEWTON_MAX_COLUMNS = 2048


def gauss_newton_rows(shapes):
    """Rows per block of :func:`gauss_newton_matrix_blocked`, by its scratch."""
    return max(16, GAUSS_NEWTON_BLOCK_BYTES // (8 * _gauss_newton_row_size(shapes)))


def _gauss_newton_row_size(shapes):
    """Float64 scratch per row of one block, but the products abar abar^T."""
    K = shapes[-1][0]
    sizes = [s_next for s_next, _ in shapes]
    per_row = sum(K * s for s in sizes) + 2 * sum(c for _, c in shapes)
    # C of one pair of layers and its columns B; the products' columns.
    per_row += 2 * max(s * t for s in sizes for t in sizes)
    return per_row + _GAUSS_NEWTON_MAX_COLUMNS


def _triangle_index(n):
    """``(n, n)`` positions of ``(min(i, j), max(i, j))`` in the row-major
    upper triangle of an ``n x n`` matrix (``(0, 0), (0, 1), ..., (1, 1), ...``)."""
    iu, ju = np.triu_indices(n)
    index = np.empty((n, n), dtype=np.intp)
    index[iu, ju] = index[ju, iu] = np.arange(iu.size)
    return index


def _gauss_newton_factors(thetas, X, w, block_rows, rows):
    """Per row block, the factors of ``G``'s blocks: ``(activations, D, U)``.

    For the rows of each block of ``block_rows`` in turn (``X[rows]`` where
    ``rows`` is given, ``w`` aligned with them), in float64 whatever ``X``'s
    dtype (a sparse block made dense): ``activations`` as :func:`forward`
    gives them (``[X_block, a^(2), ..., z^(L)]``), ``D`` of shape
    ``(mb, K)``, ``w_n h_n (1 - h_n)`` with ``h = g(z^(L))``, and ``U`` a
    list over the layers of ``theta``: ``U[l]`` of shape ``(mb, K,
    s_{l+1})``, row ``n``'s Jacobian ``dz^(L)/dz^(l+1)``, and ``U[-1]``
    None (the output layer's is the identity, never formed). ``thetas``
    are float64.
    """
    m = X.shape[0] if rows is None else rows.shape[0]
    last = len(thetas) - 1
    for start in range(0, m, block_rows):
        stop = min(start + block_rows, m)
        index = slice(start, stop) if rows is None else rows[start:stop]
        X_block = X[index]
        if is_sparse(X_block):
            X_block = X_block.toarray()
        X_block = np.asarray(X_block, dtype=np.float64)
        activations = forward(thetas, X_block, np.float64)
        h = expit(activations[-1])
        D = h * (1 - h)  # the sigmoid's curvature at each output
        if w is not None:
            D *= np.asarray(w[start:stop], dtype=np.float64)[:, None]
        # U^(l) = dz^(L)/dz^(l+1), one (K, s_{l+1}) matrix per row, from the top:
        # U^(L-1) = I (not formed), U^(l) = U^(l+1) Theta^(l+1)[:, 1:] .* g'(z^(l+1)).
        U = [None] * len(thetas)
        for l in range(last - 1, -1, -1):
            a = activations[l + 1]
            upper = thetas[l + 1][:, 1:]
            if l + 1 < last:
                upper = U[l + 1] @ upper
            U[l] = upper * (a * (1 - a))[:, None, :]
        yield activations, D, U


def gauss_newton_matrix_blocked(theta, X, shapes, w, block_rows, workspace, rows=None):
    """The generalized Gauss-Newton matrix ``G``, float64, in row blocks.

    ``G = sum_n w_n J_n^T diag(h_n (1 - h_n)) J_n`` with ``J_n`` the
    ``(K, P)`` Jacobian of the output layer's ``z^(L)`` for row ``n``
    with respect to ``theta``. It is never formed from ``J_n``: for the
    weights of layer ``l`` the Jacobian is a Kronecker product,
    ``dz^(L)/dTheta^(l)[i, j] = U^(l)[k, i] abar^(l)[j]``, with ``U^(l)``
    the ``(K, s_{l+1})`` Jacobian of ``z^(L)`` with respect to ``z^(l+1)``
    and ``abar^(l) = [1, a^(l)]``. So the block of layers ``(l, l')`` is
    ``sum_n C_n (x) abar^(l) abar^(l')^T`` with
    ``C_n = U^(l)^T diag(D_n) U^(l')``: entry ``((i, i'), (j, j'))`` of
    one product ``B^T Q`` over the rows, ``B[n] = vec(C_n)`` and
    ``Q[n] = vec(abar^(l) abar^(l')^T)``, ``m P^2`` multiply-adds in all,
    ``K`` times fewer than ``J^T D J``. Within one layer both factors are
    symmetric (``C_n`` in ``(i, i')``, ``abar abar^T`` in ``(j, j')``), so
    the product runs over their upper triangles only, a quarter of the
    work, and the entries are copied into place; the output layer's ``C_n``
    is diagonal (its ``U`` is the identity) and only its diagonal enters.
    The rows run ``block_rows`` at a time, the columns of ``Q`` in pieces
    of a bounded size.

    Arguments as :func:`data_cost_and_gradient` (``theta`` of any float
    dtype; the matrix is computed in float64 whatever the data's dtype).
    Returns a new ``(P, P)`` float64 array.
    """
    theta = np.asarray(theta, dtype=np.float64)
    thetas = roll_views(theta, shapes)
    if workspace is None:
        workspace = Workspace()
    offsets = np.cumsum([0] + [r * c for r, c in shapes])
    n_params = int(offsets[-1])
    m = X.shape[0] if rows is None else rows.shape[0]
    n_thetas = len(thetas)
    last = n_thetas - 1
    block_rows = max(1, block_rows)
    # Columns of Q per piece: what the budget leaves, at least one j.
    max_columns = max(
        max(c for _, c in shapes),
        GAUSS_NEWTON_BLOCK_BYTES // (8 * min(block_rows, max(m, 1)))
        - _gauss_newton_row_size(shapes)
        + _GAUSS_NEWTON_MAX_COLUMNS,
    )
    plans = {}
    for l in range(n_thetas):
        for l2 in range(l, n_thetas):
            (s, c), (s2, c2) = shapes[l], shapes[l2]
            if l == l2:
                # Q over j <= j': column j' - j + offset_j.
                widths = np.arange(c, 0, -1)
                b_rows = s if l == last else s * (s + 1) // 2
            else:
                widths = np.full(c, c2)
                b_rows = s * s2
            # Pieces of consecutive j, each at most max_columns wide.
            pieces, first, width = [], 0, 0
            for j in range(c):
                if width + widths[j] > max_columns and width > 0:
                    pieces.append((first, j, width))
                    first, width = j, 0
                width += int(widths[j])
            pieces.append((first, c, width))
            plans[l, l2] = (pieces, np.zeros((b_rows, int(widths.sum()))))
    for activations, D, U in _gauss_newton_factors(thetas, X, w, block_rows, rows):
        mb, K = D.shape
        abar = [np.hstack([np.ones((mb, 1)), activations[l]]) for l in range(n_thetas)]
        for (l, l2), (pieces, R) in plans.items():
            (s, c), (s2, c2) = shapes[l], shapes[l2]
            # B[n] = C_n, C_n[i, i'] = sum_k D_nk U_n[k, i] U'_n[k, i'], its
            # upper triangle within one layer, its diagonal D_n at the output.
            if l == l2 == last:
                B = D
            elif l2 == last:
                B = (D[:, :, None] * U[l]).transpose(0, 2, 1).reshape(mb, s * s2)
            else:
                C = np.matmul((D[:, :, None] * U[l]).transpose(0, 2, 1), U[l2])
                if l == l2:
                    iu, ju = np.triu_indices(s)
                    B = C.reshape(mb, s * s)[:, iu * s + ju]
                else:
                    B = C.reshape(mb, s * s2)
            B = np.ascontiguousarray(B)
            a1, a2 = abar[l], abar[l2]
            position = 0
            for first, end, width in pieces:
                Q = workspace.get("gn_Q", (mb, width), np.float64)
                column = 0
                for j in range(first, end):
                    # Q[n, (j, j')] = abar[n, j] abar'[n, j'] (j' >= j in one layer).
                    part = a2[:, j:] if l == l2 else a2
                    np.multiply(
                        part,
                        a1[:, j : j + 1],
                        out=Q[:, column : column + part.shape[1]],
                    )
                    column += part.shape[1]
                R[:, position : position + width] += B.T @ Q
                position += width
    G = np.empty((n_params, n_params))
    for (l, l2), (_, R) in plans.items():
        (s, c), (s2, c2) = shapes[l], shapes[l2]
        rows_l = slice(offsets[l], offsets[l + 1])
        rows_l2 = slice(offsets[l2], offsets[l2 + 1])
        # G[(j, i), (j', i')] (column-major Theta, index j s + i) = R[(i, i'), (j, j')].
        if l != l2:
            block = (
                R.reshape(s, s2, c, c2).transpose(2, 0, 3, 1).reshape(c * s, c2 * s2)
            )
            G[rows_l, rows_l2] = block
            G[rows_l2, rows_l] = block.T
            continue
        if l == last:
            # Only C's diagonal was summed: the rest is zero.
            unit_rows = np.full((s, s), s)
            unit_rows[np.arange(s), np.arange(s)] = np.arange(s)
            R = np.vstack([R, np.zeros((1, R.shape[1]))])
        else:
            unit_rows = _triangle_index(s)
        columns = _triangle_index(c)
        # The block as (j, i, j', i'), filled one unit i at a time.
        target = G[rows_l, rows_l].reshape(c, s, c, s)
        for i in range(s):
            target[:, i] = R[unit_rows[i]][:, columns].transpose(1, 2, 0)
    return G


def gauss_newton_bias_block(theta, X, shapes, w, block_rows, rows=None):
    """The bias rows and columns of ``G``, float64, in row blocks.

    ``G_bb``, the entries of :func:`gauss_newton_matrix_blocked`'s ``G``
    whose row and column are both biases, ordered as in ``theta``: each
    layer's biases in turn, unit by unit (the order of the ``biases_only``
    rows of :func:`gauss_newton_product_blocked`). A bias enters
    ``z^(l+1)`` with derivative 1, so the Jacobian of ``z^(L)`` with
    respect to layer ``l``'s biases is ``U^(l)`` (the ``j = 0`` column of
    the Kronecker product, ``abar_0 = 1``), and the block of layers
    ``(l, l')`` is ``sum_n U_n^(l)^T diag(D_n) U_n^(l')``. With
    ``V_n^(l) = diag(sqrt(D_n)) U_n^(l)`` and the ``mb`` rows of a block
    stacked as an ``(mb K, s_{l+1})`` array, that is one product ``V^(l)^T
    V^(l')`` per pair of hidden layers. The output layer's ``U`` is the
    identity: its block with layer ``l`` is ``sum_n U_n^(l)^T diag(D_n)``,
    its own ``diag(sum_n D_n)``.

    Cost: one forward pass and ``U`` recursion over the rows, as ``G``'s,
    and ``m K s_{l+1} s_{l'+1}`` multiply-adds for each pair of hidden
    layers ``l < l'``, half that for ``l = l'``; where forming ``G_bb``
    from products with unit vectors takes ``ceil(n_biases / r)`` products
    of ``r`` columns, each a forward and a backward pass.

    Arguments as :func:`gauss_newton_matrix_blocked` (no workspace: the
    scratch is per block, of ``block_rows`` rows; :func:`gauss_newton_rows`
    bounds it). Returns a new ``(n_biases, n_biases)`` float64 array.
    """
    theta = np.asarray(theta, dtype=np.float64)
    thetas = roll_views(theta, shapes)
    last = len(shapes) - 1
    offsets = np.cumsum([0] + [s_next for s_next, _ in shapes])
    layers = [slice(offsets[l], offsets[l + 1]) for l in range(len(shapes))]
    G_bb = np.zeros((offsets[-1], offsets[-1]))
    output = G_bb[layers[last], layers[last]]
    for _, D, U in _gauss_newton_factors(thetas, X, w, max(1, block_rows), rows):
        mb, K = D.shape
        # V^T V rather than (D U)^T U: numpy runs a product of an array with
        # its own transpose as a symmetric rank-k update, half the
        # multiply-adds, and exactly symmetric. (D = w h (1 - h) >= 0.)
        root = np.sqrt(D)[:, :, None]
        Vs = [(root * U[l]).reshape(mb * K, -1) for l in range(last)]
        for l in range(last):
            for l2 in range(l, last):
                G_bb[layers[l], layers[l2]] += Vs[l].T @ Vs[l2]
            # With the output layer (U = I): sum_n U_n^(l)^T diag(D_n).
            G_bb[layers[l], layers[last]] += (D[:, :, None] * U[l]).sum(axis=0).T
        output[np.diag_indices(K)] += D.sum(axis=0)
    # The lower triangle of blocks, the transposes of the upper.
    for l in range(last + 1):
        for l2 in range(l + 1, last + 1):
            G_bb[layers[l2], layers[l]] = G_bb[layers[l], layers[l2]].T
    return G_bb
