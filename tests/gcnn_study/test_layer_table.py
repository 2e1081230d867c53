"""The P6 ablation's single-layer table (gcnn_study.measure): its smooth input, and the errors it separates."""

from __future__ import annotations

import math

import pytest
import torch

from gcnn.equivariance import disc_mask, relative_error
from gcnn.groups import get_group, rotate_images
from gcnn_study import measure
from gcnn_study.report import ablation

TOL = 1e-5  # float32 layers on exact elements: relative error (the one metric, ‖·‖/‖·‖) <= TOL


def test_the_smooth_bump_rotates_almost_exactly_and_stays_inside_the_frame():
    """The layer measurement's input: near zero at the border, and two bilinear 60° rotations (there and back)
    lose much less of it than of the same noise cut by a hard disc, whose rotated edge dominated the old table."""
    x = measure.smooth_bump(41, 2)
    c = (41 - 1) / 2
    yy, xx = torch.meshgrid(*(torch.arange(41.0) - c,) * 2, indexing="ij")
    hard = x / torch.exp(-(yy**2 + xx**2) / (2 * (41 / 6) ** 2)) * ((yy**2 + xx**2).sqrt() < 41 / 2 - 6)
    mask = disc_mask(41, 41)

    def there_and_back(img):
        return relative_error(rotate_images(rotate_images(img, math.pi / 3), -math.pi / 3), img, img, mask)

    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], dim=-1)
    assert border.abs().max() < 0.02 * x.abs().max()
    assert there_and_back(x) < 0.5 * there_and_back(hard)


def test_single_layer_errors_off_the_grid_separate_the_variants(capsys):
    """At 60° (p6) and 45° (p8), float64: exact harmonic filters leave only the pixel grid's error (small, not 0);
    pixel filters and the resampled harmonic ones, whose transforms are not the rotation, stay far above."""
    table = measure.layer_error_table(ablation.layer_variants())
    with capsys.disabled():
        print("\n" + measure.layer_table_markdown(table))
    for errors in table.values():
        exact = errors["harmonic (exact)"]
        assert 1e-4 < exact < 0.03
        for label in ("pixel, nearest (as run)", "pixel, bilinear (as written)", "harmonic, resampled bilinear"):
            assert errors[label] > 4 * exact


@pytest.mark.parametrize("group,bound", [("p8", 0.35), ("p6", 0.6)])
def test_non_right_angle_rotations_are_approximate_and_reported(group, bound, capsys):
    """45° (p8) and 60° (p6) need an interpolated image rotation: report the error (the one metric, on the smooth
    bump of `gcnn.equivariance`), bound it, claim nothing exact."""
    g = get_group(group)
    inexact = [a for a in range(g.order) if not g.is_exact(a)]
    errors = {a: measure.layer_error(group, "lifting", "pixel", "nearest", 0, element=a) for a in inexact}
    with capsys.disabled():
        print(
            f"\n{group} lifting conv, smooth 41×41 bump: relative equivariance error per element "
            + ", ".join(f"{math.degrees(g.angle(a)):.0f}°: {e:.3f}" for a, e in errors.items())
        )
    assert max(errors.values()) < bound
    assert max(errors.values()) > TOL  # really approximate: the test would notice a false claim of exactness
