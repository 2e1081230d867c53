"""Checks every model kind of the library: `python -m gcnn.check` builds each, small, and runs check_equivariance().

One row per model: its name, its group, how many of the group's elements are exact (index permutations of the
pixels), the worst relative error ‖f(g·x) − g·f(x)‖ / ‖f(x)‖ at them, and the result. The exit status is 1 when
any exact element exceeds atol + rtol · max|g·f(x)| (`gcnn.equivariance.element_errors`). Needs torch and numpy
only; the models are built with their own random generator, the caller's is left alone.

    python -m gcnn.check                     # every kind, float32, on the CPU
    python -m gcnn.check --only p4cnn d4segnet_t --device cuda --double
"""

from __future__ import annotations

import argparse
import math
import sys

import torch

from gcnn.equivariance import CHECK_ATOL, CHECK_RTOL, failures
from gcnn.models import GroupClassifier, SegNet

CLASSIFIER_CHANNELS = (4, 8, 8, 16, 16)  # five blocks, as the study's: 33×33 inputs pool to 3×3
SEGNET_CHANNELS = (4, 8, 8, 8)  # four blocks, as the study's: 32×32 (upsample) or 33×33 (transpose) inputs


def _classifier(name: str, group: str, **kwargs):
    return lambda: GroupClassifier(group, CLASSIFIER_CHANNELS, name=name, **kwargs)


def _segnet(group: str, decoder: str):
    return lambda: SegNet(group, SEGNET_CHANNELS, decoder)


#: Every model kind the study trains, by its name: a builder of a small one.
KINDS = {
    "cnn": _classifier("cnn", "z2"),
    "p4cnn": _classifier("p4cnn", "p4"),
    "p6cnn": _classifier("p6cnn", "p6"),
    "p6cnn_bilinear": _classifier("p6cnn_bilinear", "p6", filter_interpolation="bilinear"),
    "p8cnn": _classifier("p8cnn", "p8"),
    "d4cnn": _classifier("d4cnn", "p4m"),
    "p4cnn_harmonic": _classifier("p4cnn_harmonic", "p4", filter_basis="harmonic"),
    "p6cnn_harmonic": _classifier("p6cnn_harmonic", "p6", filter_basis="harmonic"),
    "p8cnn_harmonic": _classifier("p8cnn_harmonic", "p8", filter_basis="harmonic"),
    "d4cnn_harmonic": _classifier("d4cnn_harmonic", "p4m", filter_basis="harmonic"),
    "segnet": _segnet("z2", "upsample"),
    "p4segnet": _segnet("p4", "upsample"),
    "d4segnet": _segnet("p4m", "upsample"),
    "segnet_t": _segnet("z2", "transpose"),
    "p4segnet_t": _segnet("p4", "transpose"),
    "d4segnet_t": _segnet("p4m", "transpose"),
}


def check_model(model: torch.nn.Module, atol: float = CHECK_ATOL, rtol: float = CHECK_RTOL, seed: int = 0) -> dict:
    """{"model", "group", "exact", "elements", "worst", "failed"}: `model.check_equivariance()` summed up (worst:
    the largest relative error at an exact element; failed: the labels of the exact elements beyond the bound)."""
    rows = model.check_equivariance(atol=atol, rtol=rtol, seed=seed, assertion=False)
    exact = [row["error"] for row in rows.values() if row["exact"]]
    return {
        "model": model.name,
        "group": model.group.name,
        "exact": len(exact),
        "elements": len(rows),
        "worst": max(exact, key=lambda e: math.inf if math.isnan(e) else e),
        "failed": failures(rows),
    }


def build(kind: str, device: str = "cpu", double: bool = False, seed: int = 0) -> torch.nn.Module:
    """A small model of `kind` (a key of KINDS), initialised from `seed` without touching the caller's generator."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = KINDS[kind]()
    return model.to(device, torch.float64 if double else torch.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gcnn.check", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(KINDS), metavar="KIND", help="these kinds only")
    parser.add_argument("--device", default="cpu", help="where the models run (default: cpu)")
    parser.add_argument("--double", action="store_true", help="float64 instead of float32")
    parser.add_argument("--atol", type=float, default=CHECK_ATOL)
    parser.add_argument("--rtol", type=float, default=CHECK_RTOL)
    args = parser.parse_args(argv)
    print(f"{'model':<16} {'group':<6} {'exact':>6}  {'worst exact error':>17}  result")
    failed = 0
    for kind in args.only or KINDS:
        row = check_model(build(kind, args.device, args.double), args.atol, args.rtol)
        result = "ok" if not row["failed"] else "FAILED at " + ", ".join(row["failed"])
        failed += bool(row["failed"])
        exact = f"{row['exact']}/{row['elements']}"
        print(f"{row['model']:<16} {row['group']:<6} {exact:>6}  {row['worst']:>17.2e}  {result}")
    if failed:
        print(f"{failed} model(s) not equivariant at an exact element (atol={args.atol}, rtol={args.rtol})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
