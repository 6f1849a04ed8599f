"""Test session set-up shared by tests/ and the doctests in skbpnn/."""

import os

# scikit-learn's check_array_api_input is skipped unless SciPy's array API
# support is switched on, and SciPy reads this only when it is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
