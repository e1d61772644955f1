"""Shortening text for a reader (a model, a chat post) without cutting a token in half.

Long log lines carry their decisive part at either end: the message first, the error detail
last (`…"error":"Post \\"https://api.stripe.com/v1/payment_intents\\": i/o timeout"`). So a long
text keeps its head and its tail, each ending at whitespace or a delimiter, and says how much of
the middle went: the noise side is the middle.
"""
from __future__ import annotations

_BREAKS = " \t\n,;"
_WINDOW = 80  # look this far back/forward for a break; a token longer than that is cut hard


def _head(text: str, n: int) -> str:
    if n >= len(text):
        return text
    cut = max(text.rfind(c, max(0, n - _WINDOW), n + 1) for c in _BREAKS)
    return text[:cut + 1].rstrip() if cut > 0 else text[:n]


def _tail(text: str, n: int) -> str:
    if n >= len(text):
        return text
    start = len(text) - n
    found = [i for i in (text.find(c, start - 1, start + _WINDOW) for c in _BREAKS) if i >= 0]
    return text[min(found) + 1:].lstrip() if found else text[start:]


def clip_middle(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its head and tail at token boundaries with
    ' …[N chars] ' between them (the result may exceed `limit` by the marker's length)."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    head = _head(text, limit * 2 // 3)
    tail = _tail(text, limit - len(head))
    gone = len(text) - len(head) - len(tail)
    if gone <= 0:
        return text
    return f"{head} …[{gone} chars] {tail}"
