"""Labelled images as JPEG shards small enough to travel one by one to a training machine, and
back into uint8 tensors there.

A machine that takes so many bytes per transfer (64 MiB) gets a training set as numbered
``shard-NNN.npz`` files of at most ``part_mib`` each and one ``manifest.json``:

- each shard (``np.savez_compressed``: deflate removes the headers every small JPEG repeats,
  a third of Tiny ImageNet's bytes, and little of a large JPEG's) holds the images' JPEG
  bytes end to end (``blob``), their lengths (``sizes``), labels, split (0 train, 1 val),
  source (an index into the manifest's ``sources``) and paths (UTF-8 JSON as uint8);
- the manifest holds the classes and their names, the sources, the stored side, the JPEG
  quality, and each shard's file name, byte count, SHA-256 and image counts, so that the
  receiving side can say which shards are still missing or damaged (:func:`check_shards`).

Images are stored as the bytes they travel as: a file's own JPEG bytes when it is one already
at its natural resolution (Tiny ImageNet's 64-pixel files, :func:`file_entries`), or a
decoded uint8 image encoded once (:func:`array_entries`: natural-resolution images already
resized to 256 on the shorter side and centre-cropped, JPEG at ``quality``). On the other
side :func:`read_shards` decodes them in parallel; an image smaller than the stored side
(Tiny ImageNet's 64 pixels) is upscaled by bicubic interpolation
(:func:`zflib.data.transforms.resize`, on the device asked for), as
:func:`zflib.data.load_split` does for Fig. 3's geometry.

Paper: Sec. 3 (images at 256, 224 crops).

Note: re-encoding changes the images a little. At 256 pixels and quality 90 a sample of 120
Imagewoof2 training images keeps its power in the mid (1/6..1/3 cycle per pixel) and high
(above 1/3) bands within 1% and 8% of the decoded source's (JPEG's 8-pixel blocks add a
little high-frequency power), at 19.1 KiB an image (quality 95: 26.6 KiB; 85: 15.4 KiB).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from zflib.data.common import ImageSet
from zflib.data.transforms import resize

FORMAT = "zflib-shards-1"
SPLITS = ("train", "val")
MANIFEST = "manifest.json"
_PER_IMAGE = 8 + 8 + 1 + 1  # sizes, labels, split, source bytes beside the JPEG


@dataclass(frozen=True)
class Entry:
    """One image to pack: its JPEG bytes, label, split (``train`` | ``val``), source name and
    path (for the record)."""

    jpeg: bytes
    label: int
    split: str
    source: str
    path: str


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """uint8 [H, W, 3] -> JPEG bytes at ``quality`` (Pillow's, 4:2:0 chroma)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _encode(args: tuple[np.ndarray, int]) -> bytes:
    return encode_jpeg(*args)


def file_entries(paths: Sequence[str | os.PathLike], labels: Sequence[int], *, split: str,
                 source: str, root: str | os.PathLike | None = None) -> Iterator[Entry]:
    """Entries of image files taken as they are (their own JPEG bytes)."""
    for p, y in zip(paths, labels, strict=True):
        rel = os.path.relpath(p, root) if root else os.fspath(p)
        yield Entry(Path(p).read_bytes(), int(y), split, source, rel)


def array_entries(data: ImageSet, labels: torch.Tensor, *, split: str, source: str,
                  quality: int = 90, workers: int = 1, chunk: int = 512) -> Iterator[Entry]:
    """Entries of decoded images ``data.images`` (uint8 [N, H, W, 3]), each encoded as JPEG at
    ``quality`` (``workers`` processes), labelled by ``labels`` [N]."""
    if not 1 <= quality <= 100:
        raise ValueError(f"quality {quality} out of range 1..100")
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        for i in range(0, len(data), chunk):
            arrays = [(a, quality) for a in data.images[i:i + chunk].numpy()]
            blobs = pool.map(_encode, arrays) if pool else map(_encode, arrays)
            for j, b in enumerate(blobs):
                yield Entry(b, int(labels[i + j]), split, source, data.paths[i + j])
    finally:
        if pool:
            pool.shutdown()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _write_shard(path: Path, entries: list[Entry], sources: list[str]) -> dict:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, blob=np.frombuffer(b"".join(e.jpeg for e in entries), dtype=np.uint8),
             sizes=np.array([len(e.jpeg) for e in entries], dtype=np.int64),
             labels=np.array([e.label for e in entries], dtype=np.int64),
             split=np.array([SPLITS.index(e.split) for e in entries], dtype=np.uint8),
             source=np.array([sources.index(e.source) for e in entries], dtype=np.uint8),
             paths=np.frombuffer(json.dumps([e.path for e in entries]).encode(), np.uint8))
    os.replace(tmp, path)
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": _sha256(path),
            "images": len(entries),
            **{s: sum(e.split == s for e in entries) for s in SPLITS}}


