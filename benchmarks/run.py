"""`make bench`: the cost of every unlearning method against retraining, at two data sizes.

Each (task, size, method) runs in its own child process with an empty model cache, so nothing is
timed out of a cache and the child's peak resident memory (its own VmHWM) is the method's own. The
original model is trained once per (task, size) in the parent and handed to the children as a file.

Tasks:
- ``cifar10-cnn``: the registry's ``cifar10`` task (``unlearn.tasks``): small CNN on a class-balanced
  CIFAR-10 subset; forget 10 % of class 3 (TMU's sub-class setting); TMU gets 100 held-out class-3 test
  images as D_h, DLFD the task's test set (which excludes D_h) as its monitoring set.
- ``enron-logreg``: L2-regularised logistic regression on Enron bag-of-words (Warnecke et al.; the
  registry's ``linear_task("enron")`` on n rows); unlearn 50 random vocabulary features (zeroed in every
  row that has them); retrain = exact
  re-fit on the corrected data, first- and second-order updates from ``unlearn.methods.influence.certified``.

Writes results/bench.csv and figures/bench.png; prints the table.

    python benchmarks/run.py                 # both sizes (cpu scale; tens of minutes on 2 cores)
    python benchmarks/run.py --quick         # tiny sizes, to check the script itself
    python benchmarks/run.py --report        # redraw the figure, print the README's table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for annotations only
    from unlearn.tasks import TaskRun

ROOT = Path(__file__).resolve().parents[1]
CNN_METHODS = ["retrain", "finetune", "neggrad", "neggrad_plus", "random_label", "bad_teacher", "scrub", "cf_k",
               "eu_k", "unsir", "salun", "tmu", "dlfd", "influence_first_order", "influence_second_order"]
LR_METHODS = ["retrain", "influence_first_order", "influence_second_order"]


# --- the work a child does --------------------------------------------------------------------------
def cifar_task(n: int, seed: int) -> TaskRun:
    """Sets and original model of the cifar10-cnn task: the registry's cifar10 task on n training images (its test
    set doubles as the validation set the influence updates are tuned on)."""
    from unlearn import tasks

    run = tasks.get("cifar10", per_class=n // 10).build(seed)
    run.val = run.test
    return run


def enron_task(n: int, seed: int) -> dict:
    """The registry's Enron task on n rows, 50 random vocabulary features zeroed, and its affected rows Z / Z~."""
    import numpy as np
    import torch

    from unlearn import splits, tasks
    from unlearn.methods.influence import certified

    t = tasks.linear_task("enron", seed, rows=n)
    feats = splits.feature_subset(t.feature_names, 50, seed=seed)
    affected = torch.as_tensor(np.flatnonzero(t.x[:, feats].abs().sum(1).numpy() > 0))
    x_tilde = t.x.clone()
    x_tilde[:, feats] = 0.0
    x_tilde = certified.normalize_rows(x_tilde)
    return {"x": t.x, "y": t.y, "x_tilde": x_tilde, "affected": affected, "lam": 1.0}


def run_child(job: dict) -> dict:
    import torch

    from unlearn import methods
    from unlearn.methods.influence import certified
    from unlearn.train import Timer, counting

    torch.manual_seed(job["seed"])
    if job["task"] == "cifar10-cnn":
        t = cifar_task(job["n"], job["seed"])
        name = job["method"]
        kwargs = {"holdout": t.holdout} if name == "tmu" else {"monitor": t.val} if name == "dlfd" else {}
        config = vars(t.task.train) if name == "retrain" else None
        search = 0.0
        if name.startswith("influence"):  # head only, step chosen on the validation set (searched apart, timed apart)
            from unlearn.experiments import benchmark

            (model, rec), search = benchmark.tuned_influence(t, benchmark.PROFILES["cpu"], job["seed"], names=(name,))[name]
        else:
            model, rec = methods.get(name)(t.original, t.forget, t.retain, config=config, seed=job["seed"], **kwargs)
        from torch.utils.data import ConcatDataset

        from unlearn.evaluate import changed_share

        changed = changed_share(model, t.original, ConcatDataset([t.forget, t.val]))
        return {"seconds": rec.seconds, "grad_evals": rec.grad_evals, "n_forget": len(t.forget),
                "search_seconds": search, "changed": changed}
    t = enron_task(job["n"], job["seed"])
    lam, a = t["lam"], t["affected"]
    theta = certified.fit(t["x"], t["y"], lam, seed=job["seed"]).theta  # the trained model (not timed)
    with counting() as c, Timer() as timer:
        if job["method"] == "retrain":  # the authors' stopping rule (L-BFGS, pgtol 1e-5, at most 1000 iterations)
            certified.fit_traced(t["x_tilde"], t["y"], lam, seed=job["seed"])
        else:
            G = certified.influence_gradient(theta, (t["x"][a], t["y"][a]), (t["x_tilde"][a], t["y"][a]))
            if job["method"] == "influence_first_order":
                certified.first_order_update(theta, G, tau=1e-3)
            else:
                certified.second_order_update(theta, t["x_tilde"], t["y"], lam, G, solver="exact")
    return {"seconds": timer.seconds, "grad_evals": c.value, "n_forget": len(a)}


