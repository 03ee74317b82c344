"""``python -m zflib.data install NAME...``: install datasets (what ``make data`` runs)."""

import argparse
import sys

from zflib.data.install import DATASETS, install


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zflib.data")
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("install", help="install datasets from $ZF_DATA_MIRROR or the web")
    i.add_argument("names", nargs="+", choices=sorted(DATASETS))
    args = p.parse_args(argv)
    for name in args.names:
        print(f"{name}: {install(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
