"""Deconvnet projections against independent oracles: hand-computed unpooling, a plain-autograd
deconvnet (ReLU backward replaced by ReLU of the incoming signal), and captum's
NeuronDeconvolution. Paper: Sec. 2.1, Fig. 1."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from zflib.methods import deconv
from zflib.training.models import build_model

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- oracles


class _RectifySignal(torch.autograd.Function):
    """Forward ReLU; backward ReLU of the incoming gradient (the deconvnet's rectification)."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        return g.clamp(min=0)


class _SkipBackward(torch.autograd.Function):
    """Forward through ``module``; backward passes the gradient unchanged (LRN skipped)."""

    @staticmethod
    def forward(ctx, x, module):
        return module(x)

    @staticmethod
    def backward(ctx, g):
        return g, None


def autograd_deconv(features: nn.Sequential, upto: int, x: torch.Tensor, channel: int,
                    pos: tuple[int, int] | None, lrn: str) -> torch.Tensor:
    """Deconvnet projection by autograd, for image x [1, 3, S, S]."""
    x = x.clone().requires_grad_(True)
    h = x
    for i in range(upto + 1):
        m = features[i]
        if isinstance(m, nn.ReLU):
            h = _RectifySignal.apply(h)
        elif isinstance(m, nn.LocalResponseNorm) and lrn == "skip":
            h = _SkipBackward.apply(h, m)
        else:
            h = m(h)
    g = torch.zeros_like(h)
    if pos is None:
        g[0, channel] = h[0, channel].detach()
    else:
        g[0, channel, pos[0], pos[1]] = h[0, channel, pos[0], pos[1]].detach()
    return torch.autograd.grad(h, x, g)[0][0]


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
               and not getattr(m, "_backward_pre_hooks", {}) for m in model.modules())


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def zfnet(arch="zfnet", size=64, seed=0):
    torch.manual_seed(seed)
    return build_model(arch, num_classes=10, size=size, init="kaiming").eval()


# ----------------------------------------------------------------------------- unpooling


def test_unpool_shared_switch_hand_computed():
    # 3x5 map, 3x3 windows with stride 2: columns 0-2 and 2-4 share column 2, and the 9 at
    # (1, 2) is the maximum (switch 1 * 5 + 2 = 7) of both windows.
    x = torch.tensor([[1., 2, 3, 2, 1], [1, 2, 9, 2, 1], [0, 1, 2, 1, 0]]).view(1, 1, 3, 5)
    pooled, sw = deconv.pool_with_switches(x, 3, 2)
    assert pooled.flatten().tolist() == [9.0, 9.0]
    assert sw.flatten().tolist() == [7, 7]
    signal = torch.tensor([2.0, 3.0]).view(1, 1, 1, 2)
    summed = deconv.unpool(signal, sw, (3, 5), mode="sum")
    over = deconv.unpool(signal, sw, (3, 5), mode="overwrite")
    expect = torch.zeros(1, 1, 3, 5)
    expect[0, 0, 1, 2] = 5.0  # 2 + 3: the adjoint adds both windows
    assert torch.equal(summed, expect)
    expect[0, 0, 1, 2] = 3.0  # the last window in raster order
    assert torch.equal(over, expect)
    # the adjoint of max-pooling, as autograd computes it
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.max_pool2d(xg, 3, 2), xg, signal)
    assert torch.equal(g, summed)


def test_unpool_overwrite_matches_maxunpool_without_shared_switches():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 9)
    pooled, sw = deconv.pool_with_switches(x, 2, 2)  # no overlap: no shared switches
    a = deconv.unpool(pooled, sw, (9, 9), mode="overwrite")
    b = F.max_unpool2d(pooled, sw, 2, 2, output_size=(9, 9))
    assert torch.equal(a, b)
    assert torch.equal(deconv.unpool(pooled, sw, (9, 9), mode="sum"), b)
    with pytest.raises(ValueError, match="mode 'max'; valid: sum, overwrite"):
        deconv.unpool(pooled, sw, (9, 9), mode="max")


def _tiny():
    """conv (1x1, weight 1) -> ReLU -> 3x3/2 pool -> conv (1x1, weight 1) -> ReLU."""
    net = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.ReLU(inplace=True),
                        nn.MaxPool2d(3, 2), nn.Conv2d(1, 1, 1, bias=False), nn.ReLU())
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[3].weight.fill_(1.0)
    return net


