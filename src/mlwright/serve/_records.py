"""Request bodies of /predict and /explain: one record (a JSON object) or a list of them,
checked against the artifact's input schema before the model sees them.

One pydantic type per artifact (a ``Record`` TypedDict built from ``Model.inputs``) is the
check, the JSON Schema in the OpenAPI document, and the source of the 422: the first
problem pydantic reports is worded here (what the field expects, the value quoted in part).
Every field is required (null stands for a missing value), so that a client that forgets a
field hears about it instead of silently scoring a missing value. A datetime is checked by
the same reader as the model's own single-record path, so a value the check accepts is one
the model accepts.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
import polars as pl
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from mlwright.artifact import InputField
from mlwright.errors import InputError, MlwrightError, RequestError, list_choices
from mlwright.features import boolean_value, category_value, number_value, timestamp_value

UnknownFields = Literal["reject", "ignore"]
UNKNOWN_FIELDS: tuple[UnknownFields, ...] = ("reject", "ignore")

# The JSON Schema of each feature kind's value; null is a missing value everywhere.
_JSON_TYPES: dict[str, dict[str, Any]] = {
    "numeric": {"type": ["number", "null"]},
    "categorical": {"type": ["string", "null"]},
    "text": {"type": ["string", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "datetime": {
        "anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "string", "format": "date"},
            {"type": "null"},
        ]
    },
}
_READERS: dict[str, Callable[[str, Any], Any]] = {
    "numeric": number_value,
    "categorical": category_value,
    "text": category_value,
    "boolean": boolean_value,
    "datetime": timestamp_value,
}
# What each kind takes besides null, as JSON values, and how a refusal says it: checked before
# the readers (which quote a value whole) so that a nested or huge value is never echoed whole.
_ACCEPTED: dict[str, tuple[tuple[type, ...], str, str]] = {
    "numeric": ((int, float), "a number", "send a JSON number, or null for a missing value"),
    "categorical": ((str,), "a string", "send the category as a JSON string, or null"),
    "text": ((str,), "a string", "send the text as a JSON string, or null"),
    "boolean": ((bool,), "true or false", "send a JSON boolean, or null for a missing value"),
    "datetime": (
        (str,),
        "an ISO 8601 date or timestamp (a string)",
        "send e.g. '2024-03-01' or '2024-03-01T12:30:00', or null",
    ),
}
_POLARS_TYPES: dict[str, pl.DataType] = {
    "numeric": pl.Float64(),
    "categorical": pl.String(),
    "text": pl.String(),
    "boolean": pl.Boolean(),
    "datetime": pl.Datetime("us"),
}


@dataclass(frozen=True)
class Records:
    """A request's records, checked; ``single`` when the body was one object."""

    records: list[dict[str, Any]]
    single: bool

    def frame(self, fields: Sequence[InputField]) -> pl.DataFrame:
        """The records as a typed frame (for the batch paths such as explanations)."""
        columns = []
        for f in fields:
            read = _READERS[f.kind]
            values = [read(f.name, r.get(f.name)) for r in self.records]
            if f.kind == "numeric":
                values = [None if math.isnan(v) else v for v in values]  # NaN -> null
            if f.kind == "boolean":  # read as 1.0 / 0.0 / NaN
                values = [None if math.isnan(v) else v == 1.0 for v in values]
            columns.append(pl.Series(f.name, values, dtype=_POLARS_TYPES[f.kind]))
        return pl.DataFrame(columns)


# The pydantic type of each feature kind's value (strict: no "5" for 5, no 1 for true); the
# JSON Schema says the same in the form the service has always published.
_VALUE_TYPES: dict[str, Any] = {
    "numeric": StrictInt | StrictFloat | None,
    "categorical": StrictStr | None,
    "text": StrictStr | None,
    "boolean": StrictBool | None,
    "datetime": StrictStr | None,
}


class _NoFieldTitles(GenerateJsonSchema):
    """pydantic's JSON Schema, without a title per field (a field's name is its title)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _read_datetime(name: str) -> Callable[[Any], Any]:
    """The model's own datetime reader as a pydantic check (the value is kept as sent)."""

    def check(value: Any) -> Any:
        try:
            timestamp_value(name, value)
        except MlwrightError:
            raise PydanticCustomError("datetime_value", "not a date or timestamp") from None
        return value

    return check


