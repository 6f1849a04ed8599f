"""``random_state`` to a numpy random generator: the one rule and its message.

Imports nothing of the package, so that the pure modules (``backprop``,
``_lanczos``) share it.
"""

import numbers

import numpy as np


def as_random_state(random_state):
    """``random_state`` as a numpy RandomState or Generator.

    None and ints (bools among them) seed a new RandomState, as
    scikit-learn's ``check_random_state`` does; a RandomState or Generator
    is used as it is. Anything else is a ValueError.
    """
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    if random_state is None or isinstance(random_state, numbers.Integral):
        return np.random.RandomState(random_state)
    raise ValueError(
        "random_state must be None, an int, a numpy RandomState or Generator, "
        f"got {random_state!r}."
    )
