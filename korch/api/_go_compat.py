"""What korch reproduces of Go and kube-openapi to speak exactly like kube-apiserver.

kube-apiserver is written in Go, and users see Go in its answers: field errors render bad
values with Go's ``%q``/``%v`` or ``json.Marshal`` (:func:`format_value`), schema ``pattern``
values are Go RE2 expressions (:func:`go_regexp` translates them into Python ``re`` patterns
that match the same strings, and rejects what Go rejects or what has no faithful
translation; the remaining differences are listed in ``_schema``'s docstring), and string
``format`` values are checked by kube-openapi's strfmt (:func:`format_checker`, basic checks;
unknown formats are not checked, as in Kubernetes).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import ipaddress
import json
import math
import re
import urllib.parse
import warnings
from collections.abc import Callable, Mapping
from typing import Any

# -- rendering values as Go does --------------------------------------------------------

_GO_ESCAPES = {ch: "\\" + name for ch, name in zip("\a\b\f\n\r\t\v", "abfnrtv", strict=True)}


def go_quote(text: str) -> str:
    """Quote ``text`` as Go's ``strconv.Quote`` (``%q``) does."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _go_float(value: float, *, json_style: bool = False) -> str:
    # Go's shortest formatting: %v switches to exponent form at 1e-4/1e6 ('g', precision 6
    # for the decision), encoding/json at 1e-6/1e21; both print 10.0 as "10".
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 and not json_style else "0"
    sign = "-" if value < 0 else ""
    parts = decimal.Decimal(repr(abs(value))).as_tuple()
    exponent = int(parts.exponent)
    point = len(parts.digits) + exponent
    digits = "".join(map(str, parts.digits)).rstrip("0") or "0"
    exp = point - 1
    if json_style:
        use_e = abs(value) < 1e-6 or abs(value) >= 1e21
    else:
        use_e = exp < -4 or exp >= 6
    if use_e:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        width = 1 if json_style else 2
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):0{width}d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_json(value: Any) -> str:
    """Render a JSON value as Go's ``json.Marshal`` does (sorted keys, compact)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value, json_style=True)
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        for raw, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            text = text.replace(raw, esc)
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if isinstance(value, Mapping):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{go_json(k)}:{go_json(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    return go_json(str(value))


def format_value(value: Any) -> str:
    """Render a bad value as kube-apiserver's field errors do (Go ``%v``, ``%q`` or JSON)."""
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, float):
        return _go_float(value)
    return go_json(value)  # booleans and integers print the same in %v and JSON


def format_number(value: float) -> str:
    """Render a schema bound (``maximum: 10``) as Go's ``%v`` of the number."""
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e21):
        return str(int(value))
    return _go_float(value)


# -- Go RE2 patterns (OpenAPI ``pattern``) ----------------------------------------------

_POSIX = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z",
    "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}  # fmt: skip
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")


