"""The service's request check: every field present, none unknown, each value of its kind;
whatever the body, the answer is records or a 4xx error naming where."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from mlwright.artifact import InputField
from mlwright.errors import InputError, MlwrightError
from mlwright.serve import RecordSchema
from mlwright.serve._records import echo, record_type

FIELDS = [
    InputField("age", "numeric", "float"),
    InputField("plan", "categorical", "string"),
    InputField("vip", "boolean", "bool"),
    InputField("signup", "datetime", "datetime"),
    InputField("note", "text", "string"),
]
GOOD: dict[str, Any] = {
    "age": 31,
    "plan": "pro",
    "vip": False,
    "signup": "2024-03-01T12:30:00",
    "note": "late delivery",
}


def body(value: object) -> bytes:
    return orjson.dumps(value)


def test_one_record_and_a_list_are_taken() -> None:
    schema = RecordSchema(FIELDS)
    one = schema.parse(body(GOOD))
    assert one.single
    assert one.records == [GOOD]
    many = schema.parse(body([GOOD, {**GOOD, "age": None}]))
    assert not many.single
    assert len(many.records) == 2


def test_null_is_a_missing_value_for_every_kind() -> None:
    schema = RecordSchema(FIELDS)
    assert schema.parse(body(dict.fromkeys(GOOD))).records == [dict.fromkeys(GOOD)]


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        ({**GOOD, "age": "31"}, "age", "expects a number"),
        ({**GOOD, "age": True}, "age", "boolean"),
        ({**GOOD, "plan": 3}, "plan", "expects a string"),
        ({**GOOD, "vip": "yes"}, "vip", "true or false"),
        ({**GOOD, "signup": "yesterday"}, "signup", "ISO 8601"),
        ({**GOOD, "signup": "0001-01-01T00:00:00+05:00"}, "signup", "out of range"),
        ({**GOOD, "note": ["a"]}, "note", "expects a string"),
        ({k: v for k, v in GOOD.items() if k != "plan"}, "plan", "missing"),
        ({**GOOD, "colour": "red"}, "colour", "not an input"),
    ],
)
def test_a_bad_record_is_a_422_naming_the_field(
    record: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InputError, match=words) as caught:
        RecordSchema(FIELDS).parse(body(record))
    assert caught.value.field == field
    assert caught.value.http_status == 422
    assert caught.value.hint


def test_a_bad_record_in_a_list_is_named_by_its_position() -> None:
    with pytest.raises(InputError, match=r"record \[1\]") as caught:
        RecordSchema(FIELDS).parse(body([GOOD, {**GOOD, "vip": 2}]))
    assert caught.value.field == "[1].vip"
    with pytest.raises(InputError) as caught:
        RecordSchema(FIELDS).parse(body([GOOD, 7]))
    assert caught.value.field == "[1]"


def test_unknown_fields_can_be_ignored() -> None:
    schema = RecordSchema(FIELDS, unknown="ignore")
    assert schema.parse(body({**GOOD, "colour": "red"})).single
    assert schema.record_schema()["additionalProperties"] is True
    assert RecordSchema(FIELDS).record_schema()["additionalProperties"] is False


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b"", 400, "empty"),
        (b"{not json", 400, "not valid JSON"),
        (b"12", 422, "JSON number"),
        (b'"text"', 422, "JSON string"),
        (b"[]", 422, "empty"),
        (b"1e999999", 400, "not valid JSON"),
        (b"1" + b"0" * 400, 400, "not valid JSON"),  # beyond a double: refused, not inf
    ],
)
def test_a_body_that_is_not_records_is_a_4xx(raw: bytes, status: int, words: str) -> None:
    with pytest.raises(MlwrightError, match=words) as caught:
        RecordSchema(FIELDS).parse(raw)
    assert caught.value.http_status == status
    assert caught.value.field == "body"


def test_too_many_records_is_a_422_as_the_schemas_max_items_says() -> None:
    with pytest.raises(InputError, match="at most 2") as caught:
        RecordSchema(FIELDS, max_records=2).parse(body([GOOD] * 3))
    assert caught.value.http_status == 422
    assert RecordSchema(FIELDS, max_records=2).body_schema()["oneOf"][1]["maxItems"] == 2


def test_the_frame_has_one_typed_column_per_field() -> None:
    records = RecordSchema(FIELDS).parse(body([GOOD, dict.fromkeys(GOOD)]))
    frame = records.frame(FIELDS)
    assert frame.columns == [f.name for f in FIELDS]
    assert frame["age"].to_list() == [31.0, None]
    assert frame["vip"].to_list() == [False, None]
    assert frame["signup"].to_list() == [dt.datetime(2024, 3, 1, 12, 30), None]


def test_the_json_schema_requires_every_field_and_allows_null() -> None:
    schema = RecordSchema(FIELDS).record_schema()
    assert schema["required"] == [f.name for f in FIELDS]
    assert schema["properties"]["age"] == {"type": ["number", "null"]}
    assert schema["properties"]["vip"] == {"type": ["boolean", "null"]}
    # The example in the schema is itself a valid record.
    assert RecordSchema(FIELDS).parse(body(schema["example"])).single


def outcome(raw: bytes) -> tuple[int, str | None]:
    """200 when the body parses, else the error's status and field (anything else raises)."""
    try:
        RecordSchema(FIELDS).parse(raw)
    except MlwrightError as exc:
        return exc.http_status, exc.field
    return 200, None


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    value=JSON_VALUES
    | st.fixed_dictionaries({k: JSON_VALUES for k in GOOD})
    | st.builds(lambda v, k: {**GOOD, k: v}, JSON_VALUES, st.sampled_from(sorted(GOOD)))
)
def test_any_json_body_gives_records_or_a_4xx(value: object) -> None:
    status, field = outcome(orjson.dumps(value))
    assert status == 200 or (400 <= status < 500 and field)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64))
