"""zflib.data: layout parsing, decoding of bad files, the uint8 cache, installation checks and
the paper's preprocessing (Sec. 3), against hand-computed expectations."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
import zipfile

import numpy as np
import pytest
import torch
from conftest import N_CLASSES, N_TRAIN, N_VAL, make_tiny_imagenet
from PIL import Image

from zflib.config import get_config
from zflib.data import (
    augment,
    center_crop,
    decode_images,
    from_input,
    load_split,
    mean_image,
    per_class_subset,
    random_crop_flip,
    ten_crops,
    to_input,
)
from zflib.data.common import decode_image
from zflib.data.install import DATASETS, Archive, DatasetSpec, dataset_root, install


def cfg10(**kw):
    return get_config("smoke", num_classes=N_CLASSES, **kw)


def test_load_split_reports_and_skips_bad_files(tiny_home, caplog):
    train = load_split(cfg10(train_per_class=0), "train")
    assert len(train) == N_CLASSES * N_TRAIN - 2
    assert sorted(train.failed) == sorted([f"train/n{1:08d}/images/n{1:08d}_3.JPEG",
                                           f"train/n{1:08d}/images/n{1:08d}_4.JPEG"])
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (64, 64, 3)
    assert train.names[0] == "class 0"
    # grayscale and CMYK files were converted to 3-channel RGB; grayscale has equal channels
    gray = train.paths.index(f"train/n{0:08d}/images/n{0:08d}_1.JPEG")
    g = train.images[gray].int()
    assert (g[..., 0] - g[..., 1]).abs().max() <= 1
    val = load_split(cfg10(val_limit=0), "val")
    assert len(val) == N_CLASSES * N_VAL
    assert val.labels.tolist()[:3] == [0, 1, 2]


def test_second_load_comes_from_cache(tiny_home, monkeypatch):
    from zflib.data import _load, common

    load_split(cfg10(), "train")
    _load.cache_clear()
    monkeypatch.setattr(common, "decode_images", None)  # would raise if called again
    again = load_split(cfg10(train_per_class=0), "train")
    assert len(again) == N_CLASSES * N_TRAIN - 2


def test_per_class_subset_takes_first_n_of_each_class():
    labels = torch.tensor([0, 1, 0, 0, 2, 1, 2, 2])
    assert per_class_subset(labels, 2).tolist() == [0, 1, 2, 4, 5, 6]
    assert per_class_subset(labels, 0).tolist() == list(range(8))


def test_train_per_class_and_class_count_check(tiny_home):
    assert len(load_split(cfg10(train_per_class=5), "train")) == N_CLASSES * 5
    with pytest.raises(ValueError, match="num_classes=200"):
        load_split(get_config("smoke"), "train")


def test_missing_dataset_says_how_to_get_it(zf_home):
    with pytest.raises(FileNotFoundError, match="make data"):
        load_split(cfg10(), "train")


def test_bad_split_name(tiny_home):
    with pytest.raises(ValueError, match="valid: train, val"):
        load_split(cfg10(), "test")


def test_decode_resizes_shorter_side_and_centre_crops(tmp_path):
    arr = np.zeros((40, 80, 3), dtype=np.uint8)
    arr[:, 20:60] = 255  # the centre square is white, the sides black
    Image.fromarray(arr).save(tmp_path / "wide.png")
    out = decode_image(tmp_path / "wide.png", 32)
    assert out.shape == (32, 32, 3)
    assert out[:, 2:-2].min() == 255  # the centre 40 columns map to the 32 kept
    images, kept, failed = decode_images([tmp_path / "wide.png", tmp_path / "none.jpg"], size=8)
    assert images.shape == (1, 8, 8, 3) and failed == [str(tmp_path / "none.jpg")]


def _zip_tree(tmp_path):
    src = tmp_path / "src"
    make_tiny_imagenet(src, bad_files=False)
    archive = tmp_path / "mirror" / "tiny.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted((src / "tiny-imagenet-200").rglob("*")):
            z.write(p, p.relative_to(src))
    return archive


def test_install_from_mirror_verifies_checksum(zf_home, tmp_path, monkeypatch):
    archive = _zip_tree(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    good = DatasetSpec("tiny-imagenet-200", (Archive("tiny.zip", f"sha256:{digest}"),), "how")
    monkeypatch.setitem(DATASETS, "tiny-imagenet", good)
    monkeypatch.setenv("ZF_DATA_MIRROR", str(archive.parent))
    root = dataset_root("tiny-imagenet")  # installs from the mirror
    assert (root / "wnids.txt").read_text().split()[0] == "n00000000"
    assert len(load_split(cfg10(), "val")) == N_CLASSES * N_VAL


def test_install_refuses_corrupt_archive(zf_home, tmp_path, monkeypatch):
    archive = _zip_tree(tmp_path)
    bad = DatasetSpec("tiny-imagenet-200", (Archive("tiny.zip", "sha256:" + "0" * 64),), "how")
    monkeypatch.setitem(DATASETS, "tiny-imagenet", bad)
    monkeypatch.setenv("ZF_DATA_MIRROR", str(archive.parent))
    with pytest.raises(ValueError, match="corrupt"):
        install("tiny-imagenet")
    assert not (zf_home / "datasets" / "tiny-imagenet-200").exists()


def test_download_unpacks_the_archive_inside_the_official_zip(zf_home, tmp_path, monkeypatch):
    """Caltech-101's official zip holds 101_ObjectCategories.tar.gz: with no mirror it is
    downloaded (here from a file:// URL), both checksums verified, the inner one unpacked."""
    src = tmp_path / "src" / "101_ObjectCategories"
    for cls in ("accordion", "BACKGROUND_Google"):
        (src / cls).mkdir(parents=True)
        Image.new("RGB", (8, 6), (10, 200, 30)).save(src / cls / "image_0001.jpg")
    inner = tmp_path / "101_ObjectCategories.tar.gz"
    with tarfile.open(inner, "w:gz") as t:
        t.add(src, arcname="101_ObjectCategories")
    official = tmp_path / "site" / "caltech-101.zip"
    official.parent.mkdir()
    with zipfile.ZipFile(official, "w") as z:
        z.write(inner, "caltech-101/101_ObjectCategories.tar.gz")
        z.writestr("caltech-101/Annotations.tar", b"not needed")
    md5 = {p: hashlib.md5(p.read_bytes()).hexdigest() for p in (inner, official)}
    spec = DATASETS["caltech101"]
    archives = (Archive("101_ObjectCategories.tar.gz", f"md5:{md5[inner]}"),
                Archive("caltech-101.zip", f"md5:{md5[official]}", official.as_uri(),
                        inner="caltech-101/101_ObjectCategories.tar.gz"))
    monkeypatch.setitem(DATASETS, "caltech101", DatasetSpec(spec.folder, archives, spec.howto))
    root = install("caltech101")
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["BACKGROUND_Google",
                                                                    "accordion"]
    assert (root / "accordion" / "image_0001.jpg").exists()
    # a download whose inner archive is not the expected one is refused
    wrong = (Archive("101_ObjectCategories.tar.gz", "md5:" + "0" * 32), archives[1])
    monkeypatch.setitem(DATASETS, "caltech101", DatasetSpec(spec.folder, wrong, spec.howto))
    (root / ".installed").unlink()
    with pytest.raises(ValueError, match="101_ObjectCategories.tar.gz has md5"):
        install("caltech101")


def test_official_caltech101_is_downloadable():
    """The default spec downloads the official zip (torchvision's URL and md5)."""
    zipped = [a for a in DATASETS["caltech101"].archives if a.url]
    assert [a.filename for a in zipped] == ["caltech-101.zip"]
    assert zipped[0].url.startswith("https://data.caltech.edu/")
    assert zipped[0].inner.endswith("/101_ObjectCategories.tar.gz")
    assert any(a.filename == "101_ObjectCategories.tar.gz" for a in DATASETS["caltech101"].archives)


def test_mean_image_and_to_input_roundtrip():
    cfg = get_config("smoke")
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, 64, 64, 3), dtype=torch.uint8, generator=g)
    from zflib.data.common import ImageSet

    data = ImageSet(images, torch.zeros(5, dtype=torch.long), ["a"], ["a"], [""] * 5)
    mean = mean_image(cfg, data)
    assert torch.allclose(mean, images.double().mean(0).permute(2, 0, 1).float(), atol=1e-4)
    x = to_input(images, mean, cfg)
    assert x.shape == (5, 3, 56, 56)
    expect = (images[0, 4:60, 4:60, 1].float() - mean[1, 4:60, 4:60]) * cfg.input_scale
    assert torch.allclose(x[0, 1], expect, atol=1e-5)
    back = from_input(x, mean, cfg)
    assert torch.allclose(back * 255, images[:, 4:60, 4:60].float(), atol=1e-3)


