"""Checking a parsed input.json against the spec: an `InputDocument`, or an `InputError` whose
every problem names its JSON path (`users[2].preferences.days[0]`) in plain words, with a "did
you mean" for a mistyped field."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from oncall_opt.errors import InputError
from oncall_opt.roster.spec import InputDocument, json_type

_DISCRIMINATOR_TAGS = {"moment", "range"}


def validate_document(raw: Any) -> InputDocument:
    if not isinstance(raw, dict):
        raise InputError([("top level", f"expected a JSON object, got {json_type(raw)}")])
    try:
        return InputDocument.model_validate(raw)
    except ValidationError as exc:
        raise InputError(_explain(exc)) from None


def _explain(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if part not in _DISCRIMINATOR_TAGS]
        kind, value = error["type"], error.get("input")
        if kind == "extra_forbidden":
            field = loc.pop()
            problems.append((_path(loc), f"unknown field '{field}'{_did_you_mean(field, loc)}"))
            continue
        if kind == "missing":
            message = "required field is missing"
        elif kind in ("value_error", "assertion_error"):
            message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
        elif kind.endswith("_type") or kind in ("model_attributes_type", "dict_type"):
            expected = _EXPECTED.get(kind, kind.removesuffix("_type"))
            message = f"expected {expected}, got {json_type(value)}"
        else:
            message = error["msg"].replace("Input should be", "should be")
        problems.append((_path(loc), message))
    return problems


def _did_you_mean(field: str, loc: list[Any]) -> str:
    """Suggest the known field a typo was meant to be, from the model at that place."""
    model: Any = InputDocument
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        annotation = model.model_fields.get(part)
        model = _model_in(annotation.annotation) if annotation else None
    names = list(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(field, names, n=1)
    return f" (did you mean '{close[0]}'?)" if close else " (a typo?)"


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside an annotation such as `list[User] | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


_EXPECTED = {
    "string_type": "a string",
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _path(loc: list[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"
