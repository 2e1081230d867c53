"""Fill a folder with the wheels an offline machine lacks: `make wheelhouse WHEELHOUSE=.whl PYVER=3.12`.

    python scripts/wheelhouse.py --dest .whl --python-version 3.12 --platform "manylinux_2_28_x86_64 ..." \
        --have "torch torchvision pandas matplotlib opencv-python opencv-python-headless joblib"

1. pip resolves gcnn's dependencies (pyproject.toml, with the dev extras) other than those the target HAS, for
   the target Python and platforms, binary wheels only, without installing anything (`pip install --dry-run`).
2. It resolves each package the target HAS the same way, where this machine's index allows (torch's CUDA wheels
   may not be there); those and what they pull in (numpy under pandas) are dropped from the list.
3. `pip download --no-deps` fetches exactly the rest, plus what builds gcnn itself (pyproject.toml's
   build-system), into --dest.
antlr4-python3-runtime 4.9.3 (omegaconf's pin) is published only as source; it is pure Python, so it is built
into a wheel here first (`pip wheel`), and the folder holds wheels only.
Then on the offline machine: `make install WHEELHOUSE=.whl` (a venv that also sees the machine's own packages)
or `make install PY=python3 WHEELHOUSE=.whl`.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
# Every manylinux tag a glibc-2.28 x86-64 machine accepts: pip matches tags exactly, and wheels carry older ones.
PLATFORMS = " ".join(
    ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64"]
    + ["manylinux2014_x86_64", "manylinux1_x86_64"]
)
SOURCE_ONLY = ["antlr4-python3-runtime==4.9.3"]  # pure-Python packages without a wheel on the index


def norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def requirement_name(requirement: str) -> str:
    """ "torch>=2.2" -> "torch"."""
    return norm(re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0])


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def build_requirements() -> list[str]:
    """What building gcnn itself needs (pyproject.toml's build-system), so that an offline install can build it."""
    return list(pyproject()["build-system"]["requires"])


def dependencies(extras=()) -> list[str]:
    """gcnn's requirements as pyproject.toml lists them (the one list), with those of the given extras."""
    project = pyproject()["project"]
    wanted = list(project["dependencies"])
    for extra in filter(None, extras):
        wanted += project.get("optional-dependencies", {}).get(extra, [])
    return wanted


def resolve(requirements: list[str], target: list[str], quiet: bool = False) -> dict[str, str]:
    """{name: version} of everything pip would install for these requirements on the target."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--target",
            str(Path(tmp) / "t"),
            "--report",
            str(report),
            *target,
            *requirements,
        ]
        subprocess.run(cmd, check=True, capture_output=quiet)
        items = json.loads(report.read_text())["install"]
    return {norm(i["metadata"]["name"]): i["metadata"]["version"] for i in items}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dest", required=True)
    p.add_argument("--python-version", default="{}.{}".format(*sys.version_info[:2]), help="e.g. 3.12 (default: this)")
    p.add_argument(
        "--platform",
        default=PLATFORMS,
        help="pip platform tags, space-separated: pip matches each exactly, so list every one the target accepts",
    )
    p.add_argument("--have", default="", help="packages the target machine already has, space-separated")
    p.add_argument(
        "--skip",
        default="",
        help="dependencies its runs will not use (wandb with logger=none), left out with what only they need",
    )
    p.add_argument("--extras", default="dev", help="gcnn extras to include (comma-separated; '' for none)")
    args = p.parse_args(argv)

    wanted = dependencies(args.extras.split(","))
    target = [
        "--only-binary=:all:",
        "--python-version",
        args.python_version,
        *[a for plat in args.platform.split() for a in ("--platform", plat)],
    ]

    Path(args.dest).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", args.dest, *SOURCE_ONLY],
        check=True,
    )
    target += ["--find-links", str(Path(args.dest).resolve())]
    have_names, skip = args.have.split(), args.skip.split()
    # The machine's own packages are not resolved with the rest: their wheels (torch's CUDA ones) may not even
    # be on the index this machine reaches. Their dependencies are dropped below, as far as they resolve here.
    try:
        need = resolve(
            [r for r in wanted if requirement_name(r) not in {norm(n) for n in have_names + skip}]
            + build_requirements(),
            target,
        )
    except subprocess.CalledProcessError:
        print(
            f"error: pip could not resolve gcnn's dependencies for Python {args.python_version} on {args.platform} "
            "(its message is above): check PYVER and PLATFORM, or add the package it names to HAVE or SKIP",
            file=sys.stderr,
        )
        return 1
    have = {norm(n): "" for n in have_names}
    for name in have_names:
        try:
            have.update(resolve([name], target, quiet=True))
        except subprocess.CalledProcessError:
            print(f"wheelhouse: {name} does not resolve here; only the package itself counts as present", flush=True)
    missing = {n: v for n, v in sorted(need.items()) if n not in have}
    print(
        f"wheelhouse: {len(need)} packages resolved for Python {args.python_version} on {args.platform}; "
        f"{len(need) - len(missing)} come with the machine ({' '.join(have_names) or 'nothing given'}); "
        f"left out as unused: {' '.join(skip) or 'nothing'}; downloading {len(missing)}: {' '.join(missing)}",
        flush=True,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--dest",
            args.dest,
            *target,
            *[f"{n}=={v}" for n, v in missing.items()],
        ],
        check=True,
    )
    wheels = sorted(Path(args.dest).glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels) / 2**20
    print(
        f"wheelhouse: {len(wheels)} wheels, {size:.0f} MiB in {args.dest}; offline: make install WHEELHOUSE={args.dest}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