def test_projection_through_shared_switch_hand_computed():
    net = _tiny()
    x = torch.tensor([[1., 2, 3, 2, 1], [1, 2, 9, 2, 1], [0, 1, 2, 1, 0]]).view(1, 1, 3, 5)
    # conv2 is [9, 9]; projecting the whole map puts 9 + 9 on the shared switch (sum) ...
    p = deconv.project(net, x, "conv2", maps=[0])
    expect = torch.zeros(1, 1, 3, 5)
    expect[0, 0, 1, 2] = 18.0
    assert torch.equal(p, expect)
    expect[0, 0, 1, 2] = 9.0  # ... or one 9 (overwrite)
    assert torch.equal(deconv.project(net, x, "conv2", maps=[0], unpool="overwrite"), expect)
    # a single activation: the other window carries zero. Sum: 9 at the switch; overwrite:
    # the later window's zero overwrites the first window's 9, the pathology of MaxUnpool2d.
    one = deconv.project(net, x, "conv2", maps=[0, 0], positions=[[0, 0], [0, 1]])
    assert torch.equal(one[0], expect[0]) and torch.equal(one[1], expect[0])
    ov = deconv.project(net, x, "conv2", maps=[0, 0], positions=[[0, 0], [0, 1]],
                        unpool="overwrite")
    assert torch.equal(ov[0], torch.zeros(1, 3, 5)) and torch.equal(ov[1], expect[0])


# ----------------------------------------------------------------------------- autograd oracle


@pytest.mark.parametrize("arch,size", [("zfnet", 64), ("alexnet", 64)])
@pytest.mark.parametrize("lrn", ["skip", "jacobian"])
def test_matches_autograd_64(arch, size, lrn):
    model = zfnet(arch, size)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 56, 56, generator=g)
    tr = deconv.forward_trace(model, x, ["conv1", "conv2", "conv3", "conv4", "conv5"])
    for layer in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        act = tr.acts[layer]
        n, c, h, w = act.shape
        pos, _ = tr.strongest(layer, image=1)
        maps = torch.randint(0, c, (3,), generator=g)
        # the strongest activation (alive), a border position and a whole map
        p_strong = tr.project(layer, maps[:1], pos[maps[:1]], images=[1], lrn=lrn)[0]
        p_border = tr.project(layer, maps[1:2], [[0, w - 1]], images=[1], lrn=lrn)[0]
        p_map = tr.project(layer, maps[2:], None, images=[0], lrn=lrn)[0]
        upto = model.feature_names[layer]
        o_strong = autograd_deconv(model.features, upto, x[1:], int(maps[0]),
                                   tuple(pos[maps[0]].tolist()), lrn)
        o_border = autograd_deconv(model.features, upto, x[1:], int(maps[1]), (0, w - 1), lrn)
        o_map = autograd_deconv(model.features, upto, x[:1], int(maps[2]), None, lrn)
        assert o_strong.abs().sum() > 0
        for ours, ref in ((p_strong, o_strong), (p_border, o_border), (p_map, o_map)):
            if ref.abs().sum() == 0:
                assert ours.abs().sum() == 0
            else:
                assert rel(ours, ref) < 1e-5, (layer, rel(ours, ref))


@pytest.mark.parametrize("arch", ["zfnet", "alexnet"])
def test_matches_autograd_224(arch):
    model = zfnet(arch, 224)
    torch.manual_seed(2)
    x = torch.randn(1, 3, 224, 224)
    tr = deconv.forward_trace(model, x, ["conv2", "conv5"])
    for layer in ("conv2", "conv5"):
        pos, _ = tr.strongest(layer)
        ours = tr.project(layer, [7], pos[7:8])[0]
        ref = autograd_deconv(model.features, model.feature_names[layer], x, 7,
                              tuple(pos[7].tolist()), "skip")
        assert rel(ours, ref) < 1e-5


