"""The general deconvnet path against independent oracles: captum's NeuronDeconvolution (one
neuron a call, autograd with module hooks), a plain-autograd deconvnet on the whole image, brute
force over input pixels for receptive fields, and the hand-computed geometry of ResNet-18.
Paper: Sec. 2.1, Fig. 1."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn

from zflib.methods import deconv, deconv_general, topk
from zflib.methods.receptive import receptive_field

torch.set_num_threads(1)


def _captum_model(model: nn.Module) -> nn.Module:
    ref = copy.deepcopy(model)
    for m in ref.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False  # captum's hooks refuse in-place ReLUs
    return ref


def _captum(ref: nn.Module, layer: str, x: torch.Tensor, neuron) -> torch.Tensor:
    from captum.attr import NeuronDeconvolution

    return NeuronDeconvolution(ref, dict(ref.named_modules())[layer]).attribute(x, neuron)[0]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp(min=1e-30))


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
               and not getattr(m, "_backward_pre_hooks", {}) for m in model.modules())


def _net(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = getattr(torchvision.models, name)(weights=None).eval()
    for m in net.modules():  # seeded running statistics, so batch norm is no identity
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net


class _Gated(nn.Module):
    """A conv net with a squeeze-and-excitation gate (a sigmoid times the maps): no
    placeholder can stand in for it, so the autograd fallback projects."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 8, 1), nn.Sigmoid())
        self.conv2 = nn.Conv2d(8, 6, 3, padding=1)
        self.out = nn.ReLU()

    def forward(self, x):
        h = self.pool(self.relu(self.conv1(x)))
        return self.out(self.conv2(h * self.gate(h)))


# ----------------------------------------------------------------------------- captum


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name,size,layers", [
    ("resnet18", 64, ["layer2", "layer4", "layer1.0.relu"]),
    ("vgg16_bn", 48, ["features.9", "features.42"]),
    ("densenet121", 64, ["features.denseblock2", "features.transition3"]),
])
def test_matches_captum_times_the_activation(name, size, layers):
    """Strongest activations of several maps of one image, the border units included,
    equal captum's NeuronDeconvolution times the activation (captum starts from 1)."""
    net = _net(name)
    ref = _captum_model(net)
    torch.manual_seed(1)
    x = torch.randn(2, 3, size, size)
    x0 = x.clone()
    for layer in layers:
        tr = deconv_general.forward_trace(net, x, layer)
        pos, val = tr.strongest(layer, image=1)
        maps = [int(m) for m in val.argsort(descending=True)[:4]]
        ours = tr.project(layer, maps, pos[maps], [1] * len(maps))
        for i, m in enumerate(maps):
            want = _captum(ref, layer, x[1:2], (m, *pos[m].tolist()))
            assert rel(ours[i] / val[m], want) <= 1e-5, (layer, m)
    assert torch.equal(x, x0)
    assert no_hooks(net)


@pytest.mark.filterwarnings("ignore")
def test_the_autograd_fallback_matches_captum_on_a_gated_net():
    torch.manual_seed(0)
    net = _Gated().eval()
    x = torch.randn(1, 3, 16, 16)
    tr = deconv_general.forward_trace(net, x, "out")
    pos, val = tr.strongest("out")
    maps = [int(m) for m in (val > 0).nonzero().flatten()[:3]]
    ours = tr.project("out", maps, pos[maps])
    assert tr.placeholders == {"out/deconvnet/skip": False}  # the sigmoid sent it to autograd
    for i, m in enumerate(maps):
        want = _captum(net, "out", x, (m, *pos[m].tolist()))
        assert rel(ours[i] / val[m], want) <= 1e-5
    assert no_hooks(net)


# ----------------------------------------------------------------------------- crops


