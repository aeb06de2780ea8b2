"""Results of numeric code as plain JSON: what the store and the job records keep."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def plain(value: Any) -> Any:
    """``value`` as plain JSON: numpy arrays and scalars (and pandas series) as lists and numbers, NaN and
    infinities as None (JSON has neither), paths as text, mapping keys as text; recursively."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars, pandas series
        return plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
