"""zflib.methods.occlusion against captum's Occlusion and against a brute-force loop over
squares."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from captum.attr import Occlusion

from zflib.config import get_config
from zflib.methods.occlusion import (
    DOG_WNIDS,
    VEHICLE_WNIDS,
    choose_examples,
    class_mask,
    feature_off_object,
    grey_baseline,
    map_projections,
    most_confident,
    occlusion_maps,
    pixel_attribution,
    window_masks,
    window_starts,
)
from zflib.training.models import build_model

torch.set_num_threads(1)


def _model(arch: str = "zfnet"):
    torch.manual_seed(0)
    return build_model(arch, num_classes=200, size=64, init="kaiming").eval()


def _image(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3, 56, 56, generator=g), 0.1 * torch.randn(3, 56, 56, generator=g)


def _brute_force(model, x, base, size, stride, channel):
    """Every occluded image built by hand, run through the whole network one at a time."""
    feats, probs = [], []
    conv5 = model.feature_names["conv5"]
    with torch.no_grad():
        for y in window_starts(56, size, stride).tolist():
            for x0 in window_starts(56, size, stride).tolist():
                z = x.clone()
                z[:, y:y + size, x0:x0 + size] = base[:, y:y + size, x0:x0 + size]
                feats.append(model.features[: conv5 + 1](z[None])[0, channel].sum())
                probs.append(torch.softmax(model(z[None]), 1)[0])
    return torch.stack(feats), torch.stack(probs)


@pytest.mark.parametrize("size,stride", [(8, 4), (10, 4), (16, 8)])
def test_prob_map_equals_captum(size, stride):
    """Panel (d) equals captum's Occlusion (same window, stride, baseline), per pixel."""
    model = _model()
    x, base = _image()
    target = 17
    maps = occlusion_maps(model, x, target, size=size, stride=stride, baseline=base)
    occ = Occlusion(lambda z: torch.softmax(model(z), 1))
    ref = occ.attribute(x[None], sliding_window_shapes=(3, size, size),
                        strides=(3, stride, stride), baselines=base[None], target=target,
                        perturbations_per_eval=64)[0]
    ours = pixel_attribution(maps.prob, maps.clean_prob, size=size, stride=stride,
                             shape=(56, 56))
    assert ref.abs().max() > 1e-4  # the comparison is not between two zero maps
    torch.testing.assert_close(ours.expand_as(ref), ref, atol=1e-5, rtol=0)


def test_non_overlapping_windows_match_captum_directly():
    """With stride == size, captum's value at each square's pixels is clean - occluded."""
    model = _model()
    x, base = _image(2)
    maps = occlusion_maps(model, x, 3, size=8, stride=8, baseline=base)
    ref = Occlusion(lambda z: torch.softmax(model(z), 1)).attribute(
        x[None], sliding_window_shapes=(3, 8, 8), strides=(3, 8, 8), baselines=base[None],
        target=3)[0, 0]
    torch.testing.assert_close(maps.clean_prob - maps.prob, ref[::8, ::8], atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch,size,stride", [("zfnet", 8, 4), ("zfnet", 13, 5),
                                              ("alexnet", 12, 6)])
