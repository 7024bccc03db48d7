"""The JSON boundary: request bodies become attrs request classes through one cattrs converter.

Strict on purpose: unknown keys are refused, and a string field takes only a JSON string
(cattrs would otherwise turn ``123`` into ``"123"``). Every problem is reported as a 400
naming the field, in the same shape as Litestar's own validation errors (``extra`` is a
list of ``{"key", "message", "source"}``), so ``problems.py`` turns both into one kind of
problem document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import attrs
import cattrs
import msgspec
from attrs import AttrsInstance
from cattrs.errors import AttributeValidationNote, ClassValidationError, ForbiddenExtraKeysError
from litestar.exceptions import ValidationException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from webmagic_core.services.accounts import Unset

T = TypeVar("T")

BODY = "body"


def _string(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, not {_json_type(value)}")
    return value


def _optional_string(value: object, _: object) -> str | None:
    return None if value is None else _string(value, str)


def _patch_string(value: object, _: object) -> str | Unset | None:
    """A PATCH field: absent means "leave it" (the attrs default), null clears it."""
    return _optional_string(value, str)


def _json_type(value: object) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "an object"
    return type(value).__name__


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(str, _string)
    converter.register_structure_hook(str | None, _optional_string)
    converter.register_structure_hook(str | Unset | None, _patch_string)
    return converter


# The one converter of the HTTP layer (docs/architecture.md: "cattrs stays at the boundary").
converter = _make_converter()


def _field_errors(error: ClassValidationError) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    for sub in error.exceptions:
        if isinstance(sub, ForbiddenExtraKeysError):
            errors.extend(
                {"key": key, "message": "unknown field", "source": BODY} for key in sorted(sub.extra_fields)
            )
            continue
        notes = [note for note in getattr(sub, "__notes__", []) if isinstance(note, AttributeValidationNote)]
        key = notes[0].name if notes else BODY
        if isinstance(sub, KeyError):
            message = "this field is required"
        elif isinstance(sub, ClassValidationError):
            message = "is invalid"
        else:
            message = str(sub) or "is invalid"
        errors.append({"key": key, "message": message, "source": BODY})
    return errors


def invalid_body(errors: list[dict[str, str]]) -> ValidationException:
    detail = "Invalid request: " + "; ".join(f"{error['key']}: {error['message']}" for error in errors)
    return ValidationException(detail=detail, extra=errors)


def decode_json(body: bytes) -> Any:
    if not body.strip():
        raise invalid_body([{"key": BODY, "message": "the request body is empty", "source": BODY}])
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise invalid_body(
            [{"key": BODY, "message": "the request body is not valid JSON", "source": BODY}]
        ) from None


def parse(body: bytes, cls: type[T]) -> T:
    """Decode ``body`` as a JSON object and structure it into ``cls``, or raise a 400
    (``ValidationException``) naming every field that is missing, unknown or mistyped."""
    document = decode_json(body)
    if not isinstance(document, dict):
        raise invalid_body(
            [
                {
                    "key": BODY,
                    "message": f"the request body must be a JSON object, not {_json_type(document)}",
                    "source": BODY,
                }
            ]
        )
    try:
        return converter.structure(document, cls)
    except ClassValidationError as error:
        raise invalid_body(_field_errors(error)) from None


# --- OpenAPI ------------------------------------------------------------------------------

_STRING = Schema(type=OpenAPIType.STRING)
_NULLABLE_STRING = Schema(type=[OpenAPIType.STRING, OpenAPIType.NULL])
_FIELD_SCHEMAS: dict[object, Schema] = {
    str: _STRING,
    str | None: _NULLABLE_STRING,
    str | Unset | None: _NULLABLE_STRING,
}


def body_schema(cls: type[AttrsInstance]) -> Schema:
    """The JSON schema of a request class: its fields, which are required, nothing else."""
    fields = attrs.fields(attrs.resolve_types(cls))
    return Schema(
        type=OpenAPIType.OBJECT,
        properties={field.name: _FIELD_SCHEMAS[field.type] for field in fields},
        required=[field.name for field in fields if field.default is attrs.NOTHING] or None,
        additional_properties=False,
    )


def json_body(cls: type[AttrsInstance]) -> type[Operation]:
    """An ``operation_class`` documenting ``cls`` as the JSON request body (handlers read the
    raw body and ``parse`` it, so Litestar cannot see the type itself)."""
    request_body = RequestBody(
        content={"application/json": OpenAPIMediaType(schema=body_schema(cls))}, required=True
    )

    @dataclass
    class JsonBodyOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = request_body

    return JsonBodyOperation
