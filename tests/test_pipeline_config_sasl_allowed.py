"""A ``kafka.security.sasl_mechanism`` that is none of the mechanisms says which are allowed, and lists
only those the service takes: before, the list held OAUTHBEARER, which it then refused ("no setting can
give" its token)."""

from __future__ import annotations

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError

MECHANISM = "DHAG_PIPELINE_KAFKA__SECURITY__SASL_MECHANISM"


@pytest.mark.parametrize("mechanism", ["scram", "SCRAM_SHA_256", "KERBEROS"])
def test_an_unknown_mechanism_is_told_only_the_mechanisms_taken(mechanism: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {MECHANISM: mechanism})
    assert str(refused.value) == (
        f"config error: key 'kafka.security.sasl_mechanism' has value {mechanism!r}; allowed: 'PLAIN', "
        f"'SCRAM-SHA-256', 'SCRAM-SHA-512' or 'GSSAPI' (set by {MECHANISM})"
    )


@pytest.mark.parametrize("mechanism", ["OAUTHBEARER", "oauthbearer"])  # in any case, as the others
def test_oauthbearer_is_still_refused_saying_why(mechanism: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {MECHANISM: mechanism})
    assert "OAUTHBEARER needs a token provider" in str(refused.value)