def pack_shards(entries: Iterable[Entry], out: str | os.PathLike, *, classes: list[str],
                names: list[str], sources: list[str], size: int, quality: int,
                part_mib: float = 60.0) -> list[Path]:
    """Write ``entries`` into ``out/shard-NNN.npz`` (each at most ``part_mib`` MiB, in the
    entries' order) and ``out/manifest.json``; returns the shards' paths.

    Raises ``ValueError`` for ``part_mib`` out of range, a label outside ``classes``, a
    source not in ``sources``, or one image larger than a shard."""
    if not 0.01 <= part_mib <= 4096:
        raise ValueError(f"part_mib {part_mib} out of range 0.01..4096")
    if len(names) != len(classes):
        raise ValueError(f"{len(names)} names for {len(classes)} classes")
    limit = int(part_mib * 2 ** 20) - 4096  # the .npz's headers
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("shard-*.npz"):  # a repack never leaves a stale shard beside its own
        old.unlink()
    rows: list[dict] = []
    group: list[Entry] = []
    used, ratio = 0.0, 1.0  # compressed / raw bytes, from the last shard written

    def cost(e: Entry) -> int:
        return len(e.jpeg) + _PER_IMAGE + len(json.dumps(e.path)) + 1

    def flush() -> None:
        """Write ``group`` as the next shard; when deflate did less than the last shard's
        ratio promised and it came out over the limit, move its last entries on to the next."""
        nonlocal group, used, ratio
        rest: list[Entry] = []
        while group:
            path = out / f"shard-{len(rows):03d}.npz"
            row = _write_shard(path, group, sources)
            if row["bytes"] <= limit:
                break
            keep = max(1, int(len(group) * limit / row["bytes"] * 0.98))
            rest, group = group[keep:] + rest, group[:keep]
        if group:
            rows.append(row)
            ratio = min(1.0, row["bytes"] / sum(cost(e) for e in group) * 1.02)
        group, used = rest, sum(cost(e) for e in rest) * ratio

    for e in entries:
        if not 0 <= e.label < len(classes):
            raise ValueError(f"label {e.label} of {e.path} out of range 0..{len(classes) - 1}")
        if e.source not in sources:
            raise ValueError(f"source {e.source!r} of {e.path} not in {sources}")
        if cost(e) > limit:
            raise ValueError(f"{e.path}: {len(e.jpeg)} bytes, more than a shard of "
                             f"{part_mib} MiB")
        if used + cost(e) * ratio > limit:
            flush()
        group.append(e)
        used += cost(e) * ratio
    while group:
        flush()
    manifest = {"format": FORMAT, "classes": classes, "names": names, "sources": sources,
                "size": size, "quality": quality, "shards": rows,
                "images": {s: sum(r[s] for r in rows) for s in SPLITS},
                "bytes": sum(r["bytes"] for r in rows)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return [out / r["file"] for r in rows]


def read_manifest(folder: str | os.PathLike) -> dict:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"no {path}: not a folder of shards (pack_shards writes one)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r}; valid: {FORMAT}")
    return manifest


