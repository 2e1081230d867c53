"""The groups: axioms on the element table, homomorphic actions, exactness where promised."""

import math

import pytest
import torch

from gcnn.groups import NAMED_GROUPS, get_group, rotate_images

ALL = list(NAMED_GROUPS) + ["p3", "p5m", "p12"]


@pytest.mark.parametrize("name", ALL)
def test_group_axioms(name):
    g = get_group(name)
    n = g.order
    table = g.cayley
    assert sorted(table[0].tolist()) == list(range(n))
    for a in range(n):
        assert g.compose(g.identity, a) == a == g.compose(a, g.identity)
        assert g.compose(a, g.inverse(a)) == g.identity == g.compose(g.inverse(a), a)
        assert sorted(table[a].tolist()) == list(range(n)), "each row of the table is a permutation"
    for a in range(n):
        for b in range(n):
            for c in range(n):
                assert table[table[a, b], c] == table[a, table[b, c]]


@pytest.mark.parametrize("name,order", [("z2", 1), ("p2", 2), ("p4", 4), ("p6", 6), ("p8", 8), ("p4m", 8), ("d4", 8)])
def test_orders_and_names(name, order):
    assert get_group(name).order == order


def test_unknown_group_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown group 'q4'.*p4m"):
        get_group("q4")
    with pytest.raises(ValueError):
        get_group("p0")


@pytest.mark.parametrize("name", ["z2", "p2", "p4", "p4m", "p2m"])
def test_image_action_is_an_exact_homomorphism(name):
    g = get_group(name)
    x = torch.randn(2, 3, 7, 7)
    for a in range(g.order):
        for b in range(g.order):
            left = g.act_on_image(a, g.act_on_image(b, x))
            assert torch.equal(left, g.act_on_image(g.compose(a, b), x))


@pytest.mark.parametrize("name", ["p4", "p4m", "p8", "p8m", "p6"])
def test_group_map_action_is_a_homomorphism_on_exact_elements(name):
    g = get_group(name)
    f = torch.randn(2, 3, g.order, 6, 6)
    exact = g.exact_elements
    for a in exact:
        for b in exact:
            left = g.act_on_group_map(a, g.act_on_group_map(b, f))
            assert torch.equal(left, g.act_on_group_map(g.compose(a, b), f))


@pytest.mark.parametrize("name", ["p6", "p8", "p4m"])
def test_group_axis_permutation_is_a_homomorphism_for_every_element(name):
    g = get_group(name)
    for a in range(g.order):
        for b in range(g.order):
            # (L_a L_b f)(g) = f(perm_b[perm_a[g]]) must equal f(perm_ab[g])
            assert torch.equal(g.permutation(b)[g.permutation(a)], g.permutation(g.compose(a, b)))


def test_exact_elements():
    assert get_group("p8").exact_elements == [0, 2, 4, 6]
    assert get_group("p6").exact_elements == [0, 3]
    assert get_group("p4m").exact_elements == list(range(8))


@pytest.mark.parametrize("size", [7, 8])
def test_rotate_images_matches_rot90_at_right_angles(size):
    x = torch.randn(3, 2, size, size)
    for k in range(4):
        rotated = rotate_images(x, k * math.pi / 2, mode="nearest")
        assert torch.equal(rotated, torch.rot90(x, k, (-2, -1)))
        assert torch.allclose(rotate_images(x, k * math.pi / 2), torch.rot90(x, k, (-2, -1)), atol=1e-5)


def test_rotate_images_per_image_angles():
    x = torch.randn(2, 1, 9, 9)
    out = rotate_images(x, torch.tensor([0.0, math.pi]), mode="nearest")
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], torch.rot90(x[1], 2, (-2, -1)))


def test_p8_filter_transform_is_an_exact_c8_action_on_3x3():
    """Nearest 45° rotation of a 3×3 filter is the cyclic shift of its border: T¹ ∘ T¹ = T² = rot90."""
    g = get_group("p8")
    mats = g.filter_matrices(3)
    for a in range(8):
        for b in range(8):
            assert torch.equal(mats[a] @ mats[b], mats[g.compose(a, b)])
    psi = torch.arange(9.0, dtype=torch.float64).view(3, 3)
    assert torch.equal((mats[2] @ psi.flatten()).view(3, 3), torch.rot90(psi, 1))
    ring = (mats[1] @ psi.flatten()).view(3, 3)
    assert ring[1, 1] == psi[1, 1] and sorted(ring.flatten().tolist()) == sorted(psi.flatten().tolist())


def test_p6_filter_transform_is_not_a_group_action_but_180_is_exact():
    """As run in the study: 60° twice differs from 120° with nearest rotation of 3×3 filters."""
    g = get_group("p6")
    mats = g.filter_matrices(3)
    assert not torch.equal(mats[1] @ mats[1], mats[2])
    psi = torch.randn(9, dtype=torch.float64)
    assert torch.equal(mats[3] @ psi, torch.rot90(psi.view(3, 3), 2).flatten())


