"""``python -m zflib.data install NAME...``: install datasets (what ``make data`` runs; the
natural-resolution sets of :mod:`zflib.data.natural_install` too);
``install NAME --from FOLDER`` installs an unpacked copy in the official layout; ``pack SRC OUT``
and ``unpack PART... --to DEST`` carry Tiny ImageNet to a training machine in parts
(:mod:`zflib.data.pack`)."""

import argparse
import sys

from zflib.data.install import DATASETS, install, install_folder
from zflib.data.natural_install import NATURAL, install_natural, install_natural_folder
from zflib.data.pack import pack, unpack


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zflib.data")
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("install", help="install datasets from $ZF_DATA_MIRROR or the web")
    i.add_argument("names", nargs="+", choices=sorted(DATASETS) + sorted(NATURAL))
    i.add_argument("--from", dest="source", metavar="FOLDER",
                   help="an unpacked copy in the official layout (e.g. .../tiny-imagenet-200 "
                        "with all 500 training images per class); replaces the installed one")
    k = sub.add_parser("pack", help="Tiny ImageNet's official split as compressed parts")
    k.add_argument("source", help="an unpacked tiny-imagenet-200 folder")
    k.add_argument("out", help="folder for part-NN.npz")
    k.add_argument("--part-mb", type=float, default=52.0, help="largest part, MB (default 52)")
    u = sub.add_parser("unpack", help="write packed parts back into a folder")
    u.add_argument("parts", nargs="+")
    u.add_argument("--to", dest="dest", required=True, help="destination folder")
    args = p.parse_args(argv)
    try:
        if args.cmd == "pack":
            for part in pack(args.source, args.out, part_mb=args.part_mb):
                print(f"{part} ({part.stat().st_size / 1e6:.1f} MB)")
            return 0
        if args.cmd == "unpack":
            print(f"{unpack(args.parts, args.dest)} files written under {args.dest}")
            return 0
    except (ValueError, OSError) as err:
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 1
    if args.source and len(args.names) != 1:
        p.error(f"--from installs one dataset, got {len(args.names)}: {' '.join(args.names)}")
    try:
        if args.source:
            folder = install_natural_folder if args.names[0] in NATURAL else install_folder
            root, summary = folder(args.names[0], args.source)
            print(f"{args.names[0]}: {root} ({summary})")
            return 0
        for name in args.names:
            if name in NATURAL:
                root, summary = install_natural(name)
                print(f"{name}: {root} ({summary})")
            else:
                print(f"{name}: {install(name)}")
    except (ValueError, OSError) as err:  # no mirror, a bad archive or folder: one line
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
