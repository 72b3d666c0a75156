"""Settings as callers pass them: column lists given as one name, numpy numbers from a search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dhag import ParameterError, Preprocessor


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"flow": rng.normal(size=100), "site": rng.choice(["north", "south"], 100)})


@pytest.mark.parametrize("name", ["categorical", "passthrough", "feature_names"])
def test_a_column_list_given_as_one_name_is_refused_naming_the_list_it_meant(quick_model, name: str) -> None:
    # categorical="site" was read letter by letter: "The 'categorical' features 's', 'i', 't', 'e' are
    # not among the input features", and passthrough="b" passed through the column b by chance.
    with pytest.raises(
        ParameterError, match=rf"'{name}' parameter of DHAG must be a list of column names.*\['site'\]"
    ):
        quick_model(**{name: "site"}).fit(_frame())
    with pytest.raises(ParameterError, match=r"'passthrough' must be a list of column names.*\['flow'\]"):
        Preprocessor(passthrough="flow")
