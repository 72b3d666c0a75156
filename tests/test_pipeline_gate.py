"""The retrain gate's recall check: a drop beyond the tolerance refuses a candidate only when its misses
among the held-out confirmed anomalies are more than chance for a model that much worse; and its check
of held-out normal readings flagged, which also refuses a rise beyond a ratio of the current share."""

from __future__ import annotations

import pytest

from pipeline.config import RetrainSettings
from pipeline.retrain.gate import binomial_tail, gate

SETTINGS = RetrainSettings(max_recall_drop=0.05, recall_significance=0.05)


def _recall(caught: int, held_out: int) -> dict[str, float | int]:
    return {"recall": caught / held_out, "confirmed": held_out}


def _by_chance(verdict: tuple[bool, list[str]]) -> bool:
    """Accepted, with a metric worse beyond its tolerance that chance explains, said so."""
    accepted, reasons = verdict
    return accepted and bool(reasons) and all(", accepted as chance: " in r for r in reasons)


@pytest.mark.parametrize(
    ("n", "k", "p"),
    [
        (15, 1, 0.05),
        (15, 3, 0.05),
        (6, 2, 0.05),
        (50, 6, 0.05),
        (20, 0, 0.3),
        (8, 8, 0.5),
        (6640, 10, 0.0015),  # thousands of held-out readings at a per-reading rate
        (6640, 64, 0.0015),
    ],
)
def test_the_binomial_tail_is_exact(n: int, k: int, p: float) -> None:
    stats = pytest.importorskip("scipy.stats")
    assert binomial_tail(n, k, p) == pytest.approx(float(stats.binom.sf(k - 1, n, p)), rel=1e-9)


def test_one_or_two_misses_of_fifteen_pass_and_three_refuse() -> None:
    current = _recall(15, 15)  # the current model raised these alerts: it flags all of them
    assert _by_chance(gate(current, _recall(14, 15), SETTINGS))
    assert _by_chance(gate(current, _recall(13, 15), SETTINGS))
    accepted, reasons = gate(current, _recall(12, 15), SETTINGS)
    assert not accepted
    assert reasons == [
        "recall 0.800 < current 1.000 - tolerance 0.050 "
        "(3 of 15 held-out confirmed anomalies missed, p = 0.036)"
    ]


def test_a_larger_holdout_resolves_a_smaller_drop() -> None:
    # 6 of 50 missed (recall 0.88): refused; on 15 held out, 2 of 15 (0.867) was not.
    assert gate(_recall(50, 50), _recall(44, 50), SETTINGS)[0] is False
    assert gate(_recall(50, 50), _recall(46, 50), SETTINGS)[0] is True


def test_the_test_counts_from_the_current_models_own_recall() -> None:
    # A current model that misses 3 of 20 and a candidate that misses 4: within the tolerance of 5 points.
    assert gate(_recall(17, 20), _recall(16, 20), SETTINGS) == (True, [])
    # Missing 9 of 20 is more than a model at recall 0.80 would miss by chance.
    assert gate(_recall(17, 20), _recall(11, 20), SETTINGS)[0] is False


def test_a_significance_of_one_refuses_every_drop_beyond_the_tolerance() -> None:
    strict = SETTINGS.model_copy(update={"recall_significance": 1.0})
    accepted, reasons = gate(_recall(15, 15), _recall(14, 15), strict)
    assert not accepted and reasons[0].startswith("recall 0.933 < current 1.000 - tolerance 0.050")


def test_without_the_count_the_recall_check_is_the_plain_comparison() -> None:
    assert gate({"recall": 1.0}, {"recall": 0.94}, SETTINGS) == (
        False,
        ["recall 0.940 < current 1.000 - tolerance 0.050"],
    )
    assert gate({"recall": 1.0}, {"recall": 0.96}, SETTINGS) == (True, [])


def test_the_other_checks_still_refuse_a_candidate_whose_recall_passes() -> None:
    current = _recall(15, 15) | {"reference_far": 0.01, "normal_far": 0.01}
    noisy = _recall(14, 15) | {"reference_far": 0.05, "normal_far": 0.01}
    accepted, reasons = gate(current, noisy, SETTINGS)
    assert not accepted and reasons == ["reference_far 0.050 > current 0.010 + tolerance 0.010"]