@pytest.mark.parametrize("lrn", ["skip", "jacobian"])
def test_batched_equals_one_at_a_time_and_receptive_windows_equal_whole_maps(lrn):
    model = zfnet()
    torch.manual_seed(3)
    x = torch.randn(3, 3, 56, 56)
    tr = deconv.forward_trace(model, x, "conv4")
    maps = torch.tensor([0, 5, 5, 300, 17])
    pos = torch.tensor([[0, 0], [6, 6], [3, 2], [0, 6], [5, 1]])
    imgs = torch.tensor([0, 1, 2, 2, 1])
    batched = tr.project("conv4", maps, pos, imgs, batch_size=2, lrn=lrn)
    single = torch.stack([tr.project("conv4", maps[i:i + 1], pos[i:i + 1], imgs[i:i + 1],
                                     lrn=lrn)[0] for i in range(5)])
    whole = deconv._project(tr, "conv4", maps, pos, imgs, unpool="sum", lrn=lrn, full=True)
    assert torch.allclose(batched, single, rtol=1e-5, atol=1e-7)
    assert torch.allclose(batched, whole, rtol=1e-5, atol=1e-7)


def test_project_strongest():
    model = zfnet()
    torch.manual_seed(4)
    x = torch.randn(3, 56, 56)
    s = deconv.project_strongest(model, x, 3, maps=[1, 2, 3])
    acts = model.features[: model.feature_names["conv3"] + 1](x[None].clone())[0]
    for i, m in enumerate([1, 2, 3]):
        y, xx = s.positions[i].tolist()
        assert s.values[i] == acts[m].max() == acts[m, y, xx]
    ref = deconv.project(model, x[None], "conv3", maps=[1, 2, 3], positions=s.positions)
    assert torch.equal(s.pixels, ref)


# ----------------------------------------------------------------------------- captum oracle


def _captum(model: nn.Module, module: nn.Module, x: torch.Tensor, selector) -> torch.Tensor:
    from captum.attr import NeuronDeconvolution

    return NeuronDeconvolution(model, module).attribute(x, selector)[0]


def _no_inplace(model: nn.Module) -> nn.Module:
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return model


@pytest.mark.filterwarnings("ignore")
def test_matches_captum_zfnet_lrn_jacobian():
    model = zfnet()
    ref_model = _no_inplace(model)
    torch.manual_seed(5)
    x = torch.randn(1, 3, 56, 56)
    tr = deconv.forward_trace(model, x, ["conv1", "conv2", "conv3", "conv4", "conv5"])
    for layer in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        pos, val = tr.strongest(layer)
        m = int(val.argmax())
        ours = tr.project(layer, [m], pos[m:m + 1], lrn="jacobian")[0]
        module = ref_model.features[ref_model.feature_names[layer]]
        ref = _captum(ref_model, module, x, (m, *pos[m].tolist()))
        assert rel(ours / val[m], ref) <= 1e-5, layer  # captum starts from 1, we from val


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name,size", [("alexnet", 96), ("vgg16", 48)])
def test_torchvision_matches_captum(name, size):
    torch.manual_seed(6)
    net = getattr(torchvision.models, name)(weights=None).eval()  # in-place ReLUs
    feats = net.features
    before = [p.clone() for p in feats.parameters()]
    x = torch.randn(1, 3, size, size)
    x0 = x.clone()
    layers = deconv.layer_indices(net)
    assert len(layers) == (5 if name == "alexnet" else 13)
    ref_feats = _no_inplace(feats)
    for layer in ("conv2", list(layers)[-1]):
        tr = deconv.forward_trace(net, x, layer)
        pos, val = tr.strongest(layer)
        m = int(val.argmax())
        ours = tr.project(layer, [m], pos[m:m + 1])[0]
        lrn_free = autograd_deconv(feats, layers[layer], x, m, tuple(pos[m].tolist()), "skip")
        assert rel(ours, lrn_free) < 1e-5
        ref = _captum(ref_feats, ref_feats[layers[layer]], x, (m, *pos[m].tolist()))
        assert rel(ours / val[m], ref) <= 1e-5, layer
    assert torch.equal(x, x0)
    assert all(torch.equal(a, b) for a, b in zip(before, feats.parameters(), strict=True))
    assert no_hooks(net)


# ----------------------------------------------------------------------------- errors, hooks


