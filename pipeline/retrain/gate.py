"""The retrain gate: accept a candidate unless it is worse than the current model beyond a tolerance.

Compared on the holdout that :func:`pipeline.retrain.judgement.evaluate` scores: recall on held-out
confirmed anomalies, recall on gross faults made from held-out normal readings
(:func:`~pipeline.retrain.faultprobes.fault_probes`: the one detection check that needs no label, so that a
run with no confirmed anomaly held out cannot promote a model that flags nothing), the share of
held-out rejected alerts still flagged, and the share of held-out normal readings flagged. Small
holdouts and rare flags are judged with exact binomial tails, so that a single miss, or a single
rejected alert still flagged, among a few does not refuse a candidate, and a tenfold rise in rare flags
does.

Both models are compared on the held-out readings both can score
(:func:`~pipeline.retrain.judgement.compare`): a reading near float32's limit that a network overflows
on is left out of every metric rather than failing the run. A candidate that cannot score a held-out
reading the current model scores (``unscorable``) is refused, however few: the daemon dead-letters a
reading its model cannot score, so promoting it would leave readings unjudged, a fault among them
unflagged, that are judged today.
"""

from __future__ import annotations

import math
from typing import Any

from dhag.infotext import counted
from pipeline.config import RetrainSettings

__all__ = ["binomial_tail", "gate"]

# An accepted candidate's reasons say each metric worse beyond its tolerance that chance explains: a
# promotion said "no metric worse beyond its tolerance" while recall had dropped from 1.0 to 0.75.
_CHANCE = "accepted as chance"
_ROWS = {
    "false_alarm_rate": "held-out rejected alert",
    "reference_far": "held-out normal reading",
    "normal_far": "held-out normal reading",
}


