"""Speaking kube-apiserver's Go: value rendering and RE2 patterns."""

from __future__ import annotations

from typing import Any

import pytest

from korch.api import _go_compat as go

# -- Go rendering -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('a"b\\c\n\x00é', '"a\\"b\\\\c\\n\\x00é"'),
        (True, "true"),
        (10, "10"),
        (1.5, "1.5"),
        (10.0, "10"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5e-7, "-2.5e-07"),
        (None, "null"),
        ({"b": 1.0, "a": [True, None, "<"]}, '{"a":[true,null,"\\u003c"],"b":1}'),
    ],
)
def test_values_render_as_go_does(value: Any, expected: str) -> None:
    assert go.format_value(value) == expected


def test_schema_bounds_render_as_numbers() -> None:
    assert go.format_number(10) == "10"
    assert go.format_number(10.0) == "10"
    assert go.format_number(0.5) == "0.5"


# -- Go regular expressions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("^a$", ["a"], ["a\n", "ba"]),
        ("(?m)^a$", ["b\na\n"], ["ab"]),
        ("a\\z", ["ba"], ["a\n"]),
        ("a(?i)b|c", ["aB", "C"], ["B", "Ab"]),
        ("^[[:alpha:]]+[[:digit:]]$", ["abc1"], ["ab12", "é1"]),
        ("^\\d+$", ["123"], ["١٢٣"]),  # Go's \d is ASCII
        ("^\\s$", [" ", "\t"], ["\v"]),  # Go's \s has no \v
        ("^\\Qa.b\\E$", ["a.b"], ["axb"]),
        ("^\\x{41}\\101$", ["AA"], ["A"]),
        ("^[a-]+$", ["a-a"], ["b"]),
        ("^[][]+$", ["[]"], ["a"]),
        ("^a{2}$", ["aa"], ["a"]),
        ("^a{,2}$", ["a{,2}"], ["aa"]),  # not a repetition in Go
        ("^(?P<x>a)(?<y>b)$", ["ab"], ["a"]),
    ],
)
def test_go_patterns_match_as_in_go(pattern: str, matches: list[str], misses: list[str]) -> None:
    rx = go.go_regexp(pattern)
    assert [s for s in matches if rx.search(s)] == matches
    assert [s for s in misses if rx.search(s)] == []


@pytest.mark.parametrize(
    "pattern",
    [
        "(?=a)",
        "(?<!a)b",
        "(a)\\1",
        "a**",
        "a*+",
        "a{1001}",
        "(?U)a*",
        "\\p{L}",
        "[[:^alpha:]]",
        "[[:nope:]]",
        "a)",
        "(a",
        "[a",
        "\\",
        "*a",
        "\\e",
    ],
)
def test_go_patterns_reject_what_go_or_korch_cannot_do(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        go.go_regexp(pattern)
