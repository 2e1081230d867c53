"""The base of every layer and model: escnn's `check_equivariance()`, at every element of the module's own group.

`EquivariantModule` (every layer) and `EquivariantModel` (every model) are mixins of a torch.nn.Module; they add
methods only, no parameters, buffers or state. The measure itself is `gcnn.equivariance.element_errors`.

    layer.check_equivariance()                  # {element label: {"element", "exact", "error", "max_abs", "bound"}}
    model.check_equivariance(x, TRANSFORMS)     # the study's measure: {label: {"error", "in_group", ...}}

The check runs in eval mode (as escnn's tests do): batch norm then normalises with its running statistics, so the
result does not depend on the batch and the check changes nothing; every submodule's mode is restored afterwards.
(In train mode batch norm is equivariant too, its statistics being pooled over the group axis and space, but a
forward pass would move the running statistics.) On CUDA, TF32 is switched off while checking and restored.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from gcnn.equivariance import (
    CHECK_ATOL,
    CHECK_GROUP,
    CHECK_RTOL,
    CHECK_SIZE,
    check_equivariance,
    element_errors,
)
from gcnn.groups import Group, get_group


@contextmanager
def _full_precision(device: torch.device):
    """TF32 off for CUDA float32 convolutions and matmuls (TF32 alone errs by ~1e-3), restored afterwards."""
    flags = [(torch.backends.cudnn, "allow_tf32"), (torch.backends.cuda.matmul, "allow_tf32")]
    saved = [getattr(obj, flag) for obj, flag in flags] if device.type == "cuda" else []
    try:
        for (obj, flag), _ in zip(flags, saved):
            setattr(obj, flag, False)
        yield
    finally:
        for (obj, flag), value in zip(flags, saved):
            setattr(obj, flag, value)


class EquivariantModule:
    """Mixin of every layer (a torch.nn.Module): `check_equivariance()`, escnn's, at every element of its group.

    A class says what its random input looks like (`equivariance_shape`) and what f is (`equivariance_map`: the
    module's output unless overridden). Layers without a group of their own are checked on CHECK_GROUP."""

    def equivariance_group(self, group: str | Group | None = None) -> Group:
        own = getattr(self, "group", None)
        if group is None:
            return own if own is not None else get_group(CHECK_GROUP)
        if own is not None and get_group(group).name != own.name:
            raise ValueError(f"{type(self).__name__} acts by its own group {own.name}: leave out group={group!r}")
        return get_group(group)

    def equivariance_shape(self, group: Group) -> tuple[int, ...]:
        """The random input's shape: a feature map on the group (2, C, |G|, n, n) unless overridden."""
        channels = getattr(self, "in_channels", None) or getattr(self, "num_features", None) or 3
        return (2, channels, group.order, CHECK_SIZE, CHECK_SIZE)

    def equivariance_map(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)

    def equivariance_input(self, group: Group, seed: int = 0) -> torch.Tensor:
        """Standard normal, from a torch.Generator seeded with `seed` (the global generator is left alone), in
        the module's dtype and on its device."""
        noise = torch.randn(self.equivariance_shape(group), generator=torch.Generator().manual_seed(seed))
        ref = next((t for t in (*self.parameters(), *self.buffers()) if t.is_floating_point()), noise)
        return noise.to(ref.device, ref.dtype)

    def check_equivariance(
        self, x=None, *, group=None, atol=CHECK_ATOL, rtol=CHECK_RTOL, seed=0, assertion=True
    ) -> dict[str, dict]:
        """`element_errors` of the module in eval mode (batch norm then uses its running statistics and nothing
        changes them), on x or `equivariance_input(group, seed)`; each submodule's mode is restored afterwards."""
        g = self.equivariance_group(group)
        x = self.equivariance_input(g, seed) if x is None else x
        modes = {m: m.training for m in self.modules()}
        self.eval()
        try:
            with _full_precision(x.device):
                name = getattr(self, "name", None) or type(self).__name__
                return element_errors(self.equivariance_map, x, g, atol, rtol, name, assertion)
        finally:
            for m, training in modes.items():
                m.training = training


class EquivariantModel(EquivariantModule):
    """Mixin of every model: `check_equivariance()` as a layer's, or with `transforms` the study's measure."""

    def check_equivariance(self, x=None, transforms=None, **check) -> dict[str, dict]:
        """Without `transforms`: the error at every element of the model's group (`EquivariantModule`; keywords
        group, atol, rtol, seed, assertion). With them (e.g. TRANSFORMS): `check_equivariance(self, x, transforms)`,
        {label: {"error", "in_group", "exact_on_grid", "quantity"}}, on x or the random input; nothing asserted."""
        if transforms is None:
            return super().check_equivariance(x, **check)
        x = self.equivariance_input(self.equivariance_group(), check.get("seed", 0)) if x is None else x
        return check_equivariance(self, x, transforms)
