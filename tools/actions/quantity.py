"""Kubernetes resource quantities (the apiserver's grammar), strict enough to refuse typos.

`parse_quantity` in the kubernetes client accepts signs and spaces; an action must not, and it
must also refuse values that parse but cannot be meant: memory of "512m" is half a byte.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(r"^(?P<num>\d+(?:\.\d*)?|\.\d+)(?P<suffix>[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$")
_BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal("1e3"),
            "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"),
            "E": Decimal("1e18")}
MIN_CPU = Decimal("0.001")  # the apiserver's precision for cpu is one millicore
MIN_MEMORY = Decimal(2 ** 20)  # below 1Mi no container runtime starts a process


class QuantityError(ValueError):
    pass


def parse(text: object) -> Decimal:
    if not isinstance(text, str):
        raise QuantityError(f"{text!r} is not a quantity string (e.g. \"512Mi\", \"250m\", \"2\")")
    m = _QUANTITY.match(text)
    if not m:
        raise QuantityError(f"{text!r} is not a valid Kubernetes quantity (e.g. \"512Mi\", \"1.5Gi\", \"250m\", \"2\")")
    suffix = m.group("suffix") or ""
    try:
        number = Decimal(m.group("num"))
    except InvalidOperation:  # pragma: no cover - the regex only lets decimals through
        raise QuantityError(f"{text!r} is not a valid number") from None
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number.scaleb(int(suffix[1:]))
    return number * _DECIMAL[suffix]


def check(resource: str, text: object) -> Decimal:
    """Parse a cpu or memory quantity and refuse values no one means."""
    value = parse(text)
    if resource == "cpu":
        if isinstance(text, str) and text.endswith(tuple(_BINARY)):
            raise QuantityError(f"cpu {text!r} uses a byte suffix; cpu is cores or millicores (e.g. \"250m\", \"1.5\")")
        if value < MIN_CPU:
            raise QuantityError(f"cpu {text!r} is below 1m (one millicore)")
    elif resource == "memory":
        if value < MIN_MEMORY:
            hint = " (\"m\" means milli; did you mean \"Mi\"?)" if isinstance(text, str) and text.endswith("m") else ""
            raise QuantityError(f"memory {text!r} is below 1Mi{hint}")
        if value != value.to_integral_value():
            raise QuantityError(f"memory {text!r} is not a whole number of bytes")
    return value