def test_all_maps_equal_brute_force(arch, size, stride):
    """(b), (d), (e) equal a loop that occludes by hand and runs the whole network."""
    model = _model(arch)
    x, base = _image(3)
    maps = occlusion_maps(model, x, 5, size=size, stride=stride, baseline=base, channel=7,
                          batch_size=50)
    feats, probs = _brute_force(model, x, base, size, stride, 7)
    n = len(window_starts(56, size, stride))
    assert maps.feature.shape == maps.prob.shape == maps.top_class.shape == (n, n)
    torch.testing.assert_close(maps.feature.flatten(), feats, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(maps.prob.flatten(), probs[:, 5], rtol=0, atol=1e-6)
    assert torch.equal(maps.top_class.flatten(), probs.argmax(1))
    torch.testing.assert_close(maps.top_prob.flatten(), probs.max(1).values, rtol=0, atol=1e-6)


def test_batch_size_does_not_change_results():
    model = _model()
    x, base = _image(4)
    a = occlusion_maps(model, x, 9, size=8, stride=8, baseline=base, batch_size=1000)
    b = occlusion_maps(model, x, 9, size=8, stride=8, baseline=base, batch_size=5)
    torch.testing.assert_close(a.prob, b.prob, rtol=0, atol=1e-6)
    torch.testing.assert_close(a.feature, b.feature, rtol=1e-5, atol=1e-4)


def test_default_channel_is_strongest_on_clean_image():
    model = _model()
    x, base = _image(5)
    maps = occlusion_maps(model, x, 0, size=16, stride=16, baseline=base)
    with torch.no_grad():
        act = model.features[: model.feature_names["conv5"] + 1](x[None])[0]
    assert maps.channel == int(act.flatten(1).amax(1).argmax())
    r, c = maps.clean_argmax
    assert act[maps.channel, r, c] == act[maps.channel].max()
    torch.testing.assert_close(maps.clean_feature, float(act[maps.channel].sum()), rtol=1e-5,
                               atol=0)
    with torch.no_grad():
        p = torch.softmax(model(x[None]), 1)[0]
    assert maps.clean_top == int(p.argmax())
    assert maps.clean_prob == pytest.approx(float(p[0]), abs=1e-6)


def test_no_hook_left_behind_also_after_an_error():
    model = _model()
    x, base = _image()
    occlusion_maps(model, x, 1, size=28, stride=28, baseline=base)
    with pytest.raises(ValueError, match="channel 256 out of range 0..255"):
        occlusion_maps(model, x, 1, size=28, stride=28, baseline=base, channel=256)
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("kwargs,message", [
    (dict(size=57, stride=4), "occluder size 57 out of range 1..56"),
    (dict(size=0, stride=4), "occluder size 0 out of range 1..56"),
    (dict(size=8, stride=0), "stride 0 out of range 1..56"),
    (dict(size=8, stride=4, target=200), "target class 200 out of range 0..199"),
    (dict(size=8, stride=4, target=-1), "target class -1 out of range 0..199"),
    (dict(size=8, stride=4, channel=256), "channel 256 out of range 0..255"),
    (dict(size=8, stride=4, layer="fc6"), "not a conv layer"),
])
def test_bad_parameters_raise_clear_errors(kwargs, message):
    model = _model()
    x, _ = _image()
    kwargs = {"target": 0, **kwargs}
    target = kwargs.pop("target")
    with pytest.raises(ValueError, match=message):
        occlusion_maps(model, x, target, **kwargs)


def test_bad_image_shape_raises():
    with pytest.raises(ValueError, match=r"\[3, S, S\]"):
        occlusion_maps(_model(), torch.zeros(2, 3, 56, 56), 0, size=8, stride=4)


def test_window_positions_follow_captum_and_cover_every_pixel():
    assert window_starts(56, 8, 4).tolist() == list(range(0, 49, 4))
    assert window_starts(56, 10, 4).tolist() == list(range(0, 49, 4))  # last one clipped
    masks = window_masks(56, 56, 10, 4)
    assert masks.shape == (13 * 13, 56, 56)
    assert masks.any(0).all()
    assert masks[-1].sum() == 8 * 8  # clipped at the border


def test_grey_baseline_shows_the_mean_pixel():
    """An input pixel equal to the baseline decodes to the mean pixel (per channel)."""
    cfg = get_config("smoke")
    g = torch.Generator().manual_seed(0)
    mean = 255 * torch.rand(3, 64, 64, generator=g)
    base = grey_baseline(mean, cfg)
    assert base.shape == (3, 56, 56)
    shown = base / cfg.input_scale + mean[:, 4:60, 4:60]
    torch.testing.assert_close(shown, mean.mean((1, 2))[:, None, None].expand(3, 56, 56))


def test_example_picking_rules():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = torch.tensor([0, 1, 1, 0])
    assert most_confident(probs, labels) == 0
    assert most_confident(probs, labels, exclude=(0,)) == 1
    among = class_mask(labels, ["n1", "n2"], ("n2",))
    assert among.tolist() == [False, True, True, False]
    assert most_confident(probs, labels, among=among, exclude=(1,)) == 2  # misclassified, still
    assert most_confident(probs, labels, among=torch.zeros(4, dtype=torch.bool)) == 0
    with pytest.raises(ValueError, match="no image left"):
        most_confident(probs, labels, exclude=(0, 1, 2, 3))


def test_feature_off_object_distance():
    model = _model()
    x, base = _image()
    maps = occlusion_maps(model, x, 0, size=8, stride=8, baseline=base)
    maps.feature = torch.ones(7, 7)
    maps.prob = torch.ones(7, 7)
    maps.feature[0, 0] = 0
    maps.prob[3, 4] = 0
    assert feature_off_object(maps) == pytest.approx((24 ** 2 + 32 ** 2) ** 0.5)


def test_choose_examples_follows_its_rule():
    """Dog and vehicle come from their groups and are the candidates whose true-class
    probability falls most under coarse occlusion; the third is, among the other images whose
    true-class probability at least halves under some square, the one whose feature and class
    are most sensitive farthest apart (an image where no square matters is passed over)."""
    model = _model()
    with torch.no_grad():
        model.classifier[-1].weight.mul_(2)  # a softmax that occlusion moves
    g = torch.Generator().manual_seed(7)
    inputs = torch.randn(8, 3, 56, 56, generator=g)
    with torch.no_grad():
        probs = torch.softmax(model(inputs), 1)
    labels = probs.argmax(1)  # all correctly classified: every image is a candidate
    classes = [f"n{i:08d}" for i in range(200)]
    dog, car = int(labels[0]), int(labels[1])
    classes[dog], classes[car] = DOG_WNIDS[0], VEHICLE_WNIDS[0]
    picks = choose_examples(model, inputs, labels, classes, probs, baseline=0.0, size=14,
                            candidates=8)

    def coarse(i):
        return occlusion_maps(model, inputs[i], int(labels[i]), size=14, stride=14,
                              baseline=0.0)

    def drop(i):
        return coarse(i).clean_prob - float(coarse(i).prob.min())

    def spread(i):
        return feature_off_object(coarse(i))

    assert picks[0] == max([i for i in range(8) if labels[i] == dog], key=drop)
    assert picks[1] == max([i for i in range(8) if labels[i] == car], key=drop)
    rest = [i for i in range(8) if i not in picks[:2]]
    located = [i for i in rest if drop(i) >= 0.5 * coarse(i).clean_prob]
    assert located and len(located) < len(rest)
    assert max(spread(i) for i in rest) > max(spread(i) for i in located)  # the rule matters
    assert picks[2] == max(located, key=spread)
    with pytest.raises(ValueError, match="candidates 0 out of range"):
        choose_examples(model, inputs, labels, classes, probs, baseline=0.0, size=14,
                        candidates=0)


def test_map_projections_use_the_deconvnet_and_skip_this_image():
    from zflib.methods import deconv, topk

    model = _model()
    g = torch.Generator().manual_seed(8)
    inputs = torch.randn(6, 3, 56, 56, generator=g)
    top = topk.mine_topk(model, inputs, layers=["conv5"], k=4)
    proj = map_projections(model, inputs[2], 11, top, inputs, k=3, exclude=2)
    assert 2 not in proj.images.tolist() and len(proj.images) == 3
    torch.testing.assert_close(
        proj.own, deconv.project_strongest(model, inputs[2], "conv5", maps=[11]).pixels[0])
    row = top["conv5"].select([11])
    j = row.images[0].tolist().index(int(proj.images[0]))
    ref = deconv.project(model, inputs[proj.images[:1]], "conv5", maps=[11],
                         positions=torch.tensor([[row.ys[0, j], row.xs[0, j]]]))
    torch.testing.assert_close(proj.others[:1], ref)
    with pytest.raises(ValueError, match="mine with k >= 5"):
        map_projections(model, inputs[2], 11, top, inputs, k=4, exclude=2)
    with pytest.raises(ValueError, match="channel 256 out of range"):
        map_projections(model, inputs[2], 256, top, inputs)


def _loop_starts(extent, size, stride):
    """Brute force: step the square until one reaches the border; keep those that show."""
    starts = [0]
    while starts[-1] + size < extent:
        starts.append(starts[-1] + stride)
    return [s for s in starts if s < extent]


@pytest.mark.parametrize("extent,size,stride", [(56, 8, 30), (56, 8, 56), (56, 1, 7),
                                                (56, 10, 4), (56, 8, 8), (20, 3, 11)])
def test_every_square_position_covers_part_of_the_image(extent, size, stride):
    """With stride > size (gaps, which captum refuses) no position lies past the border; the
    last square still reaches the border when the steps allow it."""
    assert window_starts(extent, size, stride).tolist() == _loop_starts(extent, size, stride)
    masks = window_masks(extent, extent, size, stride)
    assert masks.flatten(1).any(1).all()
    model = _model()
    x, base = _image(6)
    if extent == 56:
        maps = occlusion_maps(model, x, 2, size=size, stride=stride, baseline=base)
        n = len(_loop_starts(56, size, stride))
        assert maps.prob.shape == (n, n)
        feats, probs = _brute_force(model, x, base, size, stride, maps.channel)
        torch.testing.assert_close(maps.prob.flatten(), probs[:, 2], rtol=0, atol=1e-6)
        torch.testing.assert_close(maps.feature.flatten(), feats, rtol=1e-4, atol=1e-4)


def _wide_model(height, width):
    """ZFNet-64 whose fc6 takes the features of a height x width input (duck-typed ConvNet)."""
    model = _model()
    with torch.no_grad():
        n = model.features(torch.zeros(1, 3, height, width)).numel()
    torch.manual_seed(1)
    model.classifier[1] = torch.nn.Linear(n, model.classifier[1].out_features)
    model.input_size = (height, width)
    return model.eval()


def test_non_square_image_equals_brute_force_and_captum():
    h, w, size, stride = 48, 64, 8, 4
    model = _wide_model(h, w)
    g = torch.Generator().manual_seed(9)
    x, base = torch.randn(3, h, w, generator=g), 0.1 * torch.randn(3, h, w, generator=g)
    maps = occlusion_maps(model, x, 5, size=size, stride=stride, baseline=base, channel=7)

    def net(z):
        return torch.softmax(model.classifier(model.features(z).flatten(1)), 1)

    conv5 = model.feature_names["conv5"]
    feats, probs = [], []
    with torch.no_grad():
        for y in range(0, h - size + 1, stride):  # (S - size) divisible by stride here
            for x0 in range(0, w - size + 1, stride):
                z = x.clone()
                z[:, y:y + size, x0:x0 + size] = base[:, y:y + size, x0:x0 + size]
                feats.append(model.features[: conv5 + 1](z[None])[0, 7].sum())
                probs.append(net(z[None])[0, 5])
    ny, nx = (h - size) // stride + 1, (w - size) // stride + 1
    assert maps.prob.shape == (ny, nx)
    torch.testing.assert_close(maps.feature.flatten(), torch.stack(feats), rtol=1e-4,
                               atol=1e-4)
    torch.testing.assert_close(maps.prob.flatten(), torch.stack(probs), rtol=0, atol=1e-6)
    ref = Occlusion(net).attribute(x[None], sliding_window_shapes=(3, size, size),
                                   strides=(3, stride, stride), baselines=base[None], target=5,
                                   perturbations_per_eval=64)[0, 0]
    ours = pixel_attribution(maps.prob, maps.clean_prob, size=size, stride=stride, shape=(h, w))
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_runs_in_eval_mode_and_restores_every_module_mode_and_the_rng():
    """A model left in training mode: dropout is off during the analysis (results equal the
    eval-mode brute force), each module's own mode comes back, and no random number is drawn."""
    model = _model().train()
    model.classifier[0].eval()  # a mixed state, to be restored as it was
    modes = [m.training for m in model.modules()]
    x, base = _image(3)
    rng = torch.random.get_rng_state()
    maps = occlusion_maps(model, x, 5, size=13, stride=5, baseline=base, channel=7)
    assert [m.training for m in model.modules()] == modes
    assert torch.equal(torch.random.get_rng_state(), rng)
    with pytest.raises(ValueError, match="channel 999 out of range 0..255"):
        occlusion_maps(model, x, 5, size=13, stride=5, baseline=base, channel=999)
    assert [m.training for m in model.modules()] == modes
    model.eval()
    feats, probs = _brute_force(model, x, base, 13, 5, 7)
    torch.testing.assert_close(maps.prob.flatten(), probs[:, 5], rtol=0, atol=1e-6)
    torch.testing.assert_close(maps.feature.flatten(), feats, rtol=1e-4, atol=1e-4)


def test_float64_model_equals_brute_force_in_float64():
    model = _model().double()
    x, base = _image(3)
    maps = occlusion_maps(model, x, 5, size=13, stride=5, baseline=base, channel=7)
    feats, probs = _brute_force(model, x.double(), base.double(), 13, 5, 7)
    torch.testing.assert_close(maps.prob.flatten().double(), probs[:, 5], rtol=0, atol=1e-7)
    torch.testing.assert_close(maps.feature.flatten().double(), feats, rtol=1e-6, atol=1e-5)


def test_target_as_a_tensor_or_numpy_integer_and_a_clear_error_otherwise():
    model = _model()
    x, base = _image()
    ref = occlusion_maps(model, x, 3, size=16, stride=16, baseline=base)
    for t in (torch.tensor(3), torch.tensor([3]), np.int64(3)):
        maps = occlusion_maps(model, x, t, size=16, stride=16, baseline=base)
        assert type(maps.target) is int and maps.target == 3
        torch.testing.assert_close(maps.prob, ref.prob, rtol=0, atol=0)
    with pytest.raises(TypeError, match="target must be an integer class index, got 3.0"):
        occlusion_maps(model, x, 3.0, size=16, stride=16, baseline=base)


def test_integer_pixels_raise():
    """uint8 pixels were cast to the model's dtype without a word (probabilities of 1e-39)."""
    model = _model()
    x, _ = _image()
    with pytest.raises(ValueError, match="x holds torch.uint8 values; want floating network"):
        occlusion_maps(model, (x * 50 + 128).clamp(0, 255).to(torch.uint8), 0, size=8, stride=4)


@pytest.mark.parametrize("kwargs, message", [
    (dict(size=8.5, stride=4), "occluder size must be a whole number of pixels, got 8.5"),
    (dict(size=8, stride=8 / 2), "stride must be a whole number of pixels, got 4.0"),
])
def test_fractional_window_is_refused(kwargs, message):
    """A fractional square or stride (``stride=size / 2``) is refused, not an IndexError."""
    model = _model()
    x, _ = _image()
    with pytest.raises(TypeError, match=message):
        occlusion_maps(model, x, 0, **kwargs)


def test_most_confident_refuses_labels_that_do_not_fit_the_probabilities():
    probs = torch.tensor([[0.7, 0.3], [0.2, 0.8]])
    with pytest.raises(ValueError, match=r"probs of shape \(2, 2\); want \[3, K\] for 3 labels"):
        most_confident(probs, torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match=r"label 2 out of range 0..1"):
        most_confident(probs, torch.tensor([0, 2]))


@pytest.mark.parametrize("shape", [(3,), (3, 64, 64)])
def test_a_baseline_that_does_not_fit_the_image_is_named(shape):
    """A mean pixel [3] or the uncropped mean image: an expand error before."""
    model = _model()
    x, _ = _image()
    with pytest.raises(ValueError, match=rf"baseline of shape {re.escape(str(shape))} does not "
                                         r"broadcast to the image's \[3, 56, 56\]"):
        occlusion_maps(model, x, 0, size=8, stride=4, baseline=torch.zeros(shape))


def test_image_of_another_size_is_refused_before_the_passes():
    with pytest.raises(ValueError, match=r"x has images of \(64, 64\) pixels; this model "
                                         r"takes 56x56"):
        occlusion_maps(_model(), torch.zeros(3, 64, 64), 0, size=8, stride=4)


def test_square_geometry_scales_the_56_pixel_square_with_the_input():
    from zflib.methods.occlusion import SQUARE_AT_56, square_geometry

    assert square_geometry(get_config("full")) == SQUARE_AT_56 == (12, 4)
    assert square_geometry(get_config("full224")) == (48, 16)