def test_random_crop_flip_is_a_crop_or_its_mirror():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float).reshape(2, 3, 8, 8)
    g = torch.Generator().manual_seed(1)
    out = random_crop_flip(x, 5, g)
    assert out.shape == (2, 3, 5, 5)
    for n in range(2):
        candidates = [x[n, :, t:t + 5, l_:l_ + 5] for t in range(4) for l_ in range(4)]
        candidates += [c.flip(-1) for c in candidates]
        assert any(torch.equal(out[n], c) for c in candidates)
    # same generator seed, same crops
    assert torch.equal(out, random_crop_flip(x, 5, torch.Generator().manual_seed(1)))


def test_ten_crops_corners_centre_and_flips():
    x = torch.arange(6 * 6, dtype=torch.float).reshape(1, 1, 6, 6)
    crops = ten_crops(x, 4)
    assert crops.shape == (10, 1, 1, 4, 4)
    assert torch.equal(crops[0, 0, 0], x[0, 0, :4, :4])
    assert torch.equal(crops[3, 0, 0], x[0, 0, 2:, 2:])
    assert torch.equal(crops[4, 0, 0], center_crop(x, 4)[0, 0])
    assert torch.equal(crops[9, 0, 0], center_crop(x, 4)[0, 0].flip(-1))
    with pytest.raises(ValueError, match="crop 7 out of range 1..6"):
        ten_crops(x, 7)


