"""The rank statistics benchmarks/roofline.py reports, against closed forms."""

import math

import pytest

from benchmarks.stats import median_relative_error, ranks, spearman


def test_ranks_average_the_ranks_of_ties():
    # 20 takes ranks 2 and 3 -> 2.5; the three 7s take 1, 2, 3 -> 2
    assert ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4]
    assert ranks([7, 7, 7]) == [2, 2, 2]
    assert ranks([3.0, 1.0, 2.0]) == [3, 1, 2]


def test_spearman_of_a_monotone_relation_is_one_and_of_its_reverse_minus_one():
    xs = [1, 2, 3, 4, 5]
    assert spearman(xs, [x**3 for x in xs]) == pytest.approx(1)
    assert spearman(xs, [-math.exp(x) for x in xs]) == pytest.approx(-1)


def test_spearman_without_ties_is_the_closed_form():
    # 1 - 6 Σd² / (n (n² - 1)); ranks of ys: [2, 1, 4, 3, 5], d = [-1, 1, -1, 1, 0], Σd² = 4
    xs, ys = [1, 2, 3, 4, 5], [20, 10, 40, 30, 50]
    assert spearman(xs, ys) == pytest.approx(1 - 6 * 4 / (5 * (25 - 1)))  # 0.8


def test_spearman_with_ties_is_pearson_of_the_average_ranks():
    # ranks x = [1, 2, 3, 4], ranks y = [1, 2.5, 2.5, 4]; both mean 2.5:
    # deviations [-1.5, -0.5, 0.5, 1.5] and [-1.5, 0, 0, 1.5]
    # covariance 2.25 + 0 + 0 + 2.25 = 4.5; spreads 5 and 4.5 -> 4.5 / sqrt(22.5)
    assert spearman([1, 2, 3, 4], [5, 6, 6, 9]) == pytest.approx(4.5 / math.sqrt(5 * 4.5))


def test_spearman_refuses_what_has_no_ranking():
    with pytest.raises(ValueError, match="same"):
        spearman([1, 2, 3], [4, 4, 4])
    with pytest.raises(ValueError, match="3 values against 2"):
        spearman([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least 2"):
        spearman([1], [1])


def test_median_relative_error():
    # |1.5-1|/1 = 0.5, |1-2|/2 = 0.5, |3-4|/4 = 0.25, |10-1|/1 = 9 -> median (0.5 + 0.5) / 2
    assert median_relative_error([1.5, 1, 3, 10], [1, 2, 4, 1]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="2 estimates against 1"):
        median_relative_error([1, 2], [1])
