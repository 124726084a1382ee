import pytest

from attnbook.tables import format_table


def test_columns_are_right_aligned_under_a_rule():
    text = format_table(["key", "w"], [["k1", "0.0420"], ["k10", "0.9"]])
    assert text.splitlines() == [
        "key       w",
        "---  ------",
        " k1  0.0420",
        "k10     0.9",
    ]


def test_ragged_row_is_an_error_naming_the_row():
    with pytest.raises(ValueError, match="row 1 has 1 values but there are 2 headers"):
        format_table(["a", "b"], [["1", "2"], ["3"]])
