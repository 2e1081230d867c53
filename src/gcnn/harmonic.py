"""Steerable filters: a circular-harmonic basis on the k×k grid, on which every pN / pNm acts exactly.

A filter ψ = B·c is a linear combination of fixed functions sampled on the grid (the columns of B):

    ring(r) · cos(jθ),  ring(r) · sin(jθ)      ring(r) = exp(-(|p| - r)² / 2σ²), r = 0, 1, …, (k - 1)/2

with escnn's defaults (rings, σ, and its band limit per ring, `_ring_band_limit`). Rotating the continuous
function by α maps θ to θ - α, so the coefficient pair (a, b) of frequency j turns by the 2×2 rotation R(jα)
for ANY α; the mirror (θ → -θ) flips the sign of the sine part. The coefficients therefore carry a true
representation ρ of C_N and D_N for every N, and the transformed filter is L_a ψ = B·ρ(a)·c.

Orientation follows `gcnn.groups`: θ is measured from "up" (row -1) towards "left" (column -1), so a positive
angle turns like `torch.rot90(x, 1, (-2, -1))`; the mirror flips the width axis; element N·m + r is "mirror m
times, then rotate r times". For multiples of 90° the grid is mapped onto itself, so B·ρ(a) equals the pixel
permutation of B (rot90, flip) to round-off: the sampled functions transform exactly like the pixels.

`filter_basis="harmonic_resampled"` (`gcnn.nn.bases`) keeps the same smooth, band-limited filters B·c but rotates
them as pixel images, by the group's `filter_interpolation` at the rotated grid (`resampled_basis`), instead of
turning their coefficients. It differs from "harmonic" in one factor, the filter transform, which for p6 (and for p8
with bilinear interpolation) is no longer a group action; and from the pixel basis in one factor, the filters'
smoothness. Multiples of 90° stay exact permutations, so for p4 and p4m it equals "harmonic".
"""

from __future__ import annotations

import math
from functools import cache

import torch

from gcnn.groups import element_order