def go_regexp(pattern: str) -> re.Pattern[str]:
    """Compile a Go RE2 ``pattern`` into a Python pattern that matches the same strings.

    See ``_schema``'s module docstring for the differences that remain.

    Raises:
        ValueError: the pattern is invalid in Go, or uses a construct korch cannot translate.
        TypeError: ``pattern`` is not a string.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a string, not {type(pattern).__name__}")
    translated = _translate(pattern)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "possible nested set" and friends mean a bad translation
        try:
            return re.compile(translated, re.ASCII)
        except (re.error, Warning) as exc:
            raise ValueError(f"error parsing regexp: {exc}: `{pattern}`") from exc


def _translate(p: str) -> str:
    out: list[str] = []
    scoped: list[list[str]] = [[]]  # per open group: "(?flags:" groups opened by "(?flags)"
    multiline = [False]
    atom = False  # something repeatable precedes
    i = 0
    while i < len(p):
        c = p[i]
        if c == "\\":
            piece, i = _escape(p, i, in_class=False)
            out.append(piece)
            atom = True
            continue
        if c == "[":
            piece, i = _char_class(p, i)
            out.append(piece)
            atom = True
            continue
        if c in "*+?" or (c == "{" and _REPEAT.match(p, i)):
            match = _REPEAT.match(p, i) if c == "{" else None
            end = match.end() if match else i + 1
            if match and (int(match[1]) > 1000 or (match[3] and int(match[3]) > 1000)):
                raise ValueError(f"invalid repeat count: `{p[i:end]}`")
            if not atom:
                raise ValueError(f"missing argument to repetition operator: `{p[i:end]}`")
            end += 1 if p[end : end + 1] == "?" else 0
            out.append(p[i:end])
            i = end
            if i < len(p) and (p[i] in "*+?" or _REPEAT.match(p, i)):
                raise ValueError(f"invalid nested repetition operator: `{p[i - 1 : i + 1]}`")
            atom = False
            continue
        if p.startswith("(?", i):
            i = _group(p, i, out, scoped, multiline)
            atom = False
            continue
        if c == "(":
            out.append("(")
            scoped.append([])
            multiline.append(multiline[-1])
            atom = False
        elif c == ")":
            if len(scoped) == 1:
                raise ValueError(f"unexpected ): `{p}`")
            out.append(")" * len(scoped.pop()) + ")")
            multiline.pop()
            atom = True
        elif c == "|":
            out.append(")" * len(scoped[-1]) + "|" + "".join(scoped[-1]))
            atom = False
        else:
            # Go's $ is the end of the text unless (?m); Python's also matches before "\n".
            out.append("\\Z" if c == "$" and not multiline[-1] else "\\{" if c == "{" else c)
            atom = c not in "^"
        i += 1
    if len(scoped) > 1:
        raise ValueError(f"missing closing ): `{p}`")
    return "".join(out) + ")" * len(scoped[0])


def _group(p: str, i: int, out: list[str], scoped: list[list[str]], ml: list[bool]) -> int:
    j = i + 2
    if p.startswith(("P<", "<"), j):
        end = p.find(">", j)
        name = p[p.index("<", j) + 1 : end]
        if end < 0 or not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise ValueError(f"invalid named capture: `{p[i : end + 1]}`")
        out.append(f"(?P<{name}>")
        scoped.append([])
        ml.append(ml[-1])
        return end + 1
    k = j
    while k < len(p) and p[k] in "imsU-":
        k += 1
    flags = p[j:k]
    on, _, off = flags.partition("-")
    if (
        k >= len(p)
        or p[k] not in ":)"
        or "-" in off
        or flags.endswith("-")
        or (not flags and p[k] == ")")
    ):
        raise ValueError(f"invalid or unsupported Perl syntax: `{p[i : k + 1]}`")
    if "U" in flags:
        raise ValueError("the ungreedy flag (?U) is not supported")
    state = (ml[-1] or "m" in on) and "m" not in off
    opener = f"(?{flags}:" if flags else "(?:"
    out.append(opener)
    if p[k] == ":":
        scoped.append([])
        ml.append(state)
    else:  # (?flags) lasts to the end of the group: Python needs a scoped group
        scoped[-1].append(opener)
        ml[-1] = state
    return k + 1


def _escape(p: str, i: int, *, in_class: bool) -> tuple[str, int]:
    if i + 1 >= len(p):
        raise ValueError("trailing backslash at end of expression")
    c = p[i + 1]
    if c == "Q":
        end = p.find("\\E", i + 2)
        text = p[i + 2 :] if end < 0 else p[i + 2 : end]
        return re.escape(text), len(p) if end < 0 else end + 2
    if c in "sS":  # Go's \s is [\t\n\f\r ], without Python's \v
        if c == "S" and in_class:
            raise ValueError("\\S inside a character class is not supported")
        spaces = "\\t\\n\\f\\r "
        return (spaces if in_class else f"[{'^' if c == 'S' else ''}{spaces}]"), i + 2
    if c in "dDwWafnrtv" or (c in "AbB" and not in_class) or (c < "\x80" and not c.isalnum()):
        return "\\" + c, i + 2
    if c == "z" and not in_class:
        return "\\Z", i + 2
    if c == "x":
        braced = p.startswith("{", i + 2)
        end = p.find("}", i + 3) + 1 if braced else i + 4
        digits = p[i + 3 : end - 1] if braced else p[i + 2 : end]
        if end > 0 and re.fullmatch("[0-9A-Fa-f]{1,8}" if braced else "[0-9A-Fa-f]{2}", digits):
            return f"\\U{int(digits, 16):08x}", end
    match = re.compile("[0-7]{1,3}").match(p, i + 1)
    if match and (c == "0" or len(match[0]) > 1):
        return f"\\U{int(match[0], 8):08x}", match.end()
    if c in "pP":
        raise ValueError(f"Unicode character classes are not supported: `\\{c}`")
    raise ValueError(f"invalid escape sequence: `\\{c}`")


def _char_class(p: str, i: int) -> tuple[str, int]:
    out = ["[^" if p.startswith("[^", i) else "["]
    j = start = i + len(out[0])
    while j < len(p):
        c = p[j]
        if c == "]" and j > start:
            return "".join(out) + "]", j + 1
        name = p[j + 2 : p.find(":]", j + 2)] if p.startswith("[:", j) and ":]" in p[j:] else ""
        if name in _POSIX:
            out.append(_POSIX[name])
            j += len(name) + 4
        elif name:
            raise ValueError(f"unsupported character class: `[:{name}:]`")
        elif c == "\\":
            piece, j = _escape(p, j, in_class=True)
            out.append(piece)
        else:
            # Escaping keeps Python from reading "[[", "--", "&&", "~~", "||" as set operations.
            escape = c in "[]&~|" or (c == "-" and out[-1].endswith("-"))
            out.append("\\" + c if escape else c)
            j += 1
    raise ValueError(f"missing closing ]: `{p[i:]}`")


# -- OpenAPI string formats (kube-openapi strfmt, basic) ----------------------------


def _matches(pattern: str, flags: int = 0) -> Callable[[str], bool]:
    rx = re.compile(pattern, flags | re.ASCII)
    return lambda s: rx.fullmatch(s) is not None


def _parses(parse: Callable[[str], object]) -> Callable[[str], bool]:
    def valid(s: str) -> bool:
        try:
            parse(s)
        except (ValueError, binascii.Error):
            return False
        return True

    return valid


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?"
    r"(?:[Zz]|[+-][0-9]{2}:?[0-9]{2})?"
)
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?")


def _date(s: str) -> bool:
    return _DATE.fullmatch(s) is not None and _parses(datetime.date.fromisoformat)(s)


def _date_time(s: str) -> bool:
    m = _DATE_TIME.fullmatch(s)
    return (
        m is not None and _date(m[1]) and int(m[2]) < 24 and int(m[3]) < 60 and int(m[4] or 0) < 60
    )


def _hostname(s: str) -> bool:
    return len(s) <= 255 and all(_HOST_LABEL.fullmatch(label) for label in s.split("."))


def _cidr(s: str) -> bool:
    return "/" in s and _parses(lambda v: ipaddress.ip_network(v, strict=False))(s)


def _uri(s: str) -> bool:
    return bool(urllib.parse.urlsplit(s).scheme) or s.startswith("/")


_UUID = "[0-9a-f]{8}-?[0-9a-f]{4}-?%s[0-9a-f]{3}-?%s[0-9a-f]{3}-?[0-9a-f]{12}"
_FORMATS: dict[str, Callable[[str], bool]] = {
    "byte": lambda s: s == "" or _parses(lambda v: base64.b64decode(v, validate=True))(s),
    "date": _date,
    "date-time": _date_time,
    "datetime": _date_time,
    "duration": _matches(r"[-+]?([0-9]+(\.[0-9]+)?\s*(ns|us|µs|ms|s|m|h|d|w)\s*)+"),
    "email": _matches(r"[^@\s]+@[^@\s]+"),
    "hostname": _hostname,
    "ipv4": _parses(ipaddress.IPv4Address),
    "ipv6": _parses(ipaddress.IPv6Address),
    "cidr": _cidr,
    "mac": _matches(r"([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}|([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}"),
    "hexcolor": _matches("#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})"),
    "rgbcolor": _matches(r"rgb\(\s*[0-9]{1,3}\s*,\s*[0-9]{1,3}\s*,\s*[0-9]{1,3}\s*\)"),
    "uri": _uri,
    "uuid": _matches(_UUID % ("[0-9a-f]", "[0-9a-f]"), re.I),
    "uuid3": _matches(_UUID % ("3", "[0-9a-f]"), re.I),
    "uuid4": _matches(_UUID % ("4", "[89ab]"), re.I),
    "uuid5": _matches(_UUID % ("5", "[89ab]"), re.I),
}


def format_checker(name: str) -> Callable[[str], bool] | None:
    """The check of an OpenAPI string ``format`` (``date-time``, ``uuid``…); None if unknown."""
    return _FORMATS.get(name)
