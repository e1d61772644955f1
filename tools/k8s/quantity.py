"""Kubernetes resource quantities ("512Mi", "250m", "1.5"), parsed and written back."""
from __future__ import annotations

import math
import re

_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "K": 1000, "k": 1000, "M": 10**6, "G": 10**9,
          "T": 10**12, "": 1}


def mem_bytes(q: str | None) -> float | None:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|k|M|G|T)?", (q or "").strip())
    return float(m.group(1)) * _UNITS[m.group(2) or ""] if m else None


def mem_text(b: float) -> str:
    mi = math.ceil(b / 1024**2 / 64) * 64   # round up to 64Mi steps
    return f"{mi // 1024}Gi" if mi % 1024 == 0 else f"{mi}Mi"


def cpu_cores(q: str | None) -> float | None:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(m)?", (q or "").strip())
    return (float(m.group(1)) / (1000 if m.group(2) else 1)) if m else None


def cpu_text(c: float) -> str:
    return f"{c:g}" if c >= 1 and float(c).is_integer() else f"{round(c * 1000)}m"


def count(q: str | None) -> float | None:
    """A plain count (pods, nvidia.com/gpu) or any quantity, as a number."""
    return mem_bytes(q)


def mem_human(b: float | None) -> str:
    """Bytes as a reader says them: 60.6Gi, 512Mi."""
    if b is None:
        return "?"
    for unit, size in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if b >= size:
            return f"{b / size:.1f}".rstrip("0").rstrip(".") + unit
    return f"{b:.0f}"
