"""An alert's ``top_sensors`` name only the sensors that raise its reading's score: the model's
attribution ranks every feature, and a sensor whose reading makes the row look more normal (its reset
to the training mean would raise the score, a negative contribution) or changes nothing was named
beside the causes, up to ``alerts.top_sensors`` of them, for an operator to check on the HMI."""

from __future__ import annotations

import numpy as np
from plant_data import normal

from pipeline.config import RecordSettings
from pipeline.hotswap import bind_model


def test_top_sensors_leave_out_sensors_that_make_the_reading_look_normal(fitted) -> None:
    active = bind_model(fitted, "v1", RecordSettings())
    rows = normal(np.random.default_rng(1), 200) + np.array([9.0, 0, 0, 0])
    full = fitted.explain(rows, logit_drops=True)
    # the library's ranking holds, for some of these readings, sensors whose reset raises the score
    lowering = [j for j, ranked in enumerate(full) if any(drop < 0 for _, drop, _ in ranked)]
    assert lowering, "the test needs readings with a sensor that makes them look more normal"
    named = active.explain(rows, ["p"] * len(rows), [()] * len(rows), top=4)
    for j in lowering:
        raising = {n for n, drop, logit in full[j] if drop > 0 or (drop == 0 and logit > 0)}
        assert {s["sensor"] for s in named[j]} == raising
        assert all(s["contribution"] >= 0 for s in named[j])
    # a reading scored high still names its causes
    assert all(named[j] for j in range(len(rows)) if fitted.decision_function(rows[j : j + 1])[0] > 0.5)
