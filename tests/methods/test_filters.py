"""zflib.methods.filters: band shares of hand-built filters, dead-filter rules by hand."""

import math

import pytest
import torch

from zflib.methods.filters import (
    band_energy,
    dead_by_activation,
    dead_by_weight,
    init_similarity,
    layer1_report,
    learned_component,
    radial_frequency,
)


def test_radial_frequency_bins():
    r = radial_frequency(8)
    assert r[0, 0] == 0 and r[0, 1] == pytest.approx(1 / 8) and r[4, 0] == pytest.approx(0.5)


def test_smooth_blob_is_low_and_checkerboard_high():
    # A Gaussian of sigma 2 px has power exp(-r^2 / (2 s^2)), s = 1 / (2 pi 2 sqrt 2):
    # the share beyond r = 1/6 is exp(-(1/6)^2 / (2 s^2)) = 0.013.
    c = torch.arange(11).float() - 5
    blob = torch.exp(-(c[:, None] ** 2 + c[None] ** 2) / (2 * 2.0 ** 2)).expand(1, 3, 11, 11)
    checker = ((torch.arange(11)[:, None] + torch.arange(11)[None]) % 2 * 2 - 1).float()
    bands = band_energy(torch.cat([blob, checker.expand(1, 3, 11, 11)]))
    assert bands[0, 0] == pytest.approx(1 - 0.013, abs=0.01)
    assert bands[1, 2] > 0.99


def test_mid_frequency_grating_lands_in_mid_band():
    n = 64
    y = torch.arange(n).float()
    grating = torch.cos(2 * math.pi * 0.25 * y)[None, :].expand(n, n)  # 1/4 cycle per pixel
    w = grating.expand(1, 1, n, n).clone()
    b = band_energy(w, n=n)
    assert b[0, 1] > 0.99 and b.sum().item() == pytest.approx(1)


def test_dead_rules():
    w = torch.ones(4, 3, 5, 5)
    w[2] *= 0.05
    assert dead_by_weight(w).tolist() == [False, False, True, False]
    act = torch.tensor([1.0, 2.0, 0.001, 3.0, 0.5])
    assert dead_by_activation(act).tolist() == [False, False, True, False, False]
    with pytest.raises(ValueError, match="k <= 64"):
        band_energy(torch.zeros(1, 1, 65, 65))
    with pytest.raises(ValueError, match=r"edges \(0.3, 0.2\) must increase"):
        band_energy(torch.ones(1, 1, 3, 3), edges=(0.3, 0.2))


def test_learned_component_removes_the_initial_direction():
    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(4, 3, 5, 5, generator=g)
    learned = torch.randn(4, 3, 5, 5, generator=g)
    learned -= (learned * w0).sum((1, 2, 3), keepdim=True) / (w0 * w0).sum(
        (1, 2, 3), keepdim=True) * w0  # orthogonal to w0
    w = 0.8 * w0 + learned
    assert torch.allclose(learned_component(w, w0), learned, atol=1e-5)
    assert init_similarity(w0, w0) == pytest.approx(1.0)


def test_layer1_report_counts_filters_over_the_radius_by_hand():
    from zflib.config import get_config
    from zflib.training.models import model_from_config

    model = model_from_config(get_config("smoke")).eval()
    w = model.features[0].weight
    with torch.no_grad():
        w.copy_(torch.full_like(w, 0.05))  # RMS 0.05 each: under the radius
        w[:3] = 0.3  # three filters at RMS 0.3, six times the median
        w[3] = 0.1  # exactly at the radius (what renormalisation leaves): not over
    r = layer1_report(model, torch.randn(2, 3, 56, 56))
    assert r["over_radius"] == pytest.approx(3 / w.shape[0])
    assert r["rms_max_over_median"] == pytest.approx(6.0, rel=1e-5)


def test_dead_rules_when_half_the_layer_or_more_is_dead():
    # the median of a layer with most filters dead is 0: "below 10% of 0" must not clear them
    w = torch.zeros(4, 3, 5, 5)
    w[0] = 1.0
    assert dead_by_weight(w).tolist() == [False, True, True, True]
    assert dead_by_activation(torch.tensor([1.0, 0.0, 0.0, 0.0])).tolist() == [
        False, True, True, True]
    assert dead_by_activation(torch.tensor([2.0, 1.0, 0.0, 0.0])).tolist() == [
        False, False, True, True]


def test_layer1_report_with_zero_filters_shares_sum_to_one():
    from zflib.config import get_config
    from zflib.training.models import model_from_config

    model = model_from_config(get_config("smoke")).eval()
    conv = model.features[0]
    g = torch.Generator().manual_seed(0)
    live = torch.randn(conv.weight.shape[1:], generator=g)
    n_dead = conv.weight.shape[0] * 3 // 4
    with torch.no_grad():
        conv.weight.copy_(live.expand_as(conv.weight))
        conv.weight[:n_dead] = 0.0  # three quarters of the layer all zeros: never fire
        conv.bias.zero_()
    r = layer1_report(model, torch.randn(4, 3, 56, 56, generator=g))
    assert r["dead_by_weight"] == pytest.approx(n_dead / conv.weight.shape[0])
    assert r["dead_by_activation"] == pytest.approx(n_dead / conv.weight.shape[0])
    # the live filters' shares by a direct DFT (zero-padded to 64, radial frequency)
    power = torch.fft.fft2(live.double(), s=(64, 64)).abs().pow(2).sum(0)
    f = torch.arange(64.0)
    f = torch.where(f < 32, f, f - 64) / 64
    rad = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    bands = [power[rad < 1 / 6].sum(), power[(rad >= 1 / 6) & (rad < 1 / 3)].sum(),
             power[rad >= 1 / 3].sum()]
    expect = [float(b / power.sum()) for b in bands]
    got = [r["energy_low"], r["energy_mid"], r["energy_high"]]
    assert got == pytest.approx(expect, abs=1e-5) and sum(got) == pytest.approx(1.0, abs=1e-5)
