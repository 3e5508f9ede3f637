"""Every resampling, interval and test of the package, in one place (the experiments only call it).

Intervals whose data come in clusters: samples scored by a model, models trained with seeds.

A bootstrap over samples alone treats the trained models as fixed. They are not: another seed, or the same seed on
another CPU (whose last-digit differences grow over hundreds of training steps into a different model), gives other
models and other per-sample results. Measured on notebook 01 under two kernel settings: TMU's mean Delta was 0.123
[0.085, 0.160] and 0.188 [0.150, 0.227], each point outside the other's sample-only interval. An interval that is to
hold on another machine must include the variation between models, so each replicate first redraws the seeds (the
clusters) with replacement and then the samples within each drawn seed (a two-level, "hierarchical" bootstrap;
Davison & Hinkley 1997, section 3.8). With one seed it is the ordinary bootstrap over samples; with few seeds it is
coarse (three seeds allow 10 distinct draws of seeds) and wide, as it should be.

Also here: the paired bootstrap of several sample sets (:func:`resample`), the crossed design of test images shared
by several seeds' models (:func:`crossed_bootstrap`), percentile intervals (:func:`quantiles`), paired differences
(:func:`paired_difference`), Student-t intervals over a few splits or seeds (:func:`t_interval`) and the exact sign
test (:func:`sign_test`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def cluster_bootstrap(sizes: list[int], n_boot: int, rng: np.random.Generator) -> Iterator[list[tuple[int, np.ndarray]]]:
    """``n_boot`` replicates, each a list of (cluster, sample indices): ``len(sizes)`` clusters drawn with
    replacement, then ``sizes[c]`` samples of each drawn cluster ``c`` drawn with replacement."""
    if not sizes or min(sizes) < 1:
        raise ValueError(f"every cluster needs at least one sample, got sizes {sizes}")
    k = len(sizes)
    for _ in range(n_boot):
        yield [(int(c), rng.integers(0, sizes[c], sizes[c])) for c in rng.integers(0, k, k)]


def quantiles(values, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap replicates."""
    lo, hi = np.quantile(np.asarray(values, float), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def resample(sizes: tuple[int, ...], n_boot: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, ...]]:
    """``n_boot`` replicates of several sample sets resampled together (one index array per set, drawn with
    replacement, in the order of ``sizes``): every model scored on the same draw, so differences between models are
    paired (DLFD's Table 1: forget and unseen samples)."""
    for _ in range(n_boot):
        yield tuple(rng.integers(0, n, n) for n in sizes)


def crossed_bootstrap(n_items: int, n_clusters: int, n_boot: int, rng: np.random.Generator,
                      chunk: int = 100) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Replicates of a crossed design, in chunks of up to ``chunk`` replicates: items shared by every cluster (test
    images every poisoned model is scored on) and clusters (the models' seeds). Yields ``(items, clusters)``:
    ``items`` (m, n_items) item indices drawn with replacement per replicate, then ``clusters`` (n_clusters, m)
    cluster indices drawn with replacement per replicate; a replicate's statistic is computed per drawn cluster on
    its drawn items and averaged."""
    for s in range(0, n_boot, chunk):
        m = min(chunk, n_boot - s)
        items = rng.integers(0, n_items, (m, n_items))
        yield items, rng.integers(0, n_clusters, (n_clusters, m))


def paired_difference(a, b, level: float = 0.95) -> dict:
    """``a`` minus ``b`` over paired bootstrap replicates (the same draws for both): the mean difference and its
    percentile interval; replicates where either is undefined (NaN) are left out."""
    d = np.asarray(a, float) - np.asarray(b, float)
    d = d[np.isfinite(d)]
    lo, hi = quantiles(d, level) if len(d) else (np.nan, np.nan)
    return {"diff": float(d.mean()) if len(d) else np.nan, "lo": lo, "hi": hi}


def t_interval(values, level: float = 0.95) -> dict:
    """Mean of a few values (per-split or per-seed results) and its Student-t interval (with five values a
    bootstrap would be too narrow); NaN values (a diverged run) are left out and ``n`` says how many remain."""
    from scipy import stats as st

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return {"mean": float(x.mean()) if len(x) else np.nan, "lo": np.nan, "hi": np.nan, "n": len(x)}
    # by hand rather than ttest_1samp, which warns on identical values (a variant equal to DLFD on every split)
    half = st.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return {"mean": float(x.mean()), "lo": float(x.mean() - half), "hi": float(x.mean() + half), "n": len(x)}


def sign_test(wins: int, n: int) -> float:
    """One-sided exact sign test: the p-value of ``wins`` or more successes in ``n`` fair coin flips (ties dropped
    before counting ``n``); NaN when there is nothing to test."""
    from scipy.stats import binomtest

    return binomtest(wins, n, 0.5, alternative="greater").pvalue if n else float("nan")
