"""Tiny ImageNet in parts small enough to travel to a training machine, and back into a folder.

A GPU machine that can take only so many bytes per transfer (64 MiB, say) gets the 110,000
JPEG files of the official split as a few ``part-NN.npz`` files: each holds one uint8 array of
the files' bytes laid end to end (``blob``), their lengths (``sizes``) and their paths relative
to the dataset folder (``paths``, UTF-8 JSON as uint8), deflate-compressed. The JPEG bytes travel
as they are (decoding is the receiving side's job, by :func:`zflib.data.decode_images` as for
any install), so the images trained on are the very files of the split; deflate removes the
headers every small JPEG repeats (about a third of Tiny ImageNet's bytes).

``python -m zflib.data pack SRC OUT --part-mb 52`` writes the parts (the official 200 classes
only, ``train/`` and ``val/`` with the text files the layout needs; ``test/`` is left out);
``python -m zflib.data unpack OUT/part-00.npz ... --to DEST`` writes them back into a folder
that ``python -m zflib.data install tiny-imagenet --from DEST`` installs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from zflib.data import tiny

TEXT_FILES = ("wnids.txt", "words.txt", "val/val_annotations.txt")


def official_files(source: Path) -> list[str]:
    """The files of the official split under ``source`` (a ``tiny-imagenet-200`` folder),
    relative, in a fixed order: the text files, then ``train/<wnid>/images/*.JPEG`` and the
    boxes of every official class, then the validation images whose annotation names one.

    Raises ``FileNotFoundError`` naming a missing text file or official class folder."""
    official = tiny.OFFICIAL_WNIDS.read_text().split()
    keep = set(official)
    for name in TEXT_FILES:
        if not (source / name).is_file():
            raise FileNotFoundError(f"{source / name} is missing: {source} is not an unpacked "
                                    "tiny-imagenet-200 folder")
    files = list(TEXT_FILES)
    for w in official:
        folder = source / "train" / w
        if not (folder / "images").is_dir():
            raise FileNotFoundError(f"{folder / 'images'} is missing: class {w} is one of the "
                                    f"{len(official)} official classes")
        files += sorted(f"train/{w}/images/{e.name}" for e in os.scandir(folder / "images")
                        if e.name.endswith(".JPEG"))
        if (folder / f"{w}_boxes.txt").is_file():
            files.append(f"train/{w}/{w}_boxes.txt")
    for line in (source / "val" / "val_annotations.txt").read_text().splitlines():
        row = line.split("\t")
        if len(row) > 1 and row[1] in keep and (source / "val" / "images" / row[0]).is_file():
            files.append(f"val/images/{row[0]}")
    return files


def _write_part(path: Path, source: Path, names: Sequence[str]) -> None:
    data = [(source / n).read_bytes() for n in names]
    blob = np.frombuffer(b"".join(data), dtype=np.uint8)
    sizes = np.array([len(d) for d in data], dtype=np.int64)
    paths = np.frombuffer(json.dumps(list(names)).encode(), dtype=np.uint8)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, blob=blob, sizes=sizes, paths=paths)
    os.replace(tmp, path)


def pack(source: str | os.PathLike, out: str | os.PathLike, *, part_mb: float = 52.0
         ) -> list[Path]:
    """Write the official split of ``source`` into ``out/part-NN.npz``, each at most about
    ``part_mb`` MB once compressed (files are grouped by their raw size times the compression
    ratio of the first part, so parts come out a little under the mark).

    Returns the parts' paths. Raises ``ValueError`` for ``part_mb`` out of range."""
    if not 0.01 <= part_mb < 1e6:
        raise ValueError(f"part_mb {part_mb} out of range 0.01..1e6")
    source, out = Path(source).expanduser(), Path(out).expanduser()
    names = official_files(source)
    sizes = [(source / n).stat().st_size for n in names]
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*.npz"):  # a repack replaces every part
        old.unlink()
    limit = part_mb * 1e6
    # compressed / raw bytes: Tiny ImageNet's 0.69 to start, then as the last part measured
    ratio, parts, start = 0.7, [], 0
    while start < len(names):
        budget, end, total = limit / ratio * 0.97, start, 0
        while end < len(names) and (end == start or total + sizes[end] <= budget):
            total += sizes[end]
            end += 1
        path = out / f"part-{len(parts):02d}.npz"
        _write_part(path, source, names[start:end])
        size = path.stat().st_size
        ratio = max(size / max(total, 1), 0.05)
        if size > limit and end - start > 1:  # compressed worse than the last: fewer files
            path.unlink()
            continue
        parts.append(path)
        start = end
    return parts


def unpack(parts: Iterable[str | os.PathLike], dest: str | os.PathLike) -> int:
    """Write the files of ``parts`` under ``dest`` (created); returns how many. A file is
    written to a temporary name and renamed, so an interrupted unpack leaves no half file.

    Raises ``ValueError`` for a part whose arrays do not agree, or a path that would leave
    ``dest``."""
    dest = Path(dest).expanduser()
    count = 0
    for part in parts:
        with np.load(part) as z:
            blob, sizes = z["blob"], z["sizes"]
            names = json.loads(z["paths"].tobytes().decode())
        if len(names) != len(sizes) or int(sizes.sum()) != len(blob):
            raise ValueError(f"{part}: {len(names)} paths, {len(sizes)} sizes and "
                             f"{len(blob)} bytes do not agree (a damaged part)")
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        for name, a, b in zip(names, offsets[:-1], offsets[1:], strict=True):
            target = dest / name
            if ".." in Path(name).parts or Path(name).is_absolute():
                raise ValueError(f"{part}: path {name!r} leaves the destination folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(blob[a:b].tobytes())
            os.replace(tmp, target)
            count += 1
    return count


__all__ = ["official_files", "pack", "unpack"]
