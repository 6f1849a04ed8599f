"""Targets and weights: y -> the (m, K) 0/1 matrix, class and sample weights.

Every check of ``y``, ``class_weight`` and ``sample_weight`` and its error
message is written here once, for the in-memory fit (which calls
:func:`encode` and :func:`sample_weights` on arrays) and for the Dask fit
(which computes the same quantities as dask reductions and calls the
``check_*`` functions and :func:`row_weights` on their results).
"""

import numpy as np
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, column_or_1d

MULTILABEL = "multilabel-indicator"


def label(value):
    """A class label as Python prints it: 'a' or 0, not np.str_('a')."""
    return value.item() if isinstance(value, np.generic) else value


def check_two_classes(classes):
    """A ValueError unless ``classes`` (the distinct labels of y) has two or more."""
    if len(classes) < 2:
        raise ValueError(
            "BackpropClassifier needs samples of at least 2 classes, but "
            f"the data contain only one class: {label(classes[0])!r}."
        )


def check_same_classes(previous, binarizer, needed_by="warm_start"):
    """y (its ``binarizer``) has the previous fit's classes, as
    ``warm_start`` and ``log_evidence`` (``needed_by``) need.

    ``previous`` is the previous fit's LabelBinarizer; the kind of target
    (binary, multiclass, multilabel) must be the same too.
    """
    if binarizer.y_type_ != previous.y_type_ or not np.array_equal(
        binarizer.classes_, previous.classes_
    ):
        raise ValueError(
            f"{needed_by} needs y with the same classes as the previous fit: "
            f"previously {previous.classes_} ({previous.y_type_}), now "
            f"{binarizer.classes_} ({binarizer.y_type_})."
        )


def encode(y):
    """Check ``y`` and encode it: returns ``(y, Y, binarizer)``.

    ``Y`` is the ``(m, K)`` 0/1 matrix (``K = 1`` for binary targets) and
    ``binarizer`` the LabelBinarizer fitted on ``y``.
    """
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    check_classification_targets(y)
    target_type = type_of_target(y, input_name="y")
    if target_type not in ("binary", "multiclass", MULTILABEL):
        raise ValueError(
            "BackpropClassifier supports binary, multiclass and multilabel "
            f"targets, got {target_type} targets."
        )
    binarizer = LabelBinarizer().fit(y)
    if target_type != MULTILABEL:
        check_two_classes(binarizer.classes_)
    return y, binarizer.transform(y), binarizer


def class_weights(class_weight, classes, counts):
    """The weight of each class, ``classes`` sorted, ``counts`` their sizes.

    "balanced" is ``n_samples / (n_classes * counts)``, as scikit-learn's
    ``compute_class_weight``; a dict gives its value to each class it names
    and 1 to the others, and must be finite and non-negative.
    """
    if isinstance(class_weight, str) and class_weight == "balanced":
        # compute_class_weight's expression, from the counts (the Dask path
        # has counts, not the labels, in hand).
        return counts.sum() / (len(classes) * counts.astype(np.float64))
    weights = compute_class_weight(class_weight, classes=classes, y=classes)
    # (A negative weight makes the cost unbounded below.)
    if not np.all(np.isfinite(weights) & (weights >= 0)):
        raise ValueError(
            f"class_weight must be finite and non-negative, got {class_weight!r}."
        )
    return weights


def row_weights(y, sample_weight, *, classes, per_class, out_dtype):
    """Each row's class weight in ``out_dtype``, times ``sample_weight`` if given.

    (``out_dtype``, not ``dtype``: ``dask.array.map_blocks`` takes ``dtype``.)
    """
    w = per_class[np.searchsorted(classes, y)].astype(out_dtype)
    return w if sample_weight is None else sample_weight * w


def check_weight_sum(total):
    """A ValueError unless the weights (``total`` their sum) sum to more than 0."""
    if not total > 0:
        raise ValueError("sample_weight (times class_weight) sums to zero.")


def check_weighted_classes(present):
    """A ValueError unless 2 or more classes (``present``) have positive weight."""
    if len(present) < 2:
        raise ValueError(
            "Only one class has positive sample_weight: "
            f"{label(present[0])!r}; at least 2 classes are needed."
        )


def check_class_weight_target(class_weight, y_type):
    """``class_weight`` is for single-label targets only."""
    if class_weight is not None and y_type == MULTILABEL:
        raise ValueError("class_weight is not supported for multilabel y.")


def sample_weights(sample_weight, class_weight, y, binarizer, X):
    """The rows' weights (sample times class weights) in X's dtype, or None.

    ``y`` as returned by :func:`encode`; None means every weight is 1.
    """
    y_type, classes = binarizer.y_type_, binarizer.classes_
    if sample_weight is not None:
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=X.dtype, ensure_non_negative=True
        )
    check_class_weight_target(class_weight, y_type)
    if class_weight is not None:
        counts = np.unique(y, return_counts=True)[1]
        sample_weight = row_weights(
            y,
            sample_weight,
            classes=classes,
            per_class=class_weights(class_weight, classes, counts),
            out_dtype=X.dtype,
        )
    if sample_weight is None:
        return None
    check_weight_sum(np.sum(sample_weight))
    if y_type != MULTILABEL:
        check_weighted_classes(np.unique(y[sample_weight > 0]))
    return sample_weight
