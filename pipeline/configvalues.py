"""Checks of single settings that a type and a bound cannot say, used by :mod:`pipeline.config`: Kafka
topic names, broker addresses, the metrics host, names that must not be blank, the asset id pattern.
Each returns the value it was given, or raises ``ValueError`` saying what is accepted. Also the base
of every settings section (:class:`Section`: strict, frozen, no unknown key, no infinity) and
:data:`FilePath`."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Annotated, Any, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from pipeline.operatorname import unnamed_character

__all__ = [
    "EMBEDDED",
    "Device",
    "FilePath",
    "GroupId",
    "MAX_TOPIC_NAME",
    "Name",
    "RETRAINER_CLIENT",
    "Section",
    "any_case",
    "check_addresses",
    "check_asset_pattern",
    "check_device",
    "check_host",
    "check_kafka_text",
    "check_not_blank",
    "check_one_text",
    "check_path",
    "check_sasl_mechanism",
    "check_servers",
    "check_topic_name",
    "shown",
]

EMBEDDED = "embedded"  # kafka.bootstrap_servers: start a broker of our own
_ADDRESSES = "comma-separated host:port addresses"
MAX_TOPIC_NAME = 249  # characters: Kafka refuses to create a topic with a longer name
# A URL's scheme written before a host (http://, SSL://): neither a listener nor a client takes one.
_URL_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_+.-]*://")

# Kafka's requests carry a client id and a group id as text of at most this many bytes (UTF-8).
_MAX_KAFKA_TEXT = 2**15 - 1
RETRAINER_CLIENT = "-retrainer"  # the retrainer's client id: kafka.client_id and this


# Characters of a value an error shows: a longer one (a certificate pasted, a whole file) is cut.
_SHOWN = 100


def shown(value: object) -> str:
    """``value`` as an error shows it: its ``repr``, cut after :data:`_SHOWN` characters of text (or
    of the ``repr``) with its length said, so a line naming a key stays one line.

    >>> shown("kafka-1:9092")
    "'kafka-1:9092'"
    >>> shown("x" * 500)  # doctest: +ELLIPSIS
    "'xxxxxxxxxx...xxxxxxxxxx'... (500 characters)"
    """
    if isinstance(value, str):
        return repr(value) if len(value) <= _SHOWN else f"{value[:_SHOWN]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} characters)"


def _plain(text: str) -> str:
    """``text`` unquoted, cut as :func:`shown` cuts it."""
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} characters)"


class Section(BaseModel):
    """A section of the settings: frozen, strict (no text read as a number), no unknown key."""

    # allow_inf_nan: an infinite duration or ratio would pass every bound and break a timer or a cap.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


def check_topic_name(name: str) -> str:
    """``name`` if Kafka takes it as a topic name, else ``ValueError``."""
    if not re.fullmatch(rf"[A-Za-z0-9._-]{{1,{MAX_TOPIC_NAME}}}", name) or name in (".", ".."):
        raise ValueError(
            f"{shown(name)} is not a Kafka topic name: 1 to {MAX_TOPIC_NAME} of A-Z a-z 0-9 . _ -, "
            "not . or .."
        )
    return name


def check_device(device: str) -> str:
    """``device`` if torch names a device so that the detector takes it, else ``ValueError``."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise ValueError(f"{shown(device)} is no device: auto, cpu, cuda or cuda:N (N: the GPU's index)")
    return device


_WHITE = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a line break"}


def check_not_blank(name: str) -> str:
    """``name`` unless blank or padded with white space (``ValueError`` saying which)."""
    if not name.strip():
        raise ValueError(f"{shown(name)} must not be blank: give a name")
    if name != name.strip():
        end, char = ("starts", name[0]) if name[0] != name.lstrip()[0] else ("ends", name[-1])
        what = _WHITE.get(char, "white space")
        why = " (a value read from a file ends with one)" if what == "a line break" and end == "ends" else ""
        raise ValueError(f"{shown(name)} {end} with {what}{why}: write it without")
    return name


def check_kafka_text(*, less: str = "") -> Callable[[str], str]:
    """A check of a client or consumer group id: that it holds no control, line-breaking or invisible
    character (``ValueError`` naming the first and its place), and fits in Kafka's requests, ``less``
    appended to it (``ValueError`` saying how long it is, never the text): kafka-python cannot write a
    request with longer, and reports each one failed as a broker out of reach.

    >>> check_kafka_text(less=RETRAINER_CLIENT)("c" * 40_000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 40000 bytes long (UTF-8); Kafka's requests carry at most 32757 (32767, less...
    >>> check_kafka_text()("scorers\\u200b")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'scorers\\u200b' holds '\\u200b' (an invisible character) at character 8, which...
    """
    most = _MAX_KAFKA_TEXT - len(less.encode())
    beside = f" (32767, less the {less!r} the retrainer's client id adds)" if less else ""

    def check(text: str) -> str:
        if (held := unnamed_character(text)) is not None:
            # An invisible one makes a group that reads as another in Kafka's tools, with its own
            # offsets (the whole input topic read again); a control one garbles their lines and the logs.
            raise ValueError(
                f"{shown(text)} holds {held}, which Kafka's tools and the logs show garbled or not at "
                "all (the name would read as another): write it without"
            )
        if (size := len(text.encode())) > most:
            raise ValueError(f"{size} bytes long (UTF-8); Kafka's requests carry at most {most}{beside}")
        return text

    return check


def check_host(host: str) -> str:
    """``host`` if a host name or an IP address a server can listen on (``metrics.host``), else
    ``ValueError`` saying why: the resolver refuses a name with two dots together or a part over 63
    characters (Python's with a UnicodeError, not the OSError of a name it cannot find).

    >>> check_host("0.0.0.0"), check_host("fe80::1%eth0")
    ('0.0.0.0', 'fe80::1%eth0')
    >>> check_host("localhost:9108")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'localhost:9108' holds a port: the port is metrics.port: write 'localhost'; allowed: ...
    """
    if prefix := _URL_PREFIX.match(host):
        problem = f"drop {prefix[0]!r}: it is a host name or an address, not a URL"
    elif bracketed := re.fullmatch(r"\[(.*)\]", host):
        problem = f"an IPv6 address goes without brackets here: write {bracketed[1]!r}"
    elif _is_ip_address(host):
        return host
    elif (with_port := re.fullmatch(r"([^:]+):\d*", host)) and not _host_name_problem(with_port[1]):
        problem = f"holds a port: the port is metrics.port: write {with_port[1]!r}"
    else:
        problem = _host_name_problem(host)
    if problem is None:
        return host
    raise ValueError(
        f"{shown(host)} {problem}; allowed: a host name or an IP address (0.0.0.0: every address)"
    )


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)  # an IPv6 zone (%eth0) included
    except ValueError:
        return False
    return True


