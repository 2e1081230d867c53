"""The discrete groups of the study and how they act on images, filters and feature maps on the group.

Every group here is a *split* group G = Z^2 ⋊ H (Cohen & Welling 2016, sec. 7): an element is a translation
followed by an element of the stabiliser H of the origin. Convolution already handles translations, so a
`Group` object describes H only:

    pN   (N >= 1)  rotations by multiples of 360°/N                  |H| = N     (p1 is called z2)
    pNm  (N >= 1)  the same rotations and a mirror (pNm ~ dihedral)  |H| = 2N    (p4m is the study's "D4")

Element index i = N * m + r means "mirror m times (m in {0, 1}), then rotate r times"; for p4m this is Cohen &
Welling's ordering. Mirror = flip of the last (width) axis. Rotation r of an image is `torch.rot90(x, k, (-2, -1))`
when its angle is a multiple of 90° (an exact index permutation) and an interpolated rotation in the same
direction otherwise.

What is exact:
    * z2, p2, p4, p2m, p4m: every element acts by an index permutation, so equivariance holds to round-off.
    * p8 (and p8m): multiples of 90° are exact. On 3×3 filters, nearest-neighbour rotation by 45° is the cyclic
      shift of the eight border pixels, a true C8 action (two steps equal rot90 exactly); the filter transform
      is therefore a group action for k = 3. An *image* rotated by 45° must be interpolated, so 45° equivariance
      of a whole layer holds only approximately (tests report the error).
    * p6 (and odd N): only the 180° subgroup (N even) is exact. Nearest-neighbour rotation of a 3×3 filter by
      60° is not a group action (two 60° steps differ from one 120° step, six steps from the identity): this is
      what the study ran and a likely cause of its weak P6 result. The rounding is symmetric about the centre
      (ties away from it), so rot180 commutes with every transformed filter and a P6 network is exactly
      invariant to 180°; rounding ties one way (floor(x + 0.5)) would break even that.
      `filter_interpolation="bilinear"` is offered as the "interpolated pixel values" of the study's text; it is
      not a group action either. The steerable filters of `gcnn.harmonic` (`filter_basis="harmonic"` in the
      layers) are transformed exactly for every N.
"""

from __future__ import annotations

import math
import re
from functools import cache, cached_property

import torch
import torch.nn.functional as F

NAMED_GROUPS = ("z2", "p2", "p4", "p6", "p8", "p2m", "p4m", "p6m", "p8m")
ALIASES = {"z2": "p1", "c1": "p1", "d4": "p4m"}
# Every name `get_group` accepts: an alias, or pN / pNm with N >= 1 (any case). The schema checks it.
GROUP_PATTERN = r"(?i)(" + "|".join(ALIASES) + r"|p[1-9]\d*m?)"
GROUP_HELP = "a group name: z2, p4, p6, p8, p4m (= d4), or any pN / pNm with N >= 1"
FILTER_INTERPOLATIONS = ("nearest", "bilinear")  # how a pixel filter is rotated by an angle off the grid


def element_order(n_rotations: int, mirror: bool) -> list[tuple[int, int]]:
    """(m, r) of every element, in index order N·m + r: "mirror m times, then rotate r times". The one place the
    order is written: `Group.elements`, the filter transforms here and in `gcnn.harmonic` enumerate it."""
    return [(m, r) for m in range(2 if mirror else 1) for r in range(n_rotations)]