def ring_radii(kernel_size: int) -> list[float]:
    """escnn's rings: ⌈k/2⌉ radii evenly spaced from the centre pixel to the inscribed circle, (k - 1)/2."""
    return torch.linspace(0, (kernel_size - 1) // 2, math.ceil(kernel_size / 2), dtype=torch.float64).tolist()


def _ring_band_limit(radius: float, outer: float) -> int:
    """escnn's default band limit (`_manual_fco1`): the centre is isotropic, the outermost ring (clipped by the
    corners of the square) holds up to frequency 2, an inner ring of radius r up to 2r - (r + 1) mod 2."""
    if radius == 0:
        return 0
    r = round(radius)
    return min(2 * r, 2 if radius == outer else 2 * r - (r + 1) % 2)


def band_limits(kernel_size: int, max_frequency: int | None = None) -> list[int]:
    """Highest frequency kept on each ring: escnn's rule, capped at `max_frequency` when one is requested."""
    radii = ring_radii(kernel_size)
    limits = [_ring_band_limit(r, radii[-1]) for r in radii]
    return limits if max_frequency is None else [min(lim, max_frequency) for lim in limits]


def check_harmonic(
    kernel_size: int, max_frequency: int | None = None, prefix: str = "", basis: str = "harmonic"
) -> None:
    """One-line ValueError for a harmonic band limit the k×k grid cannot sample (`basis` names the filter basis
    in the message; `gcnn.nn.bases.check_filter_basis` checks the name of a basis first)."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(
            f"{prefix}filter_basis={basis} needs an odd {prefix}kernel_size (rings about the centre "
            f"pixel), got {kernel_size}"
        )
    if max_frequency is not None:
        if max_frequency < 0:
            raise ValueError(f"{prefix}max_frequency must be >= 0 or null, got {max_frequency}")
        available = max(band_limits(kernel_size))
        if max_frequency > available:
            raise ValueError(
                f"{prefix}max_frequency={max_frequency} is too high for {prefix}kernel_size={kernel_size}"
                f" (a {kernel_size}×{kernel_size} grid samples harmonics up to frequency {available}); "
                f"use a larger {prefix}kernel_size or a lower {prefix}max_frequency"
            )


def _grid_polar(kernel_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Radius and angle of every pixel (row-major), the angle from 'up' towards 'left' as in `torch.rot90`."""
    c = (kernel_size - 1) / 2
    rows, cols = torch.meshgrid(*(torch.arange(kernel_size, dtype=torch.float64) - c,) * 2, indexing="ij")
    return torch.hypot(rows, cols).flatten(), torch.atan2(-cols, -rows).flatten()


@cache
def harmonic_basis(kernel_size: int, max_frequency: int | None = None) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(k², n_basis) float64 sampled basis B and the frequency of each column.

    Columns come per (ring, frequency j): one (cos) for j = 0, two (cos, sin) for j > 0. Each block is scaled
    to unit mean squared column norm; one factor per block keeps ρ(a) orthogonal (cos and sin sampled on a
    square grid differ slightly in norm, so normalising them apart would skew the rotation).
    """
    check_harmonic(kernel_size, max_frequency)
    radius, theta = _grid_polar(kernel_size)
    sigmas = [0.6] * (len(ring_radii(kernel_size)) - 1) + [0.4]  # escnn's widths; 0.005 makes ring 0 a point
    columns, frequencies = [], []
    for r0, sigma, limit in zip(ring_radii(kernel_size), sigmas, band_limits(kernel_size, max_frequency)):
        ring = torch.exp(-0.5 * ((radius - r0) / (0.005 if r0 == 0 else sigma)) ** 2)
        for j in range(limit + 1):
            # The angle of the centre pixel is undefined: only the isotropic harmonic may be non-zero there.
            radial = ring if j == 0 else ring * (radius > 0)
            block = [radial * torch.cos(j * theta)] + ([radial * torch.sin(j * theta)] if j else [])
            scale = torch.stack(block).pow(2).sum(1).mean().sqrt()
            columns += [col / scale for col in block]
            frequencies += [j] * len(block)
    return torch.stack(columns, dim=1), tuple(frequencies)


@cache
def coefficient_representation(
    n_rotations: int, mirror: bool, kernel_size: int, max_frequency: int | None = None
) -> torch.Tensor:
    """(|G|, n_basis, n_basis) float64 ρ(a) with L_a(B·c) = B·ρ(a)·c, for the group's element order."""
    frequencies = harmonic_basis(kernel_size, max_frequency)[1]
    mats = []
    for m, r in element_order(n_rotations, mirror):
        alpha = 2 * math.pi * r / n_rotations
        rho = torch.zeros(len(frequencies), len(frequencies), dtype=torch.float64)
        col = 0
        while col < len(frequencies):
            j = frequencies[col]
            if j == 0:  # isotropic: invariant under rotations and the mirror
                rho[col, col] = 1.0
                col += 1
                continue
            cos, sin = math.cos(j * alpha), math.sin(j * alpha)
            rotation = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
            # R(jα)·diag(1, ±1): the mirror acts first and negates the sine coefficient.
            mirror_sign = torch.tensor([1.0, -1.0 if m else 1.0], dtype=torch.float64)
            rho[col : col + 2, col : col + 2] = rotation * mirror_sign
            col += 2
        mats.append(rho)
    return torch.stack(mats)


def transformed_basis(group, kernel_size: int, max_frequency: int | None = None) -> torch.Tensor:
    """(|G|, k², n_basis) float64: B·ρ(a) for every element a, the filter L_a ψ as a map of ψ's coefficients."""
    basis = harmonic_basis(kernel_size, max_frequency)[0]
    return basis @ coefficient_representation(group.n_rotations, group.mirror, kernel_size, max_frequency)


def harmonic_filter_matrices(group, kernel_size: int, max_frequency: int | None = None) -> torch.Tensor:
    """(|G|, k², k²) float64 T_a = B·ρ(a)·B⁺: the harmonic filter transform on pixels (B has full column rank,
    so T_a·T_b = T_{a∘b}); comparable with `Group.filter_matrices`, the pixel basis's transform."""
    basis = harmonic_basis(kernel_size, max_frequency)[0]
    return transformed_basis(group, kernel_size, max_frequency) @ torch.linalg.pinv(basis)


def resampled_basis(group, kernel_size: int, max_frequency: int | None = None) -> torch.Tensor:
    """(|G|, k², n_basis) float64: T_a·B, the harmonic filter sampled on the grid, then rotated as a pixel image
    by the group's filter transform (`Group.filter_matrices`: exact quarter turns and mirror, the remainder
    interpolated at the rotated grid by `filter_interpolation`). Smooth filters, but for p6 not a group action:
    T(60°)·T(60°)·B ≠ T(120°)·B. Equal to `transformed_basis` on the identity and every multiple of 90°."""
    basis = harmonic_basis(kernel_size, max_frequency)[0]
    return group.filter_matrices(kernel_size) @ basis
