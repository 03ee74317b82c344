"""``make data``: install a dataset archive from the mirror (``$ZF_DATA_MIRROR``) or the official
site, verify its checksum and unpack it under ``$ZF_HOME/datasets``.

Usage: ``python -m zflib.data install tiny-imagenet caltech101``; an unpacked copy in the
official layout (the whole 500-per-class Tiny ImageNet, say):
``python -m zflib.data install tiny-imagenet --from path/to/tiny-imagenet-200``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from zflib.config import zf_home
from zflib.data.tiny import copy_official


@dataclass(frozen=True)
class Archive:
    filename: str
    digest: str  # "sha256:..." or "md5:..."
    url: str = ""
    # a member of this zip that is the archive to unpack (itself one of the spec's archives,
    # whose digest it must have): Caltech-101's official zip holds a .tar.gz
    inner: str = ""
    # a reduced copy whose images' shorter side is at most this many pixels (the mirror's
    # 96-pixel Caltech-101); 0: the images at their official size
    side: int = 0


@dataclass(frozen=True)
class DatasetSpec:
    folder: str  # the official top folder inside the archive
    archives: tuple[Archive, ...]  # accepted archives, mirror copies first
    howto: str


DATASETS: dict[str, DatasetSpec] = {
    "tiny-imagenet": DatasetSpec(
        "tiny-imagenet-200",
        (
            Archive("tiny-imagenet-200-train300.zip",
                    "sha256:9746fb67a7f297e4488108ef7e73ba9980eb15b26db79d15a225333733790aba"),
            Archive("tiny-imagenet-200.zip", "md5:90528d7ca1a48142e341f4ef8d21d0de",
                    "http://cs231n.stanford.edu/tiny-imagenet-200.zip"),
        ),
        "run `make data` (uses $ZF_DATA_MIRROR if set, else downloads "
        "http://cs231n.stanford.edu/tiny-imagenet-200.zip, 248 MB)",
    ),
    "caltech101": DatasetSpec(
        "101_ObjectCategories",
        (
            Archive("101_ObjectCategories-96px.tar",
                    "sha256:5037905abfdece0ffba69e76e5f37ec8f62b5b3b31acfcbd0db915ba8c6a6831",
                    side=96),
            Archive("101_ObjectCategories.tar.gz", "md5:b224c7392d521a49829488ab0f1120d9"),
            Archive("caltech-101.zip", "md5:3138e1922a9193bfa496528edbbc45d0",
                    "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip",
                    inner="caltech-101/101_ObjectCategories.tar.gz"),
        ),
        "run `make data` (uses $ZF_DATA_MIRROR if set, else downloads caltech-101.zip, about "
        "140 MB, from https://data.caltech.edu/records/mzrjq-6wc02)",
    ),
}


def datasets_dir() -> Path:
    return zf_home() / "datasets"


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, digest: str, *, whose: str = "the file",
           advice: str = "delete it and run `make data`") -> None:
    """Raise ``ValueError`` if ``path`` does not have ``digest`` ("sha256:..."/"md5:..."),
    saying that ``whose`` copy is corrupt and what to do (``advice``)."""
    algorithm, expected = digest.split(":")
    got = file_digest(path, algorithm)
    if got != expected:
        raise ValueError(f"{path} has {algorithm} {got}, expected {expected}: {whose} is "
                         f"corrupt or not the expected archive; {advice}")


def _unpack(path: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            z.extractall(dest)
    else:
        with tarfile.open(path) as t:
            t.extractall(dest, filter="data")


def _extract_member(archive: Path, member: str, folder: Path) -> Path:
    """Copy ``member`` of the zip ``archive`` to ``folder`` (atomically); return its path."""
    target = folder / Path(member).name
    folder.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part{os.getpid()}")
    with zipfile.ZipFile(archive) as z:
        if member not in z.namelist():
            raise ValueError(f"{archive} has no {member}: not the expected archive")
        with z.open(member) as src, open(part, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(part, target)
    return target


def dataset_root(name: str, *, install_missing: bool = True) -> Path:
    """The installed dataset folder (e.g. ``.../tiny-imagenet-200``); installs it from the
    mirror when ``$ZF_DATA_MIRROR`` is set. Raises ``FileNotFoundError`` saying how to get it."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    root = datasets_dir() / spec.folder
    if (root / ".installed").exists():
        return root
    if install_missing and os.environ.get("ZF_DATA_MIRROR"):
        return install(name, download=False)
    raise FileNotFoundError(f"dataset {name} not found at {root}; {spec.howto}")


