"""The default models: a small CNN for images, an MLP for tables. Neither keeps running
statistics (GroupNorm, no BatchNorm), so a population of them can be trained as one batch.

    >>> import torch
    >>> SmallCNN(1, 10)(torch.zeros(2, 1, 8, 8)).shape, MLP(4, 3)(torch.zeros(5, 4)).shape
    (torch.Size([2, 10]), torch.Size([5, 3]))
"""

from __future__ import annotations

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


