"""zflib.methods.invariance: transformations against exact oracles, distances against a hand
forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zflib.config import get_config
from zflib.data import to_input
from zflib.methods.invariance import (
    KINDS,
    choose_images,
    invariance_curves,
    mean_pixel,
    paper_values,
    transform_images,
)
from zflib.training.models import build_model

torch.set_num_threads(1)


def _images(n: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 64, 64, 3), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize("kind,value", [("translation", 0), ("scale", 1.0), ("rotation", 0)])
def test_identity_amounts_leave_images_unchanged(kind, value):
    x = _images()
    assert torch.equal(transform_images(x, kind, value, fill=(1, 2, 3)), x)


@pytest.mark.parametrize("shift", [3, -5, 15])
def test_translation_moves_rows_and_fills(shift):
    x = _images(1)
    y = transform_images(x, "translation", shift, fill=(10, 20, 30))
    if shift > 0:
        assert torch.equal(y[:, shift:], x[:, :-shift])
        assert (y[:, :shift] == torch.tensor([10, 20, 30], dtype=torch.uint8)).all()
    else:
        assert torch.equal(y[:, :shift], x[:, -shift:])
        assert (y[:, shift:] == torch.tensor([10, 20, 30], dtype=torch.uint8)).all()


def test_rotation_by_90_degrees_is_exact_and_clockwise():
    x = _images(1)
    assert torch.equal(transform_images(x, "rotation", 90), torch.rot90(x, -1, dims=(1, 2)))
    assert torch.equal(transform_images(x, "rotation", 180), x.flip(1).flip(2))


def test_scale_zooms_about_the_centre():
    """Bilinear interpolation of a linear ramp is exact: out(j) = ramp((j - c) / s + c)."""
    ramp = (3 * torch.arange(64.0))[None, None, :, None].expand(1, 64, 64, 3)
    y = transform_images(ramp.round().to(torch.uint8), "scale", 2.0)
    c, cols = 31.5, torch.arange(8, 56)
    want = (3 * ((cols - c) / 2 + c)).round()
    assert (y[0, 32, 8:56, 0].float() - want).abs().max() <= 1


def test_paper_values():
    cfg = get_config("smoke")
    t = paper_values("translation", cfg)
    assert t[0] == -15 and t[-1] == 15 and len(t) == 31  # 60 px at 224 is 15 px at 56
    assert paper_values("translation", get_config("paper"))[-1] == 60
    s = paper_values("scale", cfg)
    assert float(s[0]) == 1.0 and float(s[-1]) == pytest.approx(1.8) and len(s) == 9
    r = paper_values("rotation", cfg)
    assert r.tolist() == [float(d) for d in range(0, 360, 10)]
    with pytest.raises(ValueError, match="unknown transformation 'shear'"):
        paper_values("shear", cfg)
    with pytest.raises(ValueError, match="steps 1 out of range 2.."):
        paper_values("scale", cfg, steps=1)


def test_bad_arguments():
    x = _images(1)
    with pytest.raises(ValueError, match="uint8"):
        transform_images(x.float(), "rotation", 10)
    with pytest.raises(ValueError, match="scale 0.0 out of range"):
        transform_images(x, "scale", 0.0)
    with pytest.raises(ValueError, match="unknown transformation"):
        transform_images(x, "flip", 1)
    model = build_model("zfnet", num_classes=200, size=64).eval()
    mean = torch.full((3, 64, 64), 100.0)
    cfg = get_config("smoke")
    with pytest.raises(ValueError, match="label 200 out of range 0..199"):
        invariance_curves(model, x, torch.tensor([200]), mean, cfg, kind="scale")
    with pytest.raises(ValueError, match="1 images but 2 labels"):
        invariance_curves(model, x, torch.tensor([0, 1]), mean, cfg, kind="scale")
    with pytest.raises(ValueError, match=r"values must be \[V\] amounts, V >= 1, got shape \(0,\)"):
        invariance_curves(model, x, torch.tensor([0]), mean, cfg, kind="scale", values=[])


def test_curves_equal_a_hand_forward():
    """Distances and probabilities against the network run module by module."""
    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=64, init="kaiming").eval()
    cfg = get_config("smoke")
    x = _images(2, seed=1)
    labels = torch.tensor([3, 150])
    g = torch.Generator().manual_seed(2)
    mean = 100 + 20 * torch.rand(3, 64, 64, generator=g)
    values = torch.tensor([-7.0, 0.0, 4.0])
    res = invariance_curves(model, x, labels, mean, cfg, kind="translation", values=values)
    fc7 = model.classifier_names["fc7"]

    def feats(img):
        z = to_input(img, mean, cfg)
        with torch.no_grad():
            f = model.features(z)
            return (model.features[:2](z).flatten(1),
                    model.classifier[: fc7 + 1](f.flatten(1)).clone(),
                    torch.softmax(model(z), 1))

    c1, c7, _ = feats(x)
    fill = mean_pixel(mean)
    for j, v in enumerate(values.tolist()):
        m1, m7, p = feats(transform_images(x, "translation", v, fill=fill))
        torch.testing.assert_close(res.distance["conv1"][:, j], (m1 - c1).norm(dim=1),
                                   rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(res.distance["fc7"][:, j], (m7 - c7).norm(dim=1),
                                   rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(res.prob[:, j], p[torch.arange(2), labels], rtol=0,
                                   atol=1e-6)
    assert res.identity_index == 1
    assert float(res.distance["conv1"][:, 1].abs().max()) == 0
    assert res.examples.shape == (3, 56, 56, 3) and res.examples.dtype == torch.uint8
    assert res.distance["conv1"][:, 0].min() > 0


def test_every_kind_runs_over_the_paper_range():
    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=64, init="kaiming").eval()
    cfg = get_config("smoke")
    x = _images(1)
    mean = torch.full((3, 64, 64), 110.0)
    for kind in KINDS:
        res = invariance_curves(model, x, torch.tensor([0]), mean, cfg, kind=kind)
        assert res.prob.shape == (1, len(paper_values(kind, cfg)))
        assert float(res.distance["conv1"][0, res.identity_index]) == 0


def test_choose_images_rule():
    probs = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    labels = torch.tensor([0, 1, 1, 2])
    classes = ["a", "b", "c"]
    assert choose_images(probs, labels, classes, wnids=("b", "a")) == [2, 0]
    # a class absent from the data: the most confident image of a class not yet used
    assert choose_images(probs, labels, classes, wnids=("b", "zz")) == [2, 0]


def _hand_fc7_and_prob(model, images, labels, mean, cfg, kind, value):
    """fc7 distance and true-class probability by a hand forward in eval mode (float64)."""
    fc7 = model.classifier_names["fc7"]
    fill = mean_pixel(mean)
    with torch.no_grad():
        out = []
        for img in (images, transform_images(images, kind, value, fill=fill)):
            z = to_input(img, mean, cfg).double()
            f = model.features(z).flatten(1)
            out.append((model.classifier[: fc7 + 1](f).clone(), torch.softmax(model(z), 1)))
    return (out[1][0] - out[0][0]).norm(dim=1), out[1][1][torch.arange(len(labels)), labels]


def test_training_mode_model_is_measured_in_eval_mode_and_restored():
    """Dropout before fc6/fc7 must not add noise to the curves; modes and RNG untouched."""
    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=64, init="kaiming").train()
    modes = [m.training for m in model.modules()]
    cfg = get_config("smoke")
    x, labels = _images(2, seed=3), torch.tensor([4, 9])
    mean = torch.full((3, 64, 64), 105.0)
    rng = torch.random.get_rng_state()
    res = invariance_curves(model, x, labels, mean, cfg, kind="rotation",
                            values=torch.tensor([0.0, 30.0]))
    assert [m.training for m in model.modules()] == modes
    assert torch.equal(torch.random.get_rng_state(), rng)
    model = model.double().eval()
    dist, prob = _hand_fc7_and_prob(model, x, labels, mean, cfg, "rotation", 30.0)
    torch.testing.assert_close(res.distance["fc7"][:, 1].double(), dist, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(res.prob[:, 1].double(), prob, rtol=0, atol=1e-6)
    assert float(res.distance["fc7"][:, 0].abs().max()) == 0


def test_float64_model():
    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=64, init="kaiming").double().eval()
    cfg = get_config("smoke")
    x, labels = _images(2, seed=4), torch.tensor([1, 2])
    mean = torch.full((3, 64, 64), 95.0)
    res = invariance_curves(model, x, labels, mean, cfg, kind="scale",
                            values=torch.tensor([1.0, 1.5]))
    dist, prob = _hand_fc7_and_prob(model, x, labels, mean, cfg, "scale", 1.5)
    torch.testing.assert_close(res.distance["fc7"][:, 1].double(), dist, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(res.prob[:, 1].double(), prob, rtol=0, atol=1e-7)


def test_labels_must_be_one_integer_class_per_image():
    """[N, 1] labels gave probabilities [N, N, V]; 1.7 was read as class 1; both silently."""
    x = _images(2)
    model = build_model("zfnet", num_classes=200, size=64).eval()
    mean = torch.full((3, 64, 64), 100.0)
    cfg = get_config("smoke")
    with pytest.raises(ValueError, match=r"labels must be \[N\] integer classes, got "
                                         r"torch.int64 of shape \(2, 1\)"):
        invariance_curves(model, x, torch.tensor([[0], [1]]), mean, cfg, kind="scale")
    with pytest.raises(ValueError, match=r"got torch.float32 of shape \(2,\)"):
        invariance_curves(model, x, torch.tensor([0.0, 1.7]), mean, cfg, kind="scale")


def test_one_layer_given_alone():
    """``layers="conv1"`` is the layer conv1, not the layers "c", "o", ..."""
    x = _images(2)
    model = build_model("zfnet", num_classes=200, size=64).eval()
    mean = torch.full((3, 64, 64), 100.0)
    cfg = get_config("smoke")
    one = invariance_curves(model, x, torch.tensor([0, 1]), mean, cfg, kind="scale",
                            values=[1.0, 1.2], layers="conv1")
    ref = invariance_curves(model, x, torch.tensor([0, 1]), mean, cfg, kind="scale",
                            values=[1.0, 1.2], layers=("conv1",))
    assert list(one.distance) == ["conv1"]
    torch.testing.assert_close(one.distance["conv1"], ref.distance["conv1"], rtol=0, atol=0)


def test_candidates_pick_what_choose_images_picks_from_all_images():
    from zflib.methods.invariance import candidates

    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 6, (40,), generator=g)
    probs = torch.softmax(torch.randn(40, 6, generator=g), 1)
    classes = ["a", "b", "c", "d", "e", "f"]
    for wnids in (("b", "e"), ("f", "a", "c"), ("b", "zz")):
        among = candidates(labels, classes, wnids=wnids)
        picked = among[choose_images(probs[among], labels[among], classes, wnids=wnids)]
        assert picked.tolist() == choose_images(probs, labels, classes, wnids=wnids)
    assert candidates(labels, classes, wnids=("b", "e")).tolist() == \
        [i for i, y in enumerate(labels.tolist()) if y in (1, 4)]
    # a class missing from the data (or from the labels): every image may be picked
    assert len(candidates(labels, classes, wnids=("b", "zz"))) == 40
    assert len(candidates(labels[labels != 2], classes, wnids=("c",))) == int((labels != 2).sum())


def test_curves_in_several_passes_equal_one_pass():
    """A small batch_size splits the amounts over passes (memory at 224 pixels): same curves,
    and the unchanged image still at distance exactly 0."""
    torch.manual_seed(0)
    model = build_model("zfnet", num_classes=200, size=64, init="kaiming").eval()
    cfg = get_config("smoke")
    x = _images(3, seed=4)
    labels = torch.tensor([1, 2, 3])
    mean = torch.full((3, 64, 64), 110.0)
    values = torch.tensor([-5.0, -2.0, 0.0, 3.0, 6.0])
    one = invariance_curves(model, x, labels, mean, cfg, kind="translation", values=values)
    many = invariance_curves(model, x, labels, mean, cfg, kind="translation", values=values,
                             batch_size=7)  # two amounts a pass, with the 3 originals
    for k in ("conv1", "fc7"):
        torch.testing.assert_close(many.distance[k], one.distance[k], rtol=1e-4, atol=1e-4)
        assert float(many.distance[k][:, many.identity_index].abs().max()) == 0
    torch.testing.assert_close(many.prob, one.prob, rtol=0, atol=1e-6)
    assert torch.equal(many.examples, one.examples) and many.prob.shape == (3, 5)


def test_summarise_by_hand():
    from zflib.methods.invariance import InvarianceCurves, summarise

    values = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
    prob = torch.tensor([[0.1, 0.5, 0.8, 0.6, 0.3], [0.2, 0.2, 0.2, 0.2, 0.2]])
    conv1 = torch.tensor([[9.0, 8.0, 0.0, 8.0, 10.0], [5.0, 5.0, 0.0, 4.0, 5.0]])
    fc7 = torch.tensor([[2.0, 1.0, 0.0, 1.0, 2.0], [4.0, 2.0, 0.0, 2.0, 4.0]])
    r = InvarianceCurves(kind="translation", values=values, distance={"conv1": conv1,
                         "fc7": fc7}, prob=prob, labels=torch.tensor([0, 1]),
                         examples=torch.zeros(5, 4, 4, 3, dtype=torch.uint8))
    s = summarise([r])["translation"]
    assert s["prob_kept"] == pytest.approx(8 / 10)  # 0.1 and 0.3 fall below 0.4
    assert s["prob_mean"] == pytest.approx(float(prob.double().mean()))
    assert s["jump_conv1"] == pytest.approx((8 / 10 + 5 / 5) / 2)  # the first amount at 1 px
    assert s["jump_fc7"] == pytest.approx(0.5)
    assert s["linear_fc7"] == pytest.approx(float(np.corrcoef(
        [2, 1, 0, 1, 2] * 2, fc7.flatten().tolist())[0, 1]))
    with pytest.raises(ValueError, match="no identity"):
        summarise([InvarianceCurves(kind="scale", values=values + 5, distance={}, prob=prob,
                                    labels=r.labels, examples=r.examples)])
