"""One training run's life: its identity, lock, records, checks before it starts, pauses, provenance and logging."""
