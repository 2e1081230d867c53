"""OmegaConf resolvers used by conf/ (registered on import, so the compose API sees them too)."""

from __future__ import annotations

from omegaconf import OmegaConf


def _plus_if(flag) -> str:
    """'+' for runs trained with augmentation: SegNet+ lives beside SegNet, never in its directory."""
    return "+" if str(flag).lower() in ("true", "1", "yes") else ""


if not OmegaConf.has_resolver("gcnn.plus_if"):
    OmegaConf.register_new_resolver("gcnn.plus_if", _plus_if)
