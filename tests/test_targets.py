"""Targets and weights: skbpnn._targets against scikit-learn's own."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.utils.class_weight import compute_class_weight

from skbpnn import _targets


@pytest.mark.parametrize("class_weight", ["balanced", {0: 2.0, 2: 0.5}])
def test_class_weights_are_scikit_learns(class_weight):
    y = np.array([0, 0, 0, 1, 2, 2, 0, 1, 1, 1, 1])
    classes, counts = np.unique(y, return_counts=True)
    assert_array_equal(
        _targets.class_weights(class_weight, classes, counts),
        compute_class_weight(class_weight, classes=classes, y=y),
    )


def test_encode_binary_multiclass_multilabel():
    y, Y, binarizer = _targets.encode(np.array(["b", "a", "b"]))
    assert Y.shape == (3, 1) and list(binarizer.classes_) == ["a", "b"]
    _, Y, _ = _targets.encode(np.array([2, 0, 1, 2]))
    assert_array_equal(Y, np.eye(3)[[2, 0, 1, 2]])
    _, Y, binarizer = _targets.encode(np.array([[1, 0], [1, 1]]))
    assert binarizer.y_type_ == "multilabel-indicator" and Y.shape == (2, 2)


def test_each_message_names_the_problem():
    with pytest.raises(ValueError, match="only one class: 'a'"):
        _targets.encode(np.array(["a", "a"]))
    with pytest.raises(ValueError, match="got continuous targets|Unknown label"):
        _targets.encode(np.array([0.5, 1.5, 2.25]))
    with pytest.raises(ValueError, match="sums to zero"):
        _targets.check_weight_sum(0.0)
    with pytest.raises(ValueError, match="Only one class has positive"):
        _targets.check_weighted_classes(np.array([3]))
    previous = _targets.encode(np.array([0, 1, 2]))[2]
    now = _targets.encode(np.array([0, 1]))[2]
    with pytest.raises(ValueError, match="warm_start needs y with the same classes"):
        _targets.check_same_classes(previous, now)
