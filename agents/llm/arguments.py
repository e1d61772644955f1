"""Tool arguments checked against the tool's JSON schema before anything runs.

Self-hosted models often write arguments that are not JSON, not an object, or miss a required
field. Such a call is answered with the errors instead of running, and the model gets one
corrective turn (as for submit_diagnosis); the loop decides what happens after that.
"""
from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agents.llm.conversation import Call

MAX_ERRORS = 8


class ArgumentCheck:
    def __init__(self, schemas: dict[str, dict[str, Any]]):
        self.validators: dict[str, Draft202012Validator] = {}
        for name, schema in schemas.items():
            try:
                Draft202012Validator.check_schema(schema)
                self.validators[name] = Draft202012Validator(schema)
            except SchemaError:  # a tool with a broken schema is checked by its own handler only
                pass

    def problems(self, call: Call) -> str | None:
        """None when the call may run, else what is wrong, one line per error."""
        if call.problem:
            return f"- arguments are not valid JSON: {call.problem}"
        if not isinstance(call.args, dict):
            return f"- arguments must be a JSON object, got {type(call.args).__name__}"
        validator = self.validators.get(call.name)
        if validator is None:
            return None
        errors = sorted(validator.iter_errors(call.args), key=lambda e: list(e.path))[:MAX_ERRORS]
        return "\n".join(f"- {'.'.join(str(p) for p in e.path) or '(root)'}: {e.message}" for e in errors) or None


def correction_text(name: str, problems: str) -> str:
    return (f"The arguments of {name} are invalid:\n{problems}\nThe call did not run. Call {name} again "
            f"with arguments that match its input schema (a JSON object).")
