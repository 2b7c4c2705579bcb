"""Coding an interaction table: ids to codes, times to epoch seconds, and every check that
can fail on a user's log, each naming the column."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from mlwright.errors import DataCheckError, DataError
from mlwright.recommend import Interactions, epoch_seconds, interactions_from_frame
from mlwright.recommend._interactions import id_index

JAN_1_2024 = 1_704_067_200.0  # 2024-01-01T00:00:00Z


def triples(data: Interactions) -> list[tuple[object, object, float]]:
    return [
        (data.user_ids[u], data.item_ids[i], float(t))
        for u, i, t in zip(data.users, data.items, data.times, strict=True)
    ]


# -- codes and order -----------------------------------------------------------------------------


def test_rows_are_sorted_by_user_then_time_then_item() -> None:
    frame = pl.DataFrame(
        {
            "u": [7, 3, 7, 3, 3, 7, 3],
            "i": ["c", "b", "a", "a", "c", "b", "d"],
            "t": [5.0, 2.0, 1.0, 2.0, 1.0, 5.0, 9.0],
        }
    )
    data = interactions_from_frame(frame, user="u", item="i", time="t")
    assert data.users.dtype == np.int32
    assert data.items.dtype == np.int32
    assert data.times.dtype == np.float64
    # The same interactions, as (user id, item id, time) ...
    expected = sorted(zip(frame["u"], frame["i"], frame["t"], strict=True))
    assert sorted(triples(data)) == expected
    # ... in (user, time, item) order: ties in time broken by the item's code.
    assert triples(data) == [
        (3, "c", 1.0),
        (3, "a", 2.0),
        (3, "b", 2.0),
        (3, "d", 9.0),
        (7, "a", 1.0),
        (7, "b", 5.0),
        (7, "c", 5.0),
    ]
    keys = list(zip(data.users, data.times, data.items, strict=True))
    assert keys == sorted(keys)
    assert (data.n_users, data.n_items, len(data)) == (2, 4, 7)


def test_without_a_time_column_row_order_is_time_order() -> None:
    frame = pl.DataFrame({"u": ["x", "y", "x", "x"], "i": [3, 1, 1, 2]})
    data = interactions_from_frame(frame, user="u", item="i")
    assert triples(data) == [("x", 3, 0.0), ("x", 1, 2.0), ("x", 2, 3.0), ("y", 1, 1.0)]


@pytest.mark.parametrize("dtype", [pl.Int8, pl.Int32, pl.Int64, pl.UInt16, pl.UInt32])
def test_integer_ids_stay_int64(dtype: pl.DataType) -> None:
    frame = pl.DataFrame(
        {"u": pl.Series([5, 2, 5], dtype=dtype), "i": pl.Series([9, 4, 4], dtype=dtype)}
    )
    data = interactions_from_frame(frame, user="u", item="i")
    assert data.user_ids.dtype == np.int64
    assert data.item_ids.dtype == np.int64
    assert data.user_ids.tolist() == [2, 5]
    assert data.item_ids.tolist() == [4, 9]


def test_text_ids_are_sorted_text_and_other_ids_become_text() -> None:
    frame = pl.DataFrame({"u": ["b", "a", "b"], "i": [1.5, 2.0, 1.5]})
    data = interactions_from_frame(frame, user="u", item="i")
    assert data.user_ids.dtype == object
    assert data.user_ids.tolist() == ["a", "b"]
    assert all(isinstance(v, str) for v in data.item_ids)
    assert data.item_ids.tolist() == ["1.5", "2.0"]
    assert triples(data) == [("a", "2.0", 1.0), ("b", "1.5", 0.0), ("b", "1.5", 2.0)]
    categorical = frame.with_columns(pl.col("u").cast(pl.Categorical))
    coded = interactions_from_frame(categorical, user="u", item="i")
    assert coded.user_ids.tolist() == ["a", "b"]
    np.testing.assert_array_equal(coded.users, data.users)


def test_weights_follow_their_rows_and_missing_weights_are_one() -> None:
    frame = pl.DataFrame({"u": [2, 1, 1], "i": [1, 1, 2], "t": [0, 5, 3], "w": [4.0, None, 2.5]})
    data = interactions_from_frame(frame, user="u", item="i", time="t", weight="w")
    assert data.weights.dtype == np.float32
    # sorted rows: (1, 2, t=3, w=2.5), (1, 1, t=5, w=1 for the null), (2, 1, t=0, w=4)
    assert data.weights.tolist() == [2.5, 1.0, 4.0]
    unweighted = interactions_from_frame(frame, user="u", item="i", time="t")
    assert unweighted.weights.tolist() == [1.0, 1.0, 1.0]


# -- times ---------------------------------------------------------------------------------------


def test_epoch_seconds_are_kept() -> None:
    values = epoch_seconds(pl.Series("t", [JAN_1_2024, JAN_1_2024 + 90]), "t")
    np.testing.assert_array_equal(values, [JAN_1_2024, JAN_1_2024 + 90])
    integers = epoch_seconds(pl.Series("t", [1_704_067_200, 1_704_067_260]), "t")
    np.testing.assert_array_equal(integers, [JAN_1_2024, JAN_1_2024 + 60])


def test_epoch_milliseconds_are_read_as_seconds() -> None:
    values = epoch_seconds(pl.Series("t", [1_704_067_200_000, 1_704_067_200_500]), "t")
    np.testing.assert_allclose(values, [JAN_1_2024, JAN_1_2024 + 0.5], rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01", JAN_1_2024),
        ("2024-01-01 10:30:00", JAN_1_2024 + 10.5 * 3600),
        ("2024-01-01T10:30:00", JAN_1_2024 + 10.5 * 3600),
    ],
)
def test_iso_text_is_parsed_as_utc(text: str, expected: float) -> None:
    values = epoch_seconds(pl.Series("t", [text, text.replace("2024-01-01", "2024-01-02")]), "t")
    assert values[0] == expected
    assert values[1] == expected + 86400


def test_iso_text_with_offsets_is_converted_to_utc() -> None:
    values = epoch_seconds(
        pl.Series("t", ["2024-01-01T10:00:00+02:00", "2024-01-01T10:00:00+00:00"]), "t"
    )
    np.testing.assert_array_equal(values, [JAN_1_2024 + 8 * 3600, JAN_1_2024 + 10 * 3600])


def test_naive_datetimes_are_utc() -> None:
    series = pl.Series("t", [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 0, 0, 30)])
    assert series.dtype == pl.Datetime("us")
    np.testing.assert_array_equal(epoch_seconds(series, "t"), [JAN_1_2024, JAN_1_2024 + 30])
    millis = series.cast(pl.Datetime("ms"))
    np.testing.assert_array_equal(epoch_seconds(millis, "t"), [JAN_1_2024, JAN_1_2024 + 30])


def test_zoned_datetimes_are_converted_to_utc() -> None:
    naive = pl.Series("t", [dt.datetime(2024, 1, 1, 1, 0), dt.datetime(2024, 7, 1, 2, 0)])
    # Berlin is UTC+1 in winter and UTC+2 in summer: both are midnight UTC.
    berlin = naive.dt.replace_time_zone("Europe/Berlin")
    utc = naive.dt.replace_time_zone("UTC")
    july = JAN_1_2024 + 182 * 86400
    np.testing.assert_array_equal(epoch_seconds(berlin, "t"), [JAN_1_2024, july])
    np.testing.assert_array_equal(epoch_seconds(utc, "t"), [JAN_1_2024 + 3600, july + 2 * 3600])


def test_dates_are_midnight_utc() -> None:
    series = pl.Series("t", [dt.date(2024, 1, 1), dt.date(2024, 1, 3)])
    np.testing.assert_array_equal(epoch_seconds(series, "t"), [JAN_1_2024, JAN_1_2024 + 2 * 86400])


def test_every_time_form_orders_a_users_rows_the_same_way() -> None:
    stamps = [dt.datetime(2024, 3, 5, 12), dt.datetime(2024, 1, 2), dt.datetime(2024, 2, 1, 8)]
    forms = {
        "seconds": pl.Series([s.replace(tzinfo=dt.UTC).timestamp() for s in stamps]),
        "millis": pl.Series([int(s.replace(tzinfo=dt.UTC).timestamp() * 1000) for s in stamps]),
        "text": pl.Series([s.isoformat() for s in stamps]),
        "datetime": pl.Series(stamps),
        "zoned": pl.Series(stamps).dt.replace_time_zone("UTC"),
    }
    expected = None
    for name, column in forms.items():
        frame = pl.DataFrame({"u": [1, 1, 1], "i": ["a", "b", "c"], "t": column})
        data = interactions_from_frame(frame, user="u", item="i", time="t")
        got = (data.item_ids[data.items].tolist(), data.times.tolist())
        assert got[0] == ["b", "c", "a"], name
        expected = expected or got
        assert got == expected, name


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["user", "item"])
def test_a_missing_user_or_item_names_the_column_and_first_row(role: str) -> None:
    values = {"user": [1, 2, 3, 4], "item": [1, 2, 3, 4]}
    values[role] = [1, 2, None, None]
    frame = pl.DataFrame({"who": values["user"], "what": values["item"]})
    with pytest.raises(DataCheckError) as caught:
        interactions_from_frame(frame, user="who", item="what")
    column = "who" if role == "user" else "what"
    message = caught.value.message
    assert f"{role} column '{column}'" in message
    assert "2 interaction(s)" in message
    assert "first at row 2" in message
    assert caught.value.hint


def test_unparseable_time_text_names_the_column_with_an_example() -> None:
    frame = pl.DataFrame(
        {"u": [1, 1, 2], "i": [1, 2, 3], "when": ["2024-01-01", "not a date", "2024-01-03"]}
    )
    with pytest.raises(DataError) as caught:
        interactions_from_frame(frame, user="u", item="i", time="when")
    assert not isinstance(caught.value, DataCheckError)
    message = caught.value.message
    assert "time column 'when'" in message
    assert "1 value(s)" in message
    assert "'not a date'" in message
    assert caught.value.hint
    assert "ISO 8601" in caught.value.hint


@pytest.mark.parametrize(
    "column",
    [
        pl.Series("t", [1.0, None, 3.0]),
        pl.Series("t", [1.0, float("nan"), 3.0]),
        pl.Series("t", ["2024-01-01", None, "2024-01-03"]),
        pl.Series("t", [dt.datetime(2024, 1, 1), None, dt.datetime(2024, 1, 3)]),
    ],
    ids=["null-number", "nan", "null-text", "null-datetime"],
)
def test_a_missing_time_is_a_data_check_error(column: pl.Series) -> None:
    frame = pl.DataFrame({"u": [1, 1, 2], "i": [1, 2, 3], "t": column})
    with pytest.raises(DataCheckError) as caught:
        interactions_from_frame(frame, user="u", item="i", time="t")
    assert "time column 't'" in caught.value.message
    assert "1 interaction(s) have no time (first at row 1)" in caught.value.message


def test_a_time_of_another_type_is_refused() -> None:
    frame = pl.DataFrame({"u": [1, 2], "i": [1, 2], "t": [dt.time(10), dt.time(11)]})
    with pytest.raises(DataError, match="time column 't' has type"):
        interactions_from_frame(frame, user="u", item="i", time="t")


def test_a_non_numeric_weight_is_refused() -> None:
    frame = pl.DataFrame({"u": [1, 2], "i": [1, 2], "stars": ["five", "four"]})
    with pytest.raises(DataError) as caught:
        interactions_from_frame(frame, user="u", item="i", weight="stars")
    assert "weight column 'stars'" in caught.value.message
    assert "expected numbers" in caught.value.message


@pytest.mark.parametrize("role", ["user", "item", "time", "weight"])
def test_an_unknown_column_lists_the_columns(role: str) -> None:
    frame = pl.DataFrame({"uid": [1, 2], "iid": [1, 2], "ts": [1, 2], "w": [1.0, 2.0]})
    names = {"user": "uid", "item": "iid", "time": None, "weight": None}
    names[role] = "nope"
    with pytest.raises(DataError) as caught:
        interactions_from_frame(
            frame,
            user=str(names["user"]),
            item=str(names["item"]),
            time=names["time"],
            weight=names["weight"],
        )
    message = caught.value.message
    assert f"{role} column 'nope' not found" in message
    assert "columns are: uid, iid, ts, w" in message


@pytest.mark.parametrize("time", [None, "t"])
def test_an_empty_frame_is_refused(time: str | None) -> None:
    frame = pl.DataFrame(schema={"u": pl.Int64, "i": pl.String, "t": pl.Float64})
    with pytest.raises(DataError, match="has no rows"):
        interactions_from_frame(frame, user="u", item="i", time=time)


@pytest.mark.parametrize(
    ("frame", "kwargs", "column"),
    [
        (pl.DataFrame({"u": [1, None], "i": [1, 2]}), {}, "u"),
        (pl.DataFrame({"u": [1, 2], "i": [None, 2]}), {}, "i"),
        (pl.DataFrame({"u": [1, 2], "i": [1, 2], "t": ["x", "2024-01-01"]}), {"time": "t"}, "t"),
        (pl.DataFrame({"u": [1, 2], "i": [1, 2], "t": [1.0, None]}), {"time": "t"}, "t"),
        (pl.DataFrame({"u": [1, 2], "i": [1, 2], "w": ["a", "b"]}), {"weight": "w"}, "w"),
        (pl.DataFrame({"u": [1, 2], "i": [1, 2]}), {"time": "when"}, "when"),
    ],
    ids=["missing-user", "missing-item", "bad-time", "missing-time", "text-weight", "no-column"],
)
def test_column_errors_carry_the_column_as_field(
    frame: pl.DataFrame, kwargs: dict[str, str], column: str
) -> None:
    # mlwright.errors: every error says where in ``field`` (a spec field, a column, a file).
    with pytest.raises(DataError) as caught:
        interactions_from_frame(frame, user="u", item="i", **kwargs)
    assert caught.value.field == column


# -- matrix, offsets, index ----------------------------------------------------------------------


def test_matrix_is_binary_with_repeats_counted_once() -> None:
    frame = pl.DataFrame(
        {"u": [1, 1, 1, 2, 3, 3], "i": ["a", "a", "b", "b", "a", "c"], "w": [5.0] * 6}
    )
    data = interactions_from_frame(frame, user="u", item="i", weight="w")
    m = data.matrix()
    assert m.shape == (3, 3)
    np.testing.assert_array_equal(m.toarray(), [[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    assert m.nnz == 5
    assert set(m.data.tolist()) == {1.0}
    # Some rows only: the same shape, only those interactions.
    first_user = data.users == 0
    part = data.matrix(np.flatnonzero(first_user))
    assert part.shape == (3, 3)
    np.testing.assert_array_equal(part.toarray(), [[1.0, 1.0, 0.0], [0, 0, 0], [0, 0, 0]])


def test_user_rows_are_each_users_offsets() -> None:
    frame = pl.DataFrame({"u": [4, 2, 4, 4, 9], "i": [1, 2, 3, 4, 5]})
    data = interactions_from_frame(frame, user="u", item="i")
    offsets = data.user_rows()
    assert offsets.dtype == np.int64
    assert offsets.tolist() == [0, 1, 4, 5]
    for code, user in enumerate(data.user_ids):
        rows = slice(offsets[code], offsets[code + 1])
        assert (data.users[rows] == code).all()
        assert len(data.users[rows]) == int((frame["u"] == user).sum())


def test_subset_keeps_the_codes_and_takes_rows() -> None:
    frame = pl.DataFrame({"u": [1, 1, 2], "i": ["a", "b", "c"], "t": [1, 2, 3]})
    data = interactions_from_frame(frame, user="u", item="i", time="t")
    part = data.subset(np.array([True, False, True]))
    assert part.user_ids is data.user_ids
    assert part.item_ids is data.item_ids
    assert triples(part) == [(1, "a", 1.0), (2, "c", 3.0)]
    assert part.n_items == 3
    assert part.matrix().shape == (2, 3)


def test_id_index_maps_integer_ids_and_their_text() -> None:
    index = id_index(np.array([3, 10, 42], dtype=np.int64))
    assert index[3] == 0
    assert index[10] == 1
    assert index["42"] == 2
    assert index[42] == 2
    assert all(type(k) in (int, str) for k in index)
    assert len(index) == 6
    text = id_index(np.array(["a", "7"], dtype=object))
    assert text == {"a": 0, "7": 1}
    assert 7 not in text
