"""Sphinx configuration of the companion's book (`make site`). tools/build_site.py lays the pages out in a build
folder (README as the index, the executed notebooks, figures) and runs sphinx-build on it with this file."""

project = "unlearn: a reproducible companion for three machine-unlearning papers"
author = "The unlearn companion maintainers"
copyright = "2026, " + author

extensions = ["myst_nb", "sphinx-mathjax-offline"]  # MathJax served from the book itself: it builds and reads offline
nb_execution_mode = "off"  # the notebooks are shown as executed by make reproduce (or the smoke run), never re-run
nb_merge_streams = True
# no widget scripts from a CDN: a stored widget's plain-text form is shown instead
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                              ("html", "application/vnd.jupyter.widget-state+json", None)]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "unlearn companion"
html_favicon = "favicon.svg"
html_context = {"default_mode": "light"}  # an explicit mode: the theme logs a console error when none is stored
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
}
html_last_updated_fmt = None
