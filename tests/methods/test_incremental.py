"""zflib.methods.incremental: incremental occlusion against full re-inference of every occluded
image (brute force), captum's Occlusion, and the outputs a square actually changes."""

from __future__ import annotations

import pytest
import torch
from captum.attr import Occlusion
from torch import nn

from zflib.methods import incremental
from zflib.methods.occlusion import occlusion_maps, pixel_attribution, window_starts
from zflib.training.models import build_model

torch.set_num_threads(1)


def _net(arch: str, size: int):
    """(model, input side): zflib's ConvNets, or torchvision's AlexNet / VGG16 (random)."""
    torch.manual_seed(0)
    if arch in ("tv_alexnet", "vgg16"):
        import torchvision

        from zflib.apps.explorer import TorchvisionNet

        net = getattr(torchvision.models, arch.removeprefix("tv_"))(weights=None)
        return TorchvisionNet(net, arch.removeprefix("tv_")).eval(), 224
    model = build_model(arch, num_classes=50, size=size, init="kaiming").eval()
    return model, model.input_size


def _occluded(x, base, size, stride):
    """Every occluded copy of ``x``, built by hand: [N, 3, S, S]."""
    out = []
    for y in window_starts(x.shape[-2], size, stride).tolist():
        for x0 in window_starts(x.shape[-1], size, stride).tolist():
            z = x.clone()
            z[:, y:y + size, x0:x0 + size] = base[:, y:y + size, x0:x0 + size]
            out.append(z)
    return torch.stack(out)


def _brute_force(model, x, base, size, stride, layer, channel):
    """Panel (b)'s sums and the probabilities, one occluded image at a time."""
    feats, probs = [], []
    with torch.no_grad():
        for z in _occluded(x, base, size, stride):
            feats.append(model.features[: model.feature_names[layer] + 1](z[None])[0, channel]
                         .sum())
            probs.append(torch.softmax(model(z[None]), 1)[0])
    return torch.stack(feats), torch.stack(probs)


@pytest.mark.parametrize("arch,size,square,stride,layer", [
    ("zfnet", 224, 32, 64, "conv5"), ("alexnet", 224, 32, 64, "conv2"),
    ("zfnet", 64, 12, 4, "conv3"), ("alexnet", 64, 10, 6, "conv5"),
    ("tv_alexnet", 224, 40, 60, "conv4"), ("vgg16", 224, 32, 90, "conv10"),
])
def test_every_map_equals_full_re_inference(arch, size, square, stride, layer):
    """Fig. 7 (b), (d), (e) by incremental inference equal a loop that occludes by hand and
    runs the whole network, at 56 and 224 pixels, for every model family zflib accepts."""
    model, s = _net(arch, size)
    g = torch.Generator().manual_seed(3)
    x, base = torch.randn(3, s, s, generator=g), 0.3 * torch.randn(3, s, s, generator=g)
    maps = occlusion_maps(model, x, 5, size=square, stride=stride, baseline=base, layer=layer,
                          channel=7, batch_size=7)
    feats, probs = _brute_force(model, x, base, square, stride, layer, 7)
    scale = float(feats.abs().max())
    torch.testing.assert_close(maps.feature.flatten(), feats, rtol=1e-4, atol=1e-5 * scale)
    torch.testing.assert_close(maps.prob.flatten(), probs[:, 5], rtol=1e-4, atol=1e-6)
    assert torch.equal(maps.top_class.flatten(), probs.argmax(1))
    full = occlusion_maps(model, x, 5, size=square, stride=stride, baseline=base, layer=layer,
                          channel=7, method="full")
    torch.testing.assert_close(full.prob, maps.prob, rtol=1e-4, atol=1e-6)


