"""gcnn: group-equivariant CNNs (Cohen & Welling 2016) and the study that reproduces them."""

__version__ = "0.1.0"