class Group:
    """The stabiliser H of a split group pN / pNm: its elements, multiplication and actions."""

    def __init__(self, n_rotations: int, mirror: bool, filter_interpolation: str = "nearest"):
        if n_rotations < 1:
            raise ValueError(f"n_rotations must be >= 1, got {n_rotations}")
        if filter_interpolation not in FILTER_INTERPOLATIONS:
            raise ValueError(
                f"filter_interpolation must be one of {', '.join(FILTER_INTERPOLATIONS)}, got {filter_interpolation!r}"
            )
        self.n_rotations = n_rotations
        self.mirror = mirror
        self.filter_interpolation = filter_interpolation
        self.order = n_rotations * (2 if mirror else 1)
        self.elements = element_order(n_rotations, mirror)
        n = self.order
        self.cayley = torch.tensor([[self.compose(a, b) for b in range(n)] for a in range(n)], dtype=torch.long)
        self.inverses = torch.tensor([self.inverse(a) for a in range(n)], dtype=torch.long)

    # ---------------------------------------------------------------- naming
    @property
    def name(self) -> str:
        if self.n_rotations == 1 and not self.mirror:
            return "z2"
        return f"p{self.n_rotations}{'m' if self.mirror else ''}"

    def __repr__(self) -> str:
        return f"Group({self.name!r}, order={self.order})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Group) and (self.n_rotations, self.mirror, self.filter_interpolation) == (
            other.n_rotations,
            other.mirror,
            other.filter_interpolation,
        )

    def __hash__(self) -> int:
        return hash((self.n_rotations, self.mirror, self.filter_interpolation))

    # ---------------------------------------------------------------- algebra
    def index(self, m: int, r: int) -> int:
        return self.n_rotations * m + (r % self.n_rotations)

    def compose(self, a: int, b: int) -> int:
        """Index of a∘b (apply b first). Mirror·rotation·mirror = inverse rotation gives the dihedral law."""
        (m1, r1), (m2, r2) = self.elements[a], self.elements[b]
        return self.index(m1 ^ m2, r1 + (-r2 if m1 else r2))

    def inverse(self, a: int) -> int:
        m, r = self.elements[a]
        return a if m else self.index(0, -r)

    @property
    def identity(self) -> int:
        return 0

    def angle(self, a: int) -> float:
        """Rotation angle of element a in radians (the mirror, if any, is applied before it)."""
        return 2 * math.pi * self.elements[a][1] / self.n_rotations

    def degrees(self, a: int) -> float:
        """Rotation angle of element a in degrees (the mirror, if any, is applied before it)."""
        return 360.0 * self.elements[a][1] / self.n_rotations

    def element_at(self, degrees: float, mirror: bool = False) -> int:
        """The element that mirrors images (if `mirror`) and then rotates them by `degrees`, the inverse of
        (`elements[a][0]`, `degrees(a)`); ValueError when the group has no such element (45° in p4, a mirror in p4).
        """
        turns = (degrees % 360) * self.n_rotations / 360
        if (mirror and not self.mirror) or not math.isclose(turns, round(turns), abs_tol=1e-9):
            raise ValueError(f"{self.name} has no element {'mirror, then ' if mirror else ''}rotation by {degrees:g}°")
        return self.index(int(mirror), round(turns))

    def is_exact(self, a: int) -> bool:
        """True when a acts on the pixel grid by an index permutation (rotation a multiple of 90°)."""
        return (4 * self.elements[a][1]) % self.n_rotations == 0

    @property
    def exact_elements(self) -> list[int]:
        return [a for a in range(self.order) if self.is_exact(a)]

    # ---------------------------------------------------------------- actions
    def act_on_image(self, a: int, x: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        """[L_a x](p) = x(a^{-1} p) on the last two axes: mirror (if any), then rotate about the centre."""
        return transform_images(x, self.degrees(a), mirror=bool(self.elements[a][0]), mode=mode)

    @cached_property
    def inverse_products(self) -> torch.Tensor:
        """(|G|, |G|) long table[s, h] = index of s⁻¹∘h: row s permutes the group axis as L_s does, and a group
        convolution reads its filter ψ(s⁻¹h, ·) through it. Built once per group; do not modify it in place."""
        return self.cayley[self.inverses]

    def permutation(self, a: int) -> torch.Tensor:
        """perm with [L_a f](g) = f(perm[g]) on the group axis, i.e. perm[g] = a^{-1}∘g."""
        return self.inverse_products[a]

    def act_on_group_map(self, a: int, x: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
        """[L_a f](g, p) = f(a^{-1} g, a^{-1} p) for f of shape (B, C, |G|, H, W)."""
        if x.dim() != 5 or x.shape[2] != self.order:
            raise ValueError(f"expected (B, C, {self.order}, H, W) for group {self.name}, got {tuple(x.shape)}")
        return self.act_on_image(a, x[:, :, self.permutation(a).to(x.device)], mode=mode)

    # ---------------------------------------------------------------- filters
    def filter_matrices(self, kernel_size: int) -> torch.Tensor:
        """(|G|, k², k²) float64 matrices T_a with vec(L_a ψ) = T_a vec(ψ) for a k×k filter ψ."""
        return _filter_matrices(self.n_rotations, self.mirror, self.filter_interpolation, kernel_size)

    def filter_taps(self, kernel_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The filter transform as a gather: (index, coef), each (|G|, k², T).

        L_a ψ[p] = Σ_t coef[a, p, t] · ψ[index[a, p, t]], where index k² stands for a zero (a pixel rotated in
        from outside the filter). T = 1 for permutations and nearest-neighbour rotation, up to 4 for bilinear.
        """
        return _taps_from_matrices(self.filter_matrices(kernel_size))


def transform_images(x: torch.Tensor, degrees: float, mirror: bool = False, mode: str = "bilinear") -> torch.Tensor:
    """Mirror (flip of the width axis) if asked, then rotate by `degrees` in the direction of torch.rot90: an
    exact index permutation for multiples of 90°, an interpolated rotation (`rotate_images`) otherwise."""
    if mirror:
        x = torch.flip(x, dims=(-1,))
    if degrees % 90 == 0:
        return torch.rot90(x, int(degrees // 90) % 4, dims=(-2, -1))
    return rotate_images(x, math.radians(degrees), mode=mode)


def rotate_images(x: torch.Tensor, angles, mode: str = "bilinear", padding_mode: str = "zeros") -> torch.Tensor:
    """Rotate images (..., H, W) about their centre, in the direction of `torch.rot90(x, 1, (-2, -1))`.

    `angles` (radians) is a float or a tensor with one angle per image of the leading batch axis. All images
    are rotated in one `grid_sample` call, so the same code serves a data set on the CPU or a batch on a GPU.
    Pixels rotated in from outside are zero (`padding_mode`).
    """
    shape = x.shape
    h, w = shape[-2], shape[-1]
    if x.dim() < 3:
        raise ValueError(f"rotate_images expects (..., H, W) with a batch axis, got {tuple(shape)}")
    batch = shape[0]
    flat = x.reshape(batch, -1, h, w)
    angles = torch.as_tensor(angles, dtype=torch.float64)
    angles = angles.expand(batch) if angles.dim() == 0 else angles.reshape(batch)
    cos, sin = torch.cos(angles), torch.sin(angles)
    # Source coordinates in pixels, centred: (row, col) <- (r cos + c sin, -r sin + c cos); in affine_grid's
    # normalised (x = col, y = row) coordinates the aspect ratio enters through h / w.
    theta = torch.zeros(batch, 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    dtype = flat.dtype if flat.is_floating_point() else torch.float32
    grid = F.affine_grid(theta.to(dtype=dtype, device=x.device), list(flat.shape), align_corners=False)
    out = F.grid_sample(flat.to(dtype), grid, mode=mode, padding_mode=padding_mode, align_corners=False)
    return out.to(x.dtype).reshape(shape)


def get_group(name: str | Group, filter_interpolation: str | None = None) -> Group:
    """The group `name` (z2, p2, p4, p6, p8, p4m alias d4, … any pN / pNm, or a Group) with the requested
    `filter_interpolation`; None keeps a Group's own setting (nearest for a name), never drops a request."""
    if isinstance(name, Group):
        if filter_interpolation is None or filter_interpolation == name.filter_interpolation:
            return name
        return _cached_group(name.n_rotations, name.mirror, filter_interpolation)
    key = ALIASES.get(str(name).lower(), str(name).lower())
    match = re.fullmatch(r"p(\d+)(m?)", key)
    if not re.fullmatch(GROUP_PATTERN, str(name)) or not match:
        raise ValueError(
            f"unknown group {name!r}; valid names: {', '.join(NAMED_GROUPS)} (or any pN / pNm with N >= 1; d4 = p4m)"
        )
    return _cached_group(int(match.group(1)), bool(match.group(2)), filter_interpolation or "nearest")


@cache
def _cached_group(n: int, mirror: bool, filter_interpolation: str) -> Group:
    return Group(n, mirror, filter_interpolation)


# -------------------------------------------------------------------- filter-transform construction
@cache
def _filter_matrices(n: int, mirror: bool, interpolation: str, k: int) -> torch.Tensor:
    """Build T_a = R(φ_a) · Rot90^{q_a} · Flip^{m_a}: the nearest quarter turn is done exactly and only the
    remainder |φ| <= 45° is interpolated, so every multiple of 90° in any pN is an exact permutation."""
    size = k * k
    eye = torch.eye(size, dtype=torch.float64).reshape(size, k, k)
    flip = torch.flip(eye, dims=(-1,)).reshape(size, size).T  # columns: image of each basis filter
    rot90 = torch.rot90(eye, 1, dims=(-2, -1)).reshape(size, size).T
    mats = []
    for m, r in element_order(n, mirror):
        quarter = round(4 * r / n)
        phi = 2 * math.pi * r / n - quarter * math.pi / 2
        mat = torch.linalg.matrix_power(rot90, quarter % 4) @ torch.linalg.matrix_power(flip, m)
        if abs(phi) > 1e-12:
            mat = _interpolated_rotation(k, phi, interpolation) @ mat
        mats.append(mat)
    return torch.stack(mats)


def _interpolated_rotation(k: int, phi: float, interpolation: str) -> torch.Tensor:
    """(k², k²) matrix rotating a k×k filter by φ: each output pixel samples the input at R(-φ)p."""
    c = (k - 1) / 2
    mat = torch.zeros(k * k, k * k, dtype=torch.float64)
    cos, sin = math.cos(phi), math.sin(phi)
    for i in range(k):
        for j in range(k):
            y, x = i - c, j - c
            sy, sx = y * cos + x * sin + c, -y * sin + x * cos + c
            if interpolation == "nearest":
                # Round half away from the centre: symmetric under the point reflection, so the rotation
                # commutes with rot180 (and rot90), and the 180° subgroup of p6 or p12 stays exact.
                if k % 2:
                    taps = [(int(c) + _round_half_away(sy - c), int(c) + _round_half_away(sx - c), 1.0)]
                else:  # no centre pixel, no point symmetry to keep
                    taps = [(math.floor(sy + 0.5), math.floor(sx + 0.5), 1.0)]
            else:
                y0, x0 = math.floor(sy), math.floor(sx)
                dy, dx = sy - y0, sx - x0
                taps = [
                    (y0, x0, (1 - dy) * (1 - dx)),
                    (y0, x0 + 1, (1 - dy) * dx),
                    (y0 + 1, x0, dy * (1 - dx)),
                    (y0 + 1, x0 + 1, dy * dx),
                ]
            for yy, xx, wgt in taps:
                if 0 <= yy < k and 0 <= xx < k and wgt > 1e-12:
                    mat[i * k + j, yy * k + xx] += wgt
    return mat


def _round_half_away(v: float) -> int:
    v = round(v, 9)  # 0.49999999999 from cos/sin round-off is a tie: treat it as one
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def _taps_from_matrices(mats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n, size, _ = mats.shape
    width = max(1, int((mats != 0).sum(-1).max()))
    index = torch.full((n, size, width), size, dtype=torch.long)  # `size` = the zero pixel
    coef = torch.zeros(n, size, width, dtype=torch.float64)
    for a in range(n):
        for p in range(size):
            cols = torch.nonzero(mats[a, p]).flatten()
            index[a, p, : len(cols)] = cols
            coef[a, p, : len(cols)] = mats[a, p, cols]
    return index, coef
