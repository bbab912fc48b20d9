"""Sphinx configuration for the advrl documentation site.

Build (offline, warnings as errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import os

# Torch and MuJoCo import faster and quieter single-threaded; autodoc imports every module.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import advrl  # noqa: E402 (after the environment set-up above)

project = "advrl"
author = "advrl contributors"
copyright = "advrl contributors"
version = release = advrl.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Alabaster ships with Sphinx: the site builds offline, with nothing to download. No
# intersphinx either, for the same reason.
html_theme = "alabaster"
html_theme_options = {"description": "Attack, defend and benchmark RL agents"}
html_static_path: list[str] = []

myst_heading_anchors = 3

# The API reference is the docstrings (Google style). Each automodule documents only what its
# own module defines (ignore-module-all): packages re-export their submodules' classes in
# ``__all__``, and documenting those twice would be duplicate object descriptions.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# ``Modes:`` (the ACT trainer) is a Google-style section of ``name: description`` entries.
napoleon_custom_sections = [("Modes", "params_style")]
autodoc_default_options = {
    "members": True,
    "ignore-module-all": True,
    "show-inheritance": True,
}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# Methods without a docstring of their own (``step``, ``reset`` overrides) would inherit
# Gymnasium's and SB3's, which are not Google style and are their projects' to document.
autodoc_inherit_docstrings = False
# nle is the optional [nethack] extra: mock it so the site builds in a venv without it (and
# the same way in one with it). ray (the [ray] extra) is imported inside functions only.
autodoc_mock_imports = ["nle"]
