"""Does this interpreter have what gcnn needs? `make install PY=python3` runs it (as `make py-check`).

    python scripts/check_packages.py [--skip "wandb mlxtend"]

The list is pyproject.toml's (`wheelhouse.dependencies`), so nothing here repeats it. --skip leaves out the
dependencies a machine's runs will not use (SKIP=, as `make wheelhouse` takes it: wandb with logger=none). Each
remaining one must be installed as a distribution, and `gcnn_study.train` must import (a broken install shows here, not
an hour into a run). One line on stderr names what is missing and exit 1; nothing is printed otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib import metadata

from wheelhouse import dependencies, norm, requirement_name


def missing(skip: list[str]) -> list[str]:
    """The requirements of gcnn (not skipped) that no installed distribution provides."""
    skipped = {norm(s) for s in skip}
    out = []
    for req in dependencies():
        name = requirement_name(req)
        if name in skipped:
            continue
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip", default="", help="dependencies this machine's runs will not use, space-separated")
    args = p.parse_args(argv)
    hint = "install them (make install), or use WHEELHOUSE=dir (make wheelhouse), or SKIP='...' for unused ones"
    if lacking := missing(args.skip.split()):
        print(f"error: {sys.executable} lacks gcnn's packages {', '.join(lacking)}: {hint}", file=sys.stderr)
        return 1
    try:
        importlib.import_module("gcnn_study.train")
    except ImportError as e:
        print(f"error: {sys.executable} cannot import gcnn_study.train ({e}): {hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
