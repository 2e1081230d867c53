"""Models built from the group layers: one builder per architecture, parametrised by the group."""

from gcnn.models.classifier import GroupClassifier, count_parameters
from gcnn.models.segnet import SegNet

__all__ = ["GroupClassifier", "SegNet", "count_parameters"]