def _whole_image_autograd(net: nn.Module, x: torch.Tensor, layer: str, m: int,
                          y: int | None = None, xx: int | None = None) -> torch.Tensor:
    """The deconvnet by plain autograd over the whole image: each ReLU module's backward
    replaced by ReLU of the signal arriving from above (full backward hooks, on a copy
    without in-place ReLUs)."""
    net = _captum_model(net)
    x = x.clone().requires_grad_(True)
    handles = [mod.register_full_backward_hook(lambda _m, _gi, go: (go[0].clamp(min=0),))
               for mod in net.modules() if isinstance(mod, nn.ReLU)]
    try:
        out = dict(net.named_modules())[layer]
        seen = []
        h2 = out.register_forward_hook(lambda _m, _i, o: seen.append(o))
        try:
            net(x)
        finally:
            h2.remove()
    finally:
        for h in handles:
            h.remove()
    o = seen[-1]
    g = torch.zeros_like(o)
    if y is None:  # the whole map
        g[0, m] = o[0, m].detach()
    else:
        g[0, m, y, xx] = o[0, m, y, xx].detach()
    return torch.autograd.grad(o, x, g)[0][0]


def test_every_position_over_its_crop_equals_the_whole_image():
    """Units of ResNet-18's layer1 at 80 pixels (20x20 units: all of them projected, borders,
    corners, crops of several sizes), each over its crop, equal plain autograd over the whole
    image."""
    net = _net("resnet18", seed=3)
    torch.manual_seed(2)
    x = torch.randn(1, 3, 80, 80)
    tr = deconv_general.forward_trace(net, x, "layer1")
    ys, xs = torch.meshgrid(torch.arange(20), torch.arange(20), indexing="ij")
    pos = torch.stack([ys.flatten(), xs.flatten()], 1)
    maps = torch.arange(400) % 64
    boxes = tr._boxes("layer1", pos, len(pos))
    assert 1 < len(boxes[:, 2:].unique(dim=0)) and int(boxes[:, 2:].max()) < 80  # real crops
    ours = tr.project("layer1", maps, pos, batch_size=29)
    for k in list(range(0, 400, 7)) + [19, 380, 399]:
        want = _whole_image_autograd(net, x, "layer1", int(maps[k]), *pos[k].tolist())
        assert rel(ours[k], want) <= 1e-5 or float(want.abs().max()) == 0, k


def test_whole_maps_and_images_of_a_batch():
    net = _net("resnet18")
    torch.manual_seed(4)
    x = torch.randn(3, 3, 48, 48)
    tr = deconv_general.forward_trace(net, x, "layer2")
    act = tr.acts["layer2"]
    m2, m0 = (int(act[i].flatten(1).count_nonzero(1).argmax()) for i in (2, 0))
    whole = tr.project("layer2", [m2, m0], None, [2, 0])
    for k, (m, i) in enumerate([(m2, 2), (m0, 0)]):
        assert act[i, m].count_nonzero() > 1
        assert rel(whole[k], _whole_image_autograd(net, x[i:i + 1], "layer2", m)) <= 1e-5
    single = tr.project("layer2", [3, 3], [[1, 2], [1, 2]], [0, 2])
    assert rel(single[0], _whole_image_autograd(net, x[:1], "layer2", 3, 1, 2)) <= 1e-5
    assert rel(single[1], _whole_image_autograd(net, x[2:], "layer2", 3, 1, 2)) <= 1e-5


# ----------------------------------------------------------------------------- geometry


def test_resnet18_receptive_fields_are_the_hand_computed_ones():
    """conv1 (7, s2, p3): 7 px, stride 2, offset -3; the 3x3/s2 max-pool: 11, 4, -5; four 3x3
    convs at stride 4: 43, 4, -21; layer2's stride-2 conv and three more: 51 then 99 px,
    stride 8, offset -49."""
    net = _net("resnet18")
    want = {"conv1": (7, 2, -3), "maxpool": (11, 4, -5), "layer1": (43, 4, -21),
            "layer2": (99, 8, -49)}
    for layer, (size, stride, offset) in want.items():
        geo = deconv_general.receptive_field(net, layer, side=224)
        assert (geo.size, geo.stride, geo.offset) == (size, stride, offset), layer
        assert receptive_field(net, layer, side=224) == (size, stride, offset)
    assert deconv_general.receptive_field(net, "layer4", side=64).size == 0  # sees it all
    assert receptive_field(net, "layer4", side=64) == (64, 0, 0)


