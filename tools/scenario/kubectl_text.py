"""Reading the text kubectl prints: `describe` as an indented tree, column tables, ages and times.

Shared by the describe and table readers of recorded investigations (tools/scenario/recorded.py).
kubectl's describe writer indents nested sections by two spaces and aligns a key's continuation
lines (more labels, more tolerations) under the first value; tables are tab-aligned under a header
whose column names are separated by two or more spaces.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

# "Key:  value" / "Key:" — keys are short words (no quotes or parentheses, which log text inside
# Args would have), so a script line holding "tried: host:port" is not read as a key.
_KEY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9 _./\-]{0,60}?):(?:\s+(.*))?$")
# Sections whose lines are items or table rows, never keys.
RAW_SECTIONS = frozenset({"Command", "Args", "Mounts", "Events", "Conditions", "Non-terminated Pods",
                          "Allocated resources"})


@dataclass
class Node:
    key: str = ""
    value: str = ""
    indent: int = -1
    vcol: int = -1                    # column where the value starts (continuations align there)
    more: list[str] = field(default_factory=list)   # continuation values
    children: list["Node"] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # raw lines of RAW_SECTIONS (indent kept)

    def get(self, key: str) -> "Node | None":
        return next((c for c in self.children if c.key == key), None)

    def val(self, key: str, default: str = "") -> str:
        n = self.get(key)
        return n.value if n is not None else default

    def values(self) -> list[str]:
        """The value and its continuation lines, `<none>` dropped."""
        return [v for v in ([self.value] + self.more) if v and v not in ("<none>", "<unset>")]


def describe_tree(text: str) -> Node:
    root = Node()
    stack, prev = [root], None
    for raw in text.splitlines():
        if not raw.strip():
            continue
        ind = len(raw) - len(raw.lstrip(" "))
        if prev is not None and prev.value and ind == prev.vcol:
            prev.more.append(raw.strip())
            continue
        while stack[-1].indent >= ind:
            stack.pop()
        parent = stack[-1]
        if parent.key in RAW_SECTIONS:
            parent.lines.append(raw)
            continue
        m = _KEY.match(raw.strip())
        if not m:
            parent.lines.append(raw)
            prev = None
            continue
        value = (m.group(2) or "").strip()
        node = Node(key=m.group(1).strip(), value=value, indent=ind,
                    vcol=ind + (raw.strip().index(value, len(m.group(1)) + 1) if value else 0))
        parent.children.append(node)
        stack.append(node)
        prev = node
    return root


def table(lines: list[str]) -> list[dict[str, str]]:
    """Rows of a kubectl table (header, optional dash line, rows) as {COLUMN: cell}. Columns start
    where the header's names start; the last column takes the rest of the line."""
    lines = [ln.rstrip() for ln in lines if ln.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [header[s:e].strip() for s, e in zip(starts, starts[1:] + [None])]
    rows = []
    for ln in lines[1:]:
        if set(ln.strip()) <= {"-", " "}:
            continue
        cells = [ln[s:e].strip() if s < len(ln) else "" for s, e in zip(starts, starts[1:] + [None])]
        rows.append(dict(zip(names, cells)))
    return rows


def split_columns(line: str) -> list[str]:
    """Cells of a table line whose cells are separated by two or more spaces."""
    return [c for c in re.split(r"\s{2,}", line.strip()) if c]


def kv_list(values: list[str], sep: str = "=") -> dict[str, str]:
    """`a=b` items (labels, selectors; also comma-joined) as a mapping."""
    out = {}
    for v in values:
        for part in v.split(","):
            if sep in part:
                k, _, val = part.partition(sep)
                out[k.strip()] = val.strip()
    return out


def describe_time(value: str) -> str | None:
    """`Thu, 27 Feb 2025 07:36:21 +0100` as RFC 3339 UTC; None for `<unset>` or the 1970 epoch
    kubectl prints for a container that never started."""
    try:
        t = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if t is None or t.year < 1971:
        return None
    return rfc3339(t)


def rfc3339(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_AGE_PART = re.compile(r"(\d+)([dhms])")
_AGE = re.compile(r"^(?:\d+[dhms])+$")


def age_seconds(text: str) -> int | None:
    """kubectl's human ages (`87s`, `6m33s`, `4h2m`, `44d`) in seconds."""
    text = text.strip()
    if not _AGE.match(text):
        return None
    mult = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(n) * mult[u] for n, u in _AGE_PART.findall(text))


_EVENT_AGE = re.compile(r"^(\S+)(?:\s+\(x(\d+) over (\S+)\))?$")


def event_age(text: str) -> tuple[int | None, int, int | None]:
    """`87s (x23 over 6m33s)` -> (last seen ago, count, first seen ago)."""
    m = _EVENT_AGE.match(text.strip())
    if not m:
        return None, 1, None
    last = age_seconds(m.group(1))
    return last, int(m.group(2) or 1), age_seconds(m.group(3)) if m.group(3) else last


def ago(now: datetime, seconds: int | None) -> str | None:
    return rfc3339(now - timedelta(seconds=seconds)) if seconds is not None else None