def installed_side(name: str) -> int:
    """The shorter side (pixels) that the installed copy of ``name`` reduced its images to: 96
    for the mirror's Caltech-101, 0 for the official archive or a folder installed with
    ``--from`` (full size, as far as is known). Raises ``FileNotFoundError`` if not installed."""
    root = dataset_root(name, install_missing=False)
    first = (root / ".installed").read_text().split("\n", 1)[0].strip()
    return next((a.side for a in DATASETS[name].archives if a.filename == first), 0)


def install_folder(name: str, source: str | os.PathLike) -> tuple[Path, str]:
    """Install ``name`` from an unpacked copy ``source`` (its official top folder, e.g.
    ``.../tiny-imagenet-200``), replacing any installed copy, atomically. Tiny ImageNet keeps
    its 200 official classes only (:func:`zflib.data.tiny.copy_official`). Folders carry no
    checksum: the summary returned beside the root says what was installed.

    Raises ``FileNotFoundError`` if ``source`` is not that folder."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    source = Path(source).expanduser().resolve()
    if not source.is_dir() or (spec.folder == "tiny-imagenet-200"
                               and not (source / "wnids.txt").exists()):
        raise FileNotFoundError(f"{source} is not an unpacked {spec.folder} folder")
    root = datasets_dir() / spec.folder
    tmp = datasets_dir() / f".{spec.folder}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        if name == "tiny-imagenet":
            s = copy_official(source, tmp)
            summary = (f"{s['classes']} classes, {s['train']} training images "
                       f"({s['train_per_class'][0]}..{s['train_per_class'][1]} per class), "
                       f"{s['val']} validation images; left out: "
                       f"{', '.join(s['dropped']) or 'no class'}"
                       + (f", {len(s['val_missing'])} annotated validation files absent"
                          if s["val_missing"] else ""))
        else:
            shutil.copytree(source, tmp)
            summary = f"copied {source}"
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    (root / ".installed").write_text(f"folder {source}: {summary}\n")
    return root, summary


def install(name: str, *, download: bool = True) -> Path:
    """Install ``name``: the first archive found in ``$ZF_DATA_MIRROR`` (or downloaded from its
    official URL when ``download``), checksum verified, unpacked atomically."""
    spec = DATASETS[name]
    root = datasets_dir() / spec.folder
    if (root / ".installed").exists():
        return root
    mirror = Path(os.environ.get("ZF_DATA_MIRROR") or "/nonexistent")
    if os.environ.get("ZF_DATA_MIRROR") and not mirror.is_dir():  # a typo: no web download
        raise FileNotFoundError(f"ZF_DATA_MIRROR={mirror} is not a folder; fix it, or unset it "
                                "to download from the official site")
    archive = next(((a, mirror / a.filename) for a in spec.archives
                    if (mirror / a.filename).exists()), None)
    if archive is None:
        official = [a for a in spec.archives if a.url]
        if not (download and official):
            raise FileNotFoundError(f"no archive of {name} in ZF_DATA_MIRROR={mirror}; "
                                    f"{spec.howto}")
        a = official[0]
        target = zf_home() / "downloads" / a.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            try:
                urllib.request.urlretrieve(a.url, target.with_suffix(".part"))
            except OSError as err:  # no network, a moved URL: nothing half-written is kept
                target.with_suffix(".part").unlink(missing_ok=True)
                raise ConnectionError(f"could not download {name} from {a.url} ({err}); "
                                      "set ZF_DATA_MIRROR to a folder holding one of "
                                      f"{', '.join(x.filename for x in spec.archives)}, or "
                                      f"install an unpacked copy with --from") from err
            target.with_suffix(".part").rename(target)
        archive = (a, target)
    spec_archive, path = archive
    if path.parent == mirror:  # not ours to delete: say what to do instead
        verify(path, spec_archive.digest, whose="the mirror's copy",
               advice="replace it, or unset ZF_DATA_MIRROR to download")
    else:
        verify(path, spec_archive.digest)
    if spec_archive.inner:
        path = _extract_member(path, spec_archive.inner, zf_home() / "downloads")
        verify(path, next(a.digest for a in spec.archives if a.filename == path.name))
    tmp = datasets_dir() / f".{spec.folder}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    _unpack(path, tmp)
    shutil.rmtree(root, ignore_errors=True)
    (tmp / spec.folder).rename(root)
    shutil.rmtree(tmp, ignore_errors=True)
    (root / ".installed").write_text(f"{path.name}\n")
    return root
