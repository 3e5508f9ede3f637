"""The bad inputs of the reliability review, each run against the current code; prints a markdown table
(probe | what happens now). Works in a temporary data and model cache; needs the offline mirror.

    UNLEARN_DATA_MIRROR=../shared/data python tools/probe_inputs.py
"""
import os, tempfile, warnings, shutil, math
from pathlib import Path
import numpy as np, torch
from torch.utils.data import Subset, DataLoader, SubsetRandomSampler

tmp = Path(tempfile.mkdtemp())
os.environ["UNLEARN_DATA"] = str(tmp / "data"); os.environ["UNLEARN_CACHE"] = str(tmp / "cache")
from unlearn import methods, models, splits, train, certified as C, plotting
from unlearn.data import ArrayDataset, load_dataset
from unlearn.data.sources import fetch

rows = []
def probe(name, fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            out = fn()
            res = f"result: {out}"
        except Exception as e:
            res = f"{type(e).__name__}: {str(e)[:150]}"
        if w:
            res = f"warning: {str(w[0].message)[:110]} -> " + res
    rows.append((name, res.replace("|", "/").replace("\n", " ")))

# data
def truncated_alice():
    p = fetch("alice", "alice/alice_in_wonderland.txt")
    full = len(p.read_bytes()); p.write_bytes(p.read_bytes()[: full // 2])
    b = load_dataset("alice")
    return f"{len(fetch('alice', 'alice/alice_in_wonderland.txt').read_bytes())} of {full} bytes after reload"
probe("truncated alice in the data cache", truncated_alice)
def truncated_adult():
    p = fetch("adult", "adult/adult.data"); full = len(p.read_bytes()); p.write_bytes(p.read_bytes()[: full // 2])
    return f"{len(load_dataset('adult').train)} training rows after reload"
probe("truncated adult.data in the data cache", truncated_adult)
def half_extracted_enron():
    a = fetch("enron", "enron/enron1.tar.gz"); d = a.parent / "enron1"
    (d / "ham").mkdir(parents=True); (d / "ham" / "x.txt").write_text("partial")
    b = load_dataset("enron")
    return f"{len(b.train) + len(b.test)} mails"
probe("enron folder left by an interrupted extraction", half_extracted_enron)
def unlisted():
    m = tmp / "mirror"; (m / "toy").mkdir(parents=True); (m / "toy" / "f.txt").write_text("x"); (m / "SHA256SUMS").write_text("")
    old = os.environ["UNLEARN_DATA_MIRROR"]; os.environ["UNLEARN_DATA_MIRROR"] = str(m)
    try:
        return fetch("toy", "toy/f.txt")
    finally:
        os.environ["UNLEARN_DATA_MIRROR"] = old
probe("mirror file without a SHA256SUMS line", unlisted)

# methods
b = load_dataset("digits")
torch.manual_seed(0)
model = models.build("small_cnn", in_channels=1, num_classes=10, width=8, hidden=32)
train.fit(model, b.train, train.TrainConfig(epochs=2, batch_size=64), progress=False)
forget, retain = splits.random_instances(len(b.train), 0.03, 0).subsets(b.train)
ng = methods.get("neggrad")
probe("retain = the whole training set (finetune)", lambda: methods.get("finetune")(model, forget, b.train))
probe("NegGrad with a sampler over 41 forget samples",
      lambda: f"grad_evals {ng(model, DataLoader(b.train, batch_size=8, sampler=SubsetRandomSampler(list(forget.indices[:41]))), retain).unlearning_record.grad_evals}")
x = b.train.x[retain.indices].clone(); x[0, 0, 0, 0] = float("nan")
probe("NaN in a retain input (finetune)", lambda: methods.get("finetune")(model, forget, ArrayDataset(x, b.train.y[retain.indices])))
probe("retrain with epochs=-1", lambda: methods.get("retrain")(model, forget, retain, config={"epochs": -1}))
probe("finetune with lr=NaN", lambda: methods.get("finetune")(model, forget, retain, config={"lr": float("nan")}))
probe('finetune with {"epochs": "2"}', lambda: methods.get("finetune")(model, forget, retain, config={"epochs": "2"}))
# splits
probe("random_instances(100, np.float32(0.1))", lambda: f"{len(splits.random_instances(100, np.float32(0.1)).forget)} forgotten")
probe("ArrayDataset(x, [2.7, 0.5])", lambda: ArrayDataset(torch.zeros(2, 3), [2.7, 0.5]))
probe("label_flips on labels [1.5, 0, 2]", lambda: splits.label_flips(np.array([1.5, 0.0, 2.0]), 1, 3))
probe("class_fraction(y, '3')", lambda: splits.class_fraction(b.train.y.numpy(), "3", 0.1))
# certified LR
xs = C.normalize_rows(torch.randn(50, 4, dtype=torch.float64)); ys = torch.randint(0, 2, (50,))
probe("sigma_for(delta=1.2)", lambda: C.sigma_for(1.0, 0.1, 1.2))
probe("epsilon_for(residual=-1)", lambda: C.epsilon_for(-1.0, 1.0, 0.01))
probe("fit(sigma=-1)", lambda: C.fit(xs, ys, 1.0, sigma=-1.0))
probe("fit on rows of norm 30", lambda: C.fit(xs * 30, ys, 1.0))
probe("second order by CG with lam=0, d > n", lambda: C.second_order_update(torch.zeros(20, dtype=torch.float64),
      C.normalize_rows(torch.randn(5, 20, dtype=torch.float64)), ys[:5], 0.0, torch.ones(20, dtype=torch.float64), solver="cg"))
# cache
from unlearn import cache
m, meta = cache.train_or_load(models.build("small_cnn", in_channels=1, num_classes=10, width=4, hidden=8), b.train,
                              train.TrainConfig(epochs=1, batch_size=64), 0, tag="probe", progress=False)
f = next((tmp / "cache").glob("probe-*.pt"))
probe("cache entry loads with weights_only=True", lambda: sorted(torch.load(f, weights_only=True)))
probe("files per cache entry", lambda: len(list((tmp / "cache").glob("probe-*"))))
# figures outside the repository
os.environ["UNLEARN_SMOKE_FIGURES"] = str(tmp / "figs")
import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
probe("plotting.save with UNLEARN_SMOKE_FIGURES outside the repository",
      lambda: plotting.save(plt.figure(), "probe", "smoke").relative_to(tmp))
print("| probe | now |\n|---|---|")
for n, r in rows:
    print(f"| {n} | {r} |")
shutil.rmtree(tmp, ignore_errors=True)
