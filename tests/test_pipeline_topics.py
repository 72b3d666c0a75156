"""Topic provisioning: what the daemon, the retrainer and ``simulate`` create, and what they say of a topic
that is already there with another partition count."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaAdminClient

from pipeline.broker import ensure_topics
from pipeline.errors import ConfigError


def _partition_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics() if t["name"] in names}
    finally:
        admin.close()


def test_missing_topics_are_created_with_the_partitions_asked_for(tansu) -> None:
    names = [f"made-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    wanted = {names[0]: 3, names[1]: 2}
    assert sorted(
        ensure_topics(tansu.bootstrap_servers, wanted, create_missing=True, replication_factor=1)
    ) == (sorted(names))
    assert _partition_counts(tansu.bootstrap_servers, names) == wanted
    assert ensure_topics(tansu.bootstrap_servers, wanted, create_missing=True, replication_factor=1) == []


def test_a_topic_there_with_another_partition_count_is_kept_and_named_with_both_counts(tansu, caplog) -> None:
    # It was kept without a word: a topic auto-created by the broker before the daemon started (4
    # partitions on Tansu) silently replaced kafka.topics.partitions.
    name = f"other-{uuid.uuid4().hex[:8]}"
    ensure_topics(tansu.bootstrap_servers, {name: 2}, create_missing=True, replication_factor=1)
    caplog.clear()
    with caplog.at_level("WARNING", logger="pipeline.broker"):
        assert (
            ensure_topics(tansu.bootstrap_servers, {name: 3}, create_missing=True, replication_factor=1) == []
        )
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(said) == 1, said
    assert name in said[0] and "has 2 partitions where 3 were asked for" in said[0]
    assert _partition_counts(tansu.bootstrap_servers, [name]) == {name: 2}  # kept as it is
    caplog.clear()
    with caplog.at_level("WARNING", logger="pipeline.broker"):
        ensure_topics(tansu.bootstrap_servers, {name: 2}, create_missing=True, replication_factor=1)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_missing_topics_not_to_be_created_are_named(tansu) -> None:
    name = f"absent-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ConfigError, match=name):
        ensure_topics(tansu.bootstrap_servers, {name: 3}, create_missing=False)
    assert _partition_counts(tansu.bootstrap_servers, [name]) == {}
