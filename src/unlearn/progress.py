"""Progress bars: tqdm's widget in an interactive Jupyter session (``ipywidgets`` is in the notebooks extra), plain
text everywhere else. A notebook executed by papermill for the repository or the book gets text bars
(``tools/run_notebooks.py`` sets ``UNLEARN_PROGRESS=text``): a stored widget shows only its first frame ("0%") in a
static page, and showing more needs scripts from a CDN."""

from __future__ import annotations

import os

if os.environ.get("UNLEARN_PROGRESS") == "text":
    from tqdm.std import tqdm
else:
    from tqdm.auto import tqdm

__all__ = ["tqdm"]
