"""``device``: a CUDA device the machine does not have is refused when it is resolved, naming it."""

from __future__ import annotations

import pytest
import torch

from dhag import DHAG
from dhag.exceptions import ParameterError
from dhag.params import resolve_device


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.mark.usefixtures("two_gpus")
def test_a_gpu_beyond_the_machines_is_refused_naming_those_it_has() -> None:
    with pytest.raises(ParameterError, match=r"'device'.*cuda:0 to cuda:1.*Got 'cuda:5'"):
        resolve_device("cuda:5")
    with pytest.raises(ParameterError, match="cuda:0 to cuda:1"):
        DHAG(device="cuda:2").training_config()


@pytest.mark.usefixtures("two_gpus")
def test_the_gpus_the_machine_has_are_taken() -> None:
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_device("cuda") == torch.device("cuda")


def test_one_gpu_is_named_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ParameterError, match=r"a device this machine has \(cuda:0\)"):
        resolve_device("cuda:1")
