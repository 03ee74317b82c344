"""Sanity checks against independent references: scipy's Spearman correlation, scikit-image's
SSIM and HOG, parameter-by-parameter comparison of the randomised copies, and Quantus's MPRT
with zflib's projection plugged in. Not in the paper: Adebayo et al. 2018, Nie et al. 2018."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from zflib.methods import sanity
from zflib.training.models import build_model

torch.set_num_threads(1)


def zfnet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("zfnet", num_classes=10, size=64, init="kaiming").eval()


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
               for m in model.modules())


def test_spearman_equals_scipy_with_ties_signed_and_absolute():
    from scipy.stats import spearmanr

    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 3, 5, 5, generator=g)
    b = a + 0.7 * torch.randn(4, 3, 5, 5, generator=g)
    a[:, 0] = 0  # ties: a third of the values zero
    b[:, :, :2] = b[:, :, :2].round()
    for absolute in (False, True):
        ours = sanity.spearman(a, b, absolute=absolute)
        for i in range(4):
            u, v = a[i].flatten().numpy(), b[i].flatten().numpy()
            if absolute:
                u, v = np.abs(u), np.abs(v)
            assert float(ours[i]) == pytest.approx(spearmanr(u, v).statistic, abs=1e-12)
    assert sanity.spearman(torch.zeros(1, 9), torch.arange(9.0)[None]).isnan().all()


def test_ssim_equals_scikit_image_and_hog_is_pearson_of_its_features():
    from scipy.stats import pearsonr
    from skimage.feature import hog
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(1)
    a = torch.rand(3, 56, 56, generator=g, dtype=torch.float64)
    b = (a + 0.3 * torch.rand(3, 56, 56, generator=g, dtype=torch.float64)).clamp(0, 1)
    ours = sanity.ssim(a, b)
    hogs = sanity.hog_similarity(a, b)
    for i in range(3):
        want = structural_similarity(a[i].numpy(), b[i].numpy(), data_range=1.0)
        assert float(ours[i]) == pytest.approx(want, abs=1e-12)
        want = pearsonr(hog(a[i].numpy()), hog(b[i].numpy())).statistic
        assert float(hogs[i]) == pytest.approx(want, abs=1e-12)
    assert float(sanity.ssim(a, a)[0]) == pytest.approx(1.0)


def test_similarity_of_projections_and_of_zeros():
    g = torch.Generator().manual_seed(2)
    p = torch.randn(2, 3, 24, 24, generator=g)
    q = p.clone()
    q[1] = 0  # a dead projection: no similarity
    out = sanity.similarity(p, q)
    assert list(out) == list(sanity.MEASURES)
    for m, v in out.items():
        assert float(v[0]) == pytest.approx(1.0), m
        assert v[1].isnan(), m
    grey = sanity.grey(p)
    assert grey.shape == (2, 24, 24) and float(grey.min()) >= 0 and float(grey.max()) == 1.0


def test_randomise_changes_exactly_the_intended_layers_on_a_copy():
    model = zfnet()
    before = {n: t.clone() for n, t in model.state_dict().items()}
    state = torch.random.get_rng_state()
    rnd = sanity.randomise(model, ["conv5", "fc7"], seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG untouched
    assert all(torch.equal(before[n], t) for n, t in model.state_dict().items())  # original
    changed = {n.rsplit(".", 1)[0] for n, t in rnd.state_dict().items()
               if not torch.equal(before[n], t)}
    assert changed == {"features.11", "classifier.4"}  # conv5's Conv2d, fc7's Linear
    again = sanity.randomise(model, ["conv5", "fc7"], seed=3)
    assert all(torch.equal(a, b) for a, b in zip(rnd.state_dict().values(),
                                                  again.state_dict().values(), strict=True))
    # PyTorch's default init: Kaiming-uniform, a = sqrt(5): |w| <= 1 / sqrt(fan_in)
    w = rnd.features[11].weight
    assert float(w.detach().abs().max()) <= 1 / np.sqrt(w[0].numel()) + 1e-7
    assert sanity.layer_modules(model, "conv2") == ["features.4"]
    assert sanity.randomisable_layers(model) == ["fc8", "fc7", "fc6", "conv5", "conv4",
                                                 "conv3", "conv2", "conv1"]
    assert no_hooks(model) and no_hooks(rnd)


@pytest.mark.filterwarnings("ignore")
def test_a_cascade_randomises_top_down_and_leaves_the_model_as_it_was():
    model = zfnet()
    before = {n: t.clone() for n, t in model.state_dict().items()}
    torch.manual_seed(4)
    x = torch.randn(2, 3, 56, 56)
    curve = sanity.randomisation_test(model, x, layers=["conv5", "conv4"], seeds=(0, 1),
                                      measures=["spearman_abs", "ssim"])
    assert curve.steps == ["conv5", "conv5-conv4"]
    assert curve.values["gradient"]["ssim"].shape == (2, 2, 2)
    assert curve.examples["guided"].shape == (2, 3, 56, 56)
    summary = curve.summary()
    assert set(summary) == {"deconvnet", "guided", "gradient"}
    assert summary["guided"]["spearman_abs"]["conv5"]["n"] == 4
    assert all(torch.equal(before[n], t) for n, t in model.state_dict().items())
    assert no_hooks(model)
    # one layer at a time
    ind = sanity.randomisation_test(model, x, rules="deconvnet", order="independent",
                                    layers=["conv5", "conv4"], measures="spearman")
    assert ind.steps == ["conv5", "conv4"]
    # a unit target: the strongest activation of maps of a layer
    unit = sanity.randomisation_test(model, x, rules="guided", layers=["conv5"],
                                     target="conv3", maps=[0, 1], measures="spearman_abs")
    assert unit.values["guided"]["spearman_abs"].shape == (1, 1, 4)


def test_class_sensitivity_picks_another_class():
    model = zfnet()
    torch.manual_seed(5)
    x = torch.randn(3, 3, 56, 56)
    out = sanity.class_sensitivity(model, x, measures=["spearman_abs"], seed=1)
    assert all(a != b for a, b in out["classes"])
    assert set(out) == {"classes", "deconvnet", "guided", "gradient"}
    assert -1 <= out["guided"]["spearman_abs"]["mean"] <= 1


def test_errors_name_the_valid_choices():
    model = zfnet()
    x = torch.randn(1, 3, 56, 56)
    with pytest.raises(ValueError, match="rule 'lrp'; valid: deconvnet, guided, gradient"):
        sanity.randomisation_test(model, x, rules=["lrp"])
    with pytest.raises(ValueError, match="measure 'psnr'; valid: spearman_abs, spearman, ssim, "
                                         "hog"):
        sanity.randomisation_test(model, x, measures=["psnr"])
    with pytest.raises(ValueError, match="order 'bottom_up'; valid: cascading, independent"):
        sanity.randomisation_test(model, x, order="bottom_up")
    with pytest.raises(ValueError, match="layer 'conv9' not in ConvNet; valid: fc8, fc7, fc6, "
                                         "conv5"):
        sanity.randomise(model, ["conv5", "conv9"])
    with pytest.raises(ValueError, match="measure 'l2'; valid"):
        sanity.similarity(x, x, ["l2"])


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("rule", ["deconvnet", "guided", "gradient"])
def test_quantus_mprt_with_zflibs_projection_gives_the_same_similarities(rule):
    """Quantus 0.6.0's MPRT (cascading, top down over every module with reset_parameters,
    each after torch.manual_seed(seed + 1); Spearman of absolute, max-normalised
    explanations) with zflib's class-logit projection as explain_func: the same numbers as
    randomisation_test over the same layers with seed one more, to 1e-6."""
    quantus = pytest.importorskip("quantus")
    model = zfnet()
    torch.manual_seed(6)
    x, y = torch.randn(3, 3, 56, 56), torch.tensor([1, 4, 7])
    layers = sanity.randomisable_layers(model)
    ours = sanity.randomisation_test(model, x, rules=rule, layers=layers, targets=y,
                                     measures="spearman_abs", seeds=(5,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mprt = quantus.MPRT(layer_order="top_down", seed=4, disable_warnings=True)
        got = mprt(model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=None,
                   explain_func=sanity.as_numpy_explainer(rule=rule), device="cpu")
    names = [n for n in got if n != "original"]
    assert names == ["classifier.6", "classifier.4", "classifier.1", "features.11",
                     "features.9", "features.7", "features.4", "features.0"]
    theirs = np.array([got[n] for n in names])
    mine = ours.values[rule]["spearman_abs"][:, 0, :].numpy()
    assert np.abs(mine - theirs).max() <= 1e-6