@pytest.mark.parametrize("name", ["p6", "p12", "p6m"])
@pytest.mark.parametrize("k", [3, 5])
def test_the_180_degree_subgroup_acts_exactly_on_nearest_rotated_filters(name, k):
    """Nearest rounding is symmetric about the filter's centre, so rot180 commutes with every transformed
    filter: T(s)·T(b) = T(s∘b) for s in {0°, 180°} (and their mirrors), which makes P6CNN 180°-invariant."""
    g = get_group(name)
    mats = g.filter_matrices(k)
    half = [a for a in range(g.order) if (2 * g.elements[a][1]) % g.n_rotations == 0]
    for s in half:
        for b in range(g.order):
            assert torch.equal(mats[s] @ mats[b], mats[g.compose(s, b)]), (s, b)


def test_bilinear_filter_interpolation_offers_interpolated_pixel_values():
    g = get_group("p6", filter_interpolation="bilinear")
    index, coef = g.filter_taps(3)
    assert index.shape[-1] > 1
    assert torch.allclose(coef[0, :, 0], torch.ones(9, dtype=coef.dtype))  # identity stays a permutation
    with pytest.raises(ValueError, match="filter_interpolation"):
        get_group("p6", filter_interpolation="cubic")


def test_get_group_given_a_group_honours_the_requested_interpolation():
    nearest = get_group("p6")
    assert get_group(nearest) is nearest and get_group(nearest, "nearest") is nearest
    bilinear = get_group(nearest, "bilinear")  # never silently the nearest group
    assert bilinear.filter_interpolation == "bilinear" and bilinear == get_group("p6", "bilinear")
    assert get_group(bilinear) is bilinear  # None keeps the Group's own setting
    assert not torch.equal(bilinear.filter_matrices(3), nearest.filter_matrices(3))
    with pytest.raises(ValueError, match="filter_interpolation"):
        get_group(nearest, "cubic")


@pytest.mark.parametrize("name", ALL)
def test_element_at_finds_every_element_by_its_angle_and_mirror(name):
    g = get_group(name)
    for a, (m, _) in enumerate(g.elements):
        assert g.element_at(g.degrees(a), bool(m)) == a
        assert g.element_at(g.degrees(a) - 360, bool(m)) == a  # angles are taken modulo a full turn
        image = torch.arange(36.0).reshape(1, 1, 6, 6)
        if g.is_exact(a):  # the element acts on images as its angle and mirror say
            expected = torch.rot90(torch.flip(image, (-1,)) if m else image, round(g.degrees(a) / 90), (-2, -1))
            assert torch.equal(g.act_on_image(a, image), expected)


@pytest.mark.parametrize(("name", "degrees", "mirror"), [("p4", 45, False), ("p4", 90, True), ("z2", 180, False)])
def test_element_at_refuses_what_the_group_lacks(name, degrees, mirror):
    with pytest.raises(ValueError, match=f"{name} has no element"):
        get_group(name).element_at(degrees, mirror)


def _point_action(g, a) -> torch.Tensor:
    """Element a as a 2×2 matrix on points (row, column): mirror the column, then rotate by its angle."""
    m, _ = g.elements[a]
    t = math.radians(g.degrees(a))
    rotation = torch.tensor([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]], dtype=torch.float64)
    return rotation @ torch.diag(torch.tensor([1.0, -1.0 if m else 1.0], dtype=torch.float64))


@pytest.mark.parametrize("name", ALL)
def test_inverse_products_table_is_built_once_and_reads_s_inverse_h(name):
    """table[s][h] = index of s⁻¹∘h, checked against composing the elements' actions (on points, and exactly on
    images for the elements that permute pixels), never against compose / inverse."""
    g = get_group(name)
    table = g.inverse_products
    assert table is g.inverse_products and table.dtype == torch.long and table.shape == (g.order, g.order)
    image = torch.randn(1, 1, 7, 7, generator=torch.Generator().manual_seed(0))
    for s in range(g.order):
        assert torch.equal(g.permutation(s), table[s])
        for h in range(g.order):
            expected = torch.linalg.inv(_point_action(g, s)) @ _point_action(g, h)
            matches = [a for a in range(g.order) if torch.allclose(_point_action(g, a), expected, atol=1e-9)]
            assert matches == [int(table[s, h])], (s, h)
            if g.is_exact(s) and g.is_exact(h):  # L_{s⁻¹h} x = L_s⁻¹ (L_h x), undoing s pixel for pixel
                m, _ = g.elements[s]
                undone = torch.rot90(g.act_on_image(h, image), -round(g.degrees(s) / 90), (-2, -1))
                undone = torch.flip(undone, (-1,)) if m else undone
                assert torch.equal(g.act_on_image(int(table[s, h]), image), undone)
