import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Subset

from unlearn import cache, models, train
from unlearn.data import load_dataset

CFG = train.TrainConfig(epochs=2, batch_size=64, lr=0.05)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def small():
    return models.build("small_cnn", in_channels=1, num_classes=10, width=8, hidden=32)


def test_fit_is_deterministic_and_counts_gradients(digits):
    torch.manual_seed(0)
    a, b = small(), None
    b = models.build(**a.spec)
    b.load_state_dict(a.state_dict())
    with train.counting() as c:
        train.fit(a, digits.train, CFG, seed=5, progress=False)
    train.fit(b, digits.train, CFG, seed=5, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert c.value == CFG.epochs * len(digits.train)
    assert train.accuracy_on(a, digits.test) > 0.5


def test_predict_gives_per_sample_cross_entropy(digits):
    model = small().eval()
    p = train.predict(model, Subset(digits.test, list(range(37))))
    x, y = digits.test.take(torch.arange(37))
    with torch.no_grad():
        ref = F.cross_entropy(model(x), y, reduction="none")
    assert torch.allclose(p.losses, ref, atol=1e-6) and p.logits.shape == (37, 10)


def test_fresh_copy_rebuilds_from_recipe():
    m = small()
    a, b = train.fresh_copy(m, 1), train.fresh_copy(m, 1)
    assert a.spec == m.spec and all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), train.fresh_copy(m, 2).parameters()))


def test_cache_reuses_detects_corruption_and_keys_on_data(digits, isolated_dirs):
    m1, meta1 = cache.train_or_load(small(), digits.train, CFG, 0, tag="t", progress=False)
    m2, meta2 = cache.train_or_load(small(), digits.train, CFG, 0, tag="t", progress=False)
    assert not meta1["cached"] and meta2["cached"]
    assert all(torch.equal(p, q) for p, q in zip(m1.state_dict().values(), m2.state_dict().values()))
    ckpt = next((isolated_dirs / "cache").glob("t-*.pt"))
    ckpt.write_bytes(ckpt.read_bytes()[:100])  # truncate: corrupt
    with pytest.warns(UserWarning, match="unusable"):
        m3, meta3 = cache.train_or_load(small(), digits.train, CFG, 0, tag="t", progress=False)
    assert not meta3["cached"]
    assert all(torch.equal(p, q) for p, q in zip(m1.state_dict().values(), m3.state_dict().values()))
    # a different training set (one sample fewer) is a different recipe
    sub = Subset(digits.train, list(range(len(digits.train) - 1)))
    assert cache.fingerprint(sub) != cache.fingerprint(digits.train)
    _, meta4 = cache.train_or_load(small(), sub, CFG, 0, tag="t", progress=False)
    assert not meta4["cached"]


def test_augment_batch_crops_and_flips_per_sample_and_repeats_with_its_seed():
    x = torch.arange(8 * 3 * 5 * 5, dtype=torch.float32).view(8, 3, 5, 5)
    # no padding: every sample comes back as itself or its mirror image, and both occur
    out = train.augment_batch(x, torch.Generator().manual_seed(0), pad=0)
    same = [torch.equal(o, s) for o, s in zip(out, x)]
    mirrored = [torch.equal(o, s.flip(-1)) for o, s in zip(out, x)]
    assert all(a or b for a, b in zip(same, mirrored)) and any(same) and any(mirrored)
    # with padding: each sample is a 5x5 window of its zero-padded (possibly mirrored) image
    out = train.augment_batch(x, torch.Generator().manual_seed(1), pad=2)
    assert out.shape == x.shape
    for o, s in zip(out, x):
        windows = [torch.nn.functional.pad(v, (2, 2, 2, 2))[:, i:i + 5, j:j + 5] for v in (s, s.flip(-1))
                   for i in range(5) for j in range(5)]
        assert any(torch.equal(o, w) for w in windows)
    assert len({tuple(o[0, 2, 2:4].tolist()) for o in out}) > 1  # the crops differ between samples
    again = train.augment_batch(x, torch.Generator().manual_seed(1), pad=2)
    assert torch.equal(out, again)
    with pytest.raises(ValueError, match="B, C, H, W"):
        train.augment_batch(x[0])


def test_cache_stores_weights_not_code_and_keys_on_the_code_version(digits, isolated_dirs, monkeypatch):
    m1, meta1 = cache.train_or_load(small(), digits.train, CFG, 0, tag="w", progress=False)
    files = sorted(p.name for p in (isolated_dirs / "cache").iterdir())
    assert len(files) == 1 and files[0].endswith(".pt")  # weights and metadata in one atomically renamed file
    blob = torch.load(isolated_dirs / "cache" / files[0], weights_only=True)  # no pickled module inside
    assert set(blob) == {"state_dict", "meta"} and blob["meta"]["state_sha256"] == cache.state_fingerprint(m1)
    # another version of the training code is another recipe: trained anew, never the old weights
    monkeypatch.setattr(cache, "code_version", lambda: "changed-fit")
    _, meta2 = cache.train_or_load(small(), digits.train, CFG, 0, tag="w", progress=False)
    assert not meta2["cached"] and meta2["key"] != meta1["key"]
    with pytest.raises(ValueError, match="template="):
        cache.cached_model("k", lambda: small())


def test_penultimate_features_carry_no_autograd_graph():
    """Features kept for later (TMU's distance features, label repair's test features) must not hold each batch's
    graph: notebook 02 once peaked at 12 GB computing 10,000 test images' features that way."""
    data = load_dataset("digits").test
    model = models.build("small_cnn", in_channels=1, num_classes=10, width=8, hidden=16)
    feats = train.penultimate(model, data, batch_size=64)
    assert not feats.requires_grad and feats.grad_fn is None
    model.eval()
    with torch.no_grad():
        x = torch.stack([data[i][0] for i in range(5)])
        assert torch.allclose(feats[:5], model.features(x), atol=1e-6)
