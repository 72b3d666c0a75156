"""``dhag-pipeline bench soak``'s memory growth compares the last sample with one taken after the first
minute's warm-up, never the last with itself: a soak whose only sample past the first minute was the
last reported +0 % growth from one reading. With no earlier sample to compare it is null, and said."""

from __future__ import annotations

import pytest

from pipeline.soak import rss_growth


def _samples(*points: tuple[float, float]) -> list[dict[str, float]]:
    return [{"t_s": t, "rss_mb": rss} for t, rss in points]


def test_growth_is_from_the_first_sample_after_a_minute() -> None:
    samples = _samples((30, 380.0), (60, 400.0), (120, 404.0), (180, 408.0))
    assert rss_growth(samples) == (2.0, 60)


def test_the_last_sample_is_never_its_own_warm_up() -> None:
    # a one-minute soak sampled every 10 s: its final sample is its first past a minute
    samples = _samples((10, 380.0), (20, 390.0), (30, 395.0), (40, 398.0), (50, 399.0), (62, 420.0))
    assert rss_growth(samples) == (round(100 * (420 - 380) / 380, 2), 10)


def test_one_sample_measures_no_growth(caplog: pytest.LogCaptureFixture) -> None:
    assert rss_growth(_samples((75, 400.0))) == (None, None)
    assert "--interval" in caplog.text and "--minutes" in caplog.text
