"""``python -m zflib.data install NAME...``: install datasets (what ``make data`` runs);
``install NAME --from FOLDER`` installs an unpacked copy in the official layout."""

import argparse
import sys

from zflib.data.install import DATASETS, install, install_folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zflib.data")
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("install", help="install datasets from $ZF_DATA_MIRROR or the web")
    i.add_argument("names", nargs="+", choices=sorted(DATASETS))
    i.add_argument("--from", dest="source", metavar="FOLDER",
                   help="an unpacked copy in the official layout (e.g. .../tiny-imagenet-200 "
                        "with all 500 training images per class); replaces the installed one")
    args = p.parse_args(argv)
    if args.source and len(args.names) != 1:
        p.error(f"--from installs one dataset, got {len(args.names)}: {' '.join(args.names)}")
    try:
        if args.source:
            root, summary = install_folder(args.names[0], args.source)
            print(f"{args.names[0]}: {root} ({summary})")
            return 0
        for name in args.names:
            print(f"{name}: {install(name)}")
    except (ValueError, OSError) as err:  # no mirror, a bad archive or folder: one line
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