def record_type(
    fields: Sequence[InputField], unknown: UnknownFields, example: Mapping[str, Any]
) -> Any:
    """The ``Record`` TypedDict of an artifact's inputs: its pydantic validation and JSON
    Schema. Names are the columns' own (any text), so it is built the functional way."""
    annotated: dict[str, Any] = {}
    for f in fields:
        checks: list[Any] = [WithJsonSchema(_JSON_TYPES[f.kind])]
        if f.kind == "datetime":
            checks.append(AfterValidator(_read_datetime(f.name)))
        annotated[f.name] = Annotated[_VALUE_TYPES[f.kind], *checks]
    typed_dict: Any = TypedDict  # its functional form, with names known only at run time
    record = typed_dict("Record", annotated)
    record.__pydantic_config__ = ConfigDict(
        extra="forbid" if unknown == "reject" else "ignore",
        json_schema_extra={"additionalProperties": unknown == "ignore", "example": dict(example)},
    )
    return record


class RecordSchema:
    """The input schema of one model, as the HTTP service checks it."""

    def __init__(
        self,
        fields: Sequence[InputField],
        *,
        unknown: UnknownFields = "reject",
        max_records: int = 1000,
    ):
        if unknown not in UNKNOWN_FIELDS:
            raise ValueError(f"unknown must be one of {UNKNOWN_FIELDS}, got {unknown!r}")
        self.fields = list(fields)
        self.names = [f.name for f in self.fields]
        self._kinds = {f.name: f.kind for f in self.fields}
        self.unknown = unknown
        self.max_records = max_records
        record = record_type(self.fields, unknown, self.example())
        many: Any = Annotated[list[record], Field(min_length=1, max_length=max_records)]  # type: ignore[valid-type]
        self._one: TypeAdapter[Any] = TypeAdapter(record)
        self._many: TypeAdapter[Any] = TypeAdapter(many)
        self._body: TypeAdapter[Any] = TypeAdapter(record | many)

    # -- checking ------------------------------------------------------------------------------

    def parse(self, body: bytes) -> Records:
        """The records of a request body, or an error naming what is wrong and where."""
        data = self._json(body)
        if isinstance(data, dict):
            self.check(data)
            return Records([data], single=True)
        if isinstance(data, list):
            try:
                self._many.validate_python(data)
            except ValidationError as exc:
                raise self._list_refusal(data, exc.errors(include_url=False)) from None
            return Records(data, single=False)
        raise InputError(
            f"the request body is a JSON {_json_kind(data)}; expected an object (one record) "
            "or a list of objects",
            field="body",
            hint="send e.g. " + self.example_text(),
        )

    def _json(self, body: bytes) -> Any:
        if not body:
            raise RequestError(
                "the request body is empty",
                field="body",
                hint="send one record as a JSON object, or a list of them",
            )
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            if exc.msg.startswith("depth limit"):
                raise too_deep(body, exc.pos) from None
            raise RequestError(
                f"the request body is not valid JSON: {exc}",
                field="body",
                hint="send one record as a JSON object, e.g. " + self.example_text(),
            ) from None

    def check(self, record: Mapping[str, Any]) -> None:
        """Every field present, none unknown (unless ignored), each value of its kind."""
        try:
            self._one.validate_python(record)
        except ValidationError as exc:
            raise self._refusal(record, exc.errors(include_url=False), "") from None

    # -- wording pydantic's refusals -----------------------------------------------------------

    def _list_refusal(self, data: list[Any], errors: Sequence[Mapping[str, Any]]) -> InputError:
        """The first problem of a list of records: its length, an item that is not a record,
        or the first bad record's (its position in the field, e.g. ``[1].age``)."""
        first = errors[0]
        if not first["loc"]:
            if not data:
                return InputError(
                    "the list of records is empty", field="body", hint="send at least one record"
                )
            return InputError(
                f"{len(data):,} records in one request; at most {self.max_records:,} are taken",
                field="body",
                hint="split the list, or score large tables with `mlwright predict`",
            )
        i = first["loc"][0]
        if not isinstance(data[i], dict):
            return InputError(
                f"record [{i}] is a JSON {_json_kind(data[i])}, not an object",
                field=f"[{i}]",
                hint="each record is an object of field -> value",
            )
        own = [{**e, "loc": e["loc"][1:]} for e in errors if e["loc"][:1] == (i,)]
        return self._refusal(data[i], own, f"[{i}].")

    def _refusal(
        self, record: Mapping[str, Any], errors: Sequence[Mapping[str, Any]], where: str
    ) -> InputError:
        """The 422 for one record from pydantic's errors: a missing field first, then an
        unknown one, then the first value of the wrong kind (as the reader words it)."""
        by_type: dict[str, list[str]] = {}
        for e in errors:
            if e["loc"]:
                by_type.setdefault(e["type"], []).append(str(e["loc"][0]))
        missing = by_type.get("missing", [])
        if missing:
            return InputError(
                f"field '{where}{missing[0]}' is missing"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                field=f"{where}{missing[0]}",
                hint="send every input field, with null for a missing value; fields: "
                + list_choices(self.names),
            )
        unknown = by_type.get("extra_forbidden", [])
        if unknown:
            name = echo_name(unknown[0])
            return InputError(
                f"field '{where}{name}' is not an input of this model"
                + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
                field=f"{where}{name}",
                hint="remove it (the service was started with --unknown-fields reject); "
                "fields: " + list_choices(self.names),
            )
        named = [e for e in errors if e["loc"] and e["loc"][0] in self._kinds]
        if not named:  # not expected: pydantic refused the record as a whole
            return InputError(
                f"{where[:-1] or 'the record'}: {errors[0]['msg']}",
                field=where[:-1] or "body",
                hint="see /docs for the request schema",
            )
        name = str(named[0]["loc"][0])
        error = value_refusal(name, self._kinds[name], record[name])
        if where:
            error.field = f"{where}{name}"
            error.message = f"record {where[:-1]}: {error.message}"
            error.args = (str(error),)
        return error

    # -- describing ----------------------------------------------------------------------------

    def record_schema(self) -> dict[str, Any]:
        """JSON Schema of one record (pydantic's, of the ``Record`` type)."""
        schema = self._body.json_schema(
            ref_template="#/components/schemas/{model}", schema_generator=_NoFieldTitles
        )
        record: dict[str, Any] = schema["$defs"]["Record"]
        return record

    def body_schema(self) -> dict[str, Any]:
        """JSON Schema of a request body: one record, or a list of 1 to ``max_records``
        (pydantic's; its anyOf is a oneOf, as an object is never an array)."""
        schema = self._body.json_schema(
            ref_template="#/components/schemas/{model}", schema_generator=_NoFieldTitles
        )
        return {"oneOf": schema["anyOf"]}

    def example(self) -> dict[str, Any]:
        examples: dict[str, Any] = {
            "numeric": 1.0,
            "categorical": "a category",
            "text": "some text",
            "boolean": True,
            "datetime": dt.datetime(2024, 3, 1, 12, 30).isoformat(),
        }
        return {f.name: examples[f.kind] for f in self.fields}

    def example_text(self) -> str:
        text = orjson.dumps(self.example()).decode()
        return text if len(text) <= 120 else text[:117] + "...}"