def test_any_bytes_give_records_or_a_4xx(raw: bytes) -> None:
    status, _ = outcome(raw)
    assert status == 200 or 400 <= status < 500


def nested(depth: int, opener: str = "[") -> str:
    """A JSON value nested ``depth`` levels deep: [[[...]]] or {"a":{"a":...}}."""
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def with_value(text: str, name: str = "age", *, listed: bool = False) -> bytes:
    """A body of GOOD (or [GOOD, GOOD-with-it] when ``listed``) whose ``name`` is ``text``."""
    record = orjson.dumps({k: v for k, v in GOOD.items() if k != name}).decode()
    changed = record[:-1] + f',"{name}":{text}}}'
    if listed:
        return f"[{orjson.dumps(GOOD).decode()},{changed}]".encode()
    return changed.encode()


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("opener", ["[", "{"])
@pytest.mark.parametrize("listed", [False, True])
def test_a_deeply_nested_value_is_a_422_naming_its_field(
    depth: int, opener: str, listed: bool
) -> None:
    """1,000 deep parses and must not make the message recurse (repr did: a 500); 100,000
    deep stops the JSON parser, and the field is still named."""
    for name in ("age", "note", "vip", "signup"):
        with pytest.raises(InputError) as caught:
            RecordSchema(FIELDS).parse(with_value(nested(depth, opener), name, listed=listed))
        assert caught.value.field == (f"[1].{name}" if listed else name)
        assert caught.value.http_status == 422
        assert len(caught.value.message) < 300


def test_a_body_nested_too_deep_outside_any_field_names_the_body() -> None:
    with pytest.raises(InputError, match="nested more than 1,024") as caught:
        RecordSchema(FIELDS).parse(nested(5_000).encode())
    assert caught.value.field == "body"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("x" * 600_000, "600,000 characters"),
        ([1] * 100_000, "an array of 100,000 items"),
        ({str(i): i for i in range(50_000)}, "an object of 50,000 fields"),
    ],
)
def test_a_huge_value_is_quoted_in_part(value: object, words: str) -> None:
    for name in ("age", "signup", "vip"):
        with pytest.raises(InputError) as caught:
            RecordSchema(FIELDS).parse(body({**GOOD, name: value}))
        assert caught.value.field == name
        assert words in caught.value.message
        assert len(caught.value.message) < 300


def test_a_huge_unknown_field_name_is_quoted_in_part() -> None:
    name = "k" * 600_000
    with pytest.raises(InputError, match="600,000 characters") as caught:
        RecordSchema(FIELDS).parse(body({**GOOD, name: 1}))
    assert caught.value.field is not None
    assert len(caught.value.field) < 150
    assert len(caught.value.message) < 300


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("short", '"short"'),
        ([1, "a", None, {"b": True}], '[1,"a",null,{"b":true}]'),
        ("é" * 100, '"' + "é" * 79 + "... (100 characters)"),
    ],
)
def test_echo_quotes_json_and_says_how_long_a_long_value_was(value: object, shown: str) -> None:
    assert echo(value) == shown


def test_echo_never_recurses() -> None:
    deep: list[object] = []
    for _ in range(200_000):
        deep = [deep]
    assert echo(deep) == "[" * 80 + "... (an array of 1 item)"


def test_the_record_schema_is_pydantics_json_schema_of_the_record_type() -> None:
    """One type per artifact: the JSON Schema published is pydantic's of the type that
    checks the requests (less pydantic's per-field titles)."""
    schema = RecordSchema(FIELDS)
    record = TypeAdapter(record_type(FIELDS, "reject", schema.example()))
    generated = record.json_schema()
    published = schema.record_schema()
    assert published["required"] == generated["required"] == [f.name for f in FIELDS]
    untitled = {
        name: {k: v for k, v in typed.items() if k != "title"}
        for name, typed in generated["properties"].items()
    }
    assert untitled == published["properties"]
    assert published["additionalProperties"] is generated["additionalProperties"] is False
    record.validate_python(GOOD)
    with pytest.raises(ValidationError):
        record.validate_python({**GOOD, "vip": 1})


def test_a_checked_record_is_passed_on_as_it_was_sent() -> None:
    """The check returns the client's values, not pydantic's copies: an integer stays an
    integer in the prediction log, and an ignored unknown field stays in the record."""
    records = RecordSchema(FIELDS, unknown="ignore").parse(body({**GOOD, "colour": "red"}))
    assert records.records[0] == {**GOOD, "colour": "red"}
    assert type(records.records[0]["age"]) is int
