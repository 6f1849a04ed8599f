"""Write the small intersphinx inventories shipped with the docs.

The docs build runs without network (CI reaches only PyPI), so intersphinx
cannot download numpy's, scipy's, scikit-learn's, matplotlib's and Python's
``objects.inv``. These files list just the objects the docs and docstrings
refer to, with the URLs those projects publish them under. Regenerate after
adding a cross-reference::

    python docs/_intersphinx/make_inventories.py

A reference to an object missing here still builds: it shows as code
without a link (the build is not nitpicky).
"""

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# project: (name, version, [(object, role, uri relative to the project root)])
_GEN = "reference/generated/{}.html#{}"
_SK = "modules/generated/{}.html#{}"


def _gen(pattern, role, *names):
    return [(n, role, pattern.format(n, n)) for n in names]


INVENTORIES = {
    "numpy": (
        "NumPy",
        "stable",
        _gen(_GEN, "py:class", "numpy.ndarray", "numpy.dtype")
        + _gen(_GEN, "py:function", "numpy.shares_memory", "numpy.ravel")
        + [
            (
                "numpy.random.RandomState",
                "py:class",
                "reference/random/legacy.html#numpy.random.RandomState",
            ),
            (
                "numpy.random.Generator",
                "py:class",
                "reference/random/generator.html#numpy.random.Generator",
            ),
        ],
    ),
    "scipy": (
        "SciPy",
        "stable",
        _gen(
            _GEN,
            "py:function",
            "scipy.optimize.minimize",
            "scipy.optimize.check_grad",
            "scipy.special.expit",
        ),
    ),
    "sklearn": (
        "scikit-learn",
        "stable",
        _gen(
            _SK,
            "py:class",
            "sklearn.neural_network.MLPClassifier",
            "sklearn.linear_model.LogisticRegression",
            "sklearn.model_selection.GridSearchCV",
            "sklearn.pipeline.Pipeline",
            "sklearn.preprocessing.StandardScaler",
            "sklearn.metrics.ConfusionMatrixDisplay",
            "sklearn.exceptions.ConvergenceWarning",
        )
        + _gen(
            _SK,
            "py:function",
            "sklearn.model_selection.cross_val_score",
            "sklearn.model_selection.train_test_split",
            "sklearn.pipeline.make_pipeline",
            "sklearn.datasets.load_digits",
            "sklearn.datasets.make_moons",
            "sklearn.datasets.make_multilabel_classification",
            "sklearn.utils.estimator_checks.check_estimator",
        ),
    ),
    "matplotlib": (
        "Matplotlib",
        "stable",
        [
            (
                "matplotlib.axes.Axes",
                "py:class",
                "api/_as_gen/matplotlib.axes.Axes.html#matplotlib.axes.Axes",
            ),
            (
                "matplotlib.axes.Axes.plot",
                "py:method",
                "api/_as_gen/matplotlib.axes.Axes.plot.html#matplotlib.axes.Axes.plot",
            ),
            (
                "matplotlib.figure.Figure",
                "py:class",
                "api/_as_gen/matplotlib.figure.Figure.html#matplotlib.figure.Figure",
            ),
            (
                "matplotlib.image.AxesImage",
                "py:class",
                "api/_as_gen/matplotlib.image.AxesImage.html"
                "#matplotlib.image.AxesImage",
            ),
            (
                "matplotlib.lines.Line2D",
                "py:class",
                "api/_as_gen/matplotlib.lines.Line2D.html#matplotlib.lines.Line2D",
            ),
        ],
    ),
    "python": (
        "Python",
        "3",
        [
            ("csv", "py:module", "library/csv.html#module-csv"),
            ("ImportError", "py:exception", "library/exceptions.html#ImportError"),
        ],
    ),
}


def write(path, project, version, entries):
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = "".join(f"{name} {role} 1 {uri} -\n" for name, role, uri in entries)
    path.write_bytes(header.encode() + zlib.compress(body.encode(), 9))


if __name__ == "__main__":
    for name, (project, version, entries) in INVENTORIES.items():
        write(HERE / f"{name}.inv", project, version, entries)
        print(f"{name}.inv: {len(entries)} objects")
