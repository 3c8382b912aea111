"""Run a benchmark on a stack of its own: imported first, before anything of dioptra_lab.

Sets a fresh stack home, the test plugins, and forgets any configured service address, so a
benchmark starts and stops its own services and never touches a running stack.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
os.environ["DIOPTRA_LAB_PLUGIN_PATH"] = str(FIXTURES / "plugins")
os.environ["DIOPTRA_LAB_HOME"] = tempfile.mkdtemp(prefix="dioptra-lab-bench-")
for name in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "DIOPTRA_LAB_REDIS_URL"):
    os.environ.pop(name, None)
