"""Quantity parsing, canonical printing, exact arithmetic and IntOrString percentages."""

from __future__ import annotations

import copy
import math
import pickle
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from korch import errors
from korch.api._quantity import Quantity, QuantityFormat, parse_int_or_percent, parse_quantity


@pytest.mark.parametrize(
    ("text", "canonical", "value"),
    [
        ("500m", "500m", Fraction(1, 2)),
        ("1Gi", "1Gi", 2**30),
        ("2", "2", 2),
        ("1e3", "1e3", 1000),
        ("0.5", "500m", Fraction(1, 2)),
        ("1.5Gi", "1536Mi", 3 * 2**29),
        ("100Ki", "100Ki", 102400),
        ("1k", "1k", 1000),
        ("1M", "1M", 10**6),
        ("12e-3", "12e-3", Fraction(12, 1000)),
        ("-1", "-1", -1),
        ("1024Mi", "1Gi", 2**30),
        ("1000m", "1", 1),
        ("1.5", "1500m", Fraction(3, 2)),
        ("1.5k", "1500", 1500),
        ("5e-1", "500e-3", Fraction(1, 2)),
        ("0.5Ki", "512", 512),  # binary below 1024 prints as decimal
        ("1.3Ki", "1331200m", Fraction(13312, 10)),  # fractional binary prints as decimal
        ("1000Ki", "1000Ki", 1024000),
        ("1E", "1E", 10**18),
        ("100n", "100n", Fraction(100, 10**9)),
        ("10u", "10u", Fraction(10, 10**6)),
        ("0", "0", 0),
        ("-0", "0", 0),
        ("00.000", "0", 0),
        ("-1.5Gi", "-1536Mi", -3 * 2**29),
        ("123456789012345678901", "123456789012345678901", 123456789012345678901),
    ],
)
def test_parse_and_canonical_form(text: str, canonical: str, value: Fraction | int) -> None:
    quantity = Quantity(text)
    assert str(quantity) == canonical
    assert quantity.as_fraction() == value


@pytest.mark.parametrize("text", ["+1", "1E3", "1.", "1e+3", "100Ki", "12e-3"])
def test_canonical_looking_input_is_echoed_like_kubernetes(text: str) -> None:
    assert str(Quantity(text)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.1n", "1n"), ("1e-20", "1e-9"), ("0.0000000001", "1n"), ("-0.1n", "-1n")],
)
def test_values_round_up_in_magnitude_to_nanos(text: str, expected: str) -> None:
    assert str(Quantity(text)) == expected


def test_formats_are_remembered() -> None:
    assert Quantity("1Gi").format is QuantityFormat.BINARY_SI
    assert Quantity("1G").format is QuantityFormat.DECIMAL_SI
    assert Quantity("1e9").format is QuantityFormat.DECIMAL_EXPONENT
    assert Quantity(5).format == "DecimalSI"


def test_binary_input_is_capped_at_int64_max() -> None:
    assert Quantity("8Ei").value() == 2**63 - 1
    assert Quantity("-16Ei").value() == -(2**63 - 1)


def test_comparisons_are_by_value() -> None:
    assert Quantity("1Gi") == Quantity("1024Mi")
    assert Quantity("500m") < Quantity("1")
    assert Quantity("1k") == Quantity("1e3") == Quantity("1000")
    assert Quantity("1Ki") > Quantity("1k")
    assert Quantity("1") >= Quantity("1000m")
    assert Quantity("1") <= Quantity("1000m")
    assert hash(Quantity("1Gi")) == hash(Quantity("1024Mi"))
    assert len({Quantity("1"), Quantity("1000m"), Quantity("1e0")}) == 1
    assert Quantity("1") != "1"
    with pytest.raises(TypeError):
        _ = Quantity("1") < 1  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "value", "milli"),
    [
        ("1.5", 2, 1500),
        ("-1.5", -2, -1500),
        ("1n", 1, 1),
        ("0.1m", 1, 1),
        ("-1n", -1, -1),
        ("2Gi", 2 * 2**30, 2 * 2**30 * 1000),
        ("0", 0, 0),
    ],
)
def test_value_and_milli_value_round_away_from_zero(text: str, value: int, milli: int) -> None:
    quantity = Quantity(text)
    assert quantity.value() == value
    assert quantity.milli_value() == milli
    assert quantity.scaled_value(-3) == milli


