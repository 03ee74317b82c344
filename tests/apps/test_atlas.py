"""zflib.apps.atlas: a page for every map whose top-k is a brute-force pass over the images and
whose thumbnail is captum's deconvolution of the strongest unit; every link resolves; the
mining cache makes a second build mine nothing; a folder holding anything but an atlas is
refused before any work; rebuilds remove only their own files; one process and two torchrun
ranks write the same site."""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from zflib.apps import atlas
from zflib.apps.explorer import Preprocess, Subject
from zflib.methods import deconv, topk
from zflib.viz import atlas as pages

ROOT = Path(__file__).resolve().parents[2]
N = 11  # images


def _subject() -> Subject:
    """Two conv layers (4 and 5 maps) at 16 pixels, seeded; ReLUs not in place (captum)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
                        nn.Conv2d(4, 5, 3, padding=1), nn.ReLU()).eval()
    pre = Preprocess(torch.full((3, 1, 1), 128.0), 1 / 64, 16, 16)
    return Subject("tiny", net, pre, 0.0, None, (4, 2))


def _images(n: int = N) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (n, 16, 16, 3), generator=g, dtype=torch.uint8)


def _build(out, **kw) -> atlas.Report:
    kw.setdefault("cache_dir", Path(out).parent / "cache")
    kw.setdefault("names", [f"img{i}" for i in range(N)])
    kw.setdefault("classes", ["cat" if i % 3 else "dog" for i in range(N)])
    return atlas.build(_subject(), kw.pop("images", _images()), out, k=3, **kw)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("href", "src"):
            if key in a:
                self.links.append((a[key], a))


def _links(page: Path) -> list[tuple[str, dict]]:
    p = _Links()
    p.feed(page.read_text())
    return p.links


def _rows(page: Path) -> list[list[str]]:
    """The top-activations table's cells, row by row (tags stripped)."""
    table = page.read_text().split("<h2>The top activations</h2>")[1]
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", table)[1:]]


def test_every_map_has_a_page_and_every_link_resolves(tmp_path):
    out = tmp_path / "site"
    rep = _build(out)
    assert (rep.maps, rep.images, rep.mining_cached) == (9, N, False)
    stems = [f"conv1/map-{m:04d}" for m in range(4)] + [f"conv2/map-{m:04d}" for m in range(5)]
    want = {"index.html", "style.css", "atlas.json", ".atlas.lock", "conv1/index.html",
            "conv2/index.html"} | {f"{s}{e}" for s in stems for e in (".html", ".webp",
                                                                       "-thumb.webp")}
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == want
    marker = json.loads((out / "atlas.json").read_text())
    assert marker["complete"] and set(marker["files"]) == want - {"atlas.json", ".atlas.lock"}
    for page in out.rglob("*.html"):
        for link, _ in _links(page):
            if link.startswith("#"):
                continue
            target = (page.parent / link.split("#")[0]).resolve()
            assert target.is_file() and out.resolve() in target.parents, (page, link)
            assert not re.match(r"[a-z]+:", link), f"{page} links outside the folder: {link}"
    # previous / next walk every map in order, across layers, and back
    seen, page = [], out / "conv1/map-0000.html"
    while True:
        seen.append(str(page.relative_to(out)).removesuffix(".html"))
        nxt = [a["href"] for _, a in _links(page) if a.get("rel") == "next"]
        if not nxt:
            break
        page = (page.parent / nxt[0]).resolve().relative_to(out.resolve())
        page = out / page
    assert seen == stems
    prev = [a["href"] for _, a in _links(out / "conv2/map-0000.html") if a.get("rel") == "prev"]
    assert set(prev) == {"../conv1/map-0003.html"}  # <link> and <a>


def _brute_top(net: nn.Module, x: torch.Tensor, upto: int, k: int):
    """Each map's k strongest images (one activation per image: its maximum), by sorting."""
    with torch.no_grad():
        a = net[:upto + 1](x).flatten(2).max(2).values  # [N, C]
    out = []
    for m in range(a.shape[1]):
        order = sorted(range(len(x)), key=lambda i: (-float(a[i, m]), i))[:k]
        out.append([(i, float(a[i, m])) for i in order])
    return out


