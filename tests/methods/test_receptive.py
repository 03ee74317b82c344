"""Receptive fields: hand-computed values, the exact dependency set of a unit (perturbing
pixels one at a time), and the support of actual deconvnet projections. Paper: Sec. 2.1."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from zflib.methods import deconv
from zflib.methods.receptive import ReceptiveField, crop_patches, patch_box, receptive_field
from zflib.training.models import build_model

torch.set_num_threads(1)


def test_hand_computed_zfnet64_and_torchvision_alexnet():
    m = build_model("zfnet", num_classes=10, size=64)
    # conv1 7/2 p3; pool 3/2; conv2 5/2 p2; conv3-5 3/1 p1
    assert receptive_field(m, 1) == ReceptiveField(7, 2, -3)
    assert receptive_field(m, "conv2") == (27, 8, -11)  # pool: 11, 4, -3; conv2: +4*4, -2*4
    assert receptive_field(m, 3) == (43, 8, -19)
    assert receptive_field(m, 4) == (59, 8, -27)
    assert receptive_field(m, 5) == (75, 8, -35)
    z224 = build_model("zfnet", num_classes=10, size=224)
    assert receptive_field(z224, 1) == (7, 2, -1)
    assert receptive_field(z224, 2) == (7 + 2 * 2 + 4 * 4, 8, -1 - 0)
    alex = torchvision.models.alexnet(weights=None)
    assert receptive_field(alex, 1) == (11, 4, -2)
    assert receptive_field(alex, 2) == (11 + 2 * 4 + 4 * 8, 8, -2 - 2 * 8)
    assert patch_box(ReceptiveField(27, 8, -11), 2, 3) == (5, 13, 32, 40)
    with pytest.raises(ValueError, match="layer 6 out of range 1..5"):
        receptive_field(m, 6)


def _tiny(seed: int) -> nn.Sequential:
    """All op kinds with positive weights (every path alive), float64."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, 2, 1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.LocalResponseNorm(3), nn.Conv2d(3, 4, 3, 1, 1), nn.ReLU(),
        nn.MaxPool2d(2, 2, padding=1), nn.Conv2d(4, 2, 3, 1, 1), nn.ReLU()).double()
    with torch.no_grad():
        for mod in net:
            if isinstance(mod, nn.Conv2d):
                mod.weight.uniform_(0.1, 1.0)
                mod.bias.fill_(0.1)
    return net