def test_receptive_field_equals_brute_force_on_a_residual_net():
    """The pixels a unit depends on, found by changing one pixel at a time (no ReLU, so no
    dependence hides behind a dead unit), against the measured geometry."""
    from torchvision.models.resnet import BasicBlock

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 5, stride=2, padding=1), nn.MaxPool2d(3, 2, 1),
                        BasicBlock(4, 4)).eval()
    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.forward = lambda x: x  # linear: every path shows
    geo = deconv_general.receptive_field(net, "2", side=48)
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        base = net(x)[0, :, 5, 5]
        seen = torch.zeros(48, 48, dtype=torch.bool)
        for i in range(48):
            for j in range(48):
                x2 = x.clone()
                x2[0, :, i, j] += 10
                seen[i, j] = not torch.allclose(net(x2)[0, :, 5, 5], base)
    rows = seen.any(1).nonzero().flatten()
    assert (int(rows[0]), int(rows[-1]) + 1) == (5 * geo.stride + geo.offset,
                                                 5 * geo.stride + geo.offset + geo.size)


def test_macs_count_resnet18_as_torchvision_does():
    net = _net("resnet18")
    ops = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["_ops"]  # GFLOPs (MACs)
    assert deconv_general.macs(net, torch.zeros(1, 3, 224, 224)) / 1e9 == pytest.approx(ops,
                                                                                      abs=1e-3)
    assert deconv_general.macs(net, torch.zeros(1, 3, 224, 224), "conv1") == \
        112 * 112 * 64 * 3 * 49


# ----------------------------------------------------------------------------- names, errors


def test_layer_names_numbers_and_errors():
    net = _net("resnet18")
    assert deconv_general.default_layers(net) == ["conv1", "layer1", "layer2", "layer3",
                                                  "layer4"]
    assert deconv.layer_names(net) == deconv_general.default_layers(net)
    assert deconv.resolve_layer(net, 3) == "layer2" == deconv.resolve_layer(net, "layer2")
    with pytest.raises(ValueError, match=r"layer 'layer9' not in ResNet; valid: any module "
                                         r"name .*e.g. conv1, layer1"):
        deconv.resolve_layer(net, "layer9")
    with pytest.raises(ValueError, match=r"layer 6 out of range 1..5"):
        deconv.resolve_layer(net, 6)
    dense = _net("densenet121")
    assert deconv_general.default_layers(dense)[:3] == ["features.conv0",
                                                        "features.denseblock1",
                                                        "features.transition1"]


def test_a_layer_never_reached_is_named_and_no_hook_is_left():
    class Unused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.spare = nn.Conv2d(4, 4, 3)  # defined, never called

        def forward(self, x):
            return torch.relu(self.conv(x))

    net = Unused().eval()
    with pytest.raises(ValueError, match="layer 'spare' is never reached by Unused's forward"):
        deconv.project(net, torch.zeros(1, 3, 8, 8), "spare", maps=[0])
    assert no_hooks(net)


def test_training_mode_and_unpool_overwrite_are_refused():
    net = _net("resnet18")
    x = torch.randn(1, 3, 32, 32)
    tr = deconv_general.forward_trace(net, x, "layer1")
    with pytest.raises(ValueError, match="unpool 'overwrite'"):
        tr.project("layer1", [0], [[1, 1]], unpool="overwrite")
    net.train()
    with pytest.raises(ValueError, match="training mode"):
        tr.project("layer1", [0], [[1, 1]])
    assert no_hooks(net)


# ----------------------------------------------------------------------------- mining