def test_to_input_rejects_wrong_mean_shape():
    with pytest.raises(ValueError, match="does not match"):
        to_input(torch.zeros(1, 64, 64, 3, dtype=torch.uint8), torch.zeros(3, 32, 32),
                 get_config("smoke"))


def test_truncated_jpeg_is_not_decoded_half(tmp_path):
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, format="JPEG")
    (tmp_path / "good.jpg").write_bytes(buf.getvalue())
    # headers whole, half the scan data gone: Pillow opens it, and would fill the missing
    # half with grey if truncated images were allowed
    (tmp_path / "t.jpg").write_bytes(buf.getvalue()[:len(buf.getvalue()) // 2])
    images, kept, failed = decode_images([tmp_path / "t.jpg", tmp_path / "good.jpg"], size=64)
    assert failed == [str(tmp_path / "t.jpg")] and kept == [str(tmp_path / "good.jpg")]
    # only the whole file is kept, decoded as PIL decodes it (64x64: no resize, no crop)
    want = np.asarray(Image.open(tmp_path / "good.jpg").convert("RGB"))
    assert images.shape == (1, 64, 64, 3) and np.array_equal(images[0].numpy(), want)


@pytest.mark.parametrize("form", ["loop", "gather"])
def test_augment_forms_equal_normalising_then_cropping(form):
    """augment's CPU loop and its GPU form (uint8 and mean cropped first; run here on CPU
    tensors) equal normalising the whole image, then cropping and flipping."""
    from zflib.data.transforms import gather_augment

    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (6, 16, 16, 3), dtype=torch.uint8, generator=g)
    mean = torch.rand(3, 16, 16) * 255
    fast = (augment if form == "loop" else gather_augment)(
        images, mean, 0.5, 12, torch.Generator().manual_seed(5))
    ref = random_crop_flip((images.permute(0, 3, 1, 2).float() - mean) * 0.5, 12,
                           torch.Generator().manual_seed(5))
    assert fast.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(fast, ref, atol=1e-5)
    if form == "gather":
        assert torch.equal(fast, ref)


def test_image_folder_tree(zf_home, tmp_path):
    from zflib.data.folder import load_image_folder

    rng = np.random.default_rng(1)
    for c in ("cat", "dog"):
        (tmp_path / "tree" / "val" / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)).save(
                tmp_path / "tree" / "val" / c / f"{i}.png")
    (tmp_path / "tree" / "val" / "dog" / "notes.txt").write_text("not an image")
    data = load_image_folder(tmp_path / "tree", "val", size=32)
    assert data.classes == ["cat", "dog"] and data.labels.tolist() == [0, 0, 1, 1]
    assert data.images.shape == (4, 32, 32, 3) and data.paths[0] == "cat/0.png"
    with pytest.raises(FileNotFoundError, match="needs .*/train/<class>/<image>"):
        load_image_folder(tmp_path / "tree", "train", size=32)


