"""Portable numerics (the smoke run's pins) and the two-setting verdict comparison (tools/compare_settings.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from unlearn import numerics

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import compare_settings  # noqa: E402

# a few steps of the smoke profiles' CNN on random images; prints a hash of the trained weights
TRAIN = """
import hashlib, torch
from unlearn import models
from unlearn.data.arrays import ArrayDataset
from unlearn.train import TrainConfig, fit
g = torch.Generator().manual_seed(0)
ds = ArrayDataset(torch.rand(256, 3, 16, 16, generator=g), torch.randint(0, 10, (256,), generator=g))
torch.manual_seed(0)
m = models.build("small_cnn", in_channels=3, num_classes=10)
fit(m, ds, TrainConfig(epochs=2, batch_size=32, lr=0.05), seed=0, progress=False)
print(hashlib.sha1(torch.cat([p.detach().flatten() for p in m.parameters()]).numpy().tobytes()).hexdigest())
"""


def _run(code: str, env: dict, *args: str, cores: str | None = None) -> str:
    """The last line ``code`` prints in a fresh Python with this environment and none of the pins but ``env``'s."""
    clean = {k: v for k, v in os.environ.items() if k not in numerics.PINS}
    cmd = (["taskset", "-c", cores] if cores else []) + [sys.executable, "-c", code, *args]
    out = subprocess.run(cmd, env=clean | env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def _train(env: dict, cores: str | None = None) -> str:
    return _run(TRAIN, env, cores=cores)


@pytest.mark.slow
def test_portable_numerics_do_not_depend_on_the_kernels_a_cpu_offers():
    # oneDNN's instruction-set cap stands for what differs between CPUs (AVX2 here, AVX-512 elsewhere): with the
    # machine's own kernels it changes the trained weights; with the pins it does not, because nothing reaches
    # oneDNN and ATen, MKL and OpenBLAS run their CPU-independent paths with one thread
    native = {isa: _train({"ONEDNN_MAX_CPU_ISA": isa}) for isa in ("SSE41", "AVX")}
    assert native["SSE41"] != native["AVX"], "the knob no longer changes native results: this test proves nothing"
    pinned = {isa: _train(numerics.PINS | {"ONEDNN_MAX_CPU_ISA": isa}) for isa in ("SSE41", "AVX")}
    assert pinned["SSE41"] == pinned["AVX"]
    # and with one core or two available (the pins fix the thread count, not the machine)
    one_core = _train(numerics.PINS | {"ONEDNN_MAX_CPU_ISA": "AVX"}, cores="0")
    assert one_core == pinned["AVX"]
    # and whatever instruction set MKL is allowed (its COMPATIBLE branch ignores the cap)
    assert _train(numerics.PINS | {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}) == pinned["SSE41"]


# double exp and log through PyTorch's scalar kernels and numpy's baseline loops, both of which call glibc's libm
LIBM = """
import hashlib, numpy as np, torch
x = torch.linspace(-30, 30, 100001, dtype=torch.float64)
h = hashlib.sha1(x.exp().numpy().tobytes() + x.abs().add(1e-3).log().numpy().tobytes())
h.update(np.exp(x.numpy()).tobytes() + np.log1p(np.abs(x.numpy())).tobytes() + np.cos(x.numpy()).tobytes())
print(h.hexdigest())
"""


def test_libm_versions_do_not_depend_on_the_features_a_cpu_offers():
    # glibc hides a feature from its own dispatch when told to (glibc.cpu.hwcaps): that is how a CPU, or a virtual
    # machine's CPU model, without FMA looks to it. With the machine's own features exp/log/cos round otherwise in the
    # last bit; under the pins they are the SSE2 versions whatever the CPU offers.
    older = "glibc.cpu.hwcaps=-AVX2,-FMA,-FMA4,-AVX,-AVX512F,-SSE4_2,-SSE4_1"
    native, without_fma = _run(LIBM, {}), _run(LIBM, {"GLIBC_TUNABLES": older})
    if native == without_fma:
        pytest.skip("this CPU offers no FMA: glibc's FMA versions cannot be compared here")
    pinned = _run(LIBM, numerics.PINS)
    assert pinned == _run(LIBM, numerics.PINS | {"GLIBC_TUNABLES": older})
    # the glibc pin is what does it: the other pins alone leave the FMA versions in place
    assert pinned != _run(LIBM, {k: v for k, v in numerics.PINS.items() if k != "GLIBC_TUNABLES"})


# a convolution's forward pass at a batch of 32, the size at which PyTorch hands it to NNPACK once oneDNN is off
CONV = """
import hashlib, sys, torch
import unlearn  # applies the in-process pins when the environment asks for them
torch.backends.mkldnn.enabled = False
if sys.argv[1:] == ["nnpack-off"]:
    torch.backends.nnpack.set_flags(False)
g = torch.Generator().manual_seed(0)
x, w = torch.randn(32, 16, 16, 16, generator=g), torch.randn(32, 16, 3, 3, generator=g)
print(torch._C._get_nnpack_enabled(), hashlib.sha1(torch.nn.functional.conv2d(x, w, padding=1).numpy().tobytes()).hexdigest())
"""


def test_convolutions_do_not_reach_nnpack_under_the_pins():
    # NNPACK chooses its kernels and its cache blocking from the CPU (cpuinfo's cache sizes), which no environment
    # variable reaches: under the pins it is off and the convolution takes the im2col + MKL path
    import torch

    if not torch.backends.nnpack.is_available():
        pytest.skip("this PyTorch build has no NNPACK")
    conv = lambda env, *args: _run(CONV, env, *args).split()
    on, off = conv({}), conv({}, "nnpack-off")
    assert on[0] == "True" and on[1] != off[1], "NNPACK no longer changes this convolution: the test proves nothing"
    pinned = conv(numerics.PINS)
    assert pinned[0] == "False"
    assert pinned[1] == conv(numerics.PINS, "nnpack-off")[1]


# decodes and resizes a few photographs the way the UTKFace and MUFAC loaders fill their data caches; prints a hash
RESIZE = """
import hashlib, sys
from pathlib import Path
from unlearn.data.images import read_rgb
h = hashlib.sha1()
for f in sorted(Path(sys.argv[1]).glob("*.jpg")):
    h.update(read_rgb(f, 64).numpy().tobytes())
print(h.hexdigest())
"""


def test_data_caches_do_not_depend_on_the_kernels_a_cpu_offers(tmp_path):
    # The data caches are made once, by whichever process loads a data set first (a unit test, a native notebook or a
    # pinned smoke run). torchvision's uint8 resize rounded differently on its AVX2 and generic paths, so a fresh
    # clone's smoke run (cache made under the pins) trained other UTKFace models than the references (cache made
    # natively). Photograph-like inputs: smooth gradients plus noise, downscaled 200 -> 64 as UTKFace's are.
    from PIL import Image

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 200)
    for i in range(4):
        img = ramp[:, None, None] * rng.uniform(0.3, 1, 3) + ramp[None, :, None] * rng.uniform(0, 0.2, 3)
        img = np.clip(img + rng.normal(0, 20, (200, 200, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(tmp_path / f"{i}.jpg", quality=90)
    # ATen's generic kernels, then the machine's own (AVX2 or AVX-512)
    assert _run(RESIZE, {"ATEN_CPU_CAPABILITY": "default"}, str(tmp_path)) == _run(RESIZE, {}, str(tmp_path))


def test_numpy_runs_its_baseline_loops_under_the_pins():
    # numpy picks AVX2 or AVX-512 versions of its loops at run time, which sum float32 in other lane orders; under
    # the pins every dispatch target above its x86-64-v2 baseline is off, whatever the CPU offers
    probe = ("from numpy._core._multiarray_umath import __cpu_dispatch__ as d, __cpu_features__ as f; "
             "print(sorted(t for t in d if f[t]))")
    assert _run(probe, numerics.PINS) == "[]"


def test_apply_refuses_a_process_started_without_the_environment(monkeypatch):
    monkeypatch.delenv("MKL_CBWR", raising=False)
    with pytest.raises(RuntimeError, match="MKL_CBWR=COMPATIBLE"):
        numerics.apply()


def _claims(path: Path, rows: list[dict]) -> Path:
    (path / "cpu").mkdir(parents=True)
    (path / "cpu" / "claims.json").write_text(json.dumps(rows))
    return path


def _row(claim, verdict, **numbers):
    return {"paper": "P", "claim": claim, "verdict": verdict, "holds": verdict == "holds", "numbers": numbers}


def test_compare_settings_finds_a_flipped_verdict_and_a_number_outside_the_other_interval(tmp_path, capsys):
    a = _claims(tmp_path / "a", [_row("x", "holds", delta=0.10, delta_lo=0.05, delta_hi=0.15),
                                 _row("y", "holds", agreement=0.03, lo=0.01, hi=0.05)])
    b = _claims(tmp_path / "b", [_row("x", "holds", delta=0.12, delta_lo=0.06, delta_hi=0.18),
                                 _row("y", "inconclusive", agreement=0.06, lo=-0.01, hi=0.10)])
    assert compare_settings.main([str(a), str(b)]) == 1  # one verdict differs
    text = capsys.readouterr().out
    x_line, y_line = (line for line in text.splitlines() if line.startswith("| P |"))
    assert x_line.endswith("| yes |")  # 0.12 in [0.05, 0.15] and 0.10 in [0.06, 0.18]
    assert "**(differs)**" in y_line and "agreement 0.06 outside [0.01, 0.05]" in y_line


def test_compare_settings_passes_when_every_verdict_agrees(tmp_path):
    rows = [_row("x", "does not hold", fs_dlfd=0.2, fs_lo=0.15, fs_hi=0.25)]
    a, b = _claims(tmp_path / "a", rows), _claims(tmp_path / "b", rows)
    assert compare_settings.main([str(a), str(b)]) == 0
    assert compare_settings.intervals(rows[0]["numbers"]) == [("fs_dlfd", "fs_lo", "fs_hi")]


def test_compare_settings_judges_notebook_05s_ablation_under_both_settings(tmp_path, capsys):
    """Each variant against DLFD, paired over splits: a NoMUS gap that is clear under one setting and straddles 0
    under the other is a differing verdict; B's per-split rows are kept in the saved file for the README."""
    import pandas as pd

    def ablation(root, gap):  # five splits; "no OT term" = DLFD + gap on NoMUS, same FS and accuracy
        rows = [{"split": k, "variant": v, "test_acc": 0.5, "fs": 0.1 + 0.01 * k, "fs_retain": 0.1,
                 "nomus": 0.6 + 0.01 * k + (gap[k] if v == "no OT term" else 0.0)}
                for k in range(5) for v in ("DLFD (paper)", "no OT term")]
        pd.DataFrame(rows).to_csv(root / "cpu" / "dlfd_ablation_splits.csv", index=False)

    rows = [_row("x", "holds", delta=0.1, delta_lo=0.05, delta_hi=0.15)]
    a, b = _claims(tmp_path / "a", rows), _claims(tmp_path / "b", rows)
    ablation(a, [0.02, 0.03, 0.02, 0.03, 0.025])  # clearly above DLFD
    ablation(b, [0.05, -0.04, 0.03, -0.02, 0.01])  # straddles 0
    saved = tmp_path / "b.json"
    assert compare_settings.main([str(a), str(b), "--save", str(saved)]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("| no OT term | nomus |"))
    assert "| DLFD lower | not distinguishable **(differs)** | 0.025 [" in line
    fs = compare_settings.ablation_verdicts(pd.read_csv(a / "cpu" / "dlfd_ablation_splits.csv"))[("no OT term", "fs")]
    assert fs["verdict"] == "not distinguishable" and fs["d_fs"] == 0.0
    assert len(json.loads(saved.read_text())["ablation_splits"]) == 10


def test_the_readme_sets_each_saved_comparison_beside_this_run(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import findings

    root = tmp_path / "repo"
    a = _claims(root / "results", [_row("x", "holds", fs_dlfd=0.05, fs_lo=0.02, fs_hi=0.08),
                                   _row("y", "holds", fs_dlfd=0.05, fs_lo=0.02, fs_hi=0.08)])
    other = _claims(tmp_path / "other", [_row("x", "holds", fs_dlfd=0.06, fs_lo=0.03, fs_hi=0.09),
                                         _row("y", "inconclusive", fs_dlfd=0.09, fs_lo=0.04, fs_hi=0.14)])
    assert findings.settings_table(root) == ""  # nothing saved yet
    saved = a / "cpu" / "claims_previous_machine.json"
    compare_settings.main([str(a), str(other), "--names", "this,previous", "--machine", "Some CPU", "--save", str(saved)])
    text = findings.settings_table(root)
    assert text.startswith("**On another machine** (previous; on Some CPU)")
    assert "on Some CPU): 1 of 2 verdicts are the same, 1 differ." in text
    assert "Under a second kernel setting" not in text


def test_compare_settings_keeps_only_the_papers_both_runs_ran(tmp_path):
    a = _claims(tmp_path / "a", [_row("x", "holds"), {**_row("t", "holds"), "paper": "T"}])
    b = _claims(tmp_path / "b", [_row("x", "holds"), {**_row("t", "does not hold"), "paper": "T"}])
    saved = tmp_path / "saved.json"
    assert compare_settings.main([str(a), str(b), "--save", str(saved)]) == 1  # paper T's verdict differs
    assert compare_settings.main([str(a), str(b), "--papers", "P", "--save", str(saved)]) == 0
    assert [r["paper"] for r in json.loads(saved.read_text())["claims"]] == ["P"]
