"""Portable numerics: the same floating-point results on any x86-64 CPU, traded for some speed.

By default PyTorch, MKL, oneDNN and OpenBLAS each pick the fastest kernels the CPU offers (AVX2, AVX-512, ...) and
split sums over as many threads as there are cores. Different kernels and splits add the same numbers in a different
order, so two machines agree only to the last digits, and a few hundred training steps turn that into different
models. Each library has a documented switch that removes its dependence on the CPU; ``PINS`` sets all of them:

- ``ATEN_CPU_CAPABILITY=default``: PyTorch's own kernels at their baseline (non-vectorised) level;
- ``MKL_CBWR=COMPATIBLE``: MKL's conditional numerical reproducibility, the same code path on every x86-64 CPU;
- ``OPENBLAS_CORETYPE=Nehalem``: numpy's and scipy's OpenBLAS kernels for an SSE4.2 core on every CPU;
- ``NPY_DISABLE_CPU_FEATURES``: numpy's own loops (sums, exp, log, ...) at its x86-64-v2 baseline, not the AVX2 or
  AVX-512 versions it dispatches to at run time (these sum float32 in different lane orders: an L-BFGS fit of notebook
  02 took 27,153 more gradient evaluations on an AVX-512 Xeon than on an AVX2 EPYC until this was pinned);
- ``ONEDNN_MAX_CPU_ISA=SSE41``: oneDNN's JIT kernels capped at SSE4.1, for any operation that still reaches oneDNN;
- ``GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA,-FMA4``: glibc's libm picks an FMA version of ``exp``, ``log``,
  ``pow``, ``sin``, ``cos``, ... when the CPU (or the virtual machine's CPU model) offers FMA, and those round
  differently in the last bit from the SSE2 versions; numpy's double loops at its baseline and PyTorch's scalar
  (``default``) kernels call them. Masking the two features gives every x86-64 CPU the SSE2 versions (memcpy and
  friends follow too, which changes no number);
- one thread for every library (``OMP_NUM_THREADS`` and friends): reductions are not split by the core count.

Three more settings live inside the process (:func:`apply`): oneDNN convolutions are switched off
(``torch.backends.mkldnn.enabled = False``; oneDNN sizes its blocks by the CPU's caches, so its sums are ordered by
the machine); so is NNPACK, which PyTorch takes instead for a convolution's forward pass at a batch of 16 or more once
oneDNN is off, and which also picks its kernels (AVX2 or scalar) and its cache blocking (L1/L2/L3 sizes, 48 KiB and
2 MiB per core on the Sapphire Rapids Xeon that found this, other sizes on other models) from the CPU; both fall back
to PyTorch's im2col + MKL path. PyTorch's thread pool is set to one thread.

What is proven, and what is not: ``tests/test_portability.py`` shows, on one machine, that each switch above changes
results when the CPU-dependent path is taken and that the pinned results do not move when the kernels a CPU offers are
varied through the knobs that can vary them (oneDNN's ISA cap, MKL's instruction cap, glibc's feature mask, one core
or two). NNPACK's cache blocking cannot be varied on one machine: it is switched off, not emulated. Between the AMD
EPYC that made an earlier set of smoke references and a Sapphire Rapids Xeon, before NNPACK and glibc were pinned,
even a network without convolutions (notebook 01's MLP) differed in the seventh digit; its only MKL calls were
SGEMM in the COMPATIBLE branch, which Intel documents as CPU-independent, so that difference is not explained here.
The smoke checks therefore still compare with written tolerances (``tests/smoke_results.py``).

The environment variables are read when the libraries load, so they must be set before Python starts:
``tools/run_notebooks.py --portable`` sets them for the notebook kernels it starts, and
``UNLEARN_PORTABLE_NUMERICS=1`` makes ``import unlearn`` call :func:`apply`. ``make test`` runs the smoke notebooks
this way; the cpu and paper profiles run with the machine's fastest kernels (their verdicts are shown to hold under
two kernel settings instead, see ``tools/compare_settings.py``).
"""

from __future__ import annotations

import os

PINS = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Nehalem",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",  # numpy 2.4's dispatch targets above X86_V2
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-FMA4",  # read by the dynamic loader: before Python starts
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "UNLEARN_PORTABLE_NUMERICS": "1",
}


def requested() -> bool:
    """Whether this process was started with portable numerics (``UNLEARN_PORTABLE_NUMERICS=1``)."""
    return os.environ.get("UNLEARN_PORTABLE_NUMERICS") == "1"


def apply() -> None:
    """The in-process half of the pins (oneDNN and NNPACK convolutions off, one PyTorch thread). Refuses to run in a
    process whose libraries were loaded without the environment half, which would give neither speed nor portability."""
    import torch

    # the oneDNN cap is a second line only (apply() keeps convolutions away from oneDNN), so it is not required
    missing = {k: v for k, v in PINS.items() if os.environ.get(k) != v and k != "ONEDNN_MAX_CPU_ISA"}
    if missing:
        raise RuntimeError("portable numerics need these environment variables before Python starts: "
                           + " ".join(f"{k}={v}" for k, v in missing.items()))
    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)
    torch.set_num_threads(1)