def value_refusal(name: str, kind: str, value: Any) -> InputError:
    """The 422 for a value of field ``name`` that is not of its ``kind``, quoting at most a
    bounded part of it (a nested or huge value is never echoed whole)."""
    types, expected, hint = _ACCEPTED[kind]
    if value is not None and (
        not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
    ):
        return InputError(
            f"field '{name}' expects {expected}, got a JSON {_json_kind(value)}: " + echo(value),
            field=name,
            hint=hint,
        )
    try:
        _READERS[kind](name, value)
    except InputError as exc:
        if isinstance(value, str):  # the reader quoted it whole
            exc.message = exc.message.replace(repr(value), echo(value))
        exc.args = (str(exc),)
        return exc
    return InputError(  # not expected: the reader takes what pydantic refused
        f"field '{name}' is not {expected}", field=name, hint=hint
    )


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# -- quoting a client's values ---------------------------------------------------------------

ECHO_CHARS = 80  # the most of a client's value (as JSON) or field name an error message quotes


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """``value`` as an error message quotes it: at most ``limit`` characters of its JSON, then
    how long it was; never recursing, so that a value nested 100,000 deep costs nothing."""
    text = ""
    for piece in _json_pieces(value, limit):
        text += piece
        if len(text) > limit:
            break
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        size = _count(len(value), "character")
    elif isinstance(value, list):
        size = "an array of " + _count(len(value), "item")
    elif isinstance(value, dict):
        size = "an object of " + _count(len(value), "field")
    else:
        size = f"over {limit} characters"
    return f"{text[:limit]}... ({size})"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def echo_name(name: str, limit: int = ECHO_CHARS) -> str:
    """A field name a client sent, cut to ``limit`` characters when longer."""
    return name if len(name) <= limit else f"{name[:limit]}... ({_count(len(name), 'character')})"


