"""zflib.data.natural_install: the per-class count check, unreadable images, atomic installs,
from a folder and from an archive, on tiny synthetic trees (never the real sets)."""

from __future__ import annotations

import hashlib
import json
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from zflib.data import natural_install as ni
from zflib.data.install import Archive
from zflib.data.natural_counts import (
    CALTECH101_COUNTS,
    IMAGENETTE2_COUNTS,
    IMAGEWOOF2_COUNTS,
    example_files,
)
from zflib.data.natural_install import NATURAL, NaturalSpec

COUNTS = {"train/n02086240": 3, "train/n02099601": 2, "val/n02086240": 1, "val/n02099601": 2}


def write_image(path, seed, size=(40, 30), mode="RGB", fmt="JPEG"):
    """A noise image of ``size`` (w, h) in ``mode``; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(
        mode).save(path, format=fmt)
    return path


def entries(folder):
    """The names in ``folder`` (none if it does not exist)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def make_tree(top, counts, **kw):
    """``counts`` images per class folder under ``top``, named ``<i>.JPEG``."""
    seed = 0
    for key, n in counts.items():
        for i in range(n):
            write_image(top / key / f"{i}.JPEG", seed, **kw)
            seed += 1
    return top


@pytest.fixture
def woof(zf_home, monkeypatch):
    """A four-class 'imagewoof2' spec (two breeds, two splits) and $ZF_HOME/datasets."""
    spec = NaturalSpec("imagewoof2", dict(COUNTS), ("imagewoof2-320",), (), "install it")
    monkeypatch.setitem(NATURAL, "imagewoof2", spec)
    return zf_home / "datasets" / "imagewoof2"


def test_a_complete_copy_installs_byte_for_byte_with_its_record(tmp_path, woof):
    src = make_tree(tmp_path / "copy", COUNTS)
    (src / "train" / "n02086240" / ".DS_Store").write_bytes(b"\0")  # hidden: not a file here
    root, summary = ni.install_natural_folder("imagewoof2", src)
    assert root == woof
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    want = sorted(f"{k}/{i}.JPEG" for k, n in COUNTS.items() for i in range(n))
    assert files == sorted(want + [".installed"])
    for f in want:
        assert (root / f).read_bytes() == (src / f).read_bytes()
    info = json.loads((root / ".installed").read_text())
    assert info["files"] == 8 and info["per_split"] == {"train": 5, "val": 3}
    assert info["side"] == 30 and info["greyscale"] == 0 and info["unreadable"] == []
    assert "8 images (train 5, val 3); every shorter side 30 px" in summary
    assert ni.natural_root("imagewoof2") == root and ni.natural_side("imagewoof2") == 30


def test_a_short_class_is_refused_naming_every_count(tmp_path, woof):
    src = make_tree(tmp_path / "copy", COUNTS)
    (src / "train" / "n02086240" / "2.JPEG").unlink()
    write_image(src / "val" / "n02099601" / "extra.JPEG", 99)
    with pytest.raises(ValueError) as err:
        ni.install_natural_folder("imagewoof2", src)
    message = str(err.value)
    assert "\n" not in message
    assert "2 of 4 classes" in message
    assert "train/n02086240 2 of 3" in message and "val/n02099601 3 of 2" in message
    assert "train/n02099601" not in message  # complete classes are not named
    assert entries(woof.parent) == []


