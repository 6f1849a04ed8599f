"""Pictures of a fitted network: hidden units as images and the loss curve.

The two displays follow scikit-learn's convention (as
:class:`~sklearn.metrics.ConfusionMatrixDisplay`): build one with
``from_estimator(clf)``, which fits nothing and draws at once, or construct
it from arrays and call ``plot(ax=...)``. The drawn artists are kept as
attributes ending in ``_``.

matplotlib is an optional dependency (``pip install "skbpnn[plot]"``). It
is imported when something is drawn, never when this module is imported.
"""

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["HiddenUnitsDisplay", "LossCurveDisplay", "hidden_unit_images"]

# Quoted, so that zsh does not read the brackets as a glob pattern. The
# command line (``--plot``) says the same.
_INSTALL_HINT = 'pip install "skbpnn[plot]" (or pip install matplotlib)'


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"skbpnn.plotting needs matplotlib: {_INSTALL_HINT}."
        ) from exc
    return plt


def _final_estimator(estimator):
    """The classifier itself, also when it is the last step of a Pipeline."""
    steps = getattr(estimator, "steps", None)
    clf = steps[-1][1] if steps else estimator
    check_is_fitted(clf)
    if not hasattr(clf, "thetas_") or not hasattr(clf, "loss_curve_"):
        raise TypeError(
            f"expected a fitted BackpropClassifier (or a Pipeline ending in one), "
            f"got {type(clf).__name__}."
        )
    return clf


def _image_shape(n_features, image_shape):
    if image_shape is None:
        side = math.isqrt(n_features)
        # Square inputs (8x8 digits, 20x20 course digits) are drawn as
        # squares; anything else as one row of pixels per unit.
        return (side, side) if side * side == n_features else (1, n_features)
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) != 2 or math.prod(image_shape) != n_features:
        raise ValueError(
            f"image_shape {image_shape} does not hold {n_features} input weights."
        )
    return image_shape


