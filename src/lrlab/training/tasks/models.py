"""The built-in models (``MODELS``, picked with ``--model NAME``): the defaults, a small CNN for
images and an MLP for tables (neither keeps running statistics: GroupNorm, no BatchNorm), and a
small CIFAR-style ``ResNet`` (BatchNorm, residual blocks). Each is ``fn(TaskInfo) -> Module``.

    >>> import torch
    >>> SmallCNN(1, 10)(torch.zeros(2, 1, 8, 8)).shape, MLP(4, 3)(torch.zeros(5, 4)).shape
    (torch.Size([2, 10]), torch.Size([5, 3]))
"""

from __future__ import annotations

import math

from torch import nn


class SmallCNN(nn.Module):
    """Three 3x3 conv blocks with GroupNorm (no running statistics: a batch of trials can be
    trained as one vectorised model later), global average pooling, a linear classifier."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 32):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(8, cout), nn.ReLU()]

        self.features = nn.Sequential(*block(in_channels, width), *block(width, width),
                                      nn.MaxPool2d(2), *block(width, 2 * width),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


class MLP(nn.Module):
    """A ReLU MLP for tabular data."""

    def __init__(self, in_features: int, out_features: int, hidden: tuple[int, ...] = (128, 64)):
        super().__init__()
        sizes = (in_features, *hidden)
        layers: list[nn.Module] = []
        for a, b in zip(sizes, sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], out_features))

    def forward(self, x):
        return self.net(x)




class BasicBlock(nn.Module):
    """A ResNet basic block: ``relu(body(x) + shortcut(x))``, ``body`` = conv3x3-BN-ReLU-
    conv3x3-BN, ``shortcut`` the identity or a strided 1x1 conv-BN when the shape changes
    (He et al. 2016, "Deep Residual Learning", the CIFAR variant)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                       nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Sequential())
        self.out = nn.ReLU()

    def forward(self, x):
        return self.out(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """A small CIFAR-style ResNet: a 3x3 conv-BN-ReLU stem, three stages of ``blocks`` basic
    blocks (``width``, 2x, 4x channels; stride 1, 2, 2), global average pooling, a linear
    classifier. ``blocks=1``: 8 layers (ResNet-8); ``blocks=3``: ResNet-20.

        >>> import torch
        >>> ResNet(3, 10)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, blocks: int = 1):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(width), nn.ReLU()]
        cin = width
        for stage, stride in enumerate((1, 2, 2)):
            cout = width * 2 ** stage
            for b in range(blocks):
                layers.append(BasicBlock(cin, cout, stride if b == 0 else 1))
                cin = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


def _image(info, what: str) -> int:
    if len(info.input_shape) != 3:
        raise ValueError(f"model {what}: needs images (C, H, W); this task's inputs are "
                         f"{info.input_shape}")
    return info.input_shape[0]


MODELS = {  # name -> fn(TaskInfo) -> nn.Module: the built-in models of ``--model NAME``
    "cnn": lambda info: SmallCNN(_image(info, "cnn"), info.outputs),
    "mlp": lambda info: MLP(int(math.prod(info.input_shape)), info.outputs)
    if len(info.input_shape) == 1 else nn.Sequential(
        nn.Flatten(), MLP(int(math.prod(info.input_shape)), info.outputs)),
    "resnet": lambda info: ResNet(_image(info, "resnet"), info.outputs),
}


def model_factory(name: str):
    """The built-in model ``name`` of ``MODELS`` as ``fn(TaskInfo) -> nn.Module``."""
    if name not in MODELS:
        raise ValueError(f"model: must be one of {', '.join(MODELS)}, got {name!r}")
    return MODELS[name]