def test_what_the_fast_path_cannot_hold_goes_to_the_general_path_or_is_named():
    bn = torchvision.models.vgg11_bn(weights=None)  # training mode: batch statistics
    with pytest.raises(ValueError, match=r"features\[1\] is a BatchNorm2d in training mode"):
        deconv.project(bn, torch.zeros(1, 3, 32, 32), "conv2", maps=[0])
    resnet = torchvision.models.resnet18(weights=None).eval()  # no features: general path
    assert not deconv.uses_chain(resnet, "conv1")
    assert deconv.project(resnet, torch.randn(1, 3, 32, 32), "conv1", maps=[0],
                          positions=[[3, 4]]).shape == (1, 3, 32, 32)
    nested = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), nn.Flatten())
    assert deconv.layer_names(nested) == ["0.0"]  # no top-level conv: its module names
    assert deconv.project(nested, torch.randn(1, 3, 8, 8), 1, maps=[0]).shape == (1, 3, 8, 8)


@pytest.mark.filterwarnings("ignore")
def test_a_residual_block_in_features_goes_to_the_general_path():
    """A ``features`` holding a residual block: ``conv1`` before it stays on the fast path;
    ``conv2`` beyond it is refused naming the block (and the way out); the same layer by its
    module name projects through the general path, equal to captum."""
    from torchvision.models.resnet import BasicBlock

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(),
                                          BasicBlock(64, 64), nn.Conv2d(64, 8, 3, padding=1),
                                          nn.ReLU())

        def forward(self, x):
            return self.features(x)

    torch.manual_seed(0)
    model = Residual().eval()
    x = torch.randn(1, 3, 8, 8)
    assert deconv.layer_indices(model) == {"conv1": 1, "conv2": 4}  # the block's convs unseen
    want = r"features\[2\] is BasicBlock; the fast path supports .*; give the layer by its " \
        "module name"
    with pytest.raises(ValueError, match=want):
        deconv.forward_trace(model, x, "conv2")
    assert deconv.uses_chain(model, "conv1") and not deconv.uses_chain(model, "features.4")
    assert deconv.project(model, x, "conv1", maps=[0]).shape == (1, 3, 8, 8)
    tr = deconv.forward_trace(model, x, "features.4")
    pos, val = tr.strongest("features.4")
    m = int(val.argmax())
    ours = tr.project("features.4", [m], pos[m:m + 1])[0]
    ref = _no_inplace(model)
    assert rel(ours / val[m], _captum(ref, ref.features[4], x, (m, *pos[m].tolist()))) <= 1e-5
    assert no_hooks(model)


@pytest.mark.filterwarnings("ignore")
def test_batch_norm_is_folded_into_its_conv_and_matches_captum():
    """VGG11-BN in eval mode (seeded running statistics) stays on the fast path, BN folded
    into the convolution before it; equal to captum, and to the general path."""
    from zflib.methods import deconv_general

    torch.manual_seed(7)
    net = torchvision.models.vgg11_bn(weights=None).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.randn(1, 3, 40, 40)
    ref = _no_inplace(net)
    assert deconv.layer_indices(net)["conv2"] == 6  # conv 4, BN 5, ReLU 6
    for layer, own in (("conv2", "features.6"), ("conv8", "features.27")):
        assert deconv.uses_chain(net, layer) and deconv.uses_chain(net, own)
        tr = deconv.forward_trace(net, x, [layer, own])
        assert isinstance(tr, deconv.Trace)
        torch.testing.assert_close(tr.acts[layer], tr.acts[own], rtol=0, atol=0)
        pos, val = tr.strongest(layer)
        m = int(val.argmax())
        ours = tr.project(layer, [m], pos[m:m + 1])[0]
        want = _captum(ref, dict(ref.named_modules())[own], x, (m, *pos[m].tolist()))
        assert rel(ours / val[m], want) <= 1e-5, layer
        general = deconv_general.forward_trace(net, x, own).project(own, [m], pos[m:m + 1])[0]
        assert rel(ours, general) <= 1e-5
    assert not deconv.uses_chain(net, "features.4")  # a conv whose BN is folded: general
    assert no_hooks(net)