def hidden_unit_images(weights, image_shape=None, n_cols=None, pad=1):
    """Tile the input weights of each unit into one image (the course's grid).

    Each unit's weights are scaled by their largest absolute value, so every
    tile spans ``[-1, 1]``; tiles are separated by ``pad`` pixels of NaN,
    which a colormap draws as its "bad" colour.

    Parameters
    ----------
    weights : ndarray of shape (n_units, n_features)
        One row per unit: ``Theta_1[:, 1:]`` (the bias column left out).
    image_shape : tuple of int, default=None
        ``(height, width)`` of one input image. None draws square inputs as
        squares and others as one row of pixels.
    n_cols : int, default=None
        Tiles per row; None gives a grid as square as possible.
    pad : int, default=1
        Pixels between tiles.

    Returns
    -------
    mosaic : ndarray of shape (H, W)
        The tiled image, float64, NaN between tiles:
        ``H = n_rows * (height + pad) + pad`` and
        ``W = n_cols * (width + pad) + pad``.

    Examples
    --------
    >>> import numpy as np
    >>> hidden_unit_images(np.arange(1.0, 9.0).reshape(2, 4), n_cols=2).shape
    (4, 7)
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2:
        raise ValueError(
            f"weights must be 2-D (n_units, n_features), got {weights.shape}."
        )
    n_units, n_features = weights.shape
    height, width = _image_shape(n_features, image_shape)
    if n_cols is None:
        n_cols = math.ceil(math.sqrt(n_units))
    n_rows = math.ceil(n_units / n_cols)
    mosaic = np.full(
        (n_rows * (height + pad) + pad, n_cols * (width + pad) + pad), np.nan
    )
    scale = np.abs(weights).max(axis=1)
    scale[scale == 0] = 1.0
    for k, w in enumerate(weights / scale[:, None]):
        r, c = divmod(k, n_cols)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        mosaic[top : top + height, left : left + width] = w.reshape(height, width)
    return mosaic


class HiddenUnitsDisplay:
    """The input weights of every first-layer unit, drawn as images.

    For image inputs each hidden unit's weights ``Theta_1[k, 1:]`` have the
    shape of an input image: drawing them shows which pixels excite (light)
    or inhibit (dark) the unit. With no hidden layer the "units" are the
    output units, one template per class.

    Parameters
    ----------
    weights : ndarray of shape (n_units, n_features)
        ``Theta_1[:, 1:]``, i.e. ``clf.coefs_[0].T``.
    image_shape : tuple of int, default=None
        ``(height, width)`` of an input; None draws square inputs as squares.
    units : {"hidden", "output"}, default="hidden"
        What the rows of ``weights`` are, for the title: "output" when the
        network has no hidden layer (logistic regression).

    Attributes
    ----------
    im_ : matplotlib.image.AxesImage
        The tiled image.
    ax_ : matplotlib.axes.Axes
        The Axes drawn on.
    figure_ : matplotlib.figure.Figure
        The figure of ``ax_``.

    See Also
    --------
    hidden_unit_images : The tiled array drawn here.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skbpnn import BackpropClassifier
    >>> from skbpnn.plotting import HiddenUnitsDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = BackpropClassifier(max_iter=500, random_state=0).fit(X / 16, y)
    >>> HiddenUnitsDisplay.from_estimator(clf)  # doctest: +SKIP
    """

    def __init__(self, weights, *, image_shape=None, units="hidden"):
        self.weights = weights
        self.image_shape = image_shape
        self.units = units

    @classmethod
    def from_estimator(
        cls, estimator, *, image_shape=None, n_cols=None, ax=None, cmap="gray"
    ):
        """Draw the hidden units of a fitted estimator.

        Parameters
        ----------
        estimator : BackpropClassifier or Pipeline
            A fitted classifier, or a fitted Pipeline whose last step is one.
        image_shape : tuple of int, default=None
            ``(height, width)`` of an input.
        n_cols : int, default=None
            Tiles per row.
        ax : matplotlib.axes.Axes, default=None
            Where to draw; None makes a new figure.
        cmap : str or Colormap, default="gray"

        Returns
        -------
        display : HiddenUnitsDisplay
        """
        clf = _final_estimator(estimator)
        weights = clf.thetas_[0][:, 1:]
        units = "hidden" if len(clf.thetas_) > 1 else "output"
        return cls(weights, image_shape=image_shape, units=units).plot(
            ax=ax, n_cols=n_cols, cmap=cmap
        )

    def plot(self, ax=None, *, n_cols=None, cmap="gray"):
        """Draw the tiled hidden units.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Where to draw; None makes a new figure.
        n_cols : int, default=None
            Tiles per row.
        cmap : str or Colormap, default="gray"
            Colormap; NaN (between tiles) is drawn white.

        Returns
        -------
        display : HiddenUnitsDisplay
            ``self``, with ``im_``, ``ax_`` and ``figure_`` set.
        """
        plt = _pyplot()
        if ax is None:
            _, ax = plt.subplots()
        mosaic = hidden_unit_images(self.weights, self.image_shape, n_cols)
        colormap = plt.get_cmap(cmap).with_extremes(bad="white")
        self.im_ = ax.imshow(mosaic, cmap=colormap, vmin=-1, vmax=1)
        ax.set_axis_off()
        n_units = len(self.weights)
        ax.set_title(
            f"{n_units} {self.units} unit{'' if n_units == 1 else 's'} (input weights)"
        )
        self.ax_ = ax
        self.figure_ = ax.figure
        return self


class LossCurveDisplay:
    """The cost ``J(Theta)`` after every L-BFGS iteration.

    Parameters
    ----------
    loss_curve : sequence of float
        ``clf.loss_curve_``.
    label : str, default=None
        Legend entry of the line.

    Attributes
    ----------
    line_ : matplotlib.lines.Line2D
        The curve.
    ax_ : matplotlib.axes.Axes
        The Axes drawn on.
    figure_ : matplotlib.figure.Figure
        The figure of ``ax_``.

    Examples
    --------
    >>> from skbpnn.plotting import LossCurveDisplay
    >>> LossCurveDisplay([2.3, 1.1, 0.7]).plot()  # doctest: +SKIP
    """

    def __init__(self, loss_curve, *, label=None):
        self.loss_curve = loss_curve
        self.label = label

    @classmethod
    def from_estimator(cls, estimator, *, label=None, ax=None, log_scale=True):
        """Draw the loss curve of a fitted estimator.

        Parameters
        ----------
        estimator : BackpropClassifier or Pipeline
            A fitted classifier, or a fitted Pipeline whose last step is one.
        label : str, default=None
            Legend entry; None uses ``"lambda_=<value>"``, the ``lambda_``
            fitted with (``fitted_lambda_``; followed by ``" (evidence)"``
            where ``lambda_="evidence"`` chose it).
        ax : matplotlib.axes.Axes, default=None
            Where to draw; None makes a new figure.
        log_scale : bool, default=True
            Logarithmic cost axis.

        Returns
        -------
        display : LossCurveDisplay
        """
        clf = _final_estimator(estimator)
        if label is None:
            # The lambda_ of the fit (skbpnn 0.1 kept no fitted_lambda_), and
            # whether the evidence chose it (the fit's, not set_params').
            label = f"lambda_={getattr(clf, 'fitted_lambda_', clf.lambda_):g}"
            if hasattr(clf, "lambdas_"):
                label += " (evidence)"
        return cls(clf.loss_curve_, label=label).plot(ax=ax, log_scale=log_scale)

    def plot(self, ax=None, *, log_scale=True, **kwargs):
        """Draw the curve.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Where to draw; None makes a new figure.
        log_scale : bool, default=True
            Logarithmic cost axis.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : LossCurveDisplay
            ``self``, with ``line_``, ``ax_`` and ``figure_`` set.
        """
        plt = _pyplot()
        if ax is None:
            _, ax = plt.subplots()
        curve = np.asarray(self.loss_curve, dtype=np.float64)
        iterations = np.arange(1, len(curve) + 1)
        (self.line_,) = ax.plot(iterations, curve, label=self.label, **kwargs)
        if log_scale:
            ax.set_yscale("log")
        ax.set_xlabel("L-BFGS iteration")
        ax.set_ylabel("cost J")
        if self.label is not None:
            ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