def _with_extra_class(tmp_path):
    """A synthetic unpacked copy holding one class beyond the official list (as the public
    500-per-class copy holds two): its training folder, wnid and validation lines."""
    src = tmp_path / "copy"
    make_tiny_imagenet(src, bad_files=False)
    base = src / "tiny-imagenet-200"
    official = tmp_path / "official_wnids.txt"
    official.write_text((base / "wnids.txt").read_text())
    extra = "n99999999"
    (base / "train" / extra / "images").mkdir(parents=True)
    (base / "train" / extra / "images" / f"{extra}_0.JPEG").write_bytes(
        (base / "val" / "images" / "val_0.JPEG").read_bytes())
    (base / "val" / "images" / "val_extra.JPEG").write_bytes(b"x")
    with open(base / "wnids.txt", "a") as f:
        f.write(extra + "\n")
    with open(base / "val" / "val_annotations.txt", "a") as f:
        f.write(f"val_extra.JPEG\t{extra}\t0\t0\t63\t63\n")
    return base, official, extra


def test_install_from_folder_keeps_the_official_classes(zf_home, tmp_path, monkeypatch):
    from zflib.data import __main__ as cli
    from zflib.data import _load, tiny

    base, official, extra = _with_extra_class(tmp_path)
    monkeypatch.setattr(tiny, "OFFICIAL_WNIDS", official)
    assert cli.main(["install", "tiny-imagenet", "--from", str(base)]) == 0
    root = zf_home / "datasets" / "tiny-imagenet-200"
    assert (root / "wnids.txt").read_text().split() == official.read_text().split()
    assert not (root / "train" / extra).exists()
    assert extra in (root / ".installed").read_text()
    _load.cache_clear()
    train = load_split(cfg10(train_per_class=0), "train")
    val = load_split(cfg10(val_limit=0), "val")
    assert len(train) == N_CLASSES * N_TRAIN and len(val) == N_CLASSES * N_VAL
    assert "val_extra.JPEG" not in " ".join(val.paths)
    # the same bytes as the source, file for file
    name = f"train/n{3:08d}/images/n{3:08d}_2.JPEG"
    assert (root / name).read_bytes() == (base / name).read_bytes()


def test_install_from_folder_refuses_a_copy_without_every_official_class(zf_home, tmp_path,
                                                                         monkeypatch):
    from zflib.data import tiny
    from zflib.data.install import install_folder

    base, official, _ = _with_extra_class(tmp_path)
    official.write_text(official.read_text() + "n12345678\n")
    monkeypatch.setattr(tiny, "OFFICIAL_WNIDS", official)
    with pytest.raises(ValueError, match="lacks 1 of the 11 official classes: n12345678"):
        install_folder("tiny-imagenet", base)
    assert not (zf_home / "datasets").exists() or not list((zf_home / "datasets").iterdir())
    with pytest.raises(FileNotFoundError, match="not an unpacked tiny-imagenet-200 folder"):
        install_folder("tiny-imagenet", tmp_path)


def test_official_class_list_is_tiny_imagenets():
    from zflib.data.tiny import OFFICIAL_WNIDS

    wnids = OFFICIAL_WNIDS.read_text().split()
    assert len(wnids) == len(set(wnids)) == 200
    assert all(w.startswith("n") and len(w) == 9 for w in wnids)
    assert get_config("full").train_per_class == 300  # the committed runs' 60,000 images


def test_dangling_link_is_reported_and_left_out(zf_home, tmp_path):
    from zflib.data.folder import load_image_folder

    (tmp_path / "tree" / "val" / "c").mkdir(parents=True)
    Image.fromarray(np.full((40, 40, 3), 7, np.uint8)).save(tmp_path / "tree/val/c/a.png")
    (tmp_path / "tree" / "val" / "c" / "b.jpg").symlink_to(tmp_path / "gone.jpg")
    data = load_image_folder(tmp_path / "tree", "val", size=32)
    assert data.paths == ["c/a.png"] and data.failed == ["c/b.jpg"]
    assert int(data.images.max()) == 7


