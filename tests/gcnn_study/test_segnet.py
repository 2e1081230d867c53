"""SegNet and its group versions: parameter budgets of the six configs, exact rot90 / mirror equivariance of
P4SegNet(_T) and D4SegNet(_T) (and its failure for the plain SegNet), shapes, size errors, gradients."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from gcnn.models import SegNet, count_parameters

MODELS = ["segnet", "p4segnet", "d4segnet", "segnet_t", "p4segnet_t", "d4segnet_t"]
STUDY_BUDGET = 2.35e6
TOL = 1e-5  # max abs error <= TOL * max |output|

ROTATIONS = {f"rot90^{k}": (lambda x, k=k: torch.rot90(x, k, (-2, -1))) for k in (1, 2, 3)}
MIRRORS = {"flip": lambda x: torch.flip(x, (-1,))} | {
    f"rot90^{k}∘flip": (lambda x, k=k: torch.rot90(torch.flip(x, (-1,)), k, (-2, -1))) for k in (1, 2, 3)
}


@pytest.fixture
def load_model(make_cfg):
    """`load_model("p4segnet_t")`: the model `model=p4segnet_t` configures (the _t / p4 / d4 files inherit via
    defaults)."""
    return lambda name: instantiate(make_cfg(f"model={name}").model)


def exercised(model: SegNet, size: int, batch: int = 2, full_stats: bool = False) -> SegNet:
    """Random BN affine parameters, BN running statistics moved by two train-mode batches, then eval mode, so
    the check covers BN as used at test time. full_stats: the running statistics become exactly the batches'
    (cumulative average), as after training; a few nearly dead channels then get a tiny variance and amplify
    float32 round-off (up to ~1e-4 here), which is why that state is checked in float64."""
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "running_mean"):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                if full_stats:
                    m.momentum = None
        model.train()
        for _ in range(2):
            model(torch.randn(batch, 3, size, size, dtype=next(model.parameters()).dtype))
    return model.eval()


def max_rel_error(model, x, transforms) -> dict[str, float]:
    with torch.no_grad():
        y = model(x)
        return {k: ((model(t(x)) - t(y)).abs().max() / y.abs().max()).item() for k, t in transforms.items()}


# Counted from the notebook's layers (GroupEquivariantSegmentation.ipynb at fcddd0a): SegNet (cell 23), GroupSegNet's
# default channels [1, 16, 32, 64, 128] for P4SegNet (cell 24), GroupSegNetTranspose(channels=[1, 16, 32, 64, 64],
# group='d4') for D4SegNet_T (cell 54). D4SegNet, which the notebook cannot build, takes D4SegNet_T's channels.
NOTEBOOK_PARAMS = {
    "segnet": 2_347_011,
    "p4segnet": 2_344_371,
    "d4segnet": 2_325_939,
    "segnet_t": 2_347_011,
    "p4segnet_t": 2_344_371,
    "d4segnet_t": 2_325_939,
}
# The 1×1-head design (model.head=conv1x1) of the seed-0 records under results/full/runs/table{3,4}_conv1x1/.
CONV1X1_PARAMS = {"segnet": 2_356_065, "p4segnet": 2_353_121, "d4segnet": 2_354_479}


@pytest.mark.parametrize("name", MODELS)
def test_each_config_has_the_notebooks_parameter_count(name, load_model):
    assert count_parameters(load_model(name)) == NOTEBOOK_PARAMS[name]
    assert abs(NOTEBOOK_PARAMS[name] / STUDY_BUDGET - 1) < 0.02  # "approximately the same number of parameters"


@pytest.mark.parametrize("name", MODELS)
def test_the_conv1x1_design_is_the_one_the_seed_0_records_counted(name, make_cfg):
    base = name.removesuffix("_t")
    channels = ["model.channels=[12,24,45,90]"] if base == "d4segnet" else []
    cfg = make_cfg(f"model={name}", "model.head=conv1x1", "model.init=fan_in", *channels)
    assert count_parameters(instantiate(cfg.model)) == CONV1X1_PARAMS[base]


def test_the_notebooks_output_block_is_the_last_conv_then_relu_then_bn(load_model):
    """cells 23-24: Conv(32 → 1) → ReLU → BatchNorm(1) are the logits, then max over the group axis; no 1×1 conv."""
    for name in ("segnet", "p4segnet_t"):
        model = load_model(name)
        assert model.head is None
        *_, conv, relu, bn = model.decoder[-1].convs
        assert conv.out_channels == 1 and isinstance(relu, torch.nn.ReLU) and bn.num_features == 1


def test_configs_carry_metadata_and_the_experiments_set_a_size_they_accept(make_cfg):
    for name in MODELS:
        odd = name.endswith("_t")
        cfg = make_cfg(f"experiment={'table4' if odd else 'table3'}", f"model={name}")
        model = instantiate(cfg.model)
        assert "task" not in cfg.model and "odd_input" not in cfg.model  # the class and dataset.size say these
        assert (model.name, model.task, SegNet.task) == (name, "segmentation", "segmentation")
        assert model.decoder_kind == ("transpose" if odd else "upsample")
        assert cfg.dataset.size == (257 if odd else 256)  # table4 sets 257 for the transposed-conv models
        model.check_input_size(cfg.dataset.size, cfg.dataset.size)
        other = make_cfg(f"experiment={'table3' if odd else 'table4'}").dataset.size
        with pytest.raises(ValueError, match=rf"set dataset\.size to {257 if odd else 'a multiple of 16'}"):
            model.check_input_size(other, other)


def transforms_of(name: str) -> dict:
    return ROTATIONS | (MIRRORS if name.startswith("d4") else {})


@pytest.mark.parametrize("name,size", [("p4segnet", 64), ("d4segnet", 64), ("p4segnet_t", 65), ("d4segnet_t", 65)])
def test_group_segnets_are_equivariant_to_float32_round_off(name, size, load_model):
    model = exercised(load_model(name), size)
    errors = max_rel_error(model, torch.randn(1, 3, size, size), transforms_of(name))
    assert max(errors.values()) <= TOL, errors


@pytest.mark.parametrize("name,size", [("p4segnet", 32), ("d4segnet", 32), ("p4segnet_t", 33), ("d4segnet_t", 33)])
def test_group_segnets_are_exact_in_float64_with_trained_bn_statistics(name, size, load_model):
    """In float64 the error falls to ~1e-13: the maps commute exactly, whatever remains in float32 is round-off."""
    model = exercised(load_model(name).double(), size, full_stats=True)
    errors = max_rel_error(model, torch.randn(1, 3, size, size, dtype=torch.float64), transforms_of(name))
    assert max(errors.values()) <= 1e-10, errors


@pytest.mark.slow
@pytest.mark.parametrize("name", ["p4segnet", "d4segnet", "p4segnet_t", "d4segnet_t"])
def test_group_segnets_are_equivariant_to_float32_round_off_at_the_configured_size(name, load_model):
    size = 257 if name.endswith("_t") else 256
    model = exercised(load_model(name), size, batch=1)
    errors = max_rel_error(model, torch.randn(1, 3, size, size), transforms_of(name))
    assert max(errors.values()) <= TOL, errors


@pytest.mark.parametrize("name,size", [("segnet", 32), ("segnet_t", 33)])
def test_plain_segnet_is_not_rot90_equivariant(name, size, load_model):
    """The check is not vacuous: a plain CNN with random filters fails it by a wide margin."""
    model = exercised(load_model(name), size)
    errors = max_rel_error(model, torch.randn(2, 3, size, size), ROTATIONS)
    assert min(errors.values()) > 1e-3, errors


@pytest.mark.parametrize("group,decoder,size", [("p4", "upsample", 32), ("p4m", "transpose", 33)])
def test_skip_connections_keep_equivariance(group, decoder, size):
    model = exercised(SegNet(group, (4, 6, 8, 10), decoder, skip=True).double(), size, full_stats=True)
    transforms = ROTATIONS | (MIRRORS if group == "p4m" else {})
    errors = max_rel_error(model, torch.randn(2, 3, size, size, dtype=torch.float64), transforms)
    assert max(errors.values()) <= 1e-10, errors


@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_wrong_sizes_raise(name, load_model):
    model = load_model(name).eval()
    size, wrong = (33, 32) if name.endswith("_t") else (32, 33)
    with torch.no_grad():
        assert model(torch.randn(2, 3, size, size)).shape == (2, 1, size, size)
        with pytest.raises(ValueError, match=r"dataset\.size"):
            model(torch.randn(1, 3, wrong, wrong))
        with pytest.raises(ValueError, match=r"dataset\.size"):
            model(torch.randn(1, 3, size, size + 1))  # one bad side is enough


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="decoder"):
        SegNet(decoder="unpool")
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        SegNet("z2", (4,))(torch.randn(3, 16, 16))


@pytest.mark.parametrize("group,decoder,skip", [("z2", "upsample", False), ("p4m", "transpose", True)])
def test_backward_gives_finite_gradients_everywhere(group, decoder, skip):
    model = SegNet(group, (3, 4), decoder, skip=skip).train()
    size = 9 if decoder == "transpose" else 8
    x, target = torch.randn(2, 3, size, size), torch.randint(0, 2, (2, 1, size, size)).float()
    torch.nn.functional.binary_cross_entropy_with_logits(model(x), target).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
