"""skbpnn: a scikit-learn classifier trained by backpropagation and L-BFGS.

The math of the course notes lives in :mod:`skbpnn.backprop` as pure
functions; :class:`BackpropClassifier` drives it as a scikit-learn estimator.
"""

from . import backprop
from ._classifier import BackpropClassifier
from ._lbfgs import TrainingInterruptedWarning

__version__ = "0.2.0"

__all__ = [
    "BackpropClassifier",
    "TrainingInterruptedWarning",
    "backprop",
    "__version__",
]