def test_224_probability_map_equals_captum():
    """Panel (d) on ZFNet-224 equals captum's Occlusion per pixel (overlapping squares)."""
    model, s = _net("zfnet", 224)
    with torch.no_grad():
        model.classifier[-1].weight.mul_(20)  # a softmax that the squares move
    g = torch.Generator().manual_seed(4)
    x, base = torch.randn(3, s, s, generator=g), 0.3 * torch.randn(3, s, s, generator=g)
    maps = occlusion_maps(model, x, 2, size=48, stride=32, baseline=base)
    ref = Occlusion(lambda z: torch.softmax(model(z), 1)).attribute(
        x[None], sliding_window_shapes=(3, 48, 48), strides=(3, 32, 32), baselines=base[None],
        target=2, perturbations_per_eval=16)[0, 0]
    ours = pixel_attribution(maps.prob, maps.clean_prob, size=48, stride=32, shape=(s, s))
    assert ref.abs().max() > 1e-4
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def _chain():
    """Every layer kind the incremental path handles, with awkward geometry: strided and
    padded convs, overlapping pools with padding and ceil_mode, LRN, BatchNorm (eval)."""
    torch.manual_seed(2)
    bn = nn.BatchNorm2d(6)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    return nn.Sequential(
        nn.Conv2d(3, 6, 5, 2, 2), bn, nn.ReLU(), nn.MaxPool2d(3, 2, 1, ceil_mode=True),
        nn.LocalResponseNorm(3), nn.Conv2d(6, 8, 3, 1, 1), nn.ReLU(),
        nn.MaxPool2d(2, 2, ceil_mode=True), nn.Conv2d(8, 5, 3, 1, 0)).eval()


def _run(feats, x, base, size, stride, **plan_kw):
    """incremental.forward over every square position of ``x`` (one batch), and the taps'
    sums of map 1 of the output of ``feats[2]``."""
    clean = [x[None]]
    with torch.no_grad():
        for mod in feats:
            clean.append(mod(clean[-1]))
    s = x.shape[-1]
    ys = window_starts(s, size, stride)
    gy, gx = torch.meshgrid(ys, ys, indexing="ij")
    first = incremental.square_region(gy.flatten(), gx.flatten(), size, (s, s))
    regions = incremental.plan(feats, [tuple(c.shape[-2:]) for c in clean], first, **plan_kw)
    patches = _occluded(x, base, size, stride)
    rows = first.y[:, None] + torch.arange(size)
    cols = first.x[:, None] + torch.arange(size)
    patch = patches[torch.arange(len(rows))[:, None, None], :, rows[:, :, None],
                    cols[:, None, :]].permute(0, 3, 1, 2)
    with torch.no_grad():
        out, sums = incremental.forward(feats, incremental.CleanMaps.build(feats, clean, regions),
                                        regions, patch, tap=(2, 1, clean[3][0, 1].sum()))
    return out, sums, regions, patches


@pytest.mark.parametrize("size,stride", [(5, 3), (9, 7), (4, 11)])
def test_every_layer_kind_equals_the_full_chain(size, stride):
    x = torch.randn(3, 37, 37)
    base = torch.randn(3, 37, 37)
    feats = _chain()
    out, sums, regions, patches = _run(feats, x, base, size, stride, full_above=1.0)
    assert regions[-1] is not None  # the patch went through every layer
    with torch.no_grad():
        ref = feats(patches)
        ref_sums = feats[:3](patches)[:, 1].sum((1, 2))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sums, ref_sums, rtol=1e-5, atol=1e-4)
    for full_above in (0.0, 0.3):  # full maps from some layer on: the same results
        out2, _, regions2, _ = _run(feats, x, base, size, stride, full_above=full_above)
        assert regions2[-1] is None
        torch.testing.assert_close(out2, ref, rtol=1e-5, atol=1e-5)


def test_a_module_of_other_geometry_ends_the_incremental_part():
    feats = nn.Sequential(nn.Conv2d(3, 4, 3, 1, 1), nn.AvgPool2d(2), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, 1, 1, dilation=1)).eval()
    x, base = torch.randn(3, 24, 24), torch.zeros(3, 24, 24)
    out, _, regions, patches = _run(feats, x, base, 6, 6, full_above=1.0)
    assert regions[1] is not None and regions[2:] == [None, None, None]
    with torch.no_grad():
        torch.testing.assert_close(out, feats(patches), rtol=1e-5, atol=1e-5)


