"""The TA dataset convention: construction, history, validation options, fit mask."""

import numpy as np
import pytest

from hotcarrier.dataset import check_ta, fit_mask, history, make_ta_dataset, with_history
from hotcarrier.errors import DatasetValidationError


def test_duplicate_delays_only_allowed_on_request():
    ds = make_ta_dataset([0.0, 1.0, 1.0], [500.0, 600.0], np.zeros((3, 2)))
    with pytest.raises(DatasetValidationError, match="1 duplicated delay"):
        check_ta(ds)
    check_ta(ds, allow_duplicate_delays=True)
    # decreasing delays stay an error even then
    bad = make_ta_dataset([0.0, 2.0, 1.0], [500.0, 600.0], np.zeros((3, 2)))
    with pytest.raises(DatasetValidationError, match="not strictly increasing"):
        check_ta(bad, allow_duplicate_delays=True)


def test_every_problem_is_listed():
    ds = make_ta_dataset([0.0, 1.0], [500.0, 500.0], np.full((2, 2), np.nan),
                         signal_units="counts", weight=-np.ones((2, 2)))
    with pytest.raises(DatasetValidationError) as err:
        check_ta(ds)
    assert len(err.value.problems) == 4  # wavelength, units, all-NaN, weight


def test_history_and_fit_mask():
    mask = np.array([[True, False], [False, False]])
    s = np.array([[1.0, np.nan], [2.0, 3.0]])
    ds = make_ta_dataset([0.0, 1.0], [500.0, 600.0], s, mask=mask, attrs={"history": ["a"]})
    ds2 = with_history(ds, "b")
    assert history(ds) == ["a"] and history(ds2) == ["a", "b"]
    assert fit_mask(ds).tolist() == [[False, False], [True, True]]
    assert ds["mask"].dtype == bool
