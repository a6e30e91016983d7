"""Wilson 95% interval against known values."""

import pytest

from degaml.stats import wilson_interval


def test_wilson_known_values():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_wilson_empty_sample_is_uninformative():
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("n", [1, 40, 100, 300, 2050])
def test_wilson_bounds_are_exact_at_zero_and_all_correct(n):
    # the closed form is ±1 ulp off at the ends (0/100 gave 3.5e-18 > 0, which made a plot's whisker negative)
    assert wilson_interval(0, n)[0] == 0.0
    assert wilson_interval(n, n)[1] == 1.0
