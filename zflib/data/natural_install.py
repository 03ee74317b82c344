"""Installing the natural-resolution data sets: Caltech-101 at full size, Imagewoof2,
Imagenette2 and one ImageNet example per class, each checked file count by file count.

``python -m zflib.data install NAME`` (the official archive, from ``$ZF_DATA_MIRROR`` or the
web) or ``install NAME --from FOLDER`` (an unpacked copy in the official layout, or a folder
holding it). Either way the copy is checked against the official files per class
(:mod:`zflib.data.natural_counts`) and refused, in one line naming the short classes with their
counts, when a class holds another number of files (an incomplete or foreign folder); every
image is then decoded once, an unreadable one reported and left out with a count; the readable
files are copied into a temporary folder beside the target, which is renamed into place only at
the end (an interrupted install leaves nothing half-installed). The installed folder
``$ZF_HOME/datasets/<name>`` is the official top folder (``train/<wnid>/<file>`` ...), with a
``.installed`` record (JSON): source, counts, greyscale and unreadable files, the shorter side
every image shares (0 if they differ), seconds.

- ``caltech101-full``: ``101_ObjectCategories`` at the official size. It is a name of its own
  because the 96-pixel mirror installs as ``caltech101`` (``101_ObjectCategories`` under
  ``$ZF_HOME/datasets``) and stays for the 64-pixel profiles and CI; the two coexist.
- ``imagewoof2``, ``imagenette2``: fastai's ``train/<wnid>``, ``val/<wnid>`` layout, from the
  320-pixel archives or a copy such as the 224 x 224 (squashed) Imagenette.
- ``imagenet-examples``: one full-size image per ImageNet class, ``<wnid>_<name>.JPEG`` in one
  folder (``EliSchwartz/imagenet-sample-images``).

Paper: Sec. 5.2 (Caltech-101, Table 4), Sec. 4.2 (Fig. 8, Table 1), Sec. 3 (ImageNet images).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from zflib.config import zf_home
from zflib.data.install import DATASETS, Archive, _extract_member, _unpack, datasets_dir, verify
from zflib.data.natural_counts import (
    CALTECH101_ABSENT,
    CALTECH101_COUNTS,
    IMAGENETTE2_COUNTS,
    IMAGEWOOF2_COUNTS,
    example_files,
    split_counts,
)

GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


@dataclass(frozen=True)
class NaturalSpec:
    """What a complete copy holds and where it comes from.

    Attributes:
        folder: installed as ``$ZF_HOME/datasets/<folder>``.
        counts: class key -> files a complete copy holds. A key is a class folder relative to
            the top folder (``train/n02086240``, ``accordion``), or for a ``flat`` set the
            ``<wnid>`` prefix of the file names.
        tops: names of the top folder (the official archive's, then public copies'); a
            ``--from`` folder holding one of them is entered.
        archives: official archives (digest ``""``: none is published; counts alone check it).
        howto: what to run when the set is missing.
        flat: the images lie in one folder, named ``<wnid>_<anything>``.
        absent: files a known public copy lacks (relative paths): tolerated and reported.
    """

    folder: str
    counts: dict[str, int]
    tops: tuple[str, ...]
    archives: tuple[Archive, ...]
    howto: str
    flat: bool = False
    absent: tuple[str, ...] = field(default=())


FASTAI = "https://s3.amazonaws.com/fast-ai-imageclas"

NATURAL: dict[str, NaturalSpec] = {
    "caltech101-full": NaturalSpec(
        "caltech101-full", CALTECH101_COUNTS, ("101_ObjectCategories", "caltech-101"),
        tuple(a for a in DATASETS["caltech101"].archives if a.side == 0),
        "run `python -m zflib.data install caltech101-full` (the official caltech-101.zip, "
        "about 140 MB; 183 MB installed) or `... --from FOLDER` with an unpacked "
        "101_ObjectCategories (e.g. the caltech-101/ folder of taibarehm/CVassimgement)",
        absent=CALTECH101_ABSENT),
    "imagewoof2": NaturalSpec(
        "imagewoof2", split_counts(IMAGEWOOF2_COUNTS), ("imagewoof2-320", "imagewoof2"),
        (Archive("imagewoof2-320.tgz", "", f"{FASTAI}/imagewoof2-320.tgz"),),
        "run `python -m zflib.data install imagewoof2` (fastai's imagewoof2-320.tgz; 345 MB "
        "installed) or `... --from FOLDER` with an unpacked copy holding train/ and val/ "
        "(e.g. q878787/imagewoof2-320)"),
    "imagenette2": NaturalSpec(
        "imagenette2", split_counts(IMAGENETTE2_COUNTS), ("imagenette2-320", "imagenette2"),
        (Archive("imagenette2-320.tgz", "md5:3df6f0d01a2c9592104656642f5e78a3",
                 f"{FASTAI}/imagenette2-320.tgz"),),
        "run `python -m zflib.data install imagenette2` (fastai's imagenette2-320.tgz) or "
        "`... --from FOLDER` with an unpacked copy holding train/ and val/ (e.g. the 224 x 224 "
        "thunderInfy/imagenette, 161 MB installed)"),
    "imagenet-examples": NaturalSpec(
        "imagenet-examples", dict.fromkeys(example_files(), 1),
        ("imagenet-sample-images-master", "imagenet-sample-images"),
        (Archive("imagenet-sample-images-master.zip", "",
                 "https://github.com/EliSchwartz/imagenet-sample-images/archive/refs/heads/"
                 "master.zip"),),
        "run `python -m zflib.data install imagenet-examples` (the GitHub archive of "
        "EliSchwartz/imagenet-sample-images; 107 MB installed) or `... --from FOLDER` with "
        "a clone of it", flat=True),
}


def natural_spec(name: str) -> NaturalSpec:
    """The :class:`NaturalSpec` of ``name``; ``ValueError`` naming the valid ones."""
    if name not in NATURAL:
        raise ValueError(f"unknown natural-resolution dataset {name!r}; valid: "
                         f"{', '.join(NATURAL)}")
    return NATURAL[name]


def natural_root(name: str) -> Path:
    """The installed folder of ``name`` (``$ZF_HOME/datasets/<name>``). Raises
    ``FileNotFoundError`` saying how to install it."""
    spec = natural_spec(name)
    root = datasets_dir() / spec.folder
    if not (root / ".installed").exists():
        raise FileNotFoundError(f"dataset {name} not found at {root}; {spec.howto}")
    return root


def natural_info(name: str) -> dict:
    """The ``.installed`` record of ``name``: ``source``, ``files``, ``per_split``,
    ``greyscale``, ``greyscale_by_class``, ``unreadable``, ``absent``, ``side`` (the shorter
    side all images share, 0 if they differ), ``seconds``."""
    return json.loads((natural_root(name) / ".installed").read_text())


def natural_side(name: str) -> int:
    """The shorter side every installed image of ``name`` shares (320 for fastai's
    Imagewoof2, 224 for the squashed Imagenette), 0 when they differ (full size)."""
    return int(natural_info(name)["side"])


def _top(source: Path, spec: NaturalSpec) -> Path:
    """``source``, or its child named as the top folder when ``source`` holds no class."""
    if not source.is_dir():
        raise FileNotFoundError(f"no folder {source}")
    if spec.flat or any((source / k).is_dir() for k in spec.counts):
        return source
    for t in spec.tops:
        if (source / t).is_dir():
            return source / t
    return source


def _files_in(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder)
                  if not e.name.startswith(".") and e.is_file())


def class_files(source: Path, spec: NaturalSpec) -> tuple[dict[str, list[str]], list[str]]:
    """(files found per class key, relative to ``source``; folders or files that belong to no
    class of the official layout, left out). Hidden files do not count."""
    if spec.flat:
        found: dict[str, list[str]] = {k: [] for k in spec.counts}
        other = []
        for name in _files_in(source):
            key = name.split("_", 1)[0]
            (found[key] if key in found else other).append(name)
        return found, other
    found = {k: [f"{k}/{n}" for n in _files_in(source / k)] if (source / k).is_dir() else []
             for k in spec.counts}
    parents = {Path(k).parent for k in spec.counts}
    other = []
    for p in sorted(parents):
        if (source / p).is_dir():
            other += [(p / n).as_posix() for n in sorted(os.listdir(source / p))
                      if (source / p / n).is_dir() and not n.startswith(".")
                      and (p / n).as_posix() not in spec.counts and p / n not in parents]
    return found, other


def check_counts(found: dict[str, list[str]], spec: NaturalSpec, *, what: str,
                 other: Sequence[str] = ()) -> list[str]:
    """Raise ``ValueError`` in one line naming every class whose file count is not the official
    one (found of expected), unless the difference is the spec's known ``absent`` files, and
    the folders ``other`` that belong to no class (a foreign set's). Returns the known absent
    files that are indeed absent."""
    present = {f for files in found.values() for f in files}
    absent = [a for a in spec.absent if a not in present]
    short = []
    for key, n in spec.counts.items():
        tolerated = sum(1 for a in absent if a.startswith(key + "/"))
        got = len(found.get(key, []))
        if got + tolerated != n:
            short.append(f"{key} {got} of {n}")
    if short:
        more = f" and {len(short) - 8} more" if len(short) > 8 else ""
        raise ValueError(f"{what} is not a complete copy: {len(short)} of {len(spec.counts)} "
                         f"classes hold another number of files than the official archive "
                         f"(found of expected): {', '.join(short[:8])}{more}"
                         + (f"; folders of no class here: {', '.join(other[:3])}"
                            + (f" and {len(other) - 3} more" if len(other) > 3 else "")
                            if other else ""))
    return absent


def _probe(path: str) -> tuple[str, int, int, str]:
    """(mode, width, height, "") of a fully decoded image, or ("", 0, 0, error)."""
    try:
        with Image.open(path) as im:
            mode, (w, h) = im.mode, im.size
            im.load()  # a truncated file fails here, not at open
        return mode, w, h, ""
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        return "", 0, 0, f"{type(err).__name__}: {err}"


def probe_images(paths: Sequence[str | os.PathLike], *, workers: int | None = None
                 ) -> list[tuple[str, int, int, str]]:
    """Decode every image once: (mode, width, height, error) each; error ``""`` when it
    decodes, else mode ``""`` and the sizes 0."""
    paths = [os.fspath(p) for p in paths]
    workers = workers or min(os.cpu_count() or 1, 8)
    if workers > 1 and len(paths) > 256:
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(_probe, paths, chunksize=64))
    return [_probe(p) for p in paths]


def copy_file(src: Path, dst: Path) -> None:
    """Copy one file with its modification time (the cache keys hold it)."""
    shutil.copy2(src, dst)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(folder: str) -> None:
    """Remove the temporary folders of installs of ``folder`` whose process is gone (a killed
    install leaves its ``.<folder>.tmp<pid>`` behind, never the target)."""
    base = datasets_dir()
    if not base.is_dir():
        return
    for d in base.glob(f".{folder}.*"):
        m = re.fullmatch(rf"\.{re.escape(folder)}\.(?:tmp|unpack|old)(\d+)", d.name)
        if m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(d, ignore_errors=True)


def _install_tree(name: str, spec: NaturalSpec, source: Path, origin: str,
                  t0: float) -> tuple[Path, str]:
    """Check ``source`` (the top folder), copy its readable class files to a temporary folder
    beside the target, write the record, rename into place."""
    found, other = class_files(source, spec)
    absent = check_counts(found, spec, what=f"{source} ({name})", other=other)
    files = [f for k in spec.counts for f in found[k]]
    probes = probe_images([source / f for f in files])
    unreadable = [f"{f} ({p[3]})" for f, p in zip(files, probes, strict=True) if p[3]]
    kept = [(f, p) for f, p in zip(files, probes, strict=True) if not p[3]]
    grey: dict[str, int] = {}
    for f, p in kept:
        if p[0] in GREY_MODES:
            key = str(Path(f).parent) if not spec.flat else "."
            grey[key] = grey.get(key, 0) + 1
    sides = {min(p[1], p[2]) for _, p in kept}
    per_split: dict[str, int] = {}
    for f, _ in kept:
        split = f.split("/", 1)[0] if f.count("/") > 1 else "all"
        per_split[split] = per_split.get(split, 0) + 1
    root = datasets_dir() / spec.folder
    tmp = datasets_dir() / f".{spec.folder}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        made: set[Path] = set()
        for f, _ in kept:
            dst = tmp / f
            if dst.parent not in made:
                dst.parent.mkdir(parents=True, exist_ok=True)
                made.add(dst.parent)
            copy_file(source / f, dst)
        info = {"source": origin, "files": len(kept), "per_split": per_split,
                "greyscale": sum(grey.values()), "greyscale_by_class": grey,
                "unreadable": unreadable, "absent": absent, "left_out": other,
                "side": sides.pop() if len(sides) == 1 else 0,
                "seconds": round(time.perf_counter() - t0, 1)}
        (tmp / ".installed").write_text(json.dumps(info) + "\n")
        old = root.with_name(f".{spec.folder}.old{os.getpid()}")
        if root.exists():
            root.rename(old)
        try:
            tmp.rename(root)
        except OSError:
            if old.exists():
                old.rename(root)  # the previous install stays as it was
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root, summary(info)


def summary(info: dict) -> str:
    """One line from an ``.installed`` record."""
    splits = ", ".join(f"{k} {v:,}" for k, v in info["per_split"].items())
    side = f"every shorter side {info['side']} px" if info["side"] else "sizes vary (full size)"
    text = (f"{info['files']:,} images ({splits}); {side}; {info['greyscale']:,} greyscale; "
            f"{len(info['unreadable'])} unreadable left out")
    if info["absent"]:
        text += f"; known absent: {', '.join(info['absent'])}"
    if info["left_out"]:
        text += f"; not of the layout, left out: {', '.join(info['left_out'][:3])}"
        text += f" (+{len(info['left_out']) - 3})" if len(info["left_out"]) > 3 else ""
    return text + f"; {info['seconds']:.0f} s"


def install_natural_folder(name: str, source: str | os.PathLike) -> tuple[Path, str]:
    """Install ``name`` from an unpacked copy ``source`` (its top folder, or a folder holding
    it), replacing any installed copy, atomically. Returns (root, one-line summary).

    Raises ``ValueError`` naming the classes whose file counts are not the official ones,
    ``FileNotFoundError`` if ``source`` is not a folder."""
    spec = natural_spec(name)
    t0 = time.perf_counter()
    source = _top(Path(source).expanduser().resolve(), spec)
    _remove_stale(spec.folder)
    return _install_tree(name, spec, source, f"folder {source}", t0)


def _fetch(name: str, spec: NaturalSpec, *, download: bool) -> tuple[Archive, Path]:
    """The first of the spec's archives in ``$ZF_DATA_MIRROR``, else downloaded (once) into
    ``$ZF_HOME/downloads``, verified when it has a digest."""
    env = os.environ.get("ZF_DATA_MIRROR")
    mirror = Path(env) if env else None
    if mirror is not None and not mirror.is_dir():
        raise FileNotFoundError(f"ZF_DATA_MIRROR={mirror} is not a folder; fix it, or unset it "
                                "to download from the official site")
    for a in spec.archives:
        if mirror is not None and (mirror / a.filename).exists():
            if a.digest:
                verify(mirror / a.filename, a.digest, whose="the mirror's copy",
                       advice="replace it, or unset ZF_DATA_MIRROR to download")
            return a, mirror / a.filename
    official = [a for a in spec.archives if a.url]
    if not (download and official):
        raise FileNotFoundError(f"no archive of {name} in ZF_DATA_MIRROR={mirror}; "
                                f"{spec.howto}")
    a = official[0]
    target = zf_home() / "downloads" / a.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        part = target.with_name(target.name + ".part")
        try:
            urllib.request.urlretrieve(a.url, part)
        except OSError as err:  # no network, a moved URL: nothing half-written is kept
            part.unlink(missing_ok=True)
            raise ConnectionError(f"could not download {name} from {a.url} ({err}); install "
                                  "an unpacked copy with --from FOLDER") from err
        part.rename(target)
    if a.digest:
        verify(target, a.digest)
    return a, target


def install_natural(name: str, *, download: bool = True) -> tuple[Path, str]:
    """Install ``name`` from its official archive (``$ZF_DATA_MIRROR``, else downloaded when
    ``download``): verified where a digest is published, unpacked beside the target, then
    checked and installed as :func:`install_natural_folder` does. An installed copy is kept.
    Returns (root, one-line summary)."""
    spec = natural_spec(name)
    root = datasets_dir() / spec.folder
    if (root / ".installed").exists():
        return root, summary(natural_info(name))
    t0 = time.perf_counter()
    archive, path = _fetch(name, spec, download=download)
    if archive.inner:
        path = _extract_member(path, archive.inner, zf_home() / "downloads")
        inner = next((a for a in spec.archives if a.filename == path.name and a.digest), None)
        if inner is not None:
            verify(path, inner.digest)
    _remove_stale(spec.folder)
    unpacked = datasets_dir() / f".{spec.folder}.unpack{os.getpid()}"
    shutil.rmtree(unpacked, ignore_errors=True)
    try:
        _unpack(path, unpacked)
        return _install_tree(name, spec, _top(unpacked, spec), path.name, t0)
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)


__all__ = ["NATURAL", "NaturalSpec", "check_counts", "class_files", "copy_file",
           "install_natural", "install_natural_folder", "natural_info", "natural_root",
           "natural_side", "natural_spec", "probe_images", "summary"]
