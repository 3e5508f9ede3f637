"""Models. Every classifier has ``features(x) -> (B, D)`` (penultimate layer) and
``head(features) -> (B, C)`` with ``forward = head(features(x))``, so feature-space methods
(TMU's distance feature, DLFD's optimal transport, t-SNE plots) work on any of them."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet


class Classifier(nn.Module):
    """Base: subclasses set ``self.body`` (input -> features) and ``self.head`` (features -> logits)."""

    body: nn.Module
    head: nn.Module
    num_classes: int

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class SmallCNN(Classifier):
    """Two conv blocks and a hidden layer; for 8x8 (digits), 28x28 (MNIST) or 32x32 (CIFAR) inputs."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32, hidden: int = 128):
        super().__init__()
        self.num_classes = num_classes
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),  # (B, 2w*4) whatever the input size
            nn.Linear(8 * width, hidden), nn.ReLU(),
        )
        self.head = nn.Linear(hidden, num_classes)


class VGGNet(Classifier):
    """A narrow version of the CNN of Warnecke et al.'s label-poisoning experiment (``get_VGG_CIFAR10``: six
    128-filter 3x3 convolutions with BatchNorm in three blocks, Dense 512, BatchNorm, Dense 10). Here: five
    convolutions of width w, w | 2w, 2w | 4w with BatchNorm, max-pooled to 2x2, and the same kind of head, two
    dense layers (hidden units, then the classes), which is what the authors' influence updates act on
    (``params="head"`` in :mod:`unlearn.methods.influence`). No dropout, so it can memorise flipped labels."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 16, hidden: int = 128):
        super().__init__()
        self.num_classes = num_classes

        def conv(i, o):
            return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]

        w = width
        self.body = nn.Sequential(
            *conv(in_channels, w), *conv(w, w), nn.MaxPool2d(2),
            *conv(w, 2 * w), *conv(2 * w, 2 * w), nn.MaxPool2d(2),
            *conv(2 * w, 4 * w), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),  # (B, 16w)
        )
        self.head = nn.Sequential(nn.Linear(16 * w, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


STEMS = ("cifar", "imagenet")


def _resnet18(width: int, stem: str = "cifar") -> ResNet:
    """torchvision's ResNet-18 with stage widths w, 2w, 4w, 8w. ``stem="cifar"``: a 3x3 stride-1 stem and no max-pool,
    for 32-pixel images; ``"imagenet"``: torchvision's own stem (7x7 stride-2 convolution, then a 3x3 stride-2
    max-pool, so the body sees a quarter of the image's side), which is the DLFD release's network for its 128-pixel
    faces (``model.py``: ``resnet18(pretrained=False)``); at 128 pixels the CIFAR stem costs 16 times as much."""
    if stem not in STEMS:
        raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
    net = ResNet(BasicBlock, [2, 2, 2, 2])
    net.inplanes = width
    if stem == "cifar":
        net.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
    else:
        net.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)  # torchvision's max-pool stays
    net.bn1 = nn.BatchNorm2d(width)
    net.layer1 = net._make_layer(BasicBlock, width, 2)
    net.layer2 = net._make_layer(BasicBlock, 2 * width, 2, stride=2)
    net.layer3 = net._make_layer(BasicBlock, 4 * width, 2, stride=2)
    net.layer4 = net._make_layer(BasicBlock, 8 * width, 2, stride=2)
    net.fc = nn.Identity()  # the body ends at the pooled features, (B, 8w)
    for m in net.modules():  # torchvision's init, re-applied to the replaced layers
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return net


class ResNet18(Classifier):
    """CIFAR-style ResNet-18; ``width=64`` is the standard network (11M parameters)."""

    def __init__(self, num_classes: int = 10, width: int = 64, in_channels: int = 3):
        super().__init__()
        if in_channels != 3:
            raise ValueError("ResNet18 expects RGB inputs")
        self.num_classes = num_classes
        self.body = _resnet18(width)
        self.head = nn.Linear(8 * width, num_classes)


class DLFDNet(Classifier):
    """The DLFD release's network: ResNet-18 backbone, MLP head 512 -> 256 -> 128 -> C, dropout 0.5,
    trained from scratch as the release's ``model.py`` does (``resnet18(pretrained=False)``)."""

    def __init__(self, num_classes: int = 8, width: int = 64, stem: str = "cifar"):
        super().__init__()
        self.num_classes = num_classes
        self.body = _resnet18(width, stem)  # "imagenet" at the paper profile's 128 px, as released
        d = 8 * width
        self.head = nn.Sequential(
            nn.Linear(d, 256), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, num_classes),
        )


class MLP(Classifier):
    """A fully connected network on flattened images (two hidden ReLU layers): it memorises a few thousand
    Fashion-MNIST images in seconds on a CPU, which notebook 01's cpu regime needs (M_o must fit D_f)."""

    def __init__(self, in_features: int = 784, num_classes: int = 10, hidden: int = 512):
        super().__init__()
        self.num_classes = num_classes
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU())
        self.head = nn.Linear(hidden // 2, num_classes)


class LogisticRegression(Classifier):
    """Multinomial (or, with 2 classes, softmax-binary) logistic regression: one linear layer."""

    def __init__(self, in_features: int, num_classes: int = 2, bias: bool = True):
        super().__init__()
        self.num_classes = num_classes
        self.body = nn.Flatten()
        self.head = nn.Linear(in_features, num_classes, bias=bias)


class CharLSTM(nn.Module):
    """Character language model: embedding -> LSTM -> vocabulary logits at every position."""

    def __init__(self, vocab_size: int, embed: int = 64, hidden: int = 256, layers: int = 2, dropout: float = 0.0):
        super().__init__()
        self.num_classes = vocab_size
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(ids))  # (B, T, H)
        return self.head(out)  # (B, T, V)


def build(name: str, **kwargs) -> nn.Module:
    """Build a model by name (``small_cnn``, ``vgg``, ``mlp``, ``resnet18``, ``dlfd``, ``logreg``, ``char_lstm``)."""
    table = {"small_cnn": SmallCNN, "vgg": VGGNet, "mlp": MLP, "resnet18": ResNet18, "dlfd": DLFDNet, "logreg": LogisticRegression, "char_lstm": CharLSTM}
    if name not in table:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(table)}")
    model = table[name](**kwargs)
    model.spec = {"name": name, **kwargs}  # the recipe: lets retraining rebuild the same architecture
    return model
