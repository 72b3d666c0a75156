"""deploy/constraints.txt: the runtime dependencies' versions that `make test` tests and the image ships.

The lock must name every distribution the project's runtime dependencies pull in (none left to resolve
on the day an image is built), only those, each within pyproject.toml's ranges, and the environment
running these tests must hold exactly those versions, or the tests would vouch for other code than the
image runs.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "deploy" / "constraints.txt"


def _lock() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for number, line in enumerate(LOCK.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        assert match, f"{LOCK.name}:{number}: {line!r} is not name==version"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"{LOCK.name}:{number}: {name} pinned twice"
        pins[name] = Version(match.group(2))
    return pins


def _runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


def _closure() -> set[str]:
    """The distributions the runtime dependencies pull in here, as pip would install them (no extras)."""
    seen: set[str] = set()
    todo = [r for r in _runtime_requirements() if r.marker is None or r.marker.evaluate()]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(requirement.name) or []:
            child = Requirement(text)
            if child.marker is None or child.marker.evaluate({"extra": ""}):
                todo.append(child)
    return seen


def test_lock_pins_exactly_what_the_runtime_dependencies_pull_in() -> None:
    pins, closure = _lock(), _closure()
    assert sorted(closure - pins.keys()) == [], "pulled in but not locked: `make lock`"
    assert sorted(pins.keys() - closure) == [], "locked but pulled in by nothing: `make lock`"


def test_locked_versions_lie_within_pyproject_ranges() -> None:
    pins = _lock()
    for requirement in _runtime_requirements():
        version = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)


def test_the_environment_testing_the_code_holds_the_locked_versions() -> None:
    for name, version in _lock().items():
        installed = Version(metadata.version(name))
        # torch's build label (+cpu, +cu128) names the index it came from, not another version.
        assert Version(installed.public) == version, f"{name}: {installed} installed, {version} locked"


def test_make_the_image_and_the_torch_pin_use_the_lock() -> None:
    makefile = (REPO / "Makefile").read_text()
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^LOCK := deploy/constraints\.txt$", makefile, re.MULTILINE)
    install = re.search(r"^\$\(VENV\)/\.installed: (.*)\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert "$(LOCK)" in install.group(1).split()  # a new lock reinstalls
    pip_lines = [line for line in install.group(2).splitlines() if "pip install" in line]
    assert pip_lines and all("-c $(LOCK)" in line for line in pip_lines), pip_lines
    assert "COPY deploy/constraints.txt ./deploy/constraints.txt" in dockerfile
    assert re.search(r"^RUN pip install -c deploy/constraints\.txt \. ", dockerfile, re.MULTILINE)
    torch = _lock()[canonicalize_name("torch")]
    assert re.search(rf"^TORCH \?= torch=={re.escape(str(torch))}$", makefile, re.MULTILINE)
    assert f"ARG TORCH_VERSION={torch}" in dockerfile
