"""check_equivariance() of every layer and model: it passes at the exact elements (multiples of 90°, mirrors), it
fails a module that is not equivariant, it reports the interpolated elements without asserting them, and it
changes nothing (the global generator, train/eval modes, batch-norm statistics)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from gcnn import check
from gcnn.equivariance import TRANSFORMS, check_equivariance, element_label, exact_size
from gcnn.groups import get_group
from gcnn.nn import (
    EquivariantModule,
    GroupBatchNorm,
    GroupConv2d,
    GroupConvTranspose2d,
    GroupPool,
    LiftingConv2d,
    SpatialMaxPool,
    SpatialUpsample,
)

GROUPS = ["z2", "p4", "p4m", "p6", "p8"]
GROUP_LAYERS = {
    "lifting": lambda g: LiftingConv2d(3, 4, 3, g, padding=1),
    "lifting_5x5_stride2": lambda g: LiftingConv2d(3, 4, 5, g, stride=2),
    "group": lambda g: GroupConv2d(3, 4, 3, g, padding=1),
    "transpose": lambda g: GroupConvTranspose2d(3, 4, 3, g, stride=2, padding=1),
    "harmonic": lambda g: GroupConv2d(3, 4, 3, g, padding=1, filter_basis="harmonic"),
}
PLAIN_LAYERS = {  # no group of their own: checked on the group they are given
    "batchnorm": lambda: GroupBatchNorm(3),
    "group_pool_max": lambda: GroupPool("max"),
    "group_pool_mean": lambda: GroupPool("mean"),
    "maxpool_2x2": lambda: SpatialMaxPool(2),
    "maxpool_3x3_stride2": lambda: SpatialMaxPool(3, 2, 1),
    "upsample_bilinear": lambda: SpatialUpsample(2, "bilinear"),
    "upsample_nearest": lambda: SpatialUpsample(2, "nearest"),
}


def _exact_rows(rows):
    return {label: row for label, row in rows.items() if row["exact"]}


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("kind", GROUP_LAYERS)
def test_every_group_layer_passes_at_its_exact_elements_and_in_float64_to_round_off(kind, group):
    layer = GROUP_LAYERS[kind](group)
    nn.init.normal_(layer.bias)  # a bias must be shared over the group axis to stay equivariant
    g = get_group(group)
    rows = layer.check_equivariance()
    assert list(rows) == [element_label(g, a) for a in range(g.order)]
    assert [row["element"] for row in _exact_rows(rows).values()] == g.exact_elements
    exact64 = _exact_rows(layer.double().check_equivariance())
    assert max(row["error"] for row in exact64.values()) < 1e-12


@pytest.mark.parametrize("group", ["p4m", "p8"])
@pytest.mark.parametrize("kind", PLAIN_LAYERS)
def test_every_layer_without_a_group_passes_on_the_group_it_is_given(kind, group):
    rows = PLAIN_LAYERS[kind]().check_equivariance(group=group)
    assert len(rows) == get_group(group).order and len(_exact_rows(rows)) == (8 if group == "p4m" else 4)


@pytest.mark.parametrize("kind", check.KINDS)
def test_every_model_kind_passes_and_its_exact_elements_are_the_groups(kind):
    model = check.build(kind, double=True)
    rows = model.check_equivariance()
    assert [row["element"] for row in _exact_rows(rows).values()] == model.group.exact_elements
    assert max(row["error"] for row in _exact_rows(rows).values()) < 1e-12


def test_interpolated_elements_are_reported_not_asserted():
    rows = LiftingConv2d(3, 4, 3, "p8", padding=1).check_equivariance()
    assert not rows["45°"]["exact"] and rows["45°"]["error"] > 1e-2  # an image turned by 45° is interpolated
    assert rows["90°"]["exact"] and rows["90°"]["error"] < 1e-5


class _Shift(EquivariantModule, nn.Module):
    """A map of group maps that moves every pixel one step right: equivariant to translations, not to rotations."""

    group = get_group("p4")

    def forward(self, x):
        return torch.roll(x, 1, dims=-1)


def _unrotated_filters(group: str) -> LiftingConv2d:
    """A lifting conv that applies its filter unturned for every element: the same map at every pose."""
    layer = LiftingConv2d(3, 4, 3, group, padding=1)
    layer.basis.index[:] = layer.basis.index[0].clone()
    return layer


@pytest.mark.parametrize(
    "broken, where",
    [
        (lambda: _Shift(), "90°"),
        (lambda: _unrotated_filters("p4"), "90°"),
        (lambda: _unrotated_filters("p4m"), "90°"),
        (lambda: GroupConvTranspose2d(3, 4, 3, "p4", stride=2, padding=1, output_padding=1), "90°"),
    ],
)
def test_a_layer_that_is_not_equivariant_fails_with_a_one_line_message(broken, where):
    layer = broken()
    with pytest.raises(AssertionError) as failure:
        layer.check_equivariance()
    message = str(failure.value)
    assert "\n" not in message and f"not equivariant to {where} of" in message
    rows = layer.check_equivariance(assertion=False)  # the same numbers, returned
    assert rows[where]["max_abs"] > rows[where]["bound"]


@pytest.mark.parametrize("kernel_size, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 2, 0), (3, 3, 0)])
def test_exact_size_is_the_side_at_which_pooling_windows_map_onto_windows(kernel_size, stride, padding):
    pool, n = SpatialMaxPool(kernel_size, stride, padding), exact_size(kernel_size, stride, padding)
    x = torch.randn(2, 3, 4, n, n, generator=torch.Generator().manual_seed(1))
    pool.check_equivariance(x, group="p4")
    bigger = torch.randn(2, 3, 4, n + 1, n + 1, generator=torch.Generator().manual_seed(1))
    with pytest.raises(AssertionError, match="not equivariant"):
        pool.check_equivariance(bigger, group="p4")


def test_the_check_changes_nothing():
    model = check.build("d4segnet_t")
    model.train()
    model.decoder.eval()  # a mixed state must come back as it was
    modes = {name: m.training for name, m in model.named_modules()}
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    first = model.check_equivariance(seed=3)
    assert torch.equal(rng, torch.get_rng_state()), "the check drew from the global generator"
    assert modes == {name: m.training for name, m in model.named_modules()}
    assert all(torch.equal(stats[k], v) for k, v in model.state_dict().items()), "batch-norm statistics moved"
    assert torch.is_grad_enabled()
    assert model.check_equivariance(seed=3) == first  # the input is drawn from its own seeded generator


def test_with_transforms_a_model_gives_the_studys_measure():
    model = check.build("p4cnn", double=True).eval()
    x = model.equivariance_input(model.group, seed=1)
    assert x.shape == (2, 1, 33, 33) and x.dtype == torch.float64
    errors = model.check_equivariance(x, TRANSFORMS)
    assert errors == check_equivariance(model, x, TRANSFORMS)
    assert list(errors) == [t.label for t in TRANSFORMS] and errors["90°"]["in_group"]
    assert model.check_equivariance(transforms=TRANSFORMS, seed=1) == errors  # x left out: the same random input


def test_a_layer_with_its_own_group_refuses_another():
    with pytest.raises(ValueError, match="acts by its own group p4: leave out group='p4m'"):
        LiftingConv2d(3, 4, 3, "p4", padding=1).check_equivariance(group="p4m")


def test_the_command_prints_one_row_per_model_and_fails_on_a_broken_one(capsys, monkeypatch):
    assert check.main(["--only", "cnn", "p8cnn", "d4segnet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split()[:3] for line in lines[1:]]
    assert rows == [["cnn", "z2", "1/1"], ["p8cnn", "p8", "4/8"], ["d4segnet", "p4m", "8/8"]]
    assert all(line.endswith("ok") for line in lines[1:])

    build = check.KINDS["p4cnn"]

    def broken():
        model = build()
        model.features[0][0].basis.index[:] = model.features[0][0].basis.index[0].clone()
        return model

    monkeypatch.setitem(check.KINDS, "p4cnn", broken)
    assert check.main(["--only", "p4cnn"]) == 1
    out = capsys.readouterr().out
    assert "FAILED at 90°, 180°, 270°" in out and "1 model(s) not equivariant" in out


def test_the_example_of_docs_library_md_runs():
    page = (Path(__file__).resolve().parents[2] / "docs" / "library.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    scope = {}
    exec(compile(code, "docs/library.md", "exec"), scope)
    assert scope["rows"]["mirror, 90°"]["exact"] and not scope["errors"]["45°"]["in_group"]


def test_on_cuda_the_check_turns_tf32_off_and_restores_it():
    from gcnn.nn.equivariant_module import _full_precision

    flags = (torch.backends.cudnn, "allow_tf32"), (torch.backends.cuda.matmul, "allow_tf32")
    before = [getattr(obj, name) for obj, name in flags]
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        with _full_precision(torch.device("cuda")):
            assert not any(getattr(obj, name) for obj, name in flags)
        assert all(getattr(obj, name) for obj, name in flags)
        with _full_precision(torch.device("cpu")):  # nothing to do on the CPU
            assert all(getattr(obj, name) for obj, name in flags)
    finally:
        for (obj, name), value in zip(flags, before):
            setattr(obj, name, value)