def binomial_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact up to floating point (summed in log space, so that
    thousands of trials do not overflow).

    >>> round(binomial_tail(15, 1, 0.05), 3), round(binomial_tail(15, 3, 0.05), 3)
    (0.537, 0.036)
    >>> binomial_tail(6640, 0, 0.001), round(binomial_tail(6640, 64, 0.0015), 12)
    (1.0, 0.0)
    """
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(n + 1)
    terms = [
        log_n - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def _recall_drop(
    cur: float,
    cand: float,
    n: int,
    settings: RetrainSettings,
    notes: list[str],
    name: str = "recall",
    what: tuple[str, str] = ("held-out confirmed anomaly", "held-out confirmed anomalies"),
) -> str | None:
    """Why the candidate's recall is refused, or None (a drop beyond the tolerance that chance explains
    is said in ``notes``).

    Refused when it is below the current model's by more than the tolerance *and* its misses among
    the ``n`` held-out confirmed anomalies are more than a model whose recall is only
    ``max_recall_drop`` below the current one's would make with probability ``recall_significance``
    (one-sided, exact binomial). The held-out confirmations are alerts the current model raised, so it
    flags all of them by construction; with 15 of them a single miss is already 6.7 points, and
    without the test no candidate could ever miss one.
    """
    tolerance = settings.max_recall_drop
    if not cand < cur - tolerance:
        return None
    reason = f"{name} {cand:.3f} < current {cur:.3f} - tolerance {tolerance:.3f}"
    if n <= 0:
        return reason
    misses = round((1.0 - cand) * n)
    p_value = binomial_tail(n, misses, min(1.0, 1.0 - cur + tolerance))
    if p_value >= settings.recall_significance:
        notes.append(
            f"{reason}, {_CHANCE}: {misses} of {counted(n, *what)} missed is likely for a model "
            f"{tolerance:.3f} worse (p = {p_value:.3f} >= recall_significance "
            f"{settings.recall_significance:g})"
        )
        return None
    return f"{reason} ({misses} of {counted(n, *what)} missed, p = {p_value:.3f})"


def _rate_rise(
    name: str,
    cur: float,
    cand: float,
    n: int,
    tolerance: float,
    significance: tuple[str, float],
    notes: list[str],
) -> str | None:
    """Why the candidate's share ``cand`` of ``n`` held-out rows flagged is refused as more than
    ``tolerance`` above the current model's, or None (a rise beyond it that chance explains is said in
    ``notes``). ``significance``: the setting's name and value.

    Refused when it is above ``cur + tolerance`` *and* that many flags would be unlikely, at
    ``significance``, for a model flagging exactly ``cur + tolerance`` (one-sided, exact binomial): with
    two held-out rejected alerts, one still flagged is 50 points, and without the test a candidate
    that doubles recall would be refused for it. Without a count (``n`` 0) the tolerance alone decides.
    """
    if not cand > cur + tolerance:
        return None
    reason = f"{name} {cand:.3f} > current {cur:.3f} + tolerance {tolerance:.3f}"
    if n <= 0:
        return reason
    flagged = round(cand * n)
    p_value = binomial_tail(n, flagged, min(1.0, cur + tolerance))
    setting, level = significance
    if p_value >= level:
        notes.append(
            f"{reason}, {_CHANCE}: {flagged} of {counted(n, _ROWS[name])} flagged is likely for a model "
            f"flagging {min(1.0, cur + tolerance):.3f} (p = {p_value:.3g} >= {setting} {level:g})"
        )
        return None
    return f"{reason} ({flagged} of {n} flagged, p = {p_value:.3g})"


def _far_rise(
    name: str, cur: float, cand: float, n: int, settings: RetrainSettings, notes: list[str]
) -> str | None:
    """Why the candidate's share of flagged held-out normal readings is refused as a rise, or None (a
    rise beyond the ratio that chance explains is said in ``notes``).

    Refused when it flags more than ``max_far_ratio`` times the current model's share (at least one
    reading's worth) *and* that many flags would be unlikely, at ``far_significance``, for a model
    flagging exactly that much (one-sided, exact binomial on the ``n`` readings). Per-reading rates are
    a tenth of a percent or less, so an absolute tolerance alone would let a tenfold rise through.
    """
    if n <= 0 or cand <= cur:
        return None
    allowed = min(1.0, settings.max_far_ratio * max(cur, 1.0 / n))
    if cand <= allowed:
        return None
    flagged = round(cand * n)
    p_value = binomial_tail(n, flagged, allowed)
    if p_value >= settings.far_significance:
        notes.append(
            f"{name} {cand:.4f} > {settings.max_far_ratio:g} x current {cur:.4f}, {_CHANCE}: {flagged} of "
            f"{counted(n, 'held-out normal reading')} flagged is likely for a model flagging {allowed:.4f} "
            f"(p = {p_value:.3g} >= far_significance {settings.far_significance:g})"
        )
        return None
    return (
        f"{name} {cand:.4f} > {settings.max_far_ratio:g} x current {cur:.4f} "
        f"({flagged} of {counted(n, 'held-out normal reading')} flagged, p = {p_value:.3g})"
    )


def gate(
    current: dict[str, Any], candidate: dict[str, Any], settings: RetrainSettings
) -> tuple[bool, list[str]]:
    """Accept the candidate unless a metric is worse than the current model's beyond its tolerance.

    Returns ``(accepted, reasons)``; the reasons name each metric that failed, with both values, or, for
    an accepted candidate, each metric worse beyond its tolerance that chance explains (``accepted as
    chance``, with its test; empty when none is). A
    candidate's ``unscorable`` (held-out readings it cannot score that the current model scores) above
    0 refuses it, and so does a holdout on which no metric could be compared (every one None for
    either model): a candidate is never promoted unjudged.
    With the number of held-out confirmed anomalies (``confirmed``), a recall drop must also be more
    than chance on that many (:func:`_recall_drop`); likewise a rise of the shares flagged of the
    held-out rejected alerts (``rejected``) and normal readings beyond their tolerances
    (:func:`_rate_rise`). The share of held-out normal readings flagged
    must also not rise beyond ``max_far_ratio`` times the current one's by more than chance
    (:func:`_far_rise`, on the number of readings under ``reference`` or ``normal``).

    The share of normal readings flagged is compared on the held-out reference sample. The recent
    normal sample is compared only when there is no reference: it holds the readings on which the
    current model raised no alert, so the current model flags few of them by construction, and a
    candidate that flags the faults it missed would look noisy there (its rate is still reported).

    Example
    -------
    >>> s = RetrainSettings(max_recall_drop=0.05, max_far_increase=0.01)
    >>> gate({"recall": 0.8, "false_alarm_rate": None, "normal_far": 0.01},
    ...      {"recall": 0.5, "false_alarm_rate": None, "normal_far": 0.01}, s)
    (False, ['recall 0.500 < current 0.800 - tolerance 0.050'])
    >>> gate({"recall": 0.8, "normal_far": 0.01, "reference_far": 0.01},
    ...      {"recall": 0.9, "normal_far": 0.03, "reference_far": 0.005}, s)
    (True, [])
    >>> gate({"recall": 0.8, "normal_far": 0.01, "reference_far": None},
    ...      {"recall": 0.9, "normal_far": 0.03, "reference_far": None}, s)
    (False, ['normal_far 0.030 > current 0.010 + tolerance 0.010'])
    >>> accepted, reasons = gate({"recall": 1.0, "confirmed": 15}, {"recall": 14 / 15, "confirmed": 15}, s)
    >>> accepted, reasons[0].split(": ")[0]
    (True, 'recall 0.933 < current 1.000 - tolerance 0.050, accepted as chance')
    >>> print(gate({"recall": 1.0, "confirmed": 15}, {"recall": 12 / 15, "confirmed": 15}, s)[1][0])
    recall 0.800 < current 1.000 - tolerance 0.050 (3 of 15 held-out confirmed anomalies missed, p = 0.036)
    """
    with_reference = current.get("reference_far") is not None and candidate.get("reference_far") is not None
    compared = [
        m
        for m in ("recall", "probe_recall", "false_alarm_rate", "reference_far", "normal_far")
        if current.get(m) is not None and candidate.get(m) is not None
    ]
    reasons: list[str] = []
    notes: list[str] = []
    cur_recall, cand_recall = current.get("recall"), candidate.get("recall")
    if cur_recall is not None and cand_recall is not None:
        n = int(candidate.get("confirmed") or 0)
        if (why := _recall_drop(cur_recall, cand_recall, n, settings, notes)) is not None:
            reasons.append(why)
    cur_probe, cand_probe = current.get("probe_recall"), candidate.get("probe_recall")
    if cur_probe is not None and cand_probe is not None:
        n = int(candidate.get("probes") or 0)
        probes = ("gross-fault probe", "gross-fault probes")
        why = _recall_drop(cur_probe, cand_probe, n, settings, notes, "probe_recall", probes)
        if why is not None:
            reasons.append(why)
    far = "reference_far" if with_reference else "normal_far"
    checks = (
        (
            "false_alarm_rate",
            "rejected",
            settings.max_false_alarm_increase,
            ("false_alarm_significance", settings.false_alarm_significance),
        ),
        (
            far,
            "reference" if with_reference else "normal",
            settings.max_far_increase,
            ("far_significance", settings.far_significance),
        ),
    )
    for name, count, tolerance, significance in checks:
        cur, cand = current.get(name), candidate.get(name)
        if cur is None or cand is None:
            continue
        n_rows = int(candidate.get(count) or 0)
        if (why := _rate_rise(name, cur, cand, n_rows, tolerance, significance, notes)) is not None:
            reasons.append(why)
    cur, cand = current.get(far), candidate.get(far)
    n = int(candidate.get("reference" if with_reference else "normal") or 0)
    # Only a refusal settles the metric: a rise past the absolute tolerance that chance explains can
    # still be many times the current share, which the ratio check refuses.
    already = any(r.startswith(far) for r in reasons)
    if (
        cur is not None
        and cand is not None
        and not already
        and (why := _far_rise(far, cur, cand, n, settings, notes))
    ):
        reasons.append(why)
    if not compared:
        reasons.append(
            "nothing held out to judge the candidate on: no held-out label, normal reading or gross-fault "
            "probe that both models score"
        )
    if lost := int(candidate.get("unscorable") or 0):
        reasons.append(
            f"candidate cannot score {lost} held-out reading(s) that the current model scores: the daemon "
            "would dead-letter them"
        )
    return (False, reasons) if reasons else (True, notes)
