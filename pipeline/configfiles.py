"""The files the settings name, looked at before they are opened: the config file (a regular file of at
most :data:`MAX_CONFIG_BYTES`, read so) and the TLS files of ``kafka.security`` (regular files). A named
pipe would make the process wait for a writer that may never come, a device or a huge file would be read
without end; each is refused naming the path, unopened."""

from __future__ import annotations

import os
from pathlib import Path

from dhag.filekind import not_a_file
from pipeline.errors import ConfigError

__all__ = ["MAX_CONFIG_BYTES", "config_bytes"]

# The config.yaml that documents every setting is some 15 KB: a larger file is another one.
MAX_CONFIG_BYTES = 2**20


def config_bytes(path: str | Path) -> bytes:
    """The bytes of the config file at ``path``; raises :class:`ConfigError` naming it when it cannot be
    read, is no regular file (a folder, a named pipe such as a shell's ``<(...)``, a device: each looked
    at unopened) or holds more than :data:`MAX_CONFIG_BYTES`."""
    shown = repr(str(path))
    try:
        kind = not_a_file(os.stat(path).st_mode)
        if kind == "a folder":
            raise ConfigError(
                f"config error: {shown} is a folder, not a settings file: give the YAML file in it"
            )
        if kind is not None:
            raise ConfigError(
                f"config error: {shown} is {kind}, not a file: give the YAML settings file itself (it is "
                "read twice, the second time for the lines its errors name)"
            )
        with open(path, "rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
            if len(data) > MAX_CONFIG_BYTES:
                size = max(os.fstat(file.fileno()).st_size, len(data))
                raise ConfigError(
                    f"config error: {shown} is {size} bytes long, over the {MAX_CONFIG_BYTES} a settings "
                    "file may hold (config.yaml, every setting documented, is some 15 KB): is it the right "
                    "file?"
                )
    except OSError as exc:
        raise ConfigError(f"config error: cannot read {shown}: {exc.strerror or exc}") from exc
    return data
