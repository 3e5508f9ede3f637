"""Device handling: one place chooses it (CUDA when present, else CPU, or UNLEARN_DEVICE), nothing else names one."""

import re
from pathlib import Path

import torch

from unlearn import train

SRC = Path(__file__).resolve().parents[1] / "src" / "unlearn"


def test_cuda_when_present_else_cpu_and_the_environment_overrides(monkeypatch):
    monkeypatch.delenv("UNLEARN_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert train.get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert train.get_device() == torch.device("cuda")
    monkeypatch.setenv("UNLEARN_DEVICE", "cpu")
    assert train.get_device() == torch.device("cpu")


def test_no_module_hard_codes_a_device():
    """A literal "cuda", ``.cuda()`` or ``device="cpu"`` outside get_device would pin one machine's device."""
    pattern = re.compile(r"""\.cuda\(|["']cuda(:\d+)?["']|device\s*=\s*["']cpu["']|torch\.device\(["']""")
    found = []
    for path in SRC.rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and not (path.name == "train.py" and "UNLEARN_DEVICE" in code):
                found.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
