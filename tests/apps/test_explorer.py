"""zflib.apps.explorer: every panel checked against brute force on a tiny random ZFNet-64, the
torchvision adapter against torchvision's own forward and transforms, the mining cache, the
widgets, and torchvision's AlexNet and VGG16 (random weights) at 224 pixels."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch
from PIL import Image

from zflib.apps import explorer
from zflib.apps.explorer import Explorer, ExplorerApp, Preprocess, Subject, TorchvisionNet
from zflib.config import get_config
from zflib.data import from_input, to_input
from zflib.methods import deconv, occlusion, topk
from zflib.methods.activations import extract
from zflib.methods.receptive import patch_box
from zflib.training.models import build_model

torch.set_num_threads(1)


def _subject(seed: int = 0, classes: int = 10) -> tuple[Subject, object]:
    torch.manual_seed(seed)
    cfg = get_config("smoke", num_classes=classes)
    model = build_model("zfnet", num_classes=classes, size=64, init="kaiming").eval()
    mean = torch.rand(3, 64, 64) * 255
    pre = Preprocess(mean, cfg.input_scale, cfg.image_size, cfg.crop_size)
    subject = Subject("tiny", model, pre, occlusion.grey_baseline(mean, cfg),
                      [f"class {i}" for i in range(classes)], (12, 6))
    return subject, cfg


def _images(n: int, seed: int = 1, size: tuple[int, int] = (64, 64)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *size, 3), dtype=torch.uint8, generator=g)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    subject, cfg = _subject()
    images = _images(12)
    labels = torch.arange(12) % 10
    ex = Explorer(subject, images, labels=labels, k=3,
                  cache_dir=tmp_path_factory.mktemp("cache"))
    return ex, cfg


def test_preprocess_matches_zflib_data():
    subject, cfg = _subject()
    images = _images(5)
    mean = subject.preprocess.mean
    torch.testing.assert_close(subject.preprocess.inputs(images), to_input(images, mean, cfg))
    torch.testing.assert_close(subject.preprocess.display(images).permute(0, 2, 3, 1),
                               from_input(to_input(images, mean, cfg), mean, cfg))


@pytest.mark.parametrize("size", [(256, 320), (512, 640)])
def test_preprocess_matches_torchvision_transforms(size):
    from torchvision.transforms.v2 import functional as TF

    pre = Preprocess(torch.tensor(explorer.IMAGENET_MEAN).view(3, 1, 1) * 255,
                     1 / (torch.tensor(explorer.IMAGENET_STD).view(3, 1, 1) * 255), 256, 224)
    images = _images(2, size=size)
    x = images.permute(0, 3, 1, 2).float() / 255
    want = TF.normalize(TF.center_crop(TF.resize(x, 256, antialias=True), 224),
                        explorer.IMAGENET_MEAN, explorer.IMAGENET_STD)
    torch.testing.assert_close(pre.inputs(images), want, atol=2e-3, rtol=0)


def test_view_against_brute_force(tiny):
    ex, cfg = tiny
    model = ex.model
    for layer, fmap, image in [("conv1", 7, 3), ("conv3", 100, 0), ("conv5", 21, 11)]:
        v = ex.view(layer, fmap, image)
        x = ex.inputs[image:image + 1]
        acts = extract(model, x, [layer])[layer][0]  # hooks: an independent path
        torch.testing.assert_close(v.activations, acts)
        amap = acts[fmap]
        flat = int(amap.argmax())
        assert v.position == divmod(flat, amap.shape[1])
        assert v.value == pytest.approx(float(amap.max()))
        # the projection: deconv of that one activation, zero outside its receptive field
        want = deconv.project(model, x, layer, maps=[fmap], positions=[list(v.position)])[0]
        torch.testing.assert_close(v.projection, want)
        top, left, bottom, right = patch_box(v.rf, *v.position)
        outside = torch.ones(56, 56, dtype=torch.bool)
        outside[max(top, 0):bottom, max(left, 0):right] = False
        assert v.projection[:, outside].abs().max() == 0 and v.projection.abs().max() > 0
        # top-k: each image's strongest activation of the map, sorted (brute force)
        per_image = extract(model, ex.inputs, [layer])[layer][:, fmap].flatten(1).amax(1)
        order = per_image.argsort(descending=True)[:ex.k]
        assert v.top.top.images[0].tolist() == order.tolist()
        torch.testing.assert_close(v.top.top.values[0], per_image[order])
        assert v.top.projections.shape[:2] == (1, ex.k)
        # occlusion: occlude by hand at two positions
        occ = v.occlusion
        assert v.target == int(ex.labels[image]) and v.target_name == f"class {v.target}"
        for i, j in [(0, 0), (len(occ.ys) - 1, len(occ.xs) // 2)]:
            y0, x0 = int(occ.ys[i]), int(occ.xs[j])
            xo = x.clone()
            xo[0, :, y0:y0 + 12, x0:x0 + 12] = ex.subject.baseline[:, y0:y0 + 12, x0:x0 + 12]
            total = extract(model, xo, [layer])[layer][0, fmap].sum()
            assert float(occ.feature[i, j]) == pytest.approx(float(total), rel=1e-4, abs=1e-4)
            with torch.no_grad():
                p = torch.softmax(model(xo), 1)[0, v.target]
            assert float(occ.prob[i, j]) == pytest.approx(float(p), abs=1e-5)
        with torch.no_grad():
            assert v.prob == pytest.approx(float(torch.softmax(model(x), 1)[0, v.target]),
                                           abs=1e-6)


def test_no_hook_left_and_view_without_occlusion(tiny):
    ex, _ = tiny
    v = ex.view("conv2", 3, 5, with_occlusion=False)
    assert v.occlusion is None and v.timings["occlusion"] < 1
    for m in ex.model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks


def test_the_rule_reaches_every_projection_of_a_view(tiny):
    """``rule``: the view's projection and its top-k are guided backprop's or the gradient's,
    the same as :func:`zflib.methods.deconv.project` gives; an unknown rule is named."""
    ex, _ = tiny
    for rule in ("guided", "gradient"):
        v = ex.view("conv3", 7, 2, with_occlusion=False, rule=rule)
        assert v.rule == rule
        x = ex.inputs[2:3]
        want = deconv.project(ex.model, x, "conv3", maps=[7], positions=[v.position],
                              rule=rule)[0]
        torch.testing.assert_close(v.projection, want)
        tp = topk.top_projections(ex.model, ex.inputs, ex.display, ex.top, "conv3", [7],
                                  rule=rule)
        torch.testing.assert_close(v.top.projections, tp.projections)
    plain = ex.view("conv3", 7, 2, with_occlusion=False)
    assert plain.rule == "deconvnet" and not torch.equal(plain.projection, v.projection)
    with pytest.raises(ValueError, match="rule 'lrp'; valid: deconvnet, guided, gradient"):
        ex.view("conv3", 7, 2, rule="lrp")


def test_errors_name_the_valid_range(tiny):
    ex, _ = tiny
    with pytest.raises(ValueError, match=r"layer 6 out of range 1\.\.5"):
        ex.view(6, 0, 0)
    with pytest.raises(ValueError, match=r"map 96 out of range 0\.\.95 of conv1"):
        ex.view("conv1", 96, 0)
    with pytest.raises(ValueError, match=r"image 12 out of range 0\.\.11"):
        ex.view("conv1", 0, 12)
    with pytest.raises(ValueError, match="no added image 'mine'"):
        ex.view("conv1", 0, "mine")
    with pytest.raises(ValueError, match="cannot read image 'bad'"):
        ex.add_image(b"not an image", key="bad")


def test_own_image_is_decoded_like_the_dataset(tiny):
    ex, _ = tiny
    arr = _images(1, seed=5, size=(80, 100))[0].numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    key = ex.add_image(buf.getvalue())
    v = ex.view("conv4", 2, key)
    # shorter side to 64 (bilinear, PIL), centre 64 square, then the network's 56 crop
    from zflib.data.common import decode_image

    want = torch.from_numpy(decode_image(io.BytesIO(buf.getvalue()), 64).copy())
    torch.testing.assert_close(v.image, want.permute(2, 0, 1)[:, 4:60, 4:60].float() / 255)
    assert v.title.startswith("your image")
    probs = torch.softmax(ex.model(ex.subject.preprocess.inputs(want[None])), 1)[0]
    assert v.target == int(probs.argmax())  # no label: the predicted class


def test_mining_is_cached_on_disk(tmp_path, monkeypatch):
    subject, _ = _subject()
    images = _images(6)
    first = Explorer(subject, images, k=2, cache_dir=tmp_path)
    assert not first.mining_cached and len(list(tmp_path.glob("topk-*.pt"))) == 1

    def boom(*a, **k):
        raise AssertionError("mined again")

    monkeypatch.setattr(topk, "mine_topk", boom)
    again = Explorer(subject, images, k=2, cache_dir=tmp_path)
    assert again.mining_cached
    for name in first.layers:
        for f in ("values", "images", "ys", "xs"):
            assert torch.equal(getattr(first.top[name], f), getattr(again.top[name], f))
    with pytest.raises(AssertionError, match="mined again"):  # other images: another key
        Explorer(subject, _images(6, seed=9), k=2, cache_dir=tmp_path)


def test_widgets_update_the_picture(tiny):
    ex, _ = tiny
    other, _cfg = _subject(seed=3)
    ex2 = Explorer(other, _images(4, seed=2), k=2, cache_dir=None)
    ui = ExplorerApp({"tiny": lambda: ex, "other": lambda: ex2})
    assert ui.png.startswith(b"\x89PNG") and ui.view.layer == "conv1"
    assert ui.map_w.max == 95 and ui.layer_w.max == 5 and ui.image_w.max == 11
    before = ui.png
    ui.layer_w.value = 3
    assert ui.view.layer == "conv3" and ui.map_w.max == 383 and ui.png != before
    ui.map_w.value = 200
    assert ui.view.fmap == 200 and ui.picture_w.value == ui.png
    ui.occl_w.value = False
    assert ui.view.occlusion is None
    ui.rule_w.value = "guided"
    assert ui.view.rule == "guided" and ui.picture_w.value == ui.png
    ui.rule_w.value = "deconvnet"
    ui.model_w.value = "other"
    assert ui.view.model == "tiny" and ui.image_w.max == 3  # both subjects are named tiny
    assert ui.explorer is ex2
    buf = io.BytesIO()
    Image.fromarray(_images(1, size=(70, 64))[0].numpy()).save(buf, format="PNG")
    ui._on_upload({"new": ({"name": "me.png", "content": memoryview(buf.getvalue())},)})
    assert ui.source_w.value == "my file" and ui.view.title.startswith("your image")
    ui.image_w.value = 2  # still the file while "my file" is chosen
    assert ui.view.title.startswith("your image")
    ui.model_w.value = "tiny"  # a new upload there reaches the other model's explorer too
    buf2 = io.BytesIO()
    Image.fromarray(_images(1, size=(64, 64), seed=7)[0].numpy()).save(buf2, format="PNG")
    ui._on_upload({"new": ({"name": "me2.png", "content": memoryview(buf2.getvalue())},)})
    ui.model_w.value = "other"
    assert torch.equal(ex2._user["upload"], ex._user["upload"])
    with pytest.raises(ValueError, match="loaders is empty"):
        ExplorerApp({})


def test_model_choices_and_zf_subject(tmp_path, monkeypatch):
    from zflib.training.artifacts import save_trained

    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path))
    subject, cfg = _subject(classes=200)
    cfg = get_config("full")
    save_trained(subject.model, subject.preprocess.mean, cfg, "alexnet64", conv_only=True)
    save_trained(subject.model, subject.preprocess.mean, cfg, "zfnet64", conv_only=True)
    for e in (2, 1):
        save_trained(subject.model, subject.preprocess.mean, cfg, "zfnet64", epoch=e)
    assert list(explorer.model_choices()) == ["zfnet64", "zfnet64 (epoch 1)",
                                              "zfnet64 (epoch 2)", "alexnet64"]
    s = explorer.zf_subject("zfnet64", epoch=2)
    assert s.name == "zfnet64 (epoch 2)" and s.class_names is None  # no trained classifier
    assert s.occluder == (12, 8) and s.data_cfg.crop_size == 56
    x = s.preprocess.inputs(_images(2))
    torch.testing.assert_close(s.model.features(x), subject.model.features(x), atol=0.05,
                               rtol=0.02)  # fp16 storage


def test_224_pixel_artifacts_are_offered_beside_the_64_pixel_ones(tmp_path, monkeypatch):
    from zflib.training.artifacts import save_trained

    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path))
    small, _ = _subject(classes=200)
    save_trained(small.model, small.preprocess.mean, get_config("full"), "zfnet64",
                 conv_only=True)
    torch.manual_seed(0)
    big = build_model("zfnet", num_classes=200, size=224).eval()
    cfg = get_config("full224")
    mean = torch.rand(3, 256, 256) * 255
    save_trained(big, mean, cfg, "zfnet224", conv_only=True)
    save_trained(big, mean, cfg, "zfnet224", epoch=1)
    save_trained(big, mean, cfg, "alexnet224-not-offered", conv_only=True)
    assert list(explorer.model_choices()) == ["zfnet64", "zfnet224", "zfnet224 (epoch 1)"]
    s = explorer.zf_subject("zfnet224")
    assert s.preprocess.crop == 224 and s.preprocess.stored == 256 and s.occluder == (48, 32)
    assert s.mine_images == explorer.LARGE_MINE_IMAGES and s.data_cfg.image_size == 256
    assert explorer.zf_subject("zfnet64").mine_images == 0  # the profile's number
    images = _images(2, size=(256, 256))
    ex = Explorer(s, images, k=1, cache_dir=None)
    v = ex.view("conv5", 3, 1, with_occlusion=False)
    assert v.image.shape == v.projection.shape == (3, 224, 224)
    assert v.activations.shape == (256, 13, 13)  # conv5 at 13x13, as in Fig. 3


@pytest.fixture(scope="module")
def tv_nets():
    import torchvision

    torch.manual_seed(0)
    return {"alexnet": torchvision.models.alexnet(weights=None).eval(),
            "vgg16": torchvision.models.vgg16(weights=None).eval()}


def test_torchvision_net_is_torchvision_forward(tv_nets):
    net = tv_nets["alexnet"]
    wrapped = TorchvisionNet(net, "alexnet").eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(x), net(x))
    assert wrapped.feature_names == {"conv1": 1, "conv2": 4, "conv3": 7, "conv4": 9,
                                     "conv5": 11}
    assert wrapped.num_classes == 1000
    assert len(TorchvisionNet(tv_nets["vgg16"], "vgg16").feature_names) == 13


def test_torchvision_weights_from_a_local_file(tmp_path, tv_nets):
    path = tmp_path / "alexnet.pth"
    torch.save(tv_nets["alexnet"].state_dict(), path)
    s = explorer.torchvision_subject("alexnet", path)
    assert s.name == "alexnet" and len(s.class_names) == 1000 and s.class_names[0] == "tench"
    assert torch.equal(s.model.features[0].weight, tv_nets["alexnet"].features[0].weight)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        explorer.torchvision_subject("alexnet", tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="unknown torchvision model 'resnet5'; valid: alexnet, "
                       "convnext_base.*, resnet50,"):
        explorer.torchvision_subject("resnet5")


@pytest.mark.parametrize("arch,channels", [("alexnet", (64, 256)), ("vgg16", (64, 512))])
def test_torchvision_models_at_224(arch, channels, tv_nets, monkeypatch):
    import torchvision

    monkeypatch.setattr(torchvision.models, arch, lambda weights=None: tv_nets[arch])
    s = explorer.torchvision_subject(arch)  # random weights, no classifier shown
    s = dataclasses.replace(s, occluder=(112, 112))
    ex = Explorer(s, _images(3, size=(64, 72)), k=2, cache_dir=None, batch_size=4)
    first, last = ex.layers[0], ex.layers[-1]
    for layer, c in zip((first, last), channels, strict=True):
        v = ex.view(layer, 5, 1)
        assert v.image.shape == v.projection.shape == (3, 224, 224)
        assert v.activations.shape[0] == c and v.target_name is None
        amap = v.activations[5]
        assert v.position == divmod(int(amap.argmax()), amap.shape[1])
        assert v.occlusion.feature.shape == (2, 2)
        assert v.top.patches.shape[:3] == (1, 2, 3)
    from zflib.viz.explorer import render_png

    assert render_png(v).startswith(b"\x89PNG")


def test_activation_grid_and_picture():
    from zflib.viz.explorer import activation_grid

    acts = torch.zeros(5, 4, 4)
    acts[3, 1, 2] = 2.0
    acts[0, 0, 0] = 1.0
    grid, cols, side = activation_grid(acts)
    assert (cols, side) == (3, 4) and grid.shape == (9, 14)
    assert grid[6, 2] == 1.0 and grid[0, 0] == 0.5  # map 3 is row 1, column 0
    assert np.isnan(grid[4, 0]) and np.isnan(grid[5, 10])  # gap; the missing 6th tile
    big, _, side = activation_grid(torch.rand(2, 100, 100), max_side=25)
    assert side == 25


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels (no pixel data)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_a_bad_upload_is_reported_and_the_app_stays_usable(tiny):
    """An unreadable file (garbage, truncated, a 20000x20000 decompression bomb) is a
    ValueError from add_image and a status line in the app, never an exception out of the
    widget callback; the last good upload stays, and switching models still works."""
    ex, _ = tiny
    with pytest.raises(ValueError, match="cannot read image 'big'.*pixels"):
        ex.add_image(_png_header(20000, 20000), key="big")
    other, _cfg = _subject(seed=4)
    ex2 = Explorer(other, _images(3, seed=3), k=2, cache_dir=None)
    ui = ExplorerApp({"tiny": lambda: ex, "other": lambda: ex2})
    buf = io.BytesIO()
    Image.fromarray(_images(1, seed=8, size=(64, 64))[0].numpy()).save(buf, format="PNG")
    good = buf.getvalue()
    ui._on_upload({"new": ({"name": "good.png", "content": memoryview(good)},)})
    shown = ui.view.image.clone()
    for name, data in [("notes.txt", b"not an image"), ("half.png", good[:len(good) // 2]),
                       ("bomb.png", _png_header(20000, 20000))]:
        ui._on_upload({"new": ({"name": name, "content": memoryview(data)},)})
        assert name in ui.status_w.value and "cannot read image" in ui.status_w.value
        assert "BytesIO" not in ui.status_w.value
    ui.model_w.value = "other"  # re-adds the last good upload, not the bad ones
    assert ui.view.title.startswith("your image") and ui.explorer is ex2
    ui.model_w.value = "tiny"
    torch.testing.assert_close(ui.view.image, shown)


def test_a_model_that_cannot_load_is_reported_in_the_status(tiny):
    ex, _ = tiny

    def broken() -> Explorer:
        raise ValueError("/w/alexnet.pth is not a torchvision alexnet state_dict")

    ui = ExplorerApp({"tiny": lambda: ex, "alexnet": broken})
    ui.model_w.value = "alexnet"
    assert "alexnet.pth is not a torchvision alexnet" in ui.status_w.value
    ui.layer_w.value = 2  # still no exception out of the callbacks
    ui.model_w.value = "tiny"
    assert ui.view.model == "tiny" and ui.view.layer == "conv2"


def test_torchvision_weights_errors_name_the_file_and_the_fault(tmp_path, tv_nets):
    good = tv_nets["alexnet"].state_dict()
    cases = {}
    torch.save(good, tmp_path / "ok.pth")
    data = (tmp_path / "ok.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[:len(data) // 3])
    cases["truncated.pth"] = "not a readable alexnet weights file"
    (tmp_path / "text.pth").write_text("hello")
    cases["text.pth"] = "not a readable alexnet weights file"
    # VGG16's keys (small tensors: only the names matter here)
    torch.save({k: torch.zeros(1) for k in tv_nets["vgg16"].state_dict()}, tmp_path / "vgg.pth")
    cases["vgg.pth"] = "not a torchvision alexnet state_dict; it looks like torchvision's vgg16"
    ten = {**good, "classifier.6.weight": torch.zeros(10, 4096),
           "classifier.6.bias": torch.zeros(10)}
    torch.save(ten, tmp_path / "ten.pth")
    cases["ten.pth"] = r"2 of another shape \['classifier.6.weight \(10, 4096\) \(want \(1000"
    torch.save({"model": good, "epoch": 3}, tmp_path / "ckpt.pt")
    cases["ckpt.pt"] = "does not hold a state_dict of tensors for alexnet"
    for name, match in cases.items():
        with pytest.raises(ValueError, match=match) as err:
            explorer.torchvision_subject("alexnet", tmp_path / name)
        assert str(tmp_path / name) in str(err.value)


def test_a_resnet_in_the_explorer():
    """Any torchvision model (here ResNet-18, random weights) is explored through the general
    path: its stages as layers, a projection, the top-k patches at the measured receptive
    field and an occlusion map."""
    s = explorer.torchvision_subject("resnet18")
    assert not isinstance(s.model, TorchvisionNet) and s.preprocess.crop == 224
    s = dataclasses.replace(s, occluder=(112, 112))
    ex = Explorer(s, _images(3, size=(64, 72)), k=2, cache_dir=None, batch_size=4)
    assert ex.layers == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    v = ex.view(2, 5, 1)
    assert v.layer == "layer1" and v.projection.shape == (3, 224, 224)
    assert v.rf == (43, 4, -21) and v.top.patches.shape[-1] == 43
    assert v.occlusion.feature.shape == (2, 2) and v.occlusion.layer == "layer1"
    assert float(v.projection.abs().sum()) > 0


# --- the examples as an image source (issue 34) -------------------------------------------


def _examples_set(n: int = 3, classes: int = 10):
    from zflib.data import ImageSet

    images = _images(n, seed=11, size=(90, 120))  # another size: resized as a file would be
    labels = torch.tensor([7, 2, 9][:n])
    names = [f"class {i}" for i in range(classes)]
    return ImageSet(images, labels, [f"n{i:08d}" for i in range(classes)], names,
                    [f"n{int(y):08d}_class_{int(y)}.JPEG" for y in labels])


def test_an_added_set_is_viewed_with_its_labels_and_the_mined_top_k(tmp_path):
    subject, _ = _subject()
    ex = Explorer(subject, _images(5), labels=torch.arange(5), k=2, cache_dir=tmp_path)
    data = _examples_set()
    ex.add_set("examples", data.images, labels=data.labels,
               names=[data.names[y] for y in data.labels.tolist()])
    v = ex.view("conv2", 5, ("examples", 1))
    pre = subject.preprocess
    x = pre.inputs(data.images[1:2])
    torch.testing.assert_close(v.image, pre.display(data.images[1:2])[0])
    torch.testing.assert_close(v.activations, extract(ex.model, x, ["conv2"])["conv2"][0])
    assert v.title == "examples 1: class 2" and v.target == 2 and v.target_name == "class 2"
    with torch.no_grad():
        assert v.prob == pytest.approx(float(torch.softmax(ex.model(x), 1)[0, 2]), abs=1e-6)
    # the top-k stays that of the mined images (brute force over them)
    per_image = extract(ex.model, ex.inputs, ["conv2"])["conv2"][:, 5].flatten(1).amax(1)
    assert v.top.top.images[0].tolist() == per_image.argsort(descending=True)[:2].tolist()
    # the mined image of the same index is another view
    assert ex.view("conv2", 5, 1).title == "image 1" and ex.view("conv2", 5, 1).target == 1
    with pytest.raises(ValueError, match=r"image 3 out of range 0\.\.2 of examples"):
        ex.view("conv1", 0, ("examples", 3))
    with pytest.raises(ValueError, match="no image set 'other'; added: examples"):
        ex.view("conv1", 0, ("other", 0))
    with pytest.raises(ValueError, match="2 labels for the 3 images of 'x'"):
        ex.add_set("x", data.images, labels=data.labels[:2])
    with pytest.raises(ValueError, match="image set 'x' is empty"):
        ex.add_set("x", data.images[:0])
    ex.add_set("examples", data.images[:2])  # replaced, now without labels: predicted class
    with torch.no_grad():
        pred = int(ex.model(pre.inputs(data.images[:1])).argmax())
    assert ex.view("conv2", 5, ("examples", 0)).target == pred


def test_widgets_offer_the_examples_as_an_image_source(tmp_path, monkeypatch):
    subject, _ = _subject()
    ex = Explorer(subject, _images(5), labels=torch.arange(5), k=2, cache_dir=tmp_path)
    data = _examples_set()
    asked = []

    def fake(sub):
        asked.append(sub.name)
        return data

    monkeypatch.setattr(explorer, "subject_examples", fake)
    ui = ExplorerApp({"tiny": lambda: ex})
    assert list(ui.source_w.options) == ["validation", "examples", "my file"]
    assert ui.image_w.max == 4
    ui.source_w.value = "examples"
    assert asked == ["tiny"] and ui.image_w.max == 2 and ui.image_w.description == "example"
    assert ui.view.title == "examples 0: class 7" and ui.view.target == 7
    ui.image_w.value = 2
    assert ui.view.title == "examples 2: class 9"
    ui.source_w.value = "validation"  # back to the mined images, the examples kept
    assert ui.image_w.max == 4 and ui.view.title == "image 2" and asked == ["tiny"]
    ui.source_w.value = "examples"
    assert asked == ["tiny"] and ui.view.title == "examples 2: class 9"

    def missing(sub):
        raise FileNotFoundError("dataset imagenet-examples not found; python -m zflib.data "
                                "install imagenet-examples")

    monkeypatch.setattr(explorer, "subject_examples", missing)
    ex2 = Explorer(subject, _images(5), labels=torch.arange(5), k=2, cache_dir=tmp_path)
    ui = ExplorerApp({"tiny": lambda: ex2})
    ui.source_w.value = "examples"  # not installed: said in the status, the app stays usable
    assert "install imagenet-examples" in ui.status_w.value
    ui.layer_w.value = 2
    assert ui.view.layer == "conv2" and "no examples" in ui.status_w.value


def test_subject_examples_are_the_models_classes_in_its_output_order(monkeypatch):
    import zflib.data
    import zflib.data.natural
    from zflib.data.natural_counts import example_files
    from zflib.methods.subject import subject_examples

    calls = []
    monkeypatch.setattr(zflib.data, "load_images", lambda cfg, source: calls.append(
        ("images", cfg.image_size, cfg.val_limit, source)) or "zf")
    monkeypatch.setattr(zflib.data.natural, "load_examples", lambda size, wnids: calls.append(
        ("examples", size, wnids)) or "tv")
    subject, cfg = _subject()
    zf = dataclasses.replace(subject, data_cfg=get_config("full224", val_limit=5))
    assert subject_examples(zf) == "zf" and calls[-1] == ("images", 256, 0, "examples")
    tv = explorer.torchvision_subject("alexnet")  # ImageNet's 1,000 outputs, sorted wnids
    assert subject_examples(tv) == "tv"
    assert calls[-1] == ("examples", 256, sorted(example_files()))
    assert len(calls[-1][2]) == 1000
