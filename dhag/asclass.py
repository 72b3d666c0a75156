"""A loaded model as an instance of a subclass of DHAG: what ``MyDHAG.load(path)`` gives. The artifact
names no class (a class named in a file is what a pickle would run), so the class is the caller's."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from dhag.estimator import DHAG

__all__ = ["as_class"]

Model = TypeVar("Model", bound="DHAG")


def as_class(model: DHAG, cls: type[Model]) -> Model:
    """``model`` (a loaded DHAG) as an instance of ``cls``, a subclass of DHAG, built as scikit-learn's
    ``clone`` builds one, from the settings its ``__init__`` takes, given the model's values; the
    model's other settings and its learned state (``threshold_``, ``net_``, ...) are then taken over, so
    that it scores, and trains again, as the saved model did. What ``__init__`` sets of its own (a
    setting DHAG does not have) is as ``__init__`` sets it.

    >>> from dhag import DHAG
    >>> class Plant(DHAG):
    ...     def __init__(self, site: str = "north", max_epochs: int = 100) -> None:
    ...         super().__init__(max_epochs=max_epochs)
    ...         self.site = site
    >>> made = as_class(DHAG(max_epochs=7, batch_size=64), Plant)
    >>> type(made).__name__, made.site, made.max_epochs, made.batch_size
    ('Plant', 'north', 7, 64)
    """
    taken = inspect.signature(cls).parameters
    every = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in taken.values())
    settings = model.get_params()
    made = cls(**{name: value for name, value in settings.items() if every or name in taken})
    vars(made).update({name: value for name, value in vars(model).items() if name not in taken})
    return made