def test_mining_a_resnet_equals_brute_force_and_projects():
    net = _net("resnet18")
    torch.manual_seed(5)
    x = torch.randn(7, 3, 48, 48)
    top = topk.mine_topk(net, x, layers=["layer1", 3], k=3, batch_size=3)
    assert list(top) == ["layer1", "layer2"]
    with torch.no_grad():
        acts = deconv_general.run_to(net, x, ["layer2"])["layer2"]
    best = acts.flatten(2).amax(2)  # [N, C]
    want = best.sort(0, descending=True).values[:3].t()
    assert torch.allclose(top["layer2"].values, want)
    assert topk._channels(net, "layer2") == 128
    tp = topk.top_projections(net, x, x, top, "layer1", [0, 7])
    assert tp.projections.shape == (2, 3, 3, 43, 43)  # layer1's receptive field
    img, y, xx = (int(top["layer1"].images[7, 0]), int(top["layer1"].ys[7, 0]),
                  int(top["layer1"].xs[7, 0]))
    full = _whole_image_autograd(net, x[img:img + 1], "layer1", 7, y, xx)
    rf = receptive_field(net, "layer1", side=48)
    from zflib.methods.receptive import crop_patches
    want = crop_patches(full[None], rf, torch.tensor([y]), torch.tensor([xx]))[0]
    assert rel(tp.projections[1, 0], want) <= 1e-5


# ----------------------------------------------------------------------------- occlusion


def test_occlusion_of_any_model_equals_brute_force():
    """Fig. 7's maps for a ResNet (no ``features`` chain): each square position's feature
    total and class probability equal a plain forward pass of the occluded image."""
    from zflib.methods import occlusion

    net = _net("resnet18")
    torch.manual_seed(6)
    x = torch.randn(3, 32, 32)
    maps = occlusion.occlusion_maps(net, x, 7, size=12, stride=10, baseline=0.5,
                                    layer="layer2", batch_size=3)
    assert maps.feature.shape == (3, 3) and maps.layer == "layer2"
    with torch.no_grad():
        clean = deconv_general.run_to(net, x[None], ["layer2"])["layer2"][0]
        assert maps.channel == int(clean.flatten(1).amax(1).argmax())
        for i, y in enumerate(maps.ys.tolist()):
            for j, xx in enumerate(maps.xs.tolist()):
                occ = x.clone()
                occ[:, y:y + 12, xx:xx + 12] = 0.5
                act, out = deconv_general.layer_and_output(net, occ[None], "layer2")
                assert maps.feature[i, j] == pytest.approx(float(act[0, maps.channel].sum()),
                                                           rel=1e-5)
                assert maps.prob[i, j] == pytest.approx(float(out.softmax(1)[0, 7]), rel=1e-5)
    with pytest.raises(ValueError, match="target class 1000 out of range 0..999"):
        occlusion.occlusion_maps(net, x, 1000, size=12, stride=10, layer="layer2")
    # the checks every model shares run before the any-model path (they were skipped there)
    with pytest.raises(ValueError, match="batch_size 0 out of range 1.."):
        occlusion.occlusion_maps(net, x, 7, size=12, stride=10, layer="layer2", batch_size=0)
    with pytest.raises(ValueError, match="baseline of shape \\(2,\\) does not broadcast"):
        occlusion.occlusion_maps(net, x, 7, size=12, stride=10, layer="layer2",
                                 baseline=torch.zeros(2))
    with pytest.raises(TypeError, match="target must be an integer class index"):
        occlusion.occlusion_maps(net, x, 7.5, size=12, stride=10, layer="layer2")
    assert no_hooks(net)


# ----------------------------------------------------------------------------- the three rules


_NEURON = {"deconvnet": "NeuronDeconvolution", "guided": "NeuronGuidedBackprop",
           "gradient": "NeuronGradient"}


def _captum_rule(rule: str, ref: nn.Module, layer: str, x: torch.Tensor, neuron):
    import captum.attr

    cls = getattr(captum.attr, _NEURON[rule])
    return cls(ref, dict(ref.named_modules())[layer]).attribute(x, neuron)[0]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("rule", ["deconvnet", "guided", "gradient"])