def test_numeric_views_are_exact() -> None:
    assert Quantity("0.1").as_fraction() == Fraction(1, 10)
    assert float(Quantity("250m")) == 0.25
    assert Quantity("7n").scaled_value(-9) == 7
    assert not Quantity("0")
    assert Quantity("1n")
    assert Quantity("0").is_zero()


def test_constructor_accepts_numbers() -> None:
    assert Quantity(0.1) == Quantity("100m")
    assert Quantity(3) == Quantity("3")
    assert Quantity(Fraction(1, 3)).as_fraction() == Fraction(333333334, 10**9)
    assert str(Quantity(2**30, format="BinarySI")) == "1Gi"
    assert str(Quantity("1024", format=QuantityFormat.BINARY_SI)) == "1Ki"
    assert Quantity(Quantity("1Gi")) is Quantity("1Gi")
    assert Quantity() == Quantity("0")


@pytest.mark.parametrize("bad", [math.nan, math.inf, True, None, [1], b"1"])
def test_constructor_rejects_non_quantities(bad: object) -> None:
    with pytest.raises(errors.BadRequest):
        Quantity(bad)  # type: ignore[arg-type]


def test_arithmetic_is_exact_and_keeps_formats() -> None:
    assert Quantity("0.1") + Quantity("0.2") == Quantity("300m")
    assert str(Quantity("1Gi") - Quantity("512Mi")) == "512Mi"
    assert str(Quantity("0") + Quantity("1Ki")) == "1Ki"  # zero adopts the other's format
    assert str(Quantity("1k") + Quantity("1Ki")) == "2024"
    assert str(Quantity("100m") * 3) == "300m"
    assert str(3 * Quantity("1Gi")) == "3Gi"
    assert str(-Quantity("1Gi")) == "-1Gi"
    assert abs(Quantity("-2")) == Quantity("2")
    assert sum([Quantity("100m"), Quantity("200m"), Quantity("1")]) == Quantity("1300m")
    with pytest.raises(TypeError):
        _ = Quantity("1") * 1.5  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "quantities must match the regular expression"),
        ("abc", "quantities must match the regular expression"),
        (" 1", "quantities must match the regular expression"),
        ("1.2.3", "quantities must match the regular expression"),
        ("1K", "unable to parse quantity's suffix"),
        ("1e", "unable to parse quantity's suffix"),
        ("1iG", "unable to parse quantity's suffix"),
        ("--1", "unable to parse quantity's suffix"),
    ],
)
def test_invalid_strings_name_the_text(text: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        parse_quantity(text)
    assert message in str(caught.value)
    assert repr(text) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_absurd_sizes_are_rejected_cheaply() -> None:
    with pytest.raises(errors.BadRequest):
        Quantity("1e5000")
    with pytest.raises(errors.BadRequest):
        Quantity("1" * 2000)
    assert Quantity("1e-999999999999") == Quantity("1n")
    assert Quantity("0e999999999999") == Quantity("0")


def test_quantities_are_immutable_values() -> None:
    quantity = Quantity("1Gi")
    with pytest.raises(AttributeError):
        setattr(quantity, "_nanos", 1)  # noqa: B010 - bypasses the type checker on purpose
    assert copy.deepcopy(quantity) is quantity
    restored = pickle.loads(pickle.dumps(Quantity(2048, format="BinarySI")))
    assert str(restored) == "2Ki"
    assert restored.format is QuantityFormat.BINARY_SI
    assert repr(Quantity("0.5")) == "Quantity('500m')"
    assert Quantity("250m") is Quantity("250m")  # parsed strings are cached


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        (5, 10, True, 5),
        ("100%", 7, False, 7),
        ("0%", 7, True, 0),
        ("+50%", 3, True, 2),
    ],
)
def test_parse_int_or_percent(value: int | str, total: int, round_up: bool, expected: int) -> None:
    assert parse_int_or_percent(value, total, round_up=round_up) == expected