def test_regions_hold_every_changed_output_and_the_bound_counts_them():
    """Per position, every output that differs from the clean map lies in the plan's region
    (found by running the occluded images in full); on the first conv the changed outputs
    fill exactly the per-position range that speedup_bound counts."""
    feats = _chain()
    x, base = torch.randn(3, 37, 37), torch.randn(3, 37, 37) + 3
    _, _, regions, patches = _run(feats, x, base, 7, 5, full_above=1.0)
    h, clean = patches, x[None]
    with torch.no_grad():
        for i, mod in enumerate(feats):
            h, clean = mod(h), mod(clean)
            changed = (h - clean).abs().amax(1) > 1e-4  # [B, H, W], above batched rounding
            reg = regions[i + 1]
            inside = torch.zeros_like(changed)
            for b in range(len(h)):
                inside[b, reg.y[b]:reg.y[b] + reg.h, reg.x[b]:reg.x[b] + reg.w] = True
            assert not (changed & ~inside).any(), f"layer {i} changes outside its region"
            if i == 0:
                ys = window_starts(37, 7, 5)
                lo = ys.repeat_interleave(len(ys))
                first, last = incremental.changed_range(lo, (lo + 7).clamp(max=37) - 1, 5, 2,
                                                        2, 19)
                rows = changed.any(2)
                for b in range(len(h)):
                    hit = rows[b].nonzero().flatten()
                    assert (int(hit[0]), int(hit[-1])) == (int(first[b]), int(last[b]))


def test_speedup_bound_by_counting_multiply_adds():
    """On a one-conv network the bound is the classifier plus the mean changed share of the
    conv's outputs, counted here by hand."""
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 2, 3, 1, 1), nn.ReLU())
            self.classifier = nn.Sequential(nn.Linear(2 * 10 * 10, 4))

    model = Tiny()
    ys = window_starts(10, 4, 3)  # 0, 3, 6: squares rows 0-3, 3-6, 6-9
    # conv outputs changed per position and axis: rows 0-4 (5), 2-7 (6), 5-9 (5)
    per_axis = torch.tensor([5.0, 6.0, 5.0])
    mean_area = float((per_axis[:, None] * per_axis[None, :]).mean())
    conv = 100 * 2 * 27
    want = (conv + 800) / (conv * mean_area / 100 + 800)
    assert incremental.speedup_bound(model, (10, 10), ys, ys, 4) == pytest.approx(want)
    largest = (conv + 800) / (conv * 36 / 100 + 800)
    assert incremental.speedup_bound(model, (10, 10), ys, ys, 4, per_position=False) == \
        pytest.approx(largest)


def test_approximate_mode():
    """tau = 1 is exact; a small tau computes less and is not exact, but close; it is named on
    the result and refused with method='full' or outside (0, 1]."""
    model, s = _net("zfnet", 224)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, s, s, generator=g)
    exact = occlusion_maps(model, x, 1, size=32, stride=48, baseline=0.0)
    one = occlusion_maps(model, x, 1, size=32, stride=48, baseline=0.0, approximate=1.0)
    torch.testing.assert_close(one.prob, exact.prob, rtol=0, atol=0)
    rough = occlusion_maps(model, x, 1, size=32, stride=48, baseline=0.0, approximate=0.3)
    assert rough.approximate == 0.3 and exact.approximate is None
    err = (rough.feature - exact.feature).abs().max() / exact.feature.abs().max()
    assert 0 < err < 0.5
    for bad, message in [(dict(approximate=0.0), r"approximate 0.0 out of range \(0, 1\]"),
                         (dict(approximate=1.5), r"approximate 1.5 out of range"),
                         (dict(approximate=0.5, method="full"), "needs method='incremental'"),
                         (dict(method="krypton"), "unknown method 'krypton'; valid: incremental")]:
        with pytest.raises(ValueError, match=message):
            occlusion_maps(model, x, 1, size=32, stride=48, **bad)
    other = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())  # no chain
    with pytest.raises(ValueError, match="approximate=0.5 needs a chain of features"):
        occlusion_maps(other, x, 1, size=32, stride=48, approximate=0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here")
def test_same_maps_on_the_gpu():
    """The same code on a GPU: equal to the CPU's maps (cuDNN's rounding apart; TF32 off)."""
    model, s = _net("zfnet", 224)
    g = torch.Generator().manual_seed(6)
    x = torch.randn(3, s, s, generator=g)
    cpu = occlusion_maps(model, x, 1, size=32, stride=24, baseline=0.0)
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        gpu = occlusion_maps(model.cuda(), x.cuda(), 1, size=32, stride=24, baseline=0.0)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.testing.assert_close(gpu.prob, cpu.prob, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(gpu.feature, cpu.feature, rtol=1e-3, atol=1e-3)
