"""unlearn: a reproducible companion for three machine-unlearning papers.

- Twin Machine Unlearning (TMU), Niu et al., arXiv 2501.08615
- Machine Unlearning of Features and Labels, Warnecke et al., NDSS 2023
- Distribution-Level Feature Distancing (DLFD), Choi & Na, arXiv 2409.14747

Sub-modules: ``data`` (loaders), ``splits`` (forget/retain sets), ``models``,
``train`` (one training loop, prediction), ``cache`` (checkpoint cache),
``metrics``, ``stats`` (resampling, intervals, tests), ``methods`` (every unlearning method behind one call
shape, returning ``Unlearned(model, record)``), ``evaluate``, ``tasks`` (the registry of problems every experiment
uses), ``claims`` (the papers' claims as data), ``profiles`` (smoke / cpu / paper sizes), ``plotting``, ``paths``
(where files go: nowhere unless told).
"""

__version__ = "0.1.0"

from . import numerics as _numerics

if _numerics.requested():  # started by `tools/run_notebooks.py --portable` (make test): pin the in-process half
    _numerics.apply()
