"""zflib.methods.activations: recorded layers equal the network cut at that layer; no hook outlives
its block, even one that raises; bad names and batch sizes are refused."""

from __future__ import annotations

import pytest
import torch

from zflib.methods.activations import extract, record_activations
from zflib.training.models import build_model

torch.set_num_threads(1)


def _model():
    torch.manual_seed(0)
    return build_model("zfnet", size=64, num_classes=10, init="kaiming").eval()


def _hooks(model) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def _cut(model, x):
    """Brute force: run the sequential blocks by hand up to conv5 and fc7."""
    with torch.no_grad():
        conv5 = model.features[: model.feature_names["conv5"] + 1](x)
        fc7 = model.classifier[: model.classifier_names["fc7"] + 1](model.features(x).flatten(1))
    return conv5, fc7


def test_record_activations_equals_the_cut_network_and_removes_its_hooks():
    model, x = _model(), torch.randn(3, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    conv5, fc7 = _cut(model, x)
    with torch.no_grad(), record_activations(model, ["conv5", "fc7"]) as acts:
        assert _hooks(model) == 2
        model(x)
    assert _hooks(model) == 0
    torch.testing.assert_close(acts["conv5"], conv5)
    torch.testing.assert_close(acts["fc7"], fc7)
    with pytest.raises(RuntimeError, match="inside the block"), \
            record_activations(model, ["conv1", "conv2"]):
        raise RuntimeError("inside the block")
    assert _hooks(model) == 0


def test_extract_batches_stop_early_and_refuse_bad_input():
    model, x = _model(), torch.randn(5, 3, 56, 56, generator=torch.Generator().manual_seed(2))
    conv5, fc7 = _cut(model, x)
    got = extract(model, x, ["conv5", "fc7"], batch_size=2)  # batches of 2, 2, 1
    torch.testing.assert_close(got["conv5"], conv5)
    torch.testing.assert_close(got["fc7"], fc7)
    assert _hooks(model) == 0
    with pytest.raises(ValueError, match="batch_size 0 out of range 1.."):
        extract(model, x, ["conv5"], batch_size=0)
    with pytest.raises(ValueError, match="names is empty"):
        extract(model, x, [])
    assert _hooks(model) == 0


def test_one_layer_name_given_alone():
    """``"conv5"`` is one layer, not the layers "c", "o", "n", "v", "5"."""
    model, x = _model(), torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(3))
    conv5, _ = _cut(model, x)
    got = extract(model, x, "conv5")
    assert list(got) == ["conv5"]
    torch.testing.assert_close(got["conv5"], conv5)
    with torch.no_grad(), record_activations(model, "conv5") as acts:
        model(x)
    assert list(acts) == ["conv5"] and _hooks(model) == 0


def test_extract_runs_in_eval_mode_and_restores_the_models_mode():
    """fc7 of a model left in train mode is the eval network's (no dropout noise), and the
    model is back in train mode afterwards."""
    model, x = _model(), torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(4))
    _, fc7 = _cut(model, x)  # the brute force, in eval mode
    model.train()
    got = extract(model, x, "fc7")["fc7"]
    torch.testing.assert_close(got, fc7)
    assert model.training and all(m.training for m in model.modules())


def test_inputs_follow_the_models_dtype():
    """float32 inputs to a float64 model: each batch is cast to the model's dtype, so the
    result is the float64 network's, not an error."""
    model, x = _model(), torch.randn(3, 3, 56, 56, generator=torch.Generator().manual_seed(5))
    model = model.double()
    conv5, _ = _cut(model, x.double())
    got = extract(model, x, "conv5", batch_size=2)["conv5"]
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, conv5, rtol=0, atol=0)
