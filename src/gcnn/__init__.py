"""The gcnn library: group-equivariant CNNs (Cohen & Welling 2016), every layer and model with check_equivariance().

groups (the groups pN / pNm and their actions), harmonic (steerable filters), nn (the layers), models (a classifier
and a SegNet, each for any group), equivariance (how equivariant a module is), check (`python -m gcnn.check`).
Needs torch and numpy only. Importing `gcnn` loads nothing, not even torch, and changes nothing: the names below
are imported from their modules on first use (`gcnn.SegNet`, `from gcnn import get_group`).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_HOMES = {
    "gcnn.groups": ("Group", "get_group", "NAMED_GROUPS"),
    "gcnn.nn": (
        "EquivariantModule",
        "EquivariantModel",
        "LiftingConv2d",
        "GroupConv2d",
        "GroupConvTranspose2d",
        "GroupBatchNorm",
        "GroupPool",
        "SpatialMaxPool",
        "SpatialUpsample",
    ),
    "gcnn.models": ("GroupClassifier", "SegNet", "count_parameters"),
    "gcnn.equivariance": ("TRANSFORMS", "Transform", "check_equivariance"),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}
__all__ = list(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'gcnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value  # once found, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
