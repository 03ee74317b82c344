"""zflib.methods.geometry (Fig. 3): the sizes measured by a forward pass equal those computed by
hand from each layer's kernel, stride and padding, for both geometries, and an ablation keeps the
model's own layer names."""

from __future__ import annotations

import pytest
from torch import nn

from zflib.methods.geometry import describe, stages
from zflib.training.models import ConvNet


def _out(n: int, k: int, s: int, p: int, ceil: bool = False) -> int:
    """floor or ceil((n + 2p - k) / s) + 1, by hand."""
    q, r = divmod(n + 2 * p - k, s)
    return q + 1 + (1 if ceil and r else 0)


@pytest.mark.parametrize(("arch", "size", "want"), [
    # Fig. 3: 224 -> 110 -> 55 -> 26 -> 13 -> 13, 13, 13 -> 6
    ("zfnet", 224, [("conv1", 110), ("pool1", 55), ("norm1", 55), ("conv2", 26), ("pool2", 13),
                    ("norm2", 13), ("conv3", 13), ("conv4", 13), ("conv5", 13), ("pool5", 6)]),
    ("zfnet", 64, [("conv1", 28), ("pool1", 14), ("norm1", 14), ("conv2", 7), ("norm2", 7),
                   ("conv3", 7), ("conv4", 7), ("conv5", 7), ("pool5", 3)]),
    ("alexnet", 224, [("conv1", 55), ("pool1", 27), ("norm1", 27), ("conv2", 27), ("pool2", 13),
                      ("norm2", 13), ("conv3", 13), ("conv4", 13), ("conv5", 13), ("pool5", 6)]),
])
def test_stages_match_the_hand_computed_sizes(arch, size, want):
    model = ConvNet(arch, size=size, num_classes=10)
    found = stages(model)
    assert [(s.name, s.height) for s in found if s.kind != "fc"] == want
    assert all(s.height == s.width for s in found)
    # and each spatial size follows from the one before by the layer's own arithmetic
    side = model.input_size
    for s in (s for s in found if s.kind in ("conv", "pool")):
        side = _out(side, s.kernel, s.stride, s.padding, ceil=s.kind == "pool")
        assert s.height == side, s
    fc = [(s.name, s.channels) for s in found if s.kind == "fc"]
    assert fc == [("fc6", 4096), ("fc7", 4096), ("fc8", 10)]
    assert [s.channels for s in found if s.kind == "conv"] == [96, 256, 384, 384, 256]
    assert describe(found[0]).startswith("conv1: 96 ")
    assert not any(m._forward_hooks for m in model.modules())  # no hook left behind


def test_an_ablation_keeps_the_models_names():
    model = ConvNet("zfnet", size=64, ablation="no34", num_classes=5)
    names = [s.name for s in stages(model)]
    assert names == ["conv1", "pool1", "norm1", "conv2", "norm2", "conv5", "pool5", "fc6", "fc7",
                     "fc8"]
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert len([n for n in names if n.startswith("conv")]) == len(convs)


def test_plot_fig3_draws_both_and_refuses_nothing():
    from zflib.viz.geometry import plot_fig3

    nets = {"a": ConvNet("zfnet", size=224), "b": ConvNet("zfnet", size=64)}
    fig = plot_fig3({k: (stages(m), m.input_size) for k, m in nets.items()})
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"110x110x96", "6x6x256", "28x28x96", "3x3x256", "224x224x3", "56x56x3"} <= texts
    with pytest.raises(ValueError, match="nothing to draw"):
        plot_fig3({})