def test_dropout_and_identity_pass_and_a_chain_is_named_explicitly():
    """A model whose chain is ``body`` (no ``features``), with Dropout and Identity in it:
    ``deconv.chain`` names it (as the Sequential or a list of module names); layers by
    ``conv{i}`` or the model's own names; equal to the plain-autograd deconvnet."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Dropout(0.5),
                                      nn.Identity(), nn.MaxPool2d(2), nn.Conv2d(6, 5, 3),
                                      nn.ReLU())
            self.head = nn.Linear(5, 2)

        def forward(self, x):
            return self.head(self.body(x).mean((2, 3)))

    torch.manual_seed(1)
    net = Net().eval()
    x = torch.randn(1, 3, 12, 12)
    for wrapped in (deconv.chain(net, features=net.body),
                    deconv.chain(net, features=[f"body.{i}" for i in range(7)])):
        assert deconv.layer_indices(wrapped) == {"conv1": 1, "conv2": 6}
        assert deconv.own_names(wrapped)["body.6"] == 6
        tr = deconv.forward_trace(wrapped, x, ["conv2", "body.6"])
        assert isinstance(tr, deconv.Trace)
        pos, val = tr.strongest("body.6")
        m = int(val.argmax())
        ours = tr.project("conv2", [m], pos[m:m + 1])[0]
        assert rel(ours, autograd_deconv(net.body, 6, x, m, tuple(pos[m].tolist()),
                                         "skip")) < 1e-5
        torch.testing.assert_close(wrapped(x), net(x))
    with pytest.raises(ValueError, match="module 'body.9' not in Net; valid: body, body.0"):
        deconv.chain(net, features=["body.0", "body.9"])
    net.body[2].train()
    with pytest.raises(ValueError, match=r"features\[2\] is a Dropout in training mode"):
        deconv.forward_trace(deconv.chain(net, features=net.body), x, "conv2")


def test_sequential_with_a_features_child_projects_its_features():
    """``nn.Sequential(OrderedDict(features=..., classifier=...))``: the deconvnet runs on its
    ``features``, as it does on torchvision's AlexNet itself."""
    from collections import OrderedDict

    torch.manual_seed(0)
    alex = torchvision.models.alexnet(weights=None).eval()
    seq = nn.Sequential(OrderedDict(features=alex.features, pool=alex.avgpool,
                                    flat=nn.Flatten(), classifier=alex.classifier))
    x = torch.randn(1, 3, 100, 100)
    assert deconv.layer_indices(seq) == deconv.layer_indices(alex)
    torch.testing.assert_close(deconv.project(seq, x, "conv2", maps=[3, 5]),
                               deconv.project(alex, x, "conv2", maps=[3, 5]), rtol=0, atol=0)


def test_out_of_range_errors_and_no_hooks_left():
    model = zfnet()
    x = torch.zeros(2, 3, 56, 56)
    cases = [
        (dict(layer=6, maps=[0]), "layer 6 out of range 1..5"),
        (dict(layer="conv0", maps=[0]), "valid: conv1, conv2, conv3, conv4, conv5"),
        (dict(layer="conv5", maps=[256]), "map 256 out of range 0..255 of conv5"),
        (dict(layer=1, maps=[-1]), "map -1 out of range 0..95 of conv1"),
        (dict(layer="conv2", maps=[0], positions=[[7, 0]], images=[0]),
         r"position \(y, x\) = \(7, 0\) out of range 0..6, 0..6 of conv2"),
        (dict(layer="conv1", maps=[0], positions=[[0, 0]], images=[2]),
         "image 2 out of range 0..1"),
        (dict(layer="conv1", maps=[0], images=[1], lrn="pass"),
         "lrn 'pass'; valid: skip, jacobian"),
        (dict(layer="conv1", maps=[0], positions=[[0, 0]], images=[0], unpool="max"),
         "unpool 'max'; valid: sum, overwrite"),
        (dict(layer="conv1", maps=[0], positions=[1, 2, 3], images=[0]),
         r"positions of shape \(3,\); want \[K, 2\]"),
        (dict(layer="conv1", maps=[0, 1], positions=[[1, 2, 3], [1, 2, 3]], images=[0, 0]),
         r"positions of shape \(2, 3\); want \[K, 2\]"),
        (dict(layer="conv1", maps=[0.7]), r"maps must be integer indices, got torch.float32"),
        (dict(layer="conv1", maps=[0], positions=[[0.5, 1.0]], images=[0]),
         "positions must be integer indices"),
        (dict(layer="conv1", maps=[0], images=[True]), "images must be integer indices"),
    ]
    for kwargs, msg in cases:
        layer = kwargs.pop("layer")
        with pytest.raises(ValueError, match=msg):
            deconv.project(model, x, layer, **kwargs)
        assert no_hooks(model)
    with pytest.raises(ValueError, match="image 2 out of range 0..1"):
        deconv.forward_trace(model, x, "conv1").strongest("conv1", image=2)
    with pytest.raises(ValueError, match="image True out of range 0..1"):
        deconv.forward_trace(model, x, "conv1").strongest("conv1", image=True)
    with pytest.raises(ValueError, match="this model takes 56x56"):
        deconv.project(model, torch.zeros(1, 3, 64, 64), 1, maps=[0])
    with pytest.raises(ValueError, match="maps must be integer indices"):
        deconv.project_strongest(model, x[:1], "conv2", maps=[1.5])
    deconv.project(model, x[:1], "conv5", maps=[0, 1], positions=[[0, 0], [1, 1]])
    assert no_hooks(model)