def _far(flagged: int, n: int = 6640) -> dict[str, float | int]:
    return {"reference_far": flagged / n, "reference": n}


def test_a_tenfold_rise_in_flagged_normal_readings_is_refused_though_under_the_absolute_tolerance() -> None:
    # 5 -> 64 of 6,640 held-out reference readings: 0.0008 -> 0.0096, within max_far_increase (0.01).
    accepted, reasons = gate(_far(5), _far(64), SETTINGS)
    assert not accepted
    assert reasons[0].startswith("reference_far 0.0096 > 2 x current 0.0008 (64 of 6640 held-out normal")


def test_a_rise_that_chance_explains_or_within_the_ratio_passes() -> None:
    assert gate(_far(5), _far(9), SETTINGS) == (True, [])  # under twice the current share
    assert _by_chance(gate(_far(5), _far(14), SETTINGS))  # 14 is likely enough for a rate of 10/6640
    assert gate(_far(5), _far(19), SETTINGS)[0] is False
    assert _by_chance(gate(_far(0), _far(3), SETTINGS))  # from none: at least one reading's worth
    loose = SETTINGS.model_copy(update={"max_far_ratio": 20.0})
    assert gate(_far(5), _far(64), loose) == (True, [])
    # Without the count of held-out readings the ratio check has nothing to test and stays silent.
    assert gate({"reference_far": 0.001}, {"reference_far": 0.009}, SETTINGS) == (True, [])


def test_a_rise_past_the_absolute_tolerance_is_still_held_to_the_ratio() -> None:
    # 11 -> 78 of 6,640 (0.17 % -> 1.17 %): past max_far_increase by a hair, which chance explains, so
    # the ratio check was skipped and a candidate flagging seven times its parent's share was promoted,
    # while one flagging 75 was refused.
    accepted, reasons = gate(_far(11), _far(78), SETTINGS)
    assert not accepted and len(reasons) == 1
    assert reasons[0].startswith("reference_far 0.0117 > 2 x current 0.0017 (78 of 6640 held-out normal")
    # More flags never pass where fewer are refused.
    assert not any(gate(_far(11), _far(k), SETTINGS)[0] for k in range(40, 200))
    # The same without a reference sample, on the recent normal sample.
    current, candidate = {"normal_far": 11 / 6640, "normal": 6640}, {"normal_far": 80 / 6640, "normal": 6640}
    accepted, reasons = gate(current, candidate, SETTINGS)
    assert not accepted and reasons[0].startswith("normal_far 0.0120 > 2 x current 0.0017 (80 of 6640")


def _alarms(flagged: int, rejected: int) -> dict[str, float | int]:
    return {"false_alarm_rate": flagged / rejected, "rejected": rejected}


def test_one_rejected_alert_of_two_still_flagged_does_not_refuse_a_candidate_that_doubles_recall() -> None:
    # The current model raised the two rejected alerts under an older model's threshold and flags
    # neither now; the candidate flags one: 50 points above, but one of two is likely enough
    # (p = 0.0975) for a model flagging 5 % of them, at the 5 % significance.
    current = _recall(10, 20) | _alarms(0, 2)
    candidate = _recall(20, 20) | _alarms(1, 2)
    assert _by_chance(gate(current, candidate, SETTINGS))
    strict = SETTINGS.model_copy(update={"false_alarm_significance": 1.0})
    assert gate(current, candidate, strict)[0] is False  # 1.0: any rise beyond the tolerance refuses


def test_many_rejected_alerts_still_flagged_refuse() -> None:
    accepted, reasons = gate(_recall(20, 20) | _alarms(1, 20), _recall(20, 20) | _alarms(8, 20), SETTINGS)
    assert not accepted
    assert reasons == [
        "false_alarm_rate 0.400 > current 0.050 + tolerance 0.050 (8 of 20 flagged, p = 0.000416)"
    ]