def test_a_foreign_folder_is_refused_with_its_folders_named(tmp_path, woof, capsys):
    from zflib.data.__main__ import main

    src = make_tree(tmp_path / "nette", {"train/n01440764": 2, "val/n01440764": 1})
    assert main(["install", "imagewoof2", "--from", str(src)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "4 of 4 classes" in err and "train/n02086240 0 of 3" in err
    assert "folders of no class here: train/n01440764, val/n01440764" in err
    assert not woof.exists()


def test_unreadable_images_are_reported_skipped_and_counted(tmp_path, woof):
    src = make_tree(tmp_path / "copy", COUNTS)
    good = (src / "val" / "n02099601" / "0.JPEG").read_bytes()
    (src / "val" / "n02099601" / "0.JPEG").write_bytes(good[:len(good) // 2])  # truncated
    (src / "train" / "n02086240" / "1.JPEG").write_text("not an image")
    write_image(src / "train" / "n02099601" / "1.JPEG", 7, mode="L")  # greyscale
    root, summary = ni.install_natural_folder("imagewoof2", src)
    info = ni.natural_info("imagewoof2")
    assert [u.split(" ")[0] for u in info["unreadable"]] == ["train/n02086240/1.JPEG",
                                                            "val/n02099601/0.JPEG"]
    assert info["files"] == 6 and "2 unreadable left out" in summary
    assert not (root / "train/n02086240/1.JPEG").exists()
    assert not (root / "val/n02099601/0.JPEG").exists()
    assert info["greyscale"] == 1 and info["greyscale_by_class"] == {"train/n02099601": 1}


def test_an_interrupted_install_leaves_nothing_and_an_old_install_intact(tmp_path, woof,
                                                                       monkeypatch):
    src = make_tree(tmp_path / "copy", COUNTS)
    real = ni.copy_file
    copied = []

    def fail_at_the_fourth(a, b):
        if len(copied) == 3:
            raise KeyboardInterrupt  # a Ctrl-C mid-copy
        copied.append(b)
        real(a, b)

    monkeypatch.setattr(ni, "copy_file", fail_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        ni.install_natural_folder("imagewoof2", src)
    assert len(copied) == 3 and not woof.exists()
    assert entries(woof.parent) == []  # no temporary folder left either
    with pytest.raises(FileNotFoundError, match="dataset imagewoof2 not found"):
        ni.natural_root("imagewoof2")
    # installed once; a second install killed mid-copy leaves the first as it was
    monkeypatch.setattr(ni, "copy_file", real)
    ni.install_natural_folder("imagewoof2", src)
    record = (woof / ".installed").read_text()
    copied.clear()
    monkeypatch.setattr(ni, "copy_file", fail_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        ni.install_natural_folder("imagewoof2", tmp_path / "copy")
    assert (woof / ".installed").read_text() == record
    assert entries(woof.parent) == ["imagewoof2"]


def test_a_killed_installs_temporary_folder_is_removed_by_the_next(tmp_path, woof):
    dead = 2**22 + 12345  # above the kernel's default pid_max: no such process
    assert not ni._pid_alive(dead)
    stale = woof.parent / f".imagewoof2.tmp{dead}"
    (stale / "train").mkdir(parents=True)
    ni.install_natural_folder("imagewoof2", make_tree(tmp_path / "copy", COUNTS))
    assert not stale.exists() and woof.exists()


def test_a_parent_folder_holding_the_top_folder_is_entered(tmp_path, woof):
    make_tree(tmp_path / "dl" / "imagewoof2-320", COUNTS)
    root, _ = ni.install_natural_folder("imagewoof2", tmp_path / "dl")
    assert (root / "val" / "n02086240" / "0.JPEG").exists()
    with pytest.raises(FileNotFoundError, match="no folder"):
        ni.install_natural_folder("imagewoof2", tmp_path / "nowhere")


def test_known_absent_files_are_tolerated_and_other_gaps_are_not(tmp_path, zf_home,
                                                                 monkeypatch):
    counts = {"BACKGROUND_Google": 3, "accordion": 2}
    spec = NaturalSpec("caltech101-full", counts, ("101_ObjectCategories",), (), "how",
                       absent=("BACKGROUND_Google/1.JPEG",))
    monkeypatch.setitem(NATURAL, "caltech101-full", spec)
    src = make_tree(tmp_path / "caltech-101", counts)
    (src / "BACKGROUND_Google" / "1.JPEG").unlink()  # the known gap
    root, summary = ni.install_natural_folder("caltech101-full", src)
    assert ni.natural_info("caltech101-full")["absent"] == ["BACKGROUND_Google/1.JPEG"]
    assert "known absent: BACKGROUND_Google/1.JPEG" in summary
    assert ni.natural_side("caltech101-full") == 30
    (src / "BACKGROUND_Google" / "0.JPEG").unlink()  # a gap that is not known
    with pytest.raises(ValueError, match="BACKGROUND_Google 1 of 3"):
        ni.install_natural_folder("caltech101-full", src)
    assert (root / "BACKGROUND_Google" / "0.JPEG").exists()  # the install stays


def test_differing_shorter_sides_record_side_zero(tmp_path, woof):
    src = make_tree(tmp_path / "copy", COUNTS)
    write_image(src / "val" / "n02086240" / "0.JPEG", 5, size=(50, 44))
    ni.install_natural_folder("imagewoof2", src)
    assert ni.natural_side("imagewoof2") == 0


def test_a_flat_set_counts_by_the_file_names_prefix(tmp_path, zf_home, monkeypatch):
    spec = NaturalSpec("imagenet-examples", {"n01440764": 1, "n02099601": 1}, (), (), "how",
                       flat=True)
    monkeypatch.setitem(NATURAL, "imagenet-examples", spec)
    src = tmp_path / "imagenet-sample-images"
    write_image(src / "n01440764_tench.JPEG", 1)
    write_image(src / "n02099601_golden_retriever.JPEG", 2, size=(60, 40))
    (src / "README.md").write_text("# readme")
    root, summary = ni.install_natural_folder("imagenet-examples", src)
    assert sorted(p.name for p in root.iterdir()) == [
        ".installed", "n01440764_tench.JPEG", "n02099601_golden_retriever.JPEG"]
    assert ni.natural_info("imagenet-examples")["left_out"] == ["README.md"]
    assert "not of the layout, left out: README.md" in summary
    (root.parent / "again").mkdir()
    write_image(root.parent / "again" / "n01440764_tench.JPEG", 1)
    with pytest.raises(ValueError, match="n02099601 0 of 1"):
        ni.install_natural_folder("imagenet-examples", root.parent / "again")


def _targz(top_dir, out):
    with tarfile.open(out, "w:gz") as t:
        t.add(top_dir, arcname=top_dir.name)
    return out


def test_install_from_the_official_archive_checks_digest_and_counts(tmp_path, zf_home,
                                                                     monkeypatch):
    """fastai's layout (``imagewoof2-320/{train,val}/<wnid>`` and a csv) downloaded from a
    file:// URL, md5-checked, unpacked beside the target, counted and installed."""
    top = make_tree(tmp_path / "src" / "imagewoof2-320", COUNTS)
    (top / "noisy_imagewoof.csv").write_text("path,noisy_labels_0\n")
    (tmp_path / "site").mkdir()
    archive = _targz(top, tmp_path / "site" / "imagewoof2-320.tgz")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    for digest, ok in (("md5:" + "0" * 32, False), (f"md5:{md5}", True)):
        spec = NaturalSpec("imagewoof2", dict(COUNTS), ("imagewoof2-320",),
                           (Archive("imagewoof2-320.tgz", digest, archive.as_uri()),), "how")
        monkeypatch.setitem(NATURAL, "imagewoof2", spec)
        if not ok:
            with pytest.raises(ValueError, match="corrupt"):
                ni.install_natural("imagewoof2")
            assert not (zf_home / "datasets" / "imagewoof2").exists()
            (zf_home / "downloads" / "imagewoof2-320.tgz").unlink()
            continue
        root, summary = ni.install_natural("imagewoof2")
    assert ni.natural_info("imagewoof2")["source"] == "imagewoof2-320.tgz"
    assert (root / "train" / "n02099601" / "1.JPEG").exists()
    assert entries(root.parent) == ["imagewoof2"]  # the unpacked archive is gone
    assert ni.install_natural("imagewoof2")[0] == root  # installed: kept


def test_an_archive_inside_a_zip_from_the_mirror(tmp_path, zf_home, monkeypatch):
    """Caltech-101's official zip holds 101_ObjectCategories.tar.gz: found in
    $ZF_DATA_MIRROR, both checksums verified, the inner one unpacked and counted."""
    counts = {"BACKGROUND_Google": 2, "accordion": 1}
    inner = _targz(make_tree(tmp_path / "src" / "101_ObjectCategories", counts),
                   tmp_path / "101_ObjectCategories.tar.gz")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with zipfile.ZipFile(mirror / "caltech-101.zip", "w") as z:
        z.write(inner, "caltech-101/101_ObjectCategories.tar.gz")
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest()
           for p in (inner, mirror / "caltech-101.zip")}
    archives = (Archive("101_ObjectCategories.tar.gz", f"md5:{md5[inner.name]}"),
                Archive("caltech-101.zip", f"md5:{md5['caltech-101.zip']}", "http://x/y.zip",
                        inner="caltech-101/101_ObjectCategories.tar.gz"))
    monkeypatch.setitem(NATURAL, "caltech101-full",
                        NaturalSpec("caltech101-full", counts, ("101_ObjectCategories",),
                                    archives, "how"))
    monkeypatch.setenv("ZF_DATA_MIRROR", str(mirror))
    root, _ = ni.install_natural("caltech101-full")
    assert sorted(p.name for p in root.iterdir()) == [".installed", "BACKGROUND_Google",
                                                      "accordion"]
    assert ni.natural_info("caltech101-full")["source"] == "101_ObjectCategories.tar.gz"


def test_the_cli_installs_a_natural_set_from_a_folder(tmp_path, woof, capsys):
    from zflib.data.__main__ import main

    assert main(["install", "imagewoof2", "--from", str(make_tree(tmp_path / "c", COUNTS))]) == 0
    assert capsys.readouterr().out.startswith(f"imagewoof2: {woof} (8 images (train 5, val 3)")
    with pytest.raises(ValueError, match="unknown natural-resolution dataset 'woof'; valid: "
                                         "caltech101-full, imagewoof2"):
        ni.natural_spec("woof")


def test_the_recorded_counts_are_the_verified_totals():
    """The issue's file-by-file numbers: 9,145 Caltech-101 files in 102 folders, Imagewoof2
    9,025 / 3,929, Imagenette2 9,469 / 3,925, 1,000 examples holding Tiny ImageNet's 200."""
    from zflib.data.tiny import OFFICIAL_WNIDS

    assert (len(CALTECH101_COUNTS), sum(CALTECH101_COUNTS.values())) == (102, 9145)
    assert [sum(IMAGEWOOF2_COUNTS[s].values()) for s in ("train", "val")] == [9025, 3929]
    assert [sum(IMAGENETTE2_COUNTS[s].values()) for s in ("train", "val")] == [9469, 3925]
    examples = example_files()
    assert len(examples) == 1000 and set(OFFICIAL_WNIDS.read_text().split()) <= set(examples)
    assert all(f.startswith(w + "_") for w, f in examples.items())
    assert set(IMAGEWOOF2_COUNTS["train"]) | set(IMAGENETTE2_COUNTS["train"]) <= set(examples)
