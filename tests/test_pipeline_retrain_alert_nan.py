"""The retrainer keeps an alert whose event gives its score or threshold as NaN or Infinity (as Python's
json writes a number that is none), with them unknown, as ``alerts`` lists it: before, it refused the
event (not JSON; or not finite), so a label given to that alert was dead-lettered as for an unknown one.
An event whose times are no finite numbers is refused still, as the consoles leave it out."""

from __future__ import annotations

import pytest

from pipeline.retrain.alertfeed import AlertEventError, alert_event_of

_OPEN = b'{"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": 5, "ts": 5, '


@pytest.mark.parametrize("numbers", [b'"score": NaN, "threshold": Infinity', b'"score": -Infinity'])
def test_an_alert_whose_score_or_threshold_is_no_finite_number_is_kept_with_them_unknown(
    numbers: bytes,
) -> None:
    event = alert_event_of(_OPEN + numbers + b"}")
    assert (event["alert_id"], event["score"], event["threshold"]) == ("a1", None, None)


def test_an_alert_whose_time_is_nan_is_refused_naming_it() -> None:
    with pytest.raises(AlertEventError, match="opened_at must be finite, got nan"):
        alert_event_of(b'{"alert_id": "a1", "asset_id": "p1", "state": "open", "opened_at": NaN, "ts": 5}')