def own_peak_rss_mb() -> float:
    """This process's peak resident memory since its exec (VmHWM, per address space). Not
    ru_maxrss: Linux carries the parent's high-water mark into a forked child's ru_maxrss, so a
    parent holding CIFAR-10 would set a floor of about 1.3 GB under every child's figure."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB -> MB
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


# --- the parent: one child per job, peak RSS measured by the child itself ----------------------------
def spawn(job: dict) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = os.environ | {"UNLEARN_CACHE": cache}
        if job["task"] == "cifar10-cnn":  # hand over the original trained in the parent, nothing else
            import shutil

            from unlearn import tasks

            tag = tasks.get("cifar10").tag
            for f in Path(os.environ.get("UNLEARN_CACHE", ROOT / ".cache" / "models")).glob(f"{tag}-*"):
                shutil.copy(f, cache)
        proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(job)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"job {job} failed (status {proc.returncode}); run it with --child to see why")
        result = json.loads(out.strip().splitlines()[-1])
    return job | result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to check the script")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report", action="store_true",
                    help="only redraw the figure and print the README's markdown table from the last results/bench.csv")
    ap.add_argument("--methods", help="comma-separated methods to (re)run; their rows replace those in results/bench.csv "
                                      "(include retrain, so that speed-ups compare runs of the same session)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.report:
        import pandas as pd

        df = pd.read_csv(ROOT / "results" / "bench.csv")
        figure(df, "bench")
        print(markdown(df))
        return 0
    if args.child:
        print(json.dumps(run_child(json.loads(args.child)) | {"peak_rss_mb": own_peak_rss_mb()}))
        return 0

    import pandas as pd

    cnn_sizes = (1000, 2000) if args.quick else (2500, 10000)
    lr_sizes = (500, 1000) if args.quick else (1000, 3879)
    rows = []
    for task, sizes, names in (("cifar10-cnn", cnn_sizes, CNN_METHODS), ("enron-logreg", lr_sizes, LR_METHODS)):
        for n in sizes:
            if task == "cifar10-cnn":
                cifar_task(n, args.seed)  # train (or find) the original once, in the parent's cache
            for name in names:
                if args.methods and name not in args.methods.split(","):
                    continue
                r = spawn({"task": task, "n": n, "method": name, "seed": args.seed})
                print(f"{task:13s} n={n:6d} {name:24s} {r['seconds']:9.2f} s  {r['peak_rss_mb']:7.0f} MB", flush=True)
                rows.append(r)
    df = pd.DataFrame(rows)
    out = ROOT / "results" / ("bench_quick.csv" if args.quick else "bench.csv")
    retrain = df[df.method == "retrain"].set_index(["task", "n"]).seconds
    df["retrain_seconds"] = [retrain[(t, n)] for t, n in zip(df.task, df.n)]
    df["speedup"] = df.retrain_seconds / df.seconds  # against the retraining of this same run
    df["machine"] = f"{platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
    df["run"] = str(__import__("datetime").date.today())
    if args.methods and out.exists():  # keep the other methods' rows, each with the speed-up of its own run
        old = pd.read_csv(out)
        if "run" not in old:
            old["run"] = "earlier"
        old = old[~old.method.isin(args.methods.split(","))]
        df = pd.concat([old, df], ignore_index=True)
    out.parent.mkdir(exist_ok=True)
    df.to_csv(out, index=False)
    print(df[["task", "n", "method", "seconds", "speedup", "grad_evals", "peak_rss_mb"]].round(2).to_string(index=False))
    figure(df, "bench_quick" if args.quick else "bench")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


def markdown(df) -> str:
    """One markdown table per task: seconds and speed-up at each size, gradient evaluations at the largest (each
    speed-up is against the retraining of the run that produced the row: see the ``run`` column)."""
    out = []
    for task, sub in df.groupby("task", sort=False):
        ns = sorted(sub.n.unique())
        head = ["method"] + [f"{k} (n={n})" for n in ns for k in ("seconds", "speed-up")] + [f"grad evals (n={ns[-1]})"]
        has_changed = "changed" in sub and sub["changed"].notna().any()
        if has_changed:
            head.append(f"predictions changed (n={ns[-1]})")
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for method, rows in sub.groupby("method", sort=False):
            by_n = rows.set_index("n")
            cells = [method] + [f"{by_n.loc[n, c]:.2f}" for n in ns for c in ("seconds", "speedup")]
            cells.append(str(int(by_n.loc[ns[-1], "grad_evals"])))
            if has_changed:
                ch = by_n.loc[ns[-1], "changed"]
                cells.append("n/a" if ch != ch else f"{ch:.3f}" + (" (no-op)" if ch < 0.005 and method != "retrain" else ""))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def figure(df, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from unlearn import plotting

    plotting.style()
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.5), gridspec_kw={"width_ratios": [3, 1.2], "wspace": 0.6})
    for ax, task, corner in zip(axes, ["cifar10-cnn", "enron-logreg"], ["center right", "lower right"]):
        sub = df[(df.task == task) & (df.method != "retrain")]
        sns.barplot(data=sub, y="method", x="speedup", hue="n", ax=ax, orient="h", palette="crest")
        ax.set(xscale="log", title=f"{task}: speed-up against retraining", xlabel="retrain time / method time", ylabel="")
        ax.axvline(1, c="k", lw=1)
        ax.axvline(10, c="tab:red", lw=1, ls="--")  # 10x: the speed-up a cheap unlearning method should reach
        ax.legend(title="training samples", loc=corner)  # where no bar reaches
    plotting.save(fig, name, "cpu")


if __name__ == "__main__":
    from unlearn import paths

    paths.use_repository()  # parent and children alike: data, model cache, results and figures of this repository
    sys.exit(main())