def test_map_pages_list_the_brute_force_top_k(tmp_path):
    out = tmp_path / "site"
    _build(out)
    sub = _subject()
    x = sub.preprocess.inputs(_images())
    for layer, upto in deconv.layer_indices(sub.model).items():
        top = _brute_top(sub.model, x, upto, 3)
        strength = [t[0][1] for t in top]
        for m, want in enumerate(top):
            rows = _rows(out / layer / f"map-{m:04d}.html")
            assert [r[2] for r in rows] == [f"img{i}" for i, _ in want]
            assert [float(r[1]) for r in rows] == pytest.approx([v for _, v in want], rel=1e-3)
            assert [r[3] for r in rows] == ["cat" if i % 3 else "dog" for i, _ in want]
            rank = 1 + sum(s > strength[m] for s in strength)
            text = (out / layer / f"map-{m:04d}.html").read_text()
            assert (f"layer's {pages._ordinal(rank)}strongest" in text), (layer, m, rank)
        grid = (out / layer / "index.html").read_text()
        shown = [float(v) for v in re.findall(r'data-strength="([^"]+)"', grid)]
        assert shown == pytest.approx(strength, rel=1e-6)


class _Residual(nn.Module):
    """No chain: a residual addition (zflib.methods.deconv_general's path)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()
        self.body, self.out = nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()

    def forward(self, x):
        h = self.relu(self.stem(x))
        return self.out(self.body(h) + h)


def test_a_residual_model_gets_its_atlas_with_the_brute_force_top_k(tmp_path):
    torch.manual_seed(2)
    sub = Subject("residual", _Residual().eval(), _subject().preprocess, 0.0, None, (4, 2))
    out = tmp_path / "site"
    atlas.build(sub, _images(), out, names=[f"img{i}" for i in range(N)], k=3,
                cache_dir=tmp_path / "cache", layers=["body", "out"])
    x = sub.preprocess.inputs(_images())
    for layer in ("body", "out"):
        seen: list[torch.Tensor] = []
        hook = getattr(sub.model, layer).register_forward_hook(
            lambda m, i, o, seen=seen: seen.append(o))
        try:
            with torch.no_grad():
                sub.model(x)
        finally:
            hook.remove()
        best = seen[0].flatten(2).max(2).values  # [N, C]
        for m in range(4):
            want = sorted(range(N), key=lambda i: (-float(best[i, m]), i))[:3]
            rows = _rows(out / layer / f"map-{m:04d}.html")
            assert [r[2] for r in rows] == [f"img{i}" for i in want], (layer, m)
    for page in out.rglob("*.html"):
        for link, _ in _links(page):
            assert link.startswith("#") or (page.parent / link.split("#")[0]).is_file()


def test_thumbnail_is_captums_deconvolution_of_the_strongest_unit(tmp_path):
    from captum.attr import NeuronDeconvolution

    from zflib.methods.receptive import receptive_field

    out = tmp_path / "site"
    _build(out, image_format="png")  # lossless, to compare pixels
    sub = _subject()
    net, x = sub.model, sub.preprocess.inputs(_images())
    for layer, upto in deconv.layer_indices(net).items():
        rf = receptive_field(net, layer)
        with torch.no_grad():
            act = net[:upto + 1](x)  # [N, C, H, W]
        nd = NeuronDeconvolution(net, net[upto])
        for m in range(act.shape[1]):
            flat = act[:, m].flatten(1)
            per_image = flat.max(1)
            i = int(per_image.values.argmax())  # first image on ties, as the atlas
            pos = int(flat[i].argmax())
            y, xx = divmod(pos, act.shape[-1])
            proj = nd.attribute(x[i:i + 1], (m, y, xx))[0]  # [3, S, S]
            pad = torch.zeros(3, 16 + 2 * rf.size, 16 + 2 * rf.size)
            pad[:, rf.size:rf.size + 16, rf.size:rf.size + 16] = proj
            top, left = y * rf.stride + rf.offset + rf.size, xx * rf.stride + rf.offset + rf.size
            crop = pad[:, top:top + rf.size, left:left + rf.size]
            scale = float(torch.quantile(crop.abs().flatten(), 0.995)) or 1.0
            want = ((0.5 + 0.5 * crop / scale).clamp(0, 1).permute(1, 2, 0) * 255).numpy()
            got = np.asarray(Image.open(out / layer / f"map-{m:04d}-thumb.png"), np.float64)
            assert got.shape == want.shape
            assert np.abs(got - want).max() <= 1.0, (layer, m)


@pytest.mark.filterwarnings("ignore")
def test_the_rule_projects_the_thumbnails_and_the_pages_name_it(tmp_path):
    """``rule="guided"``: each thumbnail is captum's NeuronGuidedBackprop of the map's
    strongest unit (as the deconvnet's is NeuronDeconvolution's), and the pages say so."""
    from captum.attr import NeuronGuidedBackprop

    from zflib.methods.receptive import receptive_field

    out = tmp_path / "site"
    _build(out, image_format="png", layers=["conv2"], rule="guided")
    assert "by guided backprop" in (out / "index.html").read_text()
    assert "by guided backprop" in (out / "conv2" / "map-0000.html").read_text()
    assert json.loads((out / atlas.MARKER).read_text())["rule"] == "guided"
    sub = _subject()
    net, x = sub.model, sub.preprocess.inputs(_images())
    rf = receptive_field(net, "conv2")
    with torch.no_grad():
        act = net(x)
    for m in range(act.shape[1]):
        flat = act[:, m].flatten(1)
        i = int(flat.max(1).values.argmax())
        y, xx = divmod(int(flat[i].argmax()), act.shape[-1])
        proj = NeuronGuidedBackprop(net, net[4]).attribute(x[i:i + 1], (m, y, xx))[0]
        pad = torch.zeros(3, 16 + 2 * rf.size, 16 + 2 * rf.size)
        pad[:, rf.size:rf.size + 16, rf.size:rf.size + 16] = proj
        top, left = y * rf.stride + rf.offset + rf.size, xx * rf.stride + rf.offset + rf.size
        crop = pad[:, top:top + rf.size, left:left + rf.size]
        scale = float(torch.quantile(crop.abs().flatten(), 0.995)) or 1.0
        want = ((0.5 + 0.5 * crop / scale).clamp(0, 1).permute(1, 2, 0) * 255).numpy()
        got = np.asarray(Image.open(out / "conv2" / f"map-{m:04d}-thumb.png"), np.float64)
        assert np.abs(got - want).max() <= 1.0, m
    with pytest.raises(ValueError, match="rule 'lrp'; valid: deconvnet, guided, gradient"):
        _build(tmp_path / "other", rule="lrp")


def test_a_second_build_mines_nothing_and_writes_the_same_site(tmp_path, monkeypatch):
    first = tmp_path / "first"
    _build(first)
    before = {p: p.read_bytes() for p in first.rglob("*.html")}

    def refuse(*a, **kw):
        raise AssertionError("mined again")

    monkeypatch.setattr(topk, "mine_topk", refuse)
    rep = _build(first)  # over itself: a previous atlas may be rebuilt
    assert rep.mining_cached
    assert {p: p.read_bytes() for p in first.rglob("*.html")} == before
    assert not list(first.rglob(".*.tmp*"))


@pytest.mark.parametrize("what", ["other files", "foreign marker", "a file"])
def test_a_folder_holding_anything_else_is_refused_before_any_work(tmp_path, monkeypatch, what):
    out = tmp_path / "out"
    if what == "a file":
        out.write_text("keep me")
    else:
        out.mkdir()
        name = "notes.txt" if what == "other files" else "atlas.json"
        (out / name).write_text("keep me")
    monkeypatch.setattr(topk, "mine_topk", lambda *a, **kw: pytest.fail("mined"))
    before = {p: p.read_bytes() for p in [out, *out.rglob("*")] if p.is_file()}
    message = {"other files": "holds other files (notes.txt)",
               "foreign marker": "was not written by zflib.apps.atlas",
               "a file": "is a file, not a folder"}[what]
    with pytest.raises(ValueError, match=re.escape(message)):
        _build(out)
    assert {p: p.read_bytes() for p in [out, *out.rglob("*")] if p.is_file()} == before


def test_a_rebuild_removes_only_the_files_its_previous_build_wrote(tmp_path):
    out = tmp_path / "site"
    _build(out, layers=["conv1", "conv2"])
    (out / "mine.txt").write_text("the user's")
    (out / "conv1" / "notes.txt").write_text("the user's too")
    _build(out, layers=["conv2"])
    left = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert {"mine.txt", "conv1/notes.txt", "conv2/map-0004.html"} <= left
    assert not [f for f in left if f.startswith("conv1/map-")]
    assert "conv1/index.html" not in left
    _build(out, layers=["conv2"], image_format="png")  # other picture names: the old go
    assert not list(out.rglob("*.webp")) and len(list(out.rglob("*.png"))) == 10


def test_an_interrupted_build_is_finished_by_the_next(tmp_path, monkeypatch):
    out = tmp_path / "site"
    calls = []
    real = pages.map_page

    def dies(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(pages, "map_page", dies)
    with pytest.raises(KeyboardInterrupt):
        _build(out)
    assert json.loads((out / "atlas.json").read_text())["complete"] is False
    (out / "conv2").mkdir()
    (out / "conv2" / ".map-0001.html.tmp4242").write_text("a killed build's")
    monkeypatch.setattr(pages, "map_page", real)
    _build(out)
    assert json.loads((out / "atlas.json").read_text())["complete"] is True
    assert not list(out.rglob(".*.tmp*"))


def test_a_folder_another_build_is_writing_is_refused(tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    with open(out / atlas.LOCK, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ValueError, match="another atlas build is writing"):
            _build(out)
    assert [p.name for p in out.iterdir()] == [atlas.LOCK]


def test_names_classes_and_file_names():
    # a split's names end in "(class)"; a folder's in an image extension
    assert atlas.split_classes(["val/images/val_0.JPEG (go-kart)", "cat (2).png"]) == (
        ["val/images/val_0.JPEG", "cat (2).png"], ["go-kart", None])
    assert atlas.split_classes(["photo.jpg"]) == (["photo.jpg"], [None])
    assert pages.map_stem(7, 96) == "map-0007" and pages.map_stem(7, 20000) == "map-00007"
    assert pages.layer_folder("layer4.1/conv<2>") == "layer4.1_conv_2_"
    assert pages.layer_folder(".x") == "_.x"
    assert pages.class_counts(["a", None, "b", "a"]) == [("a", 2), ("b", 1)]


# ----------------------------------------------------------------------------- command line


def _folder(path: Path, n: int = 6) -> Path:
    rng = np.random.default_rng(3)
    path.mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (70, 60, 3), dtype=np.uint8)).save(path / f"{i}.png")
    return path


def test_cli_builds_an_artifacts_atlas_from_a_folder(tmp_path, capsys):
    photos = _folder(tmp_path / "photos")
    args = ["--model", "alexnet64", "--folder", str(photos), "--layers", "conv1", "conv5",
            "--k", "2", "--out", str(tmp_path / "site"), "--cache-dir", str(tmp_path / "c")]
    assert atlas.main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["maps"] == 96 + 256 and summary["images"] == 6
    index = (tmp_path / "site" / "index.html").read_text()
    res = json.loads((ROOT / "artifacts" / "alexnet64" / "results.json").read_text())
    assert f"{100 * (1 - res['val_top1_err_10crop']):.1f}% top-1" in index
    assert "alexnet64/conv.pt" in index
    page = (tmp_path / "site" / "conv5" / "map-0000.html").read_text()
    assert "not known for these images" in page  # a folder has no classes
    assert atlas.main(args) == 0 and json.loads(capsys.readouterr().out)["mining_cached"]


def test_cli_shows_mining_projection_and_pages_on_stderr_unless_quiet(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.delenv("TQDM_DISABLE")  # the suite turns bars off (conftest)
    args = ["--model", "alexnet64", "--folder", str(_folder(tmp_path / "photos", 5)),
            "--layers", "conv1", "--k", "2", "--batch-size", "2",
            "--cache-dir", str(tmp_path / "c")]
    assert atlas.main([*args, "--out", str(tmp_path / "a")]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["maps"] == 96  # the summary alone on stdout
    for bar in ("mining conv1", "3/3", "conv1: pages", "96/96"):
        assert bar in err, (bar, err)
    assert atlas.main([*args, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_cli_builds_the_atlas_of_ones_own_exported_model(tmp_path, monkeypatch, capsys):
    from zflib.config import get_config
    from zflib.training.artifacts import save_trained
    from zflib.training.models import model_from_config

    monkeypatch.setenv("ZF_ARTIFACTS", str(tmp_path / "artifacts"))
    cfg = get_config("smoke")
    torch.manual_seed(0)
    save_trained(model_from_config(cfg), torch.full((3, cfg.image_size, cfg.image_size), 120.0),
                 cfg, "my-run")
    assert atlas.main(["--model", "my-run", "--folder", str(_folder(tmp_path / "photos", 3)),
                       "--layers", "conv1", "--k", "2", "--out", str(tmp_path / "site"),
                       "--cache-dir", str(tmp_path / "c")]) == 0
    assert json.loads(capsys.readouterr().out)["maps"] == 96
    index = (tmp_path / "site" / "index.html").read_text()
    assert "my-run/model.pt" in index and "not known" in index  # no results.json


def test_model_card_of_a_torchvision_model(tmp_path, monkeypatch):
    from zflib.apps.explorer import torchvision_subject

    card = atlas.model_card(torchvision_subject("alexnet"), torchvision="alexnet")
    assert (card.weights, card.accuracy, card.input_size) == (
        "random initialisation (no weights file)", None, 224)
    assert card.architecture == "torchvision alexnet" and "Conv2d(3, 64" in card.features
    other = tmp_path / "alexnet-owt-7be5be79.pth"  # torchvision's name, not its bytes
    other.write_bytes(b"not the published weights")
    where, accuracy = atlas._torchvision_weights("alexnet", str(other))
    assert accuracy is None and where.startswith(f"{other} (sha256 ")
    # the published file: its SHA-256 begins with the hash in torchvision's file name
    import hashlib

    import torchvision

    published = next(iter(torchvision.models.get_model_weights("alexnet")))
    digest = hashlib.sha256(other.read_bytes()).hexdigest()
    fake = type("W", (), {"url": f"https://x/alexnet-{digest[:8]}.pth", "meta": published.meta,
                          "__str__": lambda self: "AlexNet_Weights.IMAGENET1K_V1"})()
    monkeypatch.setattr(torchvision.models, "get_model_weights", lambda arch: [fake])
    where, accuracy = atlas._torchvision_weights("alexnet", str(other))
    acc = published.meta["_metrics"]["ImageNet-1K"]
    assert accuracy.startswith(f"{acc['acc@1']:.1f}% top-1, {acc['acc@5']:.1f}% top-5")
    assert where.endswith("torchvision's AlexNet_Weights.IMAGENET1K_V1")


@pytest.mark.parametrize("args, message", [
    (["--model", "nosuch"], "no artifact 'nosuch'"),
    (["--layers", "conv9"], "layer 'conv9' not in this model; valid"),
    (["--folder", "EMPTY"], "no image files"),
    (["--folder", "CORRUPT"], "no readable image in"),
    (["--torchvision", "resnet999"], "resnet999"),
    (["--out", "BUSY"], "holds other files (thesis.tex)"),
    (["--out", "AFILE"], "is a file, not a folder"),
    (["--weights", "w.pth"], "--weights goes with --torchvision"),
    (["--quality", "0"], "--quality 0 out of range 1..100"),
    (["--rule", "lrp"], "argument --rule: invalid choice: 'lrp' (choose from 'deconvnet', "
                        "'guided', 'gradient')"),
])
def test_cli_bad_input_is_a_one_line_error_before_any_work(args, message, tmp_path, capsys,
                                                           monkeypatch):
    (tmp_path / "afile").write_text("results of something else")
    (tmp_path / "empty").mkdir()
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "a.jpg").write_text("not a jpeg")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("months of work")
    places = {"EMPTY": tmp_path / "empty", "CORRUPT": tmp_path / "corrupt",
              "BUSY": tmp_path / "busy", "AFILE": tmp_path / "afile"}
    args = [str(places.get(a, a)) for a in args]
    if "--folder" not in args:
        args += ["--folder", str(_folder(tmp_path / "photos", 2))]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    if "--model" not in args and "--torchvision" not in args:
        args += ["--model", "alexnet64"]
    monkeypatch.setattr(topk, "mine_topk", lambda *a, **kw: pytest.fail("mined"))
    with pytest.raises(SystemExit) as exit_:
        atlas.main([*args, "--cache-dir", str(tmp_path / "cache")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert (tmp_path / "afile").read_text() == "results of something else"
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["thesis.tex"]
    assert not (tmp_path / "out").exists()


def _free_port() -> int:
    """A port no one listens on now (a fixed one may be taken by a benchmark's torchrun)."""
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def test_two_ranks_write_the_site_of_one_process(tmp_path):
    photos = _folder(tmp_path / "photos", 7)
    args = ["--model", "alexnet64", "--folder", str(photos), "--layers", "conv1", "conv2",
            "--k", "3", "--batch-size", "2"]
    assert atlas.main([*args, "--out", str(tmp_path / "one"),
                       "--cache-dir", str(tmp_path / "c1")]) == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={_free_port()}", "-m", "zflib.apps.atlas", *args,
           "--out", str(tmp_path / "two"), "--cache-dir", str(tmp_path / "c2")]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    one, two = tmp_path / "one", tmp_path / "two"
    files = sorted(str(p.relative_to(one)) for p in one.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(two)) for p in two.rglob("*") if p.is_file())
    for f in files:
        if f not in ("atlas.json", ".atlas.lock"):
            assert (one / f).read_bytes() == (two / f).read_bytes(), f
    assert json.loads((two / "atlas.json").read_text())["ranks"] == 2