def _host_name_problem(host: str) -> str | None:
    """Why ``host`` is no host name a resolver takes, or None."""
    if not re.fullmatch(r"[\w.-]+", host):
        return "is no host name or IP address"
    parts = host.removesuffix(".").split(".")
    if not all(parts):
        return "has an empty part between two dots (or a dot first): no resolver takes it"
    if any(len(part) > 63 or not _encodes(part) for part in parts):
        return "has a part longer than 63 characters between its dots: no resolver takes it"
    if len(host) > 253:
        return "is longer than 253 characters: no resolver takes it"
    return None


def _encodes(part: str) -> bool:
    """Whether the resolver's encoding takes ``part`` (a name in other letters than ASCII's grows)."""
    try:
        part.encode("idna")
    except UnicodeError:
        return False
    return True


def check_asset_pattern(pattern: str) -> str:
    """``pattern`` if it compiles and can match an asset id (an id must match it whole), else
    ``ValueError``; also for a line break in it (not the ``\\n`` escape; one of a verbose pattern is
    taken), as a value read from a file ends with: only an id holding one would match."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{shown(pattern)} is not a valid regular expression: {exc}") from None
    if ("\n" in pattern or "\r" in pattern) and not compiled.flags & re.VERBOSE:
        raise ValueError(
            f"{shown(pattern)} holds a line break (a value read from a file ends with one), and an asset id "
            "must match the pattern whole: only ids holding one would, every other record would go to the "
            "dead-letter topic; write the pattern without it (\\n in it matches a line break)"
        )
    if not pattern:
        raise ValueError(
            "'' matches no asset id (an id must match the pattern whole, and an empty one matches only an "
            "empty id): write '.+' to take any"
        )
    return pattern


# Bytes of one file or folder name at most (NAME_MAX of Linux's file systems): a longer part makes every
# look at the path fail with "File name too long", a traceback where nothing expects it.
_MAX_NAME = 255


def check_path(path: str) -> str:
    """``path`` unless empty (it would name the working directory, not a file), holding a NUL character
    or a part longer than a file name can be (``ValueError``): no file system holds such a path.

    >>> check_path("models/" + "r" * 300)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'models/rrrrrrrrrrrr...rrrrrr'... (307 characters): a part of it is 300 bytes long; no file...
    """
    if not path:
        raise ValueError("'' is no path: give one, or null to leave it unset")
    if "\0" in path:  # shown as \x00
        raise ValueError(f"{shown(path)} holds a NUL character, which no path can hold")
    if (longest := max(len(part.encode()) for part in path.split("/"))) > _MAX_NAME:
        most = f"no file or folder name is longer than {_MAX_NAME}"
        raise ValueError(f"{shown(path)}: a part of it is {longest} bytes long; {most}")
    return path


def any_case(choices: Any) -> BeforeValidator:
    """The names of ``choices`` (a ``Literal``) taken in any case, as Kafka's own clients take them, each
    as ``choices`` spells it (``sasl_ssl`` is ``SASL_SSL``, ``Earliest`` is ``earliest``); any other value
    as given, for the error to quote as written.

    >>> from typing import Literal
    >>> canonical = any_case(Literal["PLAINTEXT", "SASL_SSL"]).func
    >>> canonical("sasl_ssl"), canonical("Sasl_Ssl"), canonical("TLS"), canonical(3)
    ('SASL_SSL', 'SASL_SSL', 'TLS', 3)
    """
    spelled = {name.casefold(): name for name in get_args(choices)}

    def canonical(value: object) -> object:
        return spelled.get(value.casefold(), value) if isinstance(value, str) else value

    return BeforeValidator(canonical)


def check_sasl_mechanism(mechanism: object) -> object:
    """``mechanism`` (any value, checked before its type) unless OAUTHBEARER in any case
    (``ValueError``): kafka-python takes its token only from a Python object, which no setting can give."""
    if isinstance(mechanism, str) and mechanism.upper() == "OAUTHBEARER":
        raise ValueError(
            "OAUTHBEARER needs a token provider, which kafka-python takes only as a Python object and no "
            "setting can give: use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or GSSAPI"
        )
    return mechanism


FilePath = Annotated[str, AfterValidator(check_path)]
Device = Annotated[str, AfterValidator(check_device)]
Name = Annotated[str, AfterValidator(check_not_blank)]
GroupId = Annotated[Name, AfterValidator(check_kafka_text())]


def check_servers(servers: str) -> str:
    """``servers`` if ``embedded`` or comma-separated ``host:port`` addresses (``[IPv6]:port``, a zone
    after ``%``), ports 1-65535, spaces around the commas dropped; else ``ValueError`` saying of each
    address refused why.

    >>> check_servers("kafka-1:9092, [fe80::1%eth0]:9092")
    'kafka-1:9092,[fe80::1%eth0]:9092'
    >>> check_servers("SSL://kafka-1:9093")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'SSL://kafka-1:9093': drop 'SSL://', ... kafka.security.security_protocol...
    """
    if servers == EMBEDDED:
        return servers
    # Else taken for an address without a port: "write Embedded:9092", a broker no one runs.
    if servers.strip().lower() == EMBEDDED:
        raise ValueError(
            f"{shown(servers)}: write {EMBEDDED}, in lower case and alone, for a broker of its own"
        )
    if EMBEDDED in (address.strip().lower() for address in servers.split(",")):
        raise ValueError(
            f"{shown(servers)}: {EMBEDDED!r} goes alone, for a broker of its own, never among the "
            "addresses of a cluster"
        )
    return _addresses(servers, f"{EMBEDDED!r} or {_ADDRESSES}")


def check_addresses(servers: str) -> str:
    """``servers`` as :func:`check_servers` takes them, but only addresses: an address given for a
    broker to reach (a console's ``--bootstrap``), which no embedded broker of another process is.

    >>> check_addresses("kafka-1:9092,")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'kafka-1:9092,': an empty address (a comma too many); allowed: comma-separated host:port...
    """
    return _addresses(servers, _ADDRESSES)


def _addresses(servers: str, allowed: str) -> str:
    if not servers.strip():
        raise ValueError(f"{shown(servers)} names no broker; allowed: {allowed}")
    addresses = [address.strip() for address in servers.split(",")]
    problems = list(dict.fromkeys(p for address in addresses if (p := _address_problem(address))))
    if problems:
        whole = "" if len(addresses) == 1 else f"{shown(servers)}: "
        raise ValueError(f"{whole}{'; '.join(problems)}; allowed: {allowed}")
    return ",".join(addresses)


def check_one_text(value: object) -> object:
    """``value`` unless a YAML list (``ValueError``): broker addresses are one text, joined by commas."""
    if isinstance(value, list):
        joined = ",".join(str(item) for item in value)
        raise ValueError(
            f"a YAML list, where the setting is one text, the addresses joined by commas: {shown(joined)} "
            "(quoted if it starts with '[', as an IPv6 address does)"
        )
    return value


def _address_problem(address: str) -> str | None:
    """Why Kafka's client cannot take ``address`` as one broker's ``host:port``, or None."""
    if not address:
        return "an empty address (a comma too many)"
    if prefix := _URL_PREFIX.match(address):
        # kafka-python drops it: an SSL:// written here would not turn TLS on.
        return (
            f"{shown(address)}: drop {prefix[0]!r}, the client ignores it; the protocol is "
            "kafka.security.security_protocol"
        )
    bracketed = re.fullmatch(r"\[([^\]]*)\](?::(.*))?", address)
    if bracketed:
        host, port = bracketed[1], bracketed[2]
        try:
            ipaddress.IPv6Address(host)  # a zone (%eth0) included
        except ValueError:
            return f"{shown(address)}: {shown(host)} is no IPv6 address"
    elif address.count(":") > 1:
        host, _, port = address.rpartition(":")
        return f"{shown(address)}: an IPv6 address goes in brackets, {_plain(f'[{host}]:{port or 9092}')}"
    elif re.fullmatch(r"[A-Za-z0-9._-]+(:.*)?", address):
        host, _, port = address.partition(":")
        port = port if ":" in address else None
    else:
        return f"{shown(address)} is not host:port"
    if not port:
        usual = _plain(address.rstrip(":") + ":9092")
        return f"{shown(address)} has no port: write {usual} for Kafka's usual port"
    if not re.fullmatch(r"\d{1,5}", port) or not 0 < int(port) < 65536:
        return f"{shown(address)}: port {_plain(port)} is not 1 to 65535"
    if not bracketed and (problem := _host_name_problem(host)):  # kafka-python would retry it for good
        return f"{shown(address)}: {shown(host)} {problem}"
    return None
