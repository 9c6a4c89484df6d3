"""Sphinx configuration: the user guide (the Markdown pages of docs/, through MyST) and the API
reference (docs/api/*.rst, autodoc from the docstrings, NumPy style through napoleon).

    python -m sphinx -b html docs docs/_build/html            # then open docs/_build/html/index.html

CI builds with ``-W --keep-going``: every warning is an error.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from sphinx.util.docstrings import prepare_docstring

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's hetrec, also when it is not pip-installed
os.environ.setdefault("DGLBACKEND", "pytorch")

import hetrec  # noqa: E402

project = "hetrec"
author = "hetrec contributors"
release = version = hetrec.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# The Markdown pages are written for GitHub first; the site reads their links as GitHub does,
# with relative paths, so one text serves both:
# - a link to another page of docs/ ("results.md") becomes a link between the site's pages;
# - a link to a section uses GitHub's heading anchor ("results.md#movielens-1m"); MyST generates
#   the same anchors for headings down to this level;
# - an image outside docs/ (the plots under ../benchmarks/results/) keeps its relative path:
#   Sphinx resolves it from the page's folder, as GitHub does, and copies it into the site's
#   _images/, so no file is duplicated in the repository;
# - a link to another repository file outside docs/ (a CSV of benchmarks/results/, a script)
#   becomes a download of that file on the site. Markdown files outside docs/ (the README) can
#   be neither pages nor downloads: a page links to a CSV or names the path in code instead.
myst_heading_anchors = 4

# API reference: docs/api/*.rst name every public object explicitly (tests/test_docs.py checks
# that each package's __all__ is covered). NumPy-style docstrings; Google style too, for the
# docstrings inherited from torch (e.g. Recommender.train documents itself with nn.Module's).
autodoc_default_options = {"members": True, "member-order": "bysource", "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False

html_theme = "alabaster"
html_title = f"hetrec {release}"
html_theme_options = {"description": "Recommendation on heterogeneous graphs with DGL", "fixed_sidebar": True}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}


def _drop_type_docstring(app, what, name, obj, options, lines):
    """A constant without a ``#:`` comment where autodoc looks for one (the public module that
    re-exports it) would be described by its type's docstring (``str``'s, ``dict``'s): drop that,
    keeping the description the page gives in the directive's content."""
    if what == "data" and lines and lines[:-1] == prepare_docstring(type(obj).__doc__ or "")[:-1]:
        lines.clear()


def setup(app):
    # before napoleon (priority 500), which would reformat the type's docstring first
    app.connect("autodoc-process-docstring", _drop_type_docstring, priority=100)