class _Punctuation(str):
    """Text of the JSON being written (brackets, commas, keys), not a value."""


def _json_pieces(value: object, limit: int) -> Iterator[str]:
    """The compact JSON text of ``value`` in pieces, with an explicit stack instead of
    recursion; a string is cut to ``limit`` characters first (the caller stops early)."""
    stack: list[Iterator[object]] = [iter((value,))]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, _Punctuation):
            yield item
        elif isinstance(item, list):
            yield "["
            stack.append(_array_items(item))
        elif isinstance(item, dict):
            yield "{"
            stack.append(_object_items(item))
        elif isinstance(item, str):
            yield orjson.dumps(item[: limit + 1]).decode()
        else:
            try:
                yield orjson.dumps(item).decode()
            except TypeError:
                yield repr(item)[: limit + 1]


_END = object()


def _array_items(values: list[Any]) -> Iterator[object]:
    for i, value in enumerate(values):
        if i:
            yield _Punctuation(",")
        yield value
    yield _Punctuation("]")


def _object_items(values: dict[Any, Any]) -> Iterator[object]:
    for i, (key, value) in enumerate(values.items()):
        name = key[:ECHO_CHARS] if isinstance(key, str) else str(key)
        yield _Punctuation(("," if i else "") + orjson.dumps(name).decode() + ":")
        yield value
    yield _Punctuation("}")


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def too_deep(
    body: bytes,
    position: int,
    hint: str = "send each field a single value: a number, a string, true or false, or null",
) -> InputError:
    """The 422 for a body nested deeper than the JSON parser reads (1,024 levels), naming the
    field (``name``, or ``[i].name`` in a list of records) whose value goes that deep."""
    where = deep_field(body.decode("utf-8", "replace"), position)
    return InputError(
        f"{'the body' if where == 'body' else f'field {where!r}'} is nested more than 1,024 "
        "levels deep",
        field=where,
        hint=hint,
    )


def deep_field(text: str, position: int) -> str:
    """The field of a record (``name``, or ``[i].name`` in a list) open at ``position`` of a
    JSON ``text``, or "body" when none is: found by a scan of its strings and brackets."""
    frames: list[list[Any]] = []  # per open container: [is object, its key or item index]
    previous = ""
    for match in _TOKEN.finditer(text, 0, position):
        token = match.group()
        if token in ("{", "["):
            frames.append([token == "{", None if token == "{" else 0])
        elif token in ("}", "]"):
            if frames:
                frames.pop()
        elif token == ",":
            if frames and not frames[-1][0]:
                frames[-1][1] += 1
        elif frames and frames[-1][0] and previous in ("{", ","):
            try:
                frames[-1][1] = echo_name(str(orjson.loads(token)))
            except orjson.JSONDecodeError:
                frames[-1][1] = "?"
        previous = token
    if frames and frames[0][0] and frames[0][1] is not None:
        return str(frames[0][1])
    if len(frames) > 1 and not frames[0][0] and frames[1][0] and frames[1][1] is not None:
        return f"[{frames[0][1]}].{frames[1][1]}"
    return "body"