def check_shards(folder: str | os.PathLike, *, digests: bool = True) -> list[str]:
    """The manifest's shards that are missing from ``folder`` or differ from it (size, and
    with ``digests`` the SHA-256): an empty list when all are there."""
    folder = Path(folder)
    bad = []
    for row in read_manifest(folder)["shards"]:
        p = folder / row["file"]
        if not p.is_file():
            bad.append(f"{row['file']} (missing)")
        elif p.stat().st_size != row["bytes"] or (digests and _sha256(p) != row["sha256"]):
            bad.append(f"{row['file']} (damaged)")
    return bad


def _decode(blobs: list[bytes]) -> list[np.ndarray]:
    out = []
    for b in blobs:
        with Image.open(io.BytesIO(b)) as im:
            out.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
    return out


def read_shards(folder: str | os.PathLike, *, device: torch.device | str = "cpu",
                workers: int | None = None) -> dict[str, tuple[ImageSet, torch.Tensor]]:
    """Decode every shard of ``folder`` into, per split, an :class:`ImageSet` of uint8 [N, S,
    S, 3] on ``device`` (S the manifest's side; smaller images upscaled by bicubic
    interpolation there) and each image's source index [N] (into the manifest's
    ``sources``), in the order packed.

    Raises ``FileNotFoundError`` naming the shards missing or damaged (sizes checked; the
    digests are :func:`check_shards`'s job)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if bad := check_shards(folder, digests=False):
        raise FileNotFoundError(f"{folder}: {len(bad)} of {len(manifest['shards'])} shards "
                                f"not there: {', '.join(bad[:8])}")
    side, device = manifest["size"], torch.device(device)
    workers = workers or min(os.cpu_count() or 1, 16)
    parts: dict[str, list] = {s: [] for s in SPLITS}
    with ProcessPoolExecutor(workers) if workers > 1 else _Serial() as pool:
        for row in manifest["shards"]:
            z = np.load(folder / row["file"])
            blob, sizes = z["blob"], z["sizes"]
            ends = np.cumsum(sizes)
            blobs = [blob[e - s:e].tobytes() for s, e in zip(sizes, ends, strict=True)]
            step = max(1, len(blobs) // (4 * workers) + 1)
            arrays = [a for chunk in pool.map(_decode, [blobs[i:i + step] for i in
                                                        range(0, len(blobs), step)])
                      for a in chunk]
            split = z["split"]
            paths = json.loads(z["paths"].tobytes())
            for s_i, s in enumerate(SPLITS):
                keep = np.flatnonzero(split == s_i)
                if len(keep):
                    parts[s].append((_stack([arrays[i] for i in keep], side, device),
                                     torch.from_numpy(z["labels"][keep]),
                                     torch.from_numpy(z["source"][keep].astype(np.int64)),
                                     [paths[i] for i in keep]))
    out = {}
    for s, rows in parts.items():
        if not rows:
            continue
        out[s] = (ImageSet(torch.cat([r[0] for r in rows]),
                           torch.cat([r[1] for r in rows]).to(device), manifest["classes"],
                           manifest["names"], [p for r in rows for p in r[3]]),
                  torch.cat([r[2] for r in rows]).to(device))
    return out


def _stack(arrays: list[np.ndarray], side: int, device: torch.device) -> torch.Tensor:
    """uint8 [N, side, side, 3] on ``device``; smaller square images upscaled (bicubic) in
    groups of one size, their order kept."""
    out = torch.empty(len(arrays), side, side, 3, dtype=torch.uint8, device=device)
    by_shape: dict[tuple, list[int]] = {}
    for i, a in enumerate(arrays):
        if a.ndim != 3 or a.shape[0] != a.shape[1] or a.shape[0] > side:
            raise ValueError(f"a packed image of {a.shape}; valid: square, at most {side}")
        by_shape.setdefault(a.shape, []).append(i)
    for shape, idx in by_shape.items():
        x = torch.from_numpy(np.stack([arrays[i] for i in idx]))
        ix = torch.tensor(idx, device=device)
        out[ix] = x.to(device) if shape[0] == side else resize(x, side, device=device)
    return out


class _Serial:
    """A stand-in for a process pool of one: ``map`` in this process."""

    def __enter__(self) -> _Serial:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def map(fn, items):  # noqa: ANN001, ANN205
        return map(fn, items)
