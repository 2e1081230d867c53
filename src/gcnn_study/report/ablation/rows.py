"""The P6 ablation's rows and the pairs of them it compares: each run's filter settings, whether its filter
transform is a group action, and `CONTRASTS`, each with the factor its two rows differ in.

The ablation varies two factors, each alone where the rows exist: the filters (pixel, or smooth harmonic) and
their transform (a group action, or an interpolation that is not one). The rows are `gcnn_study.config.specs`'
`ABLATION_P6_ROWS`; a row's filter settings are its model config's (`conf/model/`), read through `schema.compose`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from gcnn import equivariance
from gcnn.groups import get_group
from gcnn_study.config import schema
from gcnn_study.config.specs import ABLATION_CONTROLS, ABLATION_VARIED, FILTER_VARIANTS, TABLES

TABLE1, TABLE2 = "ablation_p6_table1", "ablation_p6_table2"
UPRIGHT, TRANSFORMED = "test_acc", "test_transformed_acc"
MODELS = ABLATION_VARIED + ABLATION_CONTROLS  # the columns of the report's tables; its rows: FILTER_VARIANTS


@cache
def filter_settings(run: str) -> tuple[str, str, str]:
    """(group, filter_basis, filter_interpolation) of a run's model, as its config composes (conf/model/)."""
    model = schema.compose([f"model={run}"]).model
    return str(model.group), str(model.filter_basis), str(model.filter_interpolation)


def not_a_group_action(run: str) -> bool:
    """Whether the run's filter transform fails to compose like its group (the tables mark it †)."""
    return not equivariance.filter_transform_is_group_action(*filter_settings(run))


def layer_variants() -> tuple[tuple[str, str, str], ...]:
    """(label, filter_basis, filter_interpolation) of each filter variant, as P6CNN's configs make it: the columns
    of the single-layer table (`gcnn_study.measure.layer_error_table`)."""
    return tuple((v.label, *filter_settings(ABLATION_VARIED[0] + v.suffix)[1:]) for v in FILTER_VARIANTS)


def labels(table: str = TABLE1) -> dict[str, str]:
    """{run name: the row's label} of one of the ablation's tables."""
    return {name: label for label, name in TABLES[table].rows}


@dataclass(frozen=True)
class Contrast:
    """a − b on one metric of the Table 1 protocol, and what differs between the two rows."""

    a: str
    b: str
    varied: str  # the factor(s) that differ
    shared: str  # what the two rows share
    one_factor: bool = True


FILTERS, TRANSFORM = "filters: harmonic against pixel", "transform: group action against bilinear resampling"
CONTRASTS = (
    Contrast("p8cnn_harmonic", "p8cnn", FILTERS, "transform a group action in both"),
    Contrast("p4cnn_harmonic", "p4cnn", FILTERS, "exact quarter turns in both"),
    Contrast("d4cnn_harmonic", "d4cnn", FILTERS, "exact quarter turns and mirror in both"),
    Contrast("p6cnn_harmonic_bilinear", "p6cnn_bilinear", FILTERS, "bilinear 60°, not a group action"),
    Contrast("p8cnn_harmonic_bilinear", "p8cnn_bilinear", FILTERS, "bilinear 45°, not a group action"),
    Contrast("p6cnn_harmonic", "p6cnn_harmonic_bilinear", TRANSFORM, "harmonic filters"),
    Contrast("p8cnn_harmonic", "p8cnn_harmonic_bilinear", TRANSFORM, "harmonic filters"),
    Contrast("p6cnn_bilinear", "p6cnn", "interpolation: bilinear against nearest", "pixel filters, not a group action"),
    Contrast("p6cnn_harmonic", "p6cnn", "filters and transform at once", "the group", one_factor=False),
    Contrast("p6cnn_harmonic", "p8cnn_harmonic", "the group: p6 against p8", "harmonic filters, exact", False),
    Contrast("p6cnn_harmonic", "p4cnn_harmonic", "the group: p6 against p4", "harmonic filters, exact", False),
    Contrast("p6cnn_harmonic", "p4cnn", "the group and the filters", "exact transforms", one_factor=False),
)
OFF_BOTH = "30°"  # the trained models' invariance is shown at each group's smallest rotation and at this, in neither


def group_rotation(run: str) -> str:
    """The smallest rotation of the run's group, as `figures/equivariance.csv` labels it ("60°" for p6)."""
    return f"{360 // get_group(filter_settings(run)[0]).n_rotations}°"
