"""Process settings a training run needs before torch loads (the portable CPU mode, the allocator) and the
runtime's device helpers."""