def test_cli_builds_the_atlas_of_the_examples(tmp_path, monkeypatch, capsys):
    """``--images examples``: the full-resolution ImageNet examples of the model's classes
    (zflib.methods.subject.subject_examples), named by file and class."""
    import zflib.methods.subject as subject
    from zflib.data import ImageSet

    rng = np.random.default_rng(4)
    images = torch.from_numpy(rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8))
    data = ImageSet(images, torch.tensor([0, 1, 2, 3]), ["n0", "n1", "n2", "n3"],
                    ["goldfish", "tabby", "lemon", "reel"],
                    [f"n{i}_x.JPEG" for i in range(4)])
    asked = []
    monkeypatch.setattr(subject, "subject_examples", lambda sub: asked.append(sub.name) or data)
    assert atlas.main(["--model", "alexnet64", "--images", "examples", "--layers", "conv1",
                       "--k", "2", "--out", str(tmp_path / "site"),
                       "--cache-dir", str(tmp_path / "c")]) == 0
    assert asked == ["alexnet64"] and json.loads(capsys.readouterr().out)["images"] == 4
    assert "full-resolution ImageNet examples" in (tmp_path / "site" / "index.html").read_text()
    page = (tmp_path / "site" / "conv1" / "map-0000.html").read_text()
    assert any(name in page for name in data.names)  # the top images' classes are known
    with pytest.raises(SystemExit):
        atlas.main(["--images", "examples", "--folder", str(tmp_path), "--out",
                    str(tmp_path / "o")])
    assert "--images examples and --folder are two image sources" in capsys.readouterr().err
