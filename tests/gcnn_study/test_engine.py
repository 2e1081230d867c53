"""The training loop: no host sync per step (the device is never waited for inside an epoch), the task picks
the loss and the meter, and the accumulated numbers equal a step-by-step reference."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from gcnn_study.data.bundle import DataBundle
from gcnn_study.engine import NonFinite, evaluate, train_one_epoch
from gcnn_study.metrics import AccuracyMeter, SegmentationMeter
from gcnn.models import GroupClassifier

HOST_READS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__")


@contextmanager
def count_host_reads():
    """Count the calls, made from gcnn's own code, that copy a tensor's value to the host (each one waits
    for the device). Calls inside torch itself (e.g. the optimizer's step counters) are not ours."""
    calls = []
    originals = {name: getattr(torch.Tensor, name) for name in HOST_READS}

    def wrap(name, fn):
        def counted(self, *args, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.startswith("gcnn"):
                calls.append((name, caller))
            return fn(self, *args, **kwargs)

        return counted

    for name, fn in originals.items():
        setattr(torch.Tensor, name, wrap(name, fn))
    try:
        yield calls
    finally:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, fn)


def _setup(n_batches: int, progress=False, log_every=50):
    torch.manual_seed(0)
    x = torch.randn(8 * n_batches, 1, 33, 33)
    y = torch.randint(0, 10, (8 * n_batches,))
    data = DataBundle("classification", "random", (x, y), {"test": (x[:16], y[:16])})
    model = GroupClassifier("p4", channels=(4, 4, 4, 4, 4))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    cfg = OmegaConf.create(
        {
            "seed": 0,
            "trainer": {
                "epochs": 1,
                "batch_size": 8,
                "shuffle": True,
                "limit_train_batches": None,
                "bf16": False,
                "channels_last": False,
                "progress": progress,
                "log_every": log_every,
                "eval_batch_size": 8,
                "limit_eval_batches": None,
            },
        }
    )
    return model, opt, data, cfg


@pytest.mark.parametrize("n_batches", [2, 6])
def test_an_epoch_reads_the_device_a_fixed_number_of_times_whatever_its_length(n_batches):
    model, opt, data, cfg = _setup(n_batches)
    with count_host_reads() as calls:
        row = train_one_epoch(model, opt, data, cfg, 0, torch.device("cpu"))
    assert row["train_loss"] > 0 and 0 <= row["train_acc"] <= 1
    assert len(calls) <= 2, calls  # the epoch's loss and accuracy, once each


def test_a_live_progress_bar_reads_every_log_every_steps(capsys):
    model, opt, data, cfg = _setup(6, progress=True, log_every=3)
    with count_host_reads() as calls:
        train_one_epoch(model, opt, data, cfg, 0, torch.device("cpu"))
    # two refreshes (steps 3 and 6), each reading loss and accuracy, plus the epoch's two reads
    assert len(calls) == 2 * 2 + 2, calls
    assert "6/6" in capsys.readouterr().err


def test_the_accumulated_loss_and_accuracy_equal_a_step_by_step_reference():
    model, opt, data, cfg = _setup(3)
    ref_model, ref_opt, _, _ = _setup(3)
    row = train_one_epoch(model, opt, data, cfg, 0, torch.device("cpu"))
    order = torch.randperm(24, generator=torch.Generator().manual_seed(0))
    ref_model.train()
    losses, correct = [], 0
    for idx in order.split(8):
        logits = ref_model(data.train[0][idx])
        loss = F.cross_entropy(logits, data.train[1][idx])
        ref_opt.zero_grad()
        loss.backward()
        ref_opt.step()
        losses.append(loss.item() * len(idx))
        correct += int((logits.argmax(1) == data.train[1][idx]).sum())
    assert row["train_loss"] == pytest.approx(sum(losses) / 24, rel=1e-6)
    assert row["train_acc"] == correct / 24


def test_the_task_picks_the_meter():
    model, _, data, cfg = _setup(2)
    metrics = evaluate(model, data, cfg.trainer, torch.device("cpu"))
    assert set(metrics) == {"test_acc"}
    masks = (torch.rand(4, 1, 16, 16) > 0.5).float()
    seg = DataBundle("segmentation", "masks", (masks, masks), {"test": (masks, masks)})
    identity = torch.nn.Conv2d(1, 1, 1)
    with torch.no_grad():
        identity.weight.fill_(1.0)
        identity.bias.fill_(-0.5)  # logit > 0 exactly where the mask is 1
    metrics = evaluate(identity, seg, cfg.trainer, torch.device("cpu"))
    assert metrics["test_iou"] == 1.0 and metrics["test_iou_score"] == 1.0 and metrics["test_dice"] == 1.0


def test_meters_accumulate_over_batches_of_any_size():
    acc = AccuracyMeter()
    acc.update(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
    acc.update(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
    assert acc.compute() == {"acc": 2 / 3, "n": 3}
    seg = SegmentationMeter()
    target = torch.zeros(1, 1, 2, 2)
    target[..., 0, 0] = 1
    seg.update(torch.full((1, 1, 2, 2), -1.0), target)  # predicts nothing: IoU 0
    seg.update(target * 2 - 1, target)  # exact: IoU 1
    out = seg.compute()
    assert out["iou"] == 0.5 and out["iou_dataset"] == 0.5 and out["n"] == 2


@pytest.mark.parametrize("group", ["z2", "p4"])
def test_channels_last_trains_group_and_plain_models_alike(group):
    """trainer.channels_last lays out 4-D weights and inputs; the group models' 5-D filter banks stay as they are.
    The same step in either layout gives the same loss up to float32 summation order."""
    from gcnn_study.engine import prepare

    losses = []
    for channels_last in (False, True):
        model, opt, data, cfg = _setup(2)
        model = GroupClassifier(group, channels=(4, 4, 4, 4, 4))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        cfg.trainer.channels_last = channels_last
        cfg.trainer.compile = False
        step_model = prepare(model, cfg.trainer, torch.device("cpu"))
        losses.append(train_one_epoch(step_model, opt, data, cfg, 0, torch.device("cpu"))["train_loss"])
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)


# ----------------------------------------------------------------------------------------------- divergence
def _poisoned(n_batches: int, bad_step: int, **setup):
    """The setup of `_setup` without shuffling, with NaN images in batch `bad_step` (1-based): its loss is NaN."""
    model, opt, data, cfg = _setup(n_batches, **setup)
    cfg.trainer.shuffle = False
    cfg.trainer.lr = 1e-3
    data.train[0][8 * (bad_step - 1) : 8 * bad_step] = float("nan")
    return model, opt, data, cfg


def _count_forwards(model) -> list:
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_a_nan_loss_stops_the_epoch_at_its_read_naming_the_epoch_and_the_step():
    model, opt, data, cfg = _poisoned(6, bad_step=3)
    with count_host_reads() as calls, pytest.raises(NonFinite) as err:
        train_one_epoch(model, opt, data, cfg, 0, torch.device("cpu"))
    message = str(err.value)
    assert "the training loss is nan at epoch 1/1, step 3/6" in message and "trainer.lr" in message
    assert "\n" not in message
    # no read per step: the epoch's one loss read, then the step number, read only because the loss was NaN
    assert [name for name, _ in calls] == ["item", "__int__"], calls


def test_a_live_bar_stops_a_diverged_epoch_at_its_next_read():
    model, opt, data, cfg = _poisoned(6, bad_step=2, progress=True, log_every=2)
    forwards = _count_forwards(model)
    with pytest.raises(NonFinite, match="step 2/6"):
        train_one_epoch(model, opt, data, cfg, 0, torch.device("cpu"))
    assert len(forwards) == 2  # stopped at the bar's read after step 2, not at the end of the epoch


def test_an_infinite_loss_is_refused_too():
    model, opt, data, cfg = _poisoned(2, bad_step=1)
    data.train[0][:8] = float("inf")
    with pytest.raises(NonFinite, match=r"is (nan|inf) at epoch 1/1, step 1/2"):
        train_one_epoch(model, opt, data, cfg, 0, torch.device("cpu"))


def test_an_evaluation_with_non_finite_outputs_is_refused_not_scored():
    model, _, data, cfg = _setup(2)
    cfg.trainer.lr = 1e-3
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))  # as after a last step that diverged
    with pytest.raises(NonFinite, match="outputs on test are not finite"):
        evaluate(model, data, cfg.trainer, torch.device("cpu"))


def test_a_model_at_chance_level_is_still_a_result():
    model, _, data, cfg = _setup(2)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()  # every class scores the same: chance level, but finite
    metrics = evaluate(model, data, cfg.trainer, torch.device("cpu"))
    assert 0.0 <= metrics["test_acc"] <= 1.0
