"""Make the repository importable when the project is not (yet) installed into the venv."""

import sys
from pathlib import Path

try:
    import tracker.scoring  # noqa: F401
except ModuleNotFoundError:
    # The editable install of the whole project can lag behind; scoring needs only numpy.
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