def test_sixteen_bit_grayscale_png_keeps_its_range(tmp_path):
    g16 = np.random.default_rng(0).integers(0, 65536, (32, 32)).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "g.png")
    got = decode_image(tmp_path / "g.png", 32)
    expect = (g16 // 256).astype(np.uint8)  # the high byte, as Pillow reads 16-bit RGB
    assert got.shape == (32, 32, 3) and (got == expect[..., None]).all()


def test_cache_is_decoded_again_when_an_image_changes_at_the_same_size(zf_home, tmp_path):
    from zflib.data.folder import load_image_folder

    folder = tmp_path / "tree" / "val" / "c"
    folder.mkdir(parents=True)
    Image.fromarray(np.full((16, 16, 3), 10, np.uint8)).save(folder / "a.bmp")
    assert int(load_image_folder(tmp_path / "tree", "val", size=16).images.max()) == 10
    size = (folder / "a.bmp").stat().st_size
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(folder / "a.bmp")
    assert (folder / "a.bmp").stat().st_size == size  # a BMP's size never changes
    os.utime(folder / "a.bmp", ns=(time.time_ns() + 10**9,) * 2)
    assert int(load_image_folder(tmp_path / "tree", "val", size=16).images.max()) == 200
    Image.fromarray(np.full((16, 16, 3), 50, np.uint8)).save(folder / "b.bmp")  # added
    assert len(load_image_folder(tmp_path / "tree", "val", size=16)) == 2


def test_unreadable_cache_entry_is_decoded_again(zf_home, tmp_path, caplog):
    from zflib.data.common import cache_dir
    from zflib.data.folder import load_image_folder

    folder = tmp_path / "tree" / "val" / "c"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    first = load_image_folder(tmp_path / "tree", "val", size=16)
    (entry,) = [d for d in cache_dir().iterdir() if ".tmp" not in d.name]
    # a build killed mid-write leaves only a temporary folder, never read as an entry
    entry.with_name(entry.name + ".tmp999").mkdir()
    npy = entry / "images.npy"
    npy.write_bytes(npy.read_bytes()[:200])  # half-written (a power cut)
    again = load_image_folder(tmp_path / "tree", "val", size=16)
    assert torch.equal(again.images, first.images) and again.paths == first.paths
    assert "unreadable" in caplog.text and str(entry) in caplog.text
    assert torch.equal(load_image_folder(tmp_path / "tree", "val", size=16).images,
                       first.images)


def test_empty_class_folder_is_kept_and_reported(zf_home, tmp_path, caplog):
    from zflib.data.folder import load_image_folder

    for c in ("a", "b", "c"):
        (tmp_path / "tree" / "val" / c).mkdir(parents=True)
    for c in ("a", "c"):
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / f"tree/val/{c}/0.PNG")
    (tmp_path / "tree" / "val" / "b" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (tmp_path / "tree" / "val" / "b" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    data = load_image_folder(tmp_path / "tree", "val", size=16)
    # labels stay aligned with the folder list that a validation split shares
    assert data.classes == ["a", "b", "c"] and data.labels.tolist() == [0, 2]
    assert not data.failed and "without images" in caplog.text and ": b" in caplog.text


def test_install_command_names_a_bad_mirror_archive_or_download(zf_home, tmp_path, monkeypatch,
                                                                capsys):
    """``python -m zflib.data install``: one line on stderr and exit 1, no traceback; a
    mistyped mirror is not a cue to download; a mirror's file is never deleted."""
    import urllib.request

    from zflib.data.__main__ import main as data_main

    def no_network(url, path):
        open(path, "wb").write(b"half")  # a download cut off
        raise OSError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlretrieve", no_network)
    monkeypatch.setenv("ZF_DATA_MIRROR", str(tmp_path / "typo"))
    assert data_main(["install", "tiny-imagenet"]) == 1
    err = capsys.readouterr().err
    assert f"ZF_DATA_MIRROR={tmp_path / 'typo'} is not a folder" in err
    assert "Traceback" not in err and not (zf_home / "downloads").exists()  # nothing fetched
    archive = _zip_tree(tmp_path)
    bad = DatasetSpec("tiny-imagenet-200", (Archive("tiny.zip", "sha256:" + "0" * 64),), "how")
    monkeypatch.setitem(DATASETS, "tiny-imagenet", bad)
    monkeypatch.setenv("ZF_DATA_MIRROR", str(archive.parent))
    assert data_main(["install", "tiny-imagenet"]) == 1
    assert "the mirror's copy is corrupt" in capsys.readouterr().err and archive.exists()
    monkeypatch.delenv("ZF_DATA_MIRROR")
    official = DatasetSpec("tiny-imagenet-200",
                           (Archive("tiny.zip", "sha256:" + "0" * 64, "http://x/tiny.zip"),), "how")
    monkeypatch.setitem(DATASETS, "tiny-imagenet", official)
    assert data_main(["install", "tiny-imagenet"]) == 1
    assert "could not download tiny-imagenet from http://x/tiny.zip" in capsys.readouterr().err
    assert list((zf_home / "downloads").iterdir()) == []  # the cut-off .part is removed
    assert data_main(["install", "tiny-imagenet", "--from", str(tmp_path / "none")]) == 1
    assert "is not an unpacked tiny-imagenet-200 folder" in capsys.readouterr().err


def test_pack_and_unpack_give_back_the_official_split_byte_for_byte(zf_home, tmp_path,
                                                                     monkeypatch):
    """The parts carry every file of the official classes (and only those) unchanged; the
    unpacked folder installs as the source does."""
    from zflib.data import __main__ as cli
    from zflib.data import pack, tiny

    base, official, extra = _with_extra_class(tmp_path)
    monkeypatch.setattr(tiny, "OFFICIAL_WNIDS", official)
    parts = pack.pack(base, tmp_path / "parts", part_mb=0.2)
    assert len(parts) > 1 and all(p.stat().st_size <= 0.2e6 for p in parts)
    dest = tmp_path / "unpacked" / "tiny-imagenet-200"
    assert cli.main(["unpack", *map(str, parts), "--to", str(dest)]) == 0
    names = pack.official_files(base)
    assert not any(extra in n for n in names)
    got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert got == sorted(names)
    for n in names:
        assert (dest / n).read_bytes() == (base / n).read_bytes(), n
    assert cli.main(["install", "tiny-imagenet", "--from", str(dest)]) == 0


def test_pack_refuses_a_folder_without_an_official_class(tmp_path, monkeypatch):
    from zflib.data import pack, tiny

    base, official, _ = _with_extra_class(tmp_path)
    monkeypatch.setattr(tiny, "OFFICIAL_WNIDS", official)
    first = official.read_text().split()[0]
    import shutil

    shutil.rmtree(base / "train" / first)
    with pytest.raises(FileNotFoundError, match=first):
        pack.official_files(base)
    with pytest.raises(ValueError, match="part_mb 0"):
        pack.pack(base, tmp_path / "p", part_mb=0)


def test_unpack_refuses_a_damaged_part(tmp_path):
    import json

    from zflib.data import pack

    part = tmp_path / "part-00.npz"
    np.savez_compressed(part, blob=np.zeros(10, np.uint8), sizes=np.array([4, 4]),
                        paths=np.frombuffer(json.dumps(["a", "b"]).encode(), np.uint8))
    with pytest.raises(ValueError, match="do not agree"):
        pack.unpack([part], tmp_path / "out")
    np.savez_compressed(part, blob=np.zeros(4, np.uint8), sizes=np.array([4]),
                        paths=np.frombuffer(json.dumps(["../x"]).encode(), np.uint8))
    with pytest.raises(ValueError, match="leaves the destination"):
        pack.unpack([part], tmp_path / "out")


def test_resize_matches_pillow_bicubic_on_a_smooth_image():
    """64 -> 256 as Fig. 3's geometry needs: on a smooth image torch's bicubic (a = -0.75)
    and Pillow's (a = -0.5) agree within a grey level on average; a flat image stays flat."""
    from zflib.data import resize

    y, x = np.mgrid[0:64, 0:64]
    arr = np.stack([x * 3, y * 3, (x + y) * 2 % 256], -1).astype(np.uint8)
    ours = resize(torch.from_numpy(arr)[None], 256)[0].numpy().astype(float)
    ref = np.asarray(Image.fromarray(arr).resize((256, 256), Image.BICUBIC)).astype(float)
    assert ours.shape == (256, 256, 3)
    assert np.abs(ours - ref)[8:-8, 8:-8].mean() < 1.0
    flat = torch.full((2, 64, 64, 3), 77, dtype=torch.uint8)
    assert torch.equal(resize(flat, 256), torch.full((2, 256, 256, 3), 77, dtype=torch.uint8))
    with pytest.raises(ValueError, match="size 0 out of range"):
        resize(flat, 0)


def test_load_split_resizes_tiny_imagenet_to_the_image_size(tiny_home):
    from zflib.data import resize

    small = load_split(cfg10(), "val")
    big = load_split(cfg10(image_size=256, crop_size=224, size=224), "val")
    assert big.images.shape[1:] == (256, 256, 3)
    assert torch.equal(big.images, resize(small.images, 256))
    assert torch.equal(big.labels, small.labels)


def test_upscaled_split_is_cached_and_read_back_equal(tiny_home, monkeypatch):
    from zflib import data as D

    cfg = cfg10(image_size=256, crop_size=224, size=224)
    first = load_split(cfg, "val")
    folders = list((tiny_home / "cache").glob("tiny-imagenet-val-256-*"))
    assert len(folders) == 1  # the upscaled split, beside the 64-pixel one
    real = D.resize
    monkeypatch.setattr(D, "resize", None)  # would raise if resized again
    again = load_split(cfg, "val")
    assert torch.equal(again.images, first.images) and again.paths == first.paths
    # another subset is another entry (keyed by the 64-pixel images, not the split's name)
    monkeypatch.setattr(D, "resize", real)
    assert len(load_split(cfg10(image_size=256, crop_size=224, size=224, val_limit=5), "val")) == 5
    assert len(list((tiny_home / "cache").glob("tiny-imagenet-val-256-*"))) == 2
    # over the size limit, resized every time and never stored
    monkeypatch.setattr(D, "RESIZED_CACHE_BYTES", 1)
    load_split(cfg10(image_size=128, crop_size=112, size=112), "val")
    assert not list((tiny_home / "cache").glob("tiny-imagenet-val-128-*"))


def test_load_images_gives_the_split_or_one_full_size_example_per_class(tiny_home):
    """A figure's image source: ``val`` is the validation split; ``examples`` one image of each
    of its classes, labelled in the split's class order (the model's outputs), decoded at the
    config's image size from the full-size file."""
    from zflib.data import IMAGE_SOURCES, load_images

    cfg = cfg10(val_limit=7)
    val = load_split(cfg, "val")
    got = load_images(cfg, "val")
    assert torch.equal(got.images, val.images) and got.paths == val.paths
    folder = tiny_home / "datasets" / "imagenet-examples"
    folder.mkdir()
    (folder / ".installed").write_text('{"side": 0}\n')
    rng = np.random.default_rng(1)
    for i, wnid in reversed(list(enumerate(val.classes))):  # the folder's order is no matter
        colour = (25 * i, 0, 0)
        Image.new("RGB", (300, 200), colour).save(folder / f"{wnid}_class_{i}.JPEG")
    (folder / "n99999999_foreign.JPEG").write_bytes(_jpeg_bytes(rng))  # not a class: left out
    ex = load_images(cfg, "examples")
    assert ex.classes == val.classes and ex.labels.tolist() == list(range(len(val.classes)))
    assert ex.names == [f"class {i}" for i in range(len(val.classes))]
    assert ex.images.shape == (len(val.classes), 64, 64, 3) and ex.upscaled_from == 0
    reds = ex.images[:, 32, 32, 0].int().tolist()  # each example is its class's image
    assert all(abs(r - 25 * i) <= 3 for i, r in enumerate(reds))
    assert sorted(IMAGE_SOURCES) == ["examples", "val"]
    with pytest.raises(ValueError, match="image source 'train' not valid; valid: val, examples"):
        load_images(cfg, "train")


def _jpeg_bytes(rng) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()