def test_resnet18_matches_captum_by_every_rule(rule):
    """ResNet-18 (residual additions, batch norm): crops over receptive fields (layer1 at 64
    pixels) and whole images (layer4) alike, each rule equal to captum's Neuron* form; the
    class logit equal to Deconvolution / GuidedBackprop / Saliency (abs=False)."""
    import captum.attr

    net = _net("resnet18")
    ref = _captum_model(net)
    torch.manual_seed(21)
    x = torch.randn(2, 3, 64, 64)
    tr = deconv_general.forward_trace(net, x, ["layer1", "layer4"])
    assert int(tr._boxes("layer1", torch.tensor([[0, 0]]), 1)[0, 2]) < 64  # a real crop
    for layer in ("layer1", "layer4"):
        pos, val = tr.strongest(layer, image=1)
        maps = [int(m) for m in val.argsort(descending=True)[:3]] + [0]
        pos[0] = torch.tensor([0, 0])  # a corner unit too
        ours = tr.project(layer, maps, pos[maps], [1] * len(maps), rule=rule)
        for i, m in enumerate(maps):
            start = tr.acts[layer][1, m, pos[m, 0], pos[m, 1]]
            if start == 0:  # ours starts from the activation (captum from 1): nothing
                assert float(ours[i].abs().max()) == 0
                continue
            want = _captum_rule(rule, ref, layer, x[1:2], (m, *pos[m].tolist()))
            assert rel(ours[i] / start, want) <= 1e-5, (layer, m)
    targets = torch.tensor([5, 900])
    name, kw = {"deconvnet": ("Deconvolution", {}), "guided": ("GuidedBackprop", {}),
                "gradient": ("Saliency", {"abs": False})}[rule]
    want = getattr(captum.attr, name)(ref).attribute(x, target=targets, **kw)
    ours = deconv.project_logit(net, x, targets, rule=rule)
    assert rel(ours[0], want[0]) <= 1e-5 and rel(ours[1], want[1]) <= 1e-5
    assert no_hooks(net)


class _Act(nn.Module):
    """conv, an activation, conv, ReLU: what the rules define (or not) at the activation."""

    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.conv1, self.act = nn.Conv2d(3, 4, 3), act
        self.conv2, self.out = nn.Conv2d(4, 5, 3), nn.ReLU()

    def forward(self, x):
        return self.out(self.conv2(self.act(self.conv1(x))))


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("act", [nn.GELU(), nn.SiLU(), nn.ReLU6(), nn.LeakyReLU()],
                         ids=["gelu", "silu", "relu6", "leaky_relu"])
def test_an_activation_a_rule_does_not_define_is_refused_by_name(act):
    """The deconvnet and guided backprop are defined at ReLU only: another activation is a
    one-line error naming it (never treated as a ReLU); the gradient takes it, equal to
    captum's NeuronGradient."""
    torch.manual_seed(0)
    net = _Act(act).eval()
    x = torch.randn(1, 3, 9, 9)
    tr = deconv_general.forward_trace(net, x, "out")
    pos, val = tr.strongest("out")
    m = int(val.argmax())
    for rule in ("deconvnet", "guided"):
        with pytest.raises(ValueError, match=f"rule '{rule}' is defined at ReLU only and the "
                           r"model calls \w+; use rule='gradient' \(valid: deconvnet, guided, "
                           "gradient"):
            tr.project("out", [m], pos[m:m + 1], rule=rule)
        with pytest.raises(ValueError, match="is defined at ReLU only"):
            deconv.project_logit(nn.Sequential(net, nn.Flatten()), x, [0], rule=rule)
    ours = tr.project("out", [m], pos[m:m + 1], rule="gradient")[0]
    assert rel(ours / val[m], _captum_rule("gradient", net, "out", x, (m, *pos[m].tolist()))) \
        <= 1e-5
    assert no_hooks(net)
