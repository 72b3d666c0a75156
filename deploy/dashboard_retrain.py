"""The pipeline health dashboard's retrainer row (job dhag-retrainer), from the building blocks of
:mod:`dashboards`; :mod:`dashboard_health` places it."""

from __future__ import annotations

from typing import Any

from dashboards import PLANT_LEGEND, make_panel, query_target


def retraining_panels(top: int) -> list[dict[str, Any]]:
    """The retrainer's row (job dhag-retrainer): runs and the steps failed after their decision, last
    success, labels received, answers sent again and changed, label DLQ, registry version, the
    registry's versions by state."""
    return [
        make_panel(
            "stat", "Retrainer up", (0, top, 4, 4), [query_target("A", 'sum(up{job="dhag-retrainer"})')]
        ),
        make_panel(
            "stat",
            "Registry current version",
            (4, top, 6, 4),
            [
                query_target(
                    "A",
                    "count by (namespace, version) (dhag_registry_current_info == 1)",
                    "{{version}}" + PLANT_LEGEND,
                )
            ],
            options={"textMode": "name", "reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        make_panel(
            "stat",
            "Since the last successful retraining",
            (10, top, 5, 4),
            # The latest over a week, so the panel still shows it while the retrainer is down. A restarted
            # retrainer restores it from its label store, but serves 0 until then (while it provisions
            # its topics): `> 0` leaves those scrapes out.
            [
                query_target(
                    "A",
                    "time() - max by (namespace) "
                    "(max_over_time(dhag_retrain_last_success_timestamp_seconds[7d]) > 0)",
                    PLANT_LEGEND.strip(),
                )
            ],
            unit="s",
        ),
        make_panel(
            "stat",
            "Since the last retraining run",
            (15, top, 5, 4),
            [
                query_target(
                    "A",
                    "time() - max by (namespace) "
                    "(max_over_time(dhag_retrain_last_run_timestamp_seconds[7d]) > 0)",
                    PLANT_LEGEND.strip(),
                )
            ],
            unit="s",
        ),
        make_panel(
            "stat",
            "Labels waiting for their alert",
            (20, top, 4, 4),
            [query_target("A", "sum(dhag_labels_pending)")],
        ),
        make_panel(
            "timeseries",
            "Retraining runs by outcome, and steps failed after the decision (per day)",
            (0, top + 4, 6, 7),
            # A run that decided and then failed to prune the registry or write its report counts as
            # promoted or rejected; the step shows beside it (DhagRetrainingHousekeepingFailing).
            [
                query_target(
                    "A",
                    "sum by (namespace, outcome) (increase(dhag_retrain_runs_total[1d]))",
                    "{{outcome}}" + PLANT_LEGEND,
                ),
                query_target(
                    "B",
                    "sum by (namespace, step) (increase(dhag_retrain_after_decision_failures_total[1d]))",
                    "then {{step}} failed" + PLANT_LEGEND,
                ),
            ],
        ),
        make_panel(
            "timeseries",
            "Labels received (per hour)",
            (6, top + 4, 6, 7),
            [
                query_target(
                    "A",
                    "sum by (namespace, label) (increase(dhag_labels_received_total[1h]))",
                    "{{label}}" + PLANT_LEGEND,
                )
            ],
        ),
        # Beside the labels received: answers sent again (a producer retry, a console's second submit;
        # left out of those received) and answers that replaced an earlier one, by the new answer.
        make_panel(
            "timeseries",
            "Answers sent again, and changed (per hour)",
            (12, top + 4, 6, 7),
            [
                query_target(
                    "A",
                    "sum by (namespace) (increase(dhag_labels_repeated_total[1h]))",
                    "sent again" + PLANT_LEGEND,
                ),
                query_target(
                    "B",
                    "sum by (namespace, label) (increase(dhag_labels_changed_total[1h]))",
                    "changed to {{label}}" + PLANT_LEGEND,
                ),
            ],
        ),
        make_panel(
            "timeseries",
            "Label DLQ (per hour)",
            (18, top + 4, 6, 7),
            [
                query_target(
                    "A",
                    "sum by (namespace, reason) (increase(dhag_labels_dlq_total[1h]))",
                    "{{reason}}" + PLANT_LEGEND,
                )
            ],
        ),
        make_panel(
            "timeseries",
            "Retraining run duration (mean over a day)",
            (0, top + 11, 12, 6),
            [
                query_target(
                    "A",
                    "sum by (namespace) (increase(dhag_retrain_duration_seconds_sum[1d]))"
                    " / sum by (namespace) (increase(dhag_retrain_duration_seconds_count[1d]))",
                    "mean run duration" + PLANT_LEGEND,
                )
            ],
            unit="s",
        ),
        # Counted at the retrainer's start and after each run's prune, which keeps every version it
        # cannot read: damaged or bad_signature for a day is DhagRegistryUnreadableVersions;
        # newer_release versions wait for the release that wrote them.
        make_panel(
            "timeseries",
            "Registry versions by state (prune keeps the unreadable)",
            (12, top + 11, 12, 6),
            [
                query_target(
                    "A", "max by (namespace, state) (dhag_registry_versions)", "{{state}}" + PLANT_LEGEND
                )
            ],
        ),
    ]
