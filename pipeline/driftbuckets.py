"""How long a drift bucket waits, and how short one may be: each open bucket keeps a histogram of its
scores (8 KB), and a bucket stays open for :data:`LATE_S` of newer record time, so ``drift.bucket_s``
sets how many are open at once: 13 at the default 300 s, and 3.6 million at a millisecond."""

from __future__ import annotations

import math

__all__ = ["LATE_S", "MAX_BUCKETS", "check_bucket_s"]

#: How much newer record time a bucket waits for before ADWIN sees its median.
LATE_S = 3600.0
#: The most buckets a ``bucket_s`` may keep open (about 3 MB): at least ``LATE_S / MAX_BUCKETS`` s each.
MAX_BUCKETS = 360


def check_bucket_s(bucket_s: float) -> float:
    """``bucket_s`` unless it would keep more than :data:`MAX_BUCKETS` buckets open (``ValueError``,
    saying the limit); 0 (every score, no bucket) is taken.

    >>> check_bucket_s(300.0), check_bucket_s(0.0)
    (300.0, 0.0)
    >>> check_bucket_s(1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 1.0: ... would keep 3600 of them (8 KB each) open; allowed: 0 (...) or at least 10 s (...)
    """
    if 0 < bucket_s < LATE_S / MAX_BUCKETS:
        raise ValueError(
            f"{bucket_s}: a bucket stays open for {LATE_S:g} s of newer record time, so buckets of "
            f"{bucket_s:g} s would keep {math.ceil(LATE_S / bucket_s)} of them (8 KB each) open; allowed: 0 "
            f"(every score, no bucket) or at least {LATE_S / MAX_BUCKETS:g} s (at most {MAX_BUCKETS} buckets)"
        )
    return bucket_s
