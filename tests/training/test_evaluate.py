"""zflib.training.evaluate: 10-crop softmax averaging and top-k errors against a brute-force
loop."""

import pytest
import torch
import torch.nn.functional as F

from zflib.config import get_config
from zflib.training.evaluate import error_rates, predict
from zflib.training.models import build_model


def test_ten_crop_prediction_equals_brute_force():
    torch.manual_seed(0)
    cfg = get_config("smoke", num_classes=7)
    model = build_model("zfnet", size=64, num_classes=7, init="kaiming").eval()
    images = torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8)
    mean = torch.full((3, 64, 64), 100.0)
    got = predict(model, images, mean, cfg, ten_crop=True, batch_size=2)
    x = (images.permute(0, 3, 1, 2).float() - 100) * cfg.input_scale
    expect = torch.zeros(3, 7)
    with torch.no_grad():
        for top, left in [(0, 0), (0, 8), (8, 0), (8, 8), (4, 4)]:
            for flip in (False, True):
                c = x[:, :, top:top + 56, left:left + 56]
                c = c.flip(-1) if flip else c
                expect += F.softmax(model(c), 1) / 10
    assert torch.allclose(got, expect, atol=1e-5)
    model.train()  # predicts in eval mode (no dropout), then gives the model back as it was
    again = predict(model, images, mean, cfg, ten_crop=True, batch_size=3)
    assert model.training and torch.allclose(again, got, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size 0 out of range 1.."):
        predict(model, images, mean, cfg, batch_size=0)


def test_error_rates_by_hand():
    probs = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.0, 0.0],
                          [0.5, 0.05, 0.1, 0.15, 0.2, 0.0],
                          [0.0, 0.05, 0.05, 0.1, 0.1, 0.7]])
    labels = torch.tensor([3, 4, 0])
    r = error_rates(probs, labels)
    assert abs(r["top1_err"] - 2 / 3) < 1e-6  # only the first is right
    assert abs(r["top5_err"] - 1 / 3) < 1e-6  # the second is 2nd; the third's label is last


def test_train_error_sample_spans_every_class():
    """The training split is stored class by class: the sample for Table 3's train error takes
    images from all of it, not the first classes."""
    from zflib.training.evaluate import train_error_sample

    labels = torch.arange(200).repeat_interleave(300)  # 60,000 images, class-ordered
    pick = train_error_sample(len(labels))
    assert len(pick) == 10_000 and len(set(pick.tolist())) == 10_000
    counts = torch.bincount(labels[pick], minlength=200)
    assert counts.min() >= 49 and counts.max() <= 51
    assert train_error_sample(7).tolist() == list(range(7))
