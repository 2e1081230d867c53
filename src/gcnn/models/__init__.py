"""Models built from the group layers: one builder per architecture, parametrised by the group."""

from gcnn.models.classifier import GroupClassifier, count_parameters

__all__ = ["GroupClassifier", "count_parameters"]