@pytest.mark.parametrize("bad", ["25", "x%", "2.5%", "%", " 5%", True, None])
def test_parse_int_or_percent_rejects_bad_values(bad: object) -> None:
    with pytest.raises(errors.BadRequest):
        parse_int_or_percent(bad, 10, round_up=True)  # type: ignore[arg-type]


# -- properties -------------------------------------------------------------------------------

_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40}


@st.composite
def quantity_texts(draw: st.DrawFn) -> tuple[str, Fraction]:
    """A quantity string and its exact value, computed independently of the parser."""
    sign = draw(st.sampled_from(["", "-", "+"]))
    whole = draw(st.integers(0, 10**7))
    fraction = draw(st.one_of(st.none(), st.text("0123456789", max_size=6)))
    kind = draw(st.sampled_from(["decimal", "binary", "exponent"]))
    if kind == "decimal":
        suffix = draw(st.sampled_from(sorted(_DECIMAL)))
        multiplier = Fraction(10) ** _DECIMAL[suffix]
    elif kind == "binary":
        suffix = draw(st.sampled_from(sorted(_BINARY)))
        multiplier = Fraction(2 ** _BINARY[suffix])
    else:
        exponent = draw(st.integers(-15, 15))
        suffix = draw(st.sampled_from(["e", "E"])) + str(exponent)
        multiplier = Fraction(10) ** exponent
    number = str(whole) + ("" if fraction is None else "." + fraction)
    value = Fraction(int(str(whole) + (fraction or "")), 10 ** len(fraction or "")) * multiplier
    nanos = math.ceil(value * 10**9)
    if kind == "binary":
        nanos = min(nanos, (2**63 - 1) * 10**9)  # Kubernetes caps binary input at int64
    exact = Fraction(-nanos if sign == "-" else nanos, 10**9)
    return sign + number + suffix, exact


@given(quantity_texts())
def test_parsing_matches_an_independent_exact_evaluation(sample: tuple[str, Fraction]) -> None:
    text, expected = sample
    assert Quantity(text).as_fraction() == expected


@given(quantity_texts())
def test_string_form_round_trips(sample: tuple[str, Fraction]) -> None:
    quantity = Quantity(sample[0])
    again = Quantity(str(quantity))
    assert again == quantity
    assert str(again) == str(quantity)


@given(quantity_texts(), quantity_texts())
def test_ordering_is_consistent_with_fractions(
    a: tuple[str, Fraction], b: tuple[str, Fraction]
) -> None:
    qa, qb = Quantity(a[0]), Quantity(b[0])
    fa, fb = qa.as_fraction(), qb.as_fraction()
    assert (qa < qb) == (fa < fb)
    assert (qa == qb) == (fa == fb)
    assert (qa >= qb) == (fa >= fb)


@given(quantity_texts(), quantity_texts(), quantity_texts())
def test_addition_is_associative_and_commutative(
    a: tuple[str, Fraction], b: tuple[str, Fraction], c: tuple[str, Fraction]
) -> None:
    qa, qb, qc = Quantity(a[0]), Quantity(b[0]), Quantity(c[0])
    assert qa + qb == qb + qa
    assert (qa + qb) + qc == qa + (qb + qc)
    assert (qa + qb - qb) == qa
    assert (qa + qb).as_fraction() == qa.as_fraction() + qb.as_fraction()