@pytest.mark.parametrize("layer", ["conv1", "conv2", "conv3"])
def test_box_is_the_exact_dependency_set(layer):
    net, s = _tiny(0), 21
    rf = receptive_field(net, layer)
    upto = deconv.layer_indices(net)[layer]
    torch.manual_seed(1)
    x = torch.rand(1, 2, s, s, dtype=torch.float64)
    # every pixel perturbed on its own (both channels), one batch
    pert = x.repeat(s * s, 1, 1, 1)
    pert.view(s * s, 2, s * s)[torch.arange(s * s), :, torch.arange(s * s)] += 100.0
    with torch.no_grad():
        base = net[: upto + 1](x.clone())[0]
        out = net[: upto + 1](pert)
    h, w = base.shape[-2:]
    for y, xx in [(0, 0), (h // 2, w // 2), (h - 1, w - 1), (0, w - 1)]:
        changed = (out[:, 0, y, xx] - base[0, y, xx]).abs() > 1e-9
        t, left, b, r = patch_box(rf, y, xx)
        box = torch.zeros(s, s, dtype=torch.bool)
        box[max(t, 0):min(b, s), max(left, 0):min(r, s)] = True
        assert torch.equal(changed.view(s, s), box), (layer, y, xx)


@pytest.mark.parametrize("layer", [1, 2, 3, 4, 5])
def test_projection_support_inside_the_box(layer):
    torch.manual_seed(2)
    model = build_model("zfnet", num_classes=10, size=64, init="kaiming").eval()
    x = torch.randn(1, 3, 56, 56)
    tr = deconv.forward_trace(model, x, layer)
    name = f"conv{layer}"
    h = tr.acts[name].shape[-1]
    pos = torch.tensor([[0, 0], [h // 2, h // 2], [h - 1, 0], [h - 1, h - 1]])
    _, val = tr.strongest(name)
    maps = val.argsort(descending=True)[:4]  # alive maps
    proj = tr.project(name, maps, pos)
    rf = receptive_field(model, name)
    for k in range(4):
        support = proj[k].abs().sum(0) > 0
        t, left, b, r = patch_box(rf, *pos[k].tolist())
        box = torch.zeros(56, 56, dtype=torch.bool)
        box[max(t, 0):min(b, 56), max(left, 0):min(r, 56)] = True
        y, xx = pos[k].tolist()
        assert support.any() or tr.acts[name][0, maps[k], y, xx] == 0
        assert not (support & ~box).any()


def test_crop_patches_pads_outside():
    img = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    rf = ReceptiveField(4, 2, -1)
    p = crop_patches(img, rf, torch.tensor([0, 2]), torch.tensor([1, 2]), fill=-1.0)
    assert p.shape == (2, 1, 4, 4)
    # unit (0, 1): rows -1..2, cols 1..4
    assert torch.equal(p[0, 0, 0], torch.full((4,), -1.0))
    assert torch.equal(p[0, 0, 1:], img[0, 0, 0:3, 1:5])
    # unit (2, 2): rows 3..6, cols 3..6 (row 6, col 6 outside)
    assert torch.equal(p[1, 0, :3, :3], img[1, 0, 3:6, 3:6])
    assert torch.equal(p[1, 0, 3], torch.full((4,), -1.0))
    assert torch.equal(p[1, 0, :, 3], torch.full((4,), -1.0))


@pytest.mark.parametrize("rf", [ReceptiveField(4, 2, -1), ReceptiveField(7, 2, -3),
                                ReceptiveField(3, 1, 0), ReceptiveField(11, 4, -5)])
def test_crop_patches_names_the_valid_positions(rf):
    """The range in the error is the set of positions that crop without error (brute force)."""
    img = torch.zeros(1, 1, 9, 7)
    ok = {ax: [] for ax in "yx"}
    for v in range(-12, 13):
        for ax in "yx":
            y, x = (v, 0) if ax == "y" else (0, v)
            try:
                crop_patches(img, rf, torch.tensor([y]), torch.tensor([x]))
                ok[ax].append(v)
            except ValueError as err:
                msg = str(err)
    assert ok["y"] == list(range(ok["y"][0], ok["y"][-1] + 1))  # contiguous
    assert f"valid: y in {ok['y'][0]}..{ok['y'][-1]}, x in {ok['x'][0]}..{ok['x'][-1]}" in msg
    assert "9x7 image" in msg


@pytest.mark.parametrize("layer", ["conv1", "conv2", "conv3"])
def test_crop_patches_every_unit_of_a_layer_with_large_padding(layer):
    """Padding wider than the kernel (a unit that sees only padding) and ceil-mode pooling:
    every unit of the layer's map crops, equal to slicing a generously padded image at its
    ``patch_box`` (brute force)."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(2, 3, 1, padding=3), nn.ReLU(),
                        nn.MaxPool2d(3, 2, ceil_mode=True),
                        nn.Conv2d(3, 3, 2, stride=2, padding=2), nn.ReLU(),
                        nn.Conv2d(3, 2, 3, padding=4), nn.ReLU())
    img = torch.rand(1, 2, 13, 10)
    with torch.no_grad():
        h, w = net[: deconv.layer_indices(net)[layer] + 1](img).shape[-2:]
    rf = receptive_field(net, layer)
    ys, xs = (t.flatten() for t in torch.meshgrid(torch.arange(h), torch.arange(w),
                                                   indexing="ij"))
    got = crop_patches(img.expand(len(ys), -1, -1, -1), rf, ys, xs, fill=-1.0)
    big = 100
    padded = torch.nn.functional.pad(img[0], (big, big, big, big), value=-1.0)
    for i in range(len(ys)):
        t, left, b, r = patch_box(rf, int(ys[i]), int(xs[i]))
        assert torch.equal(got[i], padded[:, t + big:b + big, left + big:r + big]), (ys[i], xs[i])
