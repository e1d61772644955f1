"""Every tool result of a session, kept whole, and the `read_result` tool that pages through it.

A result over its budget reaches the model reduced (as the tool's reducer and the trimmer make it);
its full data stays here, masked, so the model can read the part it needs instead of calling the
tool again with a wider query. Compacted history points here too.
"""
from __future__ import annotations

import json
from typing import Any

from tools.base import Redacts, ToolResult

READ_RESULT = "read_result"
READ_RESULT_TOOL: dict[str, Any] = {
    "name": READ_RESULT,
    "description": ("Read a page of the full output of an earlier tool call, by its result_id. Use it when a "
                    "result says `reduced` or `truncated` (its full_chars tells the full size), or to read "
                    "again a result that was compacted out of the conversation. Pages continue at "
                    "next_offset."),
    "input_schema": {"type": "object", "properties": {
        "result_id": {"type": "string", "description": "the result_id of an earlier tool result, e.g. r3"},
        "offset": {"type": "integer", "minimum": 0, "description": "character offset to start at (default 0)"}},
        "required": ["result_id"], "additionalProperties": False},
}


def _dump(obj: Any) -> str:
    return json.dumps(obj, default=str, separators=(",", ":"), ensure_ascii=False)


class ResultStore:
    def __init__(self, redactor: Redacts, page_chars: int):
        self.redactor = redactor
        self.page_chars = page_chars
        self.texts: dict[str, str] = {}

    def keep(self, result: ToolResult) -> tuple[str, str, str]:
        """(content for the model, its compacted stub, result_id) of a tool result."""
        rid = f"r{len(self.texts) + 1}"
        shown = {**result.to_dict(), "result_id": rid}
        if result.full is not None:
            full = {k: v for k, v in result.to_dict().items() if k not in ("reduced", "truncated")}
            full["data"] = result.full
            self.texts[rid] = self.redactor.redact(_dump(full))
            shown["full_chars"] = len(self.texts[rid])
            shown["note"] = f"this output was reduced to fit the context; {READ_RESULT} pages through all of it"
        content = self.redactor.redact(_dump(shown))
        if result.full is None:
            self.texts[rid] = content
        stub = {"status": result.status, "summary": (result.summary or "")[:200], "result_id": rid,
                "compacted": True}
        return content, self.redactor.redact(_dump(stub)), rid

    def read(self, args: dict[str, Any]) -> tuple[str, bool]:
        """(page as JSON, is_error)."""
        rid = str(args.get("result_id", ""))
        text = self.texts.get(rid)
        if text is None:
            known = ", ".join(self.texts) or "none yet"
            return f"unknown result_id {rid!r}; known: {known}", True
        offset = args.get("offset") or 0
        if not isinstance(offset, int) or offset < 0:
            return "offset must be a non-negative integer", True
        end = min(len(text), offset + self.page_chars)
        return _dump({"result_id": rid, "offset": offset, "total_chars": len(text),
                      "next_offset": end if end < len(text) else None, "text": text[offset:end]}), False