def test_projection_to_rgb_scales_by_a_quantile_and_clips_outliers():
    from zflib.viz.deconv import projection_to_rgb

    p = torch.zeros(3, 20, 20)
    p[0] = torch.linspace(-1, 1, 400).reshape(20, 20)  # the bulk: |value| <= 1
    p[1, 0, 0] = 10.0  # one outlier pixel
    by_max = projection_to_rgb(p, quantile=1.0)
    assert by_max[0, 0, 1] == pytest.approx(1.0) and by_max[5, 5, 2] == pytest.approx(0.5)
    assert by_max[:, :, 0].max() == pytest.approx(0.55)  # the bulk squeezed into 0.45..0.55
    robust = projection_to_rgb(p, quantile=0.99)  # 1% of 1,200 values: the outlier and the
    assert robust[0, 0, 1] == 1.0  # largest of the bulk reach full contrast; outlier clipped
    assert robust[:, :, 0].max() == pytest.approx(1.0, abs=0.01)
    assert robust[:, :, 0].min() == pytest.approx(0.0, abs=0.01)
    assert projection_to_rgb(torch.zeros(3, 4, 4)).tolist() == np.full((4, 4, 3), 0.5).tolist()


def test_plots_name_two_digit_layers():
    """VGG16 has conv1..conv13: figures must say "Layer 13", not the name's last character."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zflib.methods.topk import TopK, TopProjections
    from zflib.viz.deconv import plot_evolution, plot_top9

    top = TopK(torch.ones(2, 1), torch.zeros(2, 1, dtype=torch.long),
               torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 1, dtype=torch.long))
    tp = TopProjections("conv13", torch.tensor([0, 1]), top, torch.rand(2, 1, 3, 5, 5),
                        torch.rand(2, 1, 3, 5, 5))
    fig = plot_top9(tp)
    assert fig._suptitle.get_text().startswith("Layer 13:")
    fig2 = plot_evolution({1: {"conv13": tp, "conv2": tp}})
    assert [ax.get_title() for ax in fig2.axes] == ["Layer 13", "Layer 2"]
    plt.close(fig)
    plt.close(fig2)
    empty = TopProjections("conv2", torch.tensor([], dtype=torch.long), top,
                           torch.rand(0, 1, 3, 5, 5), torch.rand(0, 1, 3, 5, 5))
    with pytest.raises(ValueError, match="nothing to draw: 0 maps"):
        plot_top9(empty)


def test_layer_given_as_numpy_integer_or_alone():
    model, x = zfnet(), torch.randn(1, 3, 56, 56)
    assert deconv.resolve_layer(model, np.int64(3)) == "conv3"
    assert list(deconv.forward_trace(model, x, np.int64(3)).acts) == ["conv3"]
    torch.testing.assert_close(deconv.project(model, x, np.int64(2), maps=[1]),
                               deconv.project(model, x, 2, maps=[1]))
    with pytest.raises(ValueError, match="layer 2.0 is neither a number nor a name"):
        deconv.forward_trace(model, x, 2.0)


def test_inputs_follow_the_models_dtype_and_integer_pixels_are_refused():
    """float64 inputs to a float32 model are cast (as extract does), not a dtype error deep in
    a conv; uint8 pixels would be taken for network inputs, so they are refused."""
    model, x = zfnet(), torch.randn(1, 3, 56, 56)
    torch.testing.assert_close(deconv.project(model, x.double(), "conv3", maps=[1, 2]),
                               deconv.project(model, x, "conv3", maps=[1, 2]), rtol=0, atol=0)
    with pytest.raises(ValueError, match="x holds torch.uint8 values; want floating"):
        deconv.project_strongest(model, (x * 50).clamp(0, 255).to(torch.uint8), "conv2")


def test_project_strongest_names_a_wrong_image_shape():
    """[S, S] (a grey image) read as 56 images before."""
    with pytest.raises(ValueError, match=r"x has shape \(56, 56\); want one image \[3, S, S\]"):
        deconv.project_strongest(zfnet(), torch.randn(56, 56), "conv1")


# ----------------------------------------------------------------------------- the three rules


_NEURON = {"deconvnet": "NeuronDeconvolution", "guided": "NeuronGuidedBackprop",
           "gradient": "NeuronGradient"}
_LOGIT = {"deconvnet": ("Deconvolution", {}), "guided": ("GuidedBackprop", {}),
          "gradient": ("Saliency", {"abs": False})}


def _captum_neuron(rule: str, model: nn.Module, module: nn.Module, x, selector):
    import captum.attr

    return getattr(captum.attr, _NEURON[rule])(model, module).attribute(x, selector)[0]


def _captum_logit(rule: str, model: nn.Module, x, targets):
    import captum.attr

    name, kw = _LOGIT[rule]
    return getattr(captum.attr, name)(model).attribute(x, target=targets, **kw)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("arch", ["zfnet", "alexnet"])
@pytest.mark.parametrize("rule", ["deconvnet", "guided", "gradient"])
def test_each_rule_matches_captums_neuron_form(arch, rule):
    """The strongest activations of three maps of layers 1, 2 and 5 of one image of a batch,
    by each rule, equal captum's NeuronDeconvolution, NeuronGuidedBackprop and NeuronGradient
    times the activation (captum starts from 1); LRN by its Jacobian, as captum computes."""
    model = zfnet(arch)
    ref = _no_inplace(model)
    torch.manual_seed(11)
    x = torch.randn(2, 3, 56, 56)
    tr = deconv.forward_trace(model, x, ["conv1", "conv2", "conv5"])
    for layer in ("conv1", "conv2", "conv5"):
        pos, val = tr.strongest(layer, image=1)
        maps = val.argsort(descending=True)[:3]
        ours = tr.project(layer, maps, pos[maps], [1, 1, 1], rule=rule, lrn="jacobian")
        module = ref.features[ref.feature_names[layer]]
        for i, m in enumerate(maps.tolist()):
            want = _captum_neuron(rule, ref, module, x[1:], (m, *pos[m].tolist()))
            assert rel(ours[i] / val[m], want) <= 1e-5, (layer, m)
    assert no_hooks(model)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("arch", ["zfnet", "alexnet"])
@pytest.mark.parametrize("rule", ["deconvnet", "guided", "gradient"])
def test_class_logit_matches_captum_on_both_paths(arch, rule):
    """The class logit's signal back to the pixels (project_logit: ZFNet's classifier, then
    the chain) equals captum's Deconvolution, GuidedBackprop and Saliency (abs=False) with a
    target, batched over images with a target each; the general path (autograd with the
    rule at each ReLU call) gives the same."""
    from zflib.methods import deconv_general

    model = zfnet(arch)
    ref = _no_inplace(model)
    torch.manual_seed(12)
    x = torch.randn(3, 3, 56, 56)
    targets = torch.tensor([3, 7, 3])
    ours = deconv.project_logit(model, x, targets, rule=rule, lrn="jacobian", batch_size=2)
    want = _captum_logit(rule, ref, x, targets)
    general = deconv_general.project_logit(model, x, targets, rule=rule, lrn="jacobian")
    for i in range(3):
        assert rel(ours[i], want[i]) <= 1e-5 and rel(general[i], want[i]) <= 1e-5, i
    if rule == "deconvnet":  # the default skips LRN: not captum's, but the chain's own
        skip = deconv.project_logit(model, x, targets)
        assert rel(skip, ours) > 1e-4
    assert no_hooks(model)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name,size", [("alexnet", 96), ("vgg16_bn", 48)])
def test_torchvision_chains_match_captum_by_every_rule(name, size):
    """torchvision's AlexNet and VGG16-BN (seeded weights and batch-norm statistics, batch
    norm folded on the fast path): every rule equals captum's Neuron* form at two layers, and
    the class logit's projection (the general path's autograd) captum's Deconvolution,
    GuidedBackprop and Saliency (abs=False)."""
    torch.manual_seed(13)
    net = getattr(torchvision.models, name)(weights=None).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    ref = _no_inplace(net)
    x = torch.randn(1, 3, size, size)
    last = list(deconv.layer_indices(net))[-1]
    tr = deconv.forward_trace(net, x, ["conv2", last])
    assert isinstance(tr, deconv.Trace)
    for layer in ("conv2", last):
        pos, val = tr.strongest(layer)
        maps = val.argsort(descending=True)[:2]
        module = ref.features[deconv.layer_indices(net)[layer]]
        for rule in deconv.RULES:
            ours = tr.project(layer, maps, pos[maps], rule=rule)
            for i, m in enumerate(maps.tolist()):
                want = _captum_neuron(rule, ref, module, x, (m, *pos[m].tolist()))
                assert rel(ours[i] / val[m], want) <= 1e-5, (layer, rule, m)
    for rule in deconv.RULES:
        ours = deconv.project_logit(net, x, [17], rule=rule)
        assert rel(ours, _captum_logit(rule, ref, x, [17])) <= 1e-5, rule
    assert no_hooks(net)


@pytest.mark.parametrize("rule", ["guided", "gradient"])
def test_rules_batched_equal_one_at_a_time_and_whole_maps(rule):
    model = zfnet()
    torch.manual_seed(14)
    x = torch.randn(3, 3, 56, 56)
    tr = deconv.forward_trace(model, x, "conv4")
    maps = torch.tensor([0, 5, 5, 300, 17])
    pos = torch.tensor([[0, 0], [6, 6], [3, 2], [0, 6], [5, 1]])
    imgs = torch.tensor([0, 1, 2, 2, 1])
    batched = tr.project("conv4", maps, pos, imgs, batch_size=2, rule=rule)
    single = torch.stack([tr.project("conv4", maps[i:i + 1], pos[i:i + 1], imgs[i:i + 1],
                                     rule=rule)[0] for i in range(5)])
    whole = deconv._project(tr, "conv4", maps, pos, imgs, unpool="sum", lrn="jacobian",
                            full=True, rule=rule)
    assert torch.allclose(batched, single, rtol=1e-5, atol=1e-7)
    assert torch.allclose(batched, whole, rtol=1e-5, atol=1e-7)
    # the masks recorded in the forward pass (project) equal those made on first use (trace)
    eager = deconv.project(model, x, "conv4", maps=maps, positions=pos, images=imgs, rule=rule)
    assert torch.allclose(eager, batched, rtol=1e-5, atol=1e-7)
    # guided = the deconvnet's rectification and the gradient's mask, so it differs from both
    other = tr.project("conv4", maps, pos, imgs, rule="deconvnet", lrn="jacobian")
    assert rel(batched, other) > 1e-3


def test_rule_errors_name_the_valid_choices():
    model = zfnet()
    x = torch.randn(1, 3, 56, 56)
    cases = [
        (dict(rule="lrp"), "rule 'lrp'; valid: deconvnet, guided, gradient"),
        (dict(rule="gradient", lrn="skip"),
         r"lrn 'skip' is the deconvnet's; rule 'gradient' passes LRN by its Jacobian"),
        (dict(rule="guided", unpool="overwrite"),
         r"unpool 'overwrite' is the deconvnet's; rule 'guided' unpools by the adjoint"),
        (dict(rule="guided", lrn="pass"), "lrn 'pass'; valid: skip, jacobian"),
    ]
    for kwargs, msg in cases:
        with pytest.raises(ValueError, match=msg):
            deconv.project(model, x, "conv2", maps=[0], **kwargs)
        with pytest.raises(ValueError, match=msg):
            deconv.project_logit(model, x, [0], **kwargs)
    with pytest.raises(ValueError, match="target class 10 out of range 0..9"):
        deconv.project_logit(model, x, [10])
    with pytest.raises(ValueError, match="2 targets for 1 images"):
        deconv.project_logit(model, x, [1, 2])
    assert no_hooks(model)
