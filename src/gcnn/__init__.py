"""gcnn: group-equivariant CNNs (Cohen & Welling 2016) and the study that reproduces them."""

__version__ = "0.1.0"

# GCNN_PORTABLE=1: the portable CPU mode (gcnn/portable.py) must be in the environment before torch loads;
# importing gcnn first (python -m gcnn.train does) is early enough. After torch it can only warn.
import warnings as _warnings  # noqa: E402

from gcnn import portable as _portable  # noqa: E402  (imports nothing heavy)

# `python -m gcnn.portable` runs a module this file has just imported; portable.py hands over to that copy.
_warnings.filterwarnings("ignore", message="'gcnn.portable' found in sys.modules", category=RuntimeWarning)

if _portable.asked_for():
    _portable.apply(reexec=False, strict=False)

# `python -m gcnn.train` / `gcnn-train`: the allocator setting (gcnn/allocator.py) is read when the process starts;
# restarting here, before torch and Hydra load, costs a fraction of a second instead of their import time.
from gcnn import allocator as _allocator  # noqa: E402  (imports nothing heavy)

if _allocator.training_command():
    _allocator.ensure()
