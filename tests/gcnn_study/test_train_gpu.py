"""The trainer on a GPU: a tiny run trains there and its record says so (marked `gpu`: skipped without one)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import SAMPLE_RUN, TINY, compose_cfg

from gcnn_study.train import run

pytestmark = pytest.mark.gpu


def test_a_tiny_run_trains_on_the_gpu_and_records_its_device(tmp_path):
    cfg = compose_cfg(
        *SAMPLE_RUN, "model=p4cnn", *TINY, "trainer.device=cuda", "logger=none", f"paths.results_dir={tmp_path}"
    )
    result = run(cfg)
    saved = json.loads((Path(cfg.run_dir) / "metrics.json").read_text())
    assert saved == result and saved["device"].startswith("cuda")
    assert saved["provenance"]["gpu"] and not saved["machine"].startswith("cpu: ")
    assert all(math.isfinite(v) for v in saved["metrics"].values() if isinstance(v, float))
