"""A record's ``ts`` in epoch microseconds or nanoseconds (Telegraf and InfluxDB's line protocol write
nanoseconds) is refused saying so, with the division that gives seconds: before, every number past
year 5138 was called "epoch milliseconds? ... (divide by 1000)", which for these still gives no time."""

from __future__ import annotations

import pytest

from pipeline.recordts import parse_timestamp

SECONDS = 1795947300


@pytest.mark.parametrize(
    ("ts", "said"),
    [
        (SECONDS * 1000, "epoch milliseconds? ts takes seconds (divide by 1000)"),
        (SECONDS * 10**6, "epoch microseconds? ts takes seconds (divide by 1000000)"),
        (SECONDS * 10**9, "epoch nanoseconds? ts takes seconds (divide by 1000000000)"),
        (float(SECONDS) * 10**9, "epoch nanoseconds? ts takes seconds (divide by 1000000000)"),
    ],
)
def test_a_ts_in_a_finer_unit_is_named_with_its_division(ts, said) -> None:
    with pytest.raises(ValueError, match="lies beyond year 5138") as refused:
        parse_timestamp(ts)
    assert said in str(refused.value)
    # What it says to do gives a time that is taken.
    divisor = int(said.rsplit("by ", 1)[1].rstrip(")").replace(",", ""))
    assert parse_timestamp(ts / divisor) == pytest.approx(SECONDS)


def test_a_number_beyond_every_unit_is_not_called_one() -> None:
    with pytest.raises(ValueError) as refused:
        parse_timestamp(10**25)
    assert "lies beyond year 5138" in str(refused.value) and "divide" not in str(refused.value)
