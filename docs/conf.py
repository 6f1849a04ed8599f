"""Sphinx configuration of the skbpnn documentation.

Build it (warnings are errors, every gallery example runs) with::

    python -m pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build needs no network: intersphinx reads the small inventories shipped
in ``docs/_intersphinx/`` (see ``make_inventories.py`` there). Set
``SKBPNN_DOCS_ONLINE=1`` to read the projects' full online inventories
first, falling back on the shipped ones.
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# The checkout's package, also when building without installing it.
sys.path.insert(0, str(DOCS.parent))

import skbpnn  # noqa: E402

project = "skbpnn"
author = "the skbpnn developers"
copyright = "the skbpnn developers, BSD-3-Clause"
release = skbpnn.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_intersphinx", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"

# -- autodoc / autosummary / numpydoc -----------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
# The class template lists the methods; numpydoc's own member tables would
# list them twice (and every inherited scikit-learn method too).
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- intersphinx: offline-safe ------------------------------------------------
_INTERSPHINX = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sklearn": "https://scikit-learn.org/stable/",
    "matplotlib": "https://matplotlib.org/stable/",
}


def _locations(name):
    shipped = str(DOCS / "_intersphinx" / f"{name}.inv")
    if os.environ.get("SKBPNN_DOCS_ONLINE"):
        # Online first; a failure falls back on the shipped file silently.
        return (None, shipped)
    return (shipped,)


intersphinx_mapping = {
    name: (url, _locations(name)) for name, url in _INTERSPHINX.items()
}
intersphinx_timeout = 10

# -- sphinx-gallery -----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("skbpnn",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"skbpnn": None},
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "abort_on_example_error": True,
    "min_reported_time": 1,
    "matplotlib_animations": False,
    "remove_config_comments": True,
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skbpnn {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "secondary_sidebar_items": ["page-toc"],
    "show_prev_next": False,
}
html_show_sourcelink = False