def test_one_reference_reading_of_forty_flagged_against_none_passes_the_absolute_check() -> None:
    # 0 -> 1 of 40 is 2.5 points, over max_far_increase (1 point), and likely (p = 0.33) for a model
    # flagging 1 %.
    assert _by_chance(gate(_far(0, 40), _far(1, 40), SETTINGS))
    assert gate(_far(0, 40), _far(6, 40), SETTINGS)[0] is False


def test_a_candidate_blind_to_the_gross_fault_probes_is_refused_and_one_miss_in_200_is_not() -> None:
    # The probes are the only recall check of a run with no confirmed anomaly held out; only the slow
    # training tests noticed when this check went missing.
    s = RetrainSettings()
    accepted, reasons = gate({"probe_recall": 1.0, "probes": 200}, {"probe_recall": 0.0, "probes": 200}, s)
    assert not accepted and reasons[0].startswith("probe_recall 0.000 < current 1.000")
    assert "gross-fault probes" in reasons[0]
    assert gate({"probe_recall": 1.0, "probes": 200}, {"probe_recall": 0.995, "probes": 200}, s) == (True, [])


def test_a_candidate_that_cannot_score_a_reading_the_current_model_scores_is_refused() -> None:
    # The daemon dead-letters a reading its model cannot score: one the current model judges today
    # would go unjudged. Readings neither can score are left out of both models' metrics upstream.
    current, candidate = _recall(15, 15) | {"unscorable": 0}, _recall(15, 15) | {"unscorable": 2}
    assert gate(current, candidate, SETTINGS) == (
        False,
        [
            "candidate cannot score 2 held-out reading(s) that the current model scores: the daemon would "
            "dead-letter them"
        ],
    )
    assert gate(current | {"unscorable": 3}, candidate | {"unscorable": 0}, SETTINGS) == (True, [])


def test_an_accepted_candidate_worse_beyond_a_tolerance_by_chance_is_said_so() -> None:
    # Before: a candidate missing 1 of 4 held-out confirmed anomalies the current model caught, and
    # flagging 2.4 times its share of held-out normal readings, was promoted with "no metric worse than
    # the current model's beyond its tolerance", though both were, and passed only as likely by chance.
    accepted, reasons = gate(_recall(4, 4) | _far(20, 6470), _recall(3, 4) | _far(48, 6470), SETTINGS)
    assert accepted
    assert reasons == [
        "recall 0.750 < current 1.000 - tolerance 0.050, accepted as chance: 1 of 4 held-out confirmed "
        "anomalies missed is likely for a model 0.050 worse (p = 0.185 >= recall_significance 0.05)",
        "reference_far 0.0074 > 2 x current 0.0031, accepted as chance: 48 of 6470 held-out normal "
        "readings flagged is likely for a model flagging 0.0062 (p = 0.119 >= far_significance 0.05)",
    ]
    accepted, reasons = gate(_recall(20, 20) | _alarms(0, 2), _recall(20, 20) | _alarms(1, 2), SETTINGS)
    assert accepted and reasons == [
        "false_alarm_rate 0.500 > current 0.000 + tolerance 0.050, accepted as chance: 1 of 2 held-out "
        "rejected alerts flagged is likely for a model flagging 0.050 (p = 0.0975 >= "
        "false_alarm_significance 0.05)"
    ]


def test_a_holdout_of_one_is_said_in_the_singular() -> None:
    # Before: "1 of 1 held-out rejected alerts flagged", "1 of 1 held-out confirmed anomalies missed"
    # and "1 of 1 held-out normal readings flagged".
    accepted, reasons = gate(_recall(1, 1) | _alarms(0, 1), _recall(0, 1) | _alarms(1, 1), SETTINGS)
    assert accepted
    assert "1 of 1 held-out confirmed anomaly missed is likely" in reasons[0]
    assert "1 of 1 held-out rejected alert flagged is likely" in reasons[1]
    loose = SETTINGS.model_copy(update={"far_significance": 0.01})
    accepted, reasons = gate(_far(0, 1), _far(1, 1), loose)
    assert accepted and "1 of 1 held-out normal reading flagged is likely" in reasons[0]
