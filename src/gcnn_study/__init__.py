"""gcnn_study: the study that reproduces "A Study on Group Equivariant CNNs" with the gcnn library: configs, training,
records, the reproduction and the reports. Importing it applies the process settings a training run needs before
torch loads (the portable CPU mode, the allocator)."""

# GCNN_PORTABLE=1: the portable CPU mode (gcnn_study/process/portable.py) must be in the environment before torch loads;
# importing gcnn_study first (python -m gcnn_study.train does) is early enough. After torch it can only warn.
import warnings as _warnings  # noqa: E402

from gcnn_study.process import portable as _portable  # noqa: E402  (imports nothing heavy)

# `python -m gcnn_study.process.portable` runs a module this file has just imported; portable.py hands over to that
# copy.
_warnings.filterwarnings(
    "ignore", message="'gcnn_study.process.portable' found in sys.modules", category=RuntimeWarning
)

if _portable.asked_for():
    _portable.apply(reexec=False, strict=False)

# `python -m gcnn_study.train` / `gcnn-train`: the allocator setting (gcnn_study/process/allocator.py) is read when the
# process starts; restarting here, before torch and Hydra load, costs a fraction of a second instead of their import
# time.
from gcnn_study.process import allocator as _allocator  # noqa: E402  (imports nothing heavy)

if _allocator.training_command():
    _allocator.ensure()
