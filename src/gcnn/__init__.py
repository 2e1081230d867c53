"""gcnn: group-equivariant CNNs after Cohen & Welling (2016): groups and their actions, filter bases, the layers
and the models, each with `check_equivariance()`. Needs torch (and numpy) only; importing it changes nothing."""

__version__ = "0.1.0"
