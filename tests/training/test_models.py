"""zflib.training.models: every layer size of Fig. 3 computed by hand, the 64-pixel geometry,
AlexNet, Table 3's ablations, layer names and the filter renormalisation of Sec. 3."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zflib.training.models import (
    ABLATIONS,
    BandLRN,
    build_model,
    init_weights,
    layer_module,
    layer_name,
    renormalize_filters,
    use_band_lrn,
)


def out_size(n, k, s, p=0, ceil=False):
    """Hand formula: floor or ceil of (n + 2p - k) / s, plus one."""
    q = (n + 2 * p - k) / s
    return int(q // 1 + (1 if ceil and q % 1 else 0)) + 1


def stage_sizes(model, size):
    x = torch.zeros(1, 3, size, size)
    sizes = []
    for m in model.features:
        x = m(x)
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            sizes.append(x.shape[-1])
    return sizes


def test_zfnet224_matches_fig3():
    m = build_model("zfnet", size=224)
    # conv1 7x7/2 pad 1: 110; pool 3/2: 55; conv2 5x5/2: 26; pool: 13; conv3-5: 13; pool: 6
    c1 = out_size(224, 7, 2, 1)
    p1 = out_size(c1, 3, 2, ceil=True)
    c2 = out_size(p1, 5, 2)
    p2 = out_size(c2, 3, 2, ceil=True)
    p5 = out_size(p2, 3, 2, ceil=True)
    assert (c1, p1, c2, p2, p5) == (110, 55, 26, 13, 6)
    assert stage_sizes(m, 224) == [110, 55, 26, 13, 13, 13, 13, 6]
    assert m.fc6_in == 9216
    assert [c.out_channels for c in m.conv_layers()] == [96, 256, 384, 384, 256]
    assert [(c.kernel_size, c.stride) for c in m.conv_layers()[:2]] == [((7, 7), (2, 2)),
                                                                         ((5, 5), (2, 2))]
    fcs = [x for x in m.classifier if isinstance(x, nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(9216, 4096), (4096, 4096),
                                                              (4096, 1000)]
    assert [d.p for d in m.classifier if isinstance(d, nn.Dropout)] == [0.5, 0.5]
    assert m(torch.zeros(2, 3, 224, 224)).shape == (2, 1000)


def test_zfnet64_geometry():
    m = build_model("zfnet", size=64, num_classes=200)
    assert m.input_size == 56
    assert stage_sizes(m, 56) == [28, 14, 7, 7, 7, 7, 3]
    assert m.fc6_in == 256 * 3 * 3


def test_alexnet_both_profiles():
    a = build_model("alexnet", size=224)
    assert stage_sizes(a, 224) == [55, 27, 27, 13, 13, 13, 13, 6]
    assert a.conv_layers()[0].kernel_size == (11, 11) and a.conv_layers()[0].stride == (4, 4)
    assert a.conv_layers()[0].groups == 1  # dense: no two-GPU split
    a64 = build_model("alexnet", size=64, num_classes=200)
    assert stage_sizes(a64, 56) == [14, 7, 7, 7, 7, 7, 3]


@pytest.mark.parametrize("ablation", list(ABLATIONS))
def test_ablations(ablation):
    m = build_model("zfnet", size=64, num_classes=10, ablation=ablation)
    convs = [c.out_channels for c in m.conv_layers()]
    fcs = [f.out_features for f in m.classifier if isinstance(f, nn.Linear)]
    expect_convs = {"no34": [96, 256, 256], "no3467": [96, 256, 256],
                    "wide345": [96, 256, 512, 1024, 512],
                    "wide345_fc8192": [96, 256, 512, 1024, 512]}.get(ablation,
                                                                     [96, 256, 384, 384, 256])
    expect_fcs = {"no7": [4096, 10], "no67": [10], "no3467": [10], "fc2048": [2048, 2048, 10],
                  "fc8192": [8192, 8192, 10], "wide345_fc8192": [8192, 8192, 10]}.get(
        ablation, [4096, 4096, 10])
    assert convs == expect_convs and fcs == expect_fcs
    assert m(torch.zeros(1, 3, 56, 56)).shape == (1, 10)
    for name in m.layer_names:
        assert layer_module(m, name) is not None


def test_layer_names_point_at_relus_and_logits():
    m = build_model("zfnet", size=64, num_classes=10)
    assert m.layer_names == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    assert all(isinstance(layer_module(m, f"conv{i}"), nn.ReLU) for i in range(1, 6))
    assert isinstance(layer_module(m, "fc8"), nn.Linear)
    assert layer_name(m, 3) == "conv3" and layer_name(m, 7) == "fc7"
    with pytest.raises(ValueError, match="layer 9 out of range 1..8"):
        layer_name(m, 9)
    ab = build_model("zfnet", size=64, num_classes=10, ablation="no34")
    with pytest.raises(ValueError, match="'conv3' not in this model"):
        layer_module(ab, "conv3")


def test_bad_arguments_name_the_valid_values():
    with pytest.raises(ValueError, match="unknown ablation 'no5'"):
        build_model("zfnet", ablation="no5")
    with pytest.raises(ValueError, match="sizes 224 or 64"):
        build_model("zfnet", size=128)
    m = build_model("zfnet", size=64, num_classes=10)
    with pytest.raises(ValueError, match="takes 56x56"):
        m(torch.zeros(1, 3, 64, 64))


def test_paper_init_statistics():
    torch.manual_seed(0)
    m = build_model("zfnet", size=64, num_classes=10, init="normal")
    w = torch.cat([c.weight.flatten() for c in m.conv_layers()])
    assert abs(w.std().item() - 1e-2) < 2e-4 and abs(w.mean().item()) < 2e-4
    assert all(float(c.bias.detach().abs().max()) == 0 for c in m.conv_layers())
    with pytest.raises(ValueError, match="unknown init"):
        init_weights(m, "xavier")


def test_renormalisation_caps_filter_rms():
    torch.manual_seed(0)
    m = build_model("zfnet", size=64, num_classes=10)
    conv1 = m.conv_layers()[0]
    with torch.no_grad():
        conv1.weight.mul_(0)
        conv1.weight[0].fill_(0.5)  # RMS 0.5: rescaled to 0.1
        conv1.weight[1].fill_(0.05)  # RMS 0.05: untouched
    before_other = m.conv_layers()[1].weight.clone()
    renormalize_filters(m, 0.1)
    rms = conv1.weight.pow(2).mean(dim=(1, 2, 3)).sqrt()
    assert rms[0].item() == pytest.approx(0.1, rel=1e-5)
    assert rms[1].item() == pytest.approx(0.05, rel=1e-6)
    over = before_other.pow(2).mean(dim=(1, 2, 3)).sqrt() > 0.1
    after = m.conv_layers()[1].weight.pow(2).mean(dim=(1, 2, 3)).sqrt()
    assert torch.all(after <= 0.1 + 1e-6)
    assert torch.equal(m.conv_layers()[1].weight[~over], before_other[~over])


def test_first_layer_std_draws_conv1_alone():
    """cfg.first_layer_std > 0 re-draws conv1 only, at that scale; 0 keeps the recipe."""
    from zflib.config import get_config
    from zflib.training.models import initial_model

    base = get_config("smoke", first_layer_std=0.0)
    small = get_config("smoke")  # the 64-pixel recipe's default: 1e-2
    assert small.first_layer_std == 0.01 and get_config("paper").first_layer_std == 0.0
    a, b = initial_model(base), initial_model(small)
    c1a, c1b = a.conv_layers()[0].weight.detach(), b.conv_layers()[0].weight.detach()
    assert abs(float(c1b.std()) - 0.01) < 0.002  # 14,112 draws: std within 20%
    assert float(c1a.std()) > 0.1  # Kaiming, fan-in 147: about 0.117
    for wa, wb in zip(a.conv_layers()[1:], b.conv_layers()[1:], strict=True):
        assert torch.equal(wa.weight, wb.weight)
    with pytest.raises(ValueError, match="first_layer_std -1"):
        initial_model(get_config("smoke", first_layer_std=-1.0))
    # seeded, and the caller's random state is left alone
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    again = initial_model(small)
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(again.conv_layers()[0].weight, b.conv_layers()[0].weight)


def test_eval_mode_puts_back_each_submodules_own_mode_even_on_error():
    """eval_mode turns dropout off inside the block and restores a mixed per-module state."""
    from zflib.config import get_config
    from zflib.training.models import eval_mode, initial_model

    m = initial_model(get_config("smoke"))
    m.train()
    m.features.eval()  # a mixed state: frozen features, training classifier
    before = {name: mod.training for name, mod in m.named_modules()}
    x = torch.randn(2, 3, 56, 56)
    with eval_mode(m):
        assert not any(mod.training for mod in m.modules())
        a, b = m(x), m(x)
    assert torch.equal(a, b)  # dropout off: the same output twice
    assert {name: mod.training for name, mod in m.named_modules()} == before
    with pytest.raises(RuntimeError, match="boom"), eval_mode(m):
        raise RuntimeError("boom")
    assert {name: mod.training for name, mod in m.named_modules()} == before


@pytest.mark.parametrize("size", [5, 4])
def test_band_lrn_equals_pytorchs_lrn_and_the_formula(size):
    """BandLRN against nn.LocalResponseNorm (values and gradients, float64) and against the
    formula written out channel by channel."""
    torch.manual_seed(0)
    x = (torch.randn(2, 9, 5, 6, dtype=torch.float64) * 40).requires_grad_()
    ours, theirs = BandLRN(size, 1e-3, 0.75, 2.0), nn.LocalResponseNorm(size, 1e-3, 0.75, 2.0)
    y, want = ours(x), theirs(x)
    assert torch.allclose(y, want, rtol=1e-12, atol=0)
    g = torch.randn_like(y)
    assert torch.allclose(*(torch.autograd.grad(v, x, g)[0] for v in (y, want)), rtol=1e-10)
    formula = torch.empty_like(y)
    for c in range(9):
        lo, hi = max(0, c - size // 2), min(8, c + (size - 1) // 2)
        s = (x[:, lo:hi + 1] ** 2).sum(1)
        formula[:, c] = x[:, c] / (2.0 + 1e-3 / size * s) ** 0.75
    assert torch.allclose(y, formula, rtol=1e-12, atol=0)


def test_use_band_lrn_swaps_every_lrn_and_keeps_the_state_dict():
    model = build_model("zfnet", num_classes=10, size=224)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert use_band_lrn(model) is model
    lrn = [m for m in model.modules() if isinstance(m, nn.LocalResponseNorm)]
    assert len(lrn) == 2 and all(type(m) is BandLRN for m in lrn)
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k])
                                                  for k in before)
