"""Label selectors, with Kubernetes' syntax, validation and matching.

Label selectors (``app=web,tier in (a,b),!canary``) follow ``k8s.io/apimachinery/pkg/labels``:

* **Syntax.** Requirements are separated by commas; operators are ``=``, ``==``, ``!=``,
  ``in (…)``, ``notin (…)``, ``key`` (exists), ``!key`` (does not exist) and the integer
  comparisons ``key>1``/``key<1``. Whitespace around tokens is ignored. ``a=`` means
  "a is the empty string"; ``a in ()`` means ``a in ("")``; ``in``/``notin`` may be used as
  keys and values. Keys must be qualified names (optional DNS-subdomain prefix and ``/``,
  name part of at most 63 characters) and values valid label values; errors raise
  :class:`korch.errors.BadRequest` naming the offending token.
* **Meaning.** Requirements are ANDed. ``=``/``in`` need the label present with a listed
  value; ``!=``/``notin`` also match when the label is absent; ``>``/``<`` need the label to
  parse as a 64-bit integer. An empty selector (``""``) matches everything; the *nothing*
  selector (from a ``None`` LabelSelector) matches nothing. ``str()`` is canonical:
  requirements sorted by key, set values sorted, ``==`` kept, ``in``/``notin`` spelled
  ``key in (a,b)``; ``parse_selector(str(s)) == s`` for every parsed selector.
* **Speed.** Selectors are immutable; each requirement is compiled once into a small
  opcode tuple (single-value ``in``/``notin`` become ``=``/``!=``), and parsed text is
  cached, so matching is a tight loop of dict look-ups.

Field selectors live in :mod:`korch.api._field_selector`.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

import attrs

from korch import errors
from korch.api import _validation

__all__ = (
    "LabelSelectorRequirementLike",
    "Operator",
    "Requirement",
    "Selector",
    "label_key_errors",
    "label_selector_as_selector",
    "label_value_errors",
    "make_requirement",
    "parse_selector",
    "selector_from_label_selector",
    "selector_from_set",
)

# -- label key / value validation -------------------------------------------------------


# Selectors repeat the same few keys and values, so validation results are cached. The rules
# and messages are the generic validators' (korch.api._validation), shared with metadata
# and object validation.
@functools.lru_cache(maxsize=4096)
def label_key_errors(key: str) -> tuple[str, ...]:
    """Problems with ``key`` as a label key (a qualified name); empty when valid."""
    return tuple(_validation.is_qualified_name(key))


@functools.lru_cache(maxsize=4096)
def label_value_errors(value: str) -> tuple[str, ...]:
    """Problems with ``value`` as a label value (empty, or ≤63 name characters)."""
    return tuple(_validation.is_label_value(value))


# -- requirements ---------------------------------------------------------------------------


class Operator(enum.StrEnum):
    """Label selector operators, spelled as Kubernetes' ``selection.Operator``."""

    DOES_NOT_EXIST = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    IN = "in"
    NOT_EQUALS = "!="
    NOT_IN = "notin"
    EXISTS = "exists"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_OPERATORS: Final[dict[str, Operator]] = {op.value: op for op in Operator}
_INT64_RE: Final = re.compile(r"[+-]?[0-9]+")


def _parse_int64(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 10, 64)``, or None when it would fail."""
    if not _INT64_RE.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


# Opcodes of compiled requirements; single-value in/notin compile to EQ/NE.
_EQ, _NE, _IN, _NOTIN, _EXISTS, _ABSENT, _GT, _LT = range(8)
_OPCODES: Final = {
    Operator.EQUALS: _EQ, Operator.DOUBLE_EQUALS: _EQ, Operator.IN: _IN,
    Operator.NOT_EQUALS: _NE, Operator.NOT_IN: _NOTIN, Operator.EXISTS: _EXISTS,
    Operator.DOES_NOT_EXIST: _ABSENT, Operator.GREATER_THAN: _GT, Operator.LESS_THAN: _LT,
}  # fmt: skip
_Compiled = tuple[int, str, Any]


@attrs.frozen
class Requirement:
    """One validated label requirement (``key operator values``); build it with
    :func:`make_requirement`. ``values`` are kept sorted."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement."""
        return _match_one(self._compile(), labels)

    def _compile(self) -> _Compiled:
        code = _OPCODES[self.operator]
        if code in (_IN, _NOTIN) and len(self.values) == 1:
            return (_EQ if code == _IN else _NE), self.key, self.values[0]
        if code in (_IN, _NOTIN):
            return code, self.key, frozenset(self.values)
        if code in (_GT, _LT):
            return code, self.key, _parse_int64(self.values[0] if self.values else "")
        return code, self.key, self.values[0] if self.values else None

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(self.values)
        if op is Operator.IN or op is Operator.NOT_IN:
            return f"{self.key} {op.value} ({values})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{values}"


def _quote(value: object) -> str:
    """Go's %q spelling of a string, or of a list of strings."""
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_quote(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def make_requirement(key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
    """Build a validated :class:`Requirement` (Kubernetes ``labels.NewRequirement``).

    ``in``/``notin`` need at least one value; ``=``, ``==``, ``!=`` exactly one; ``exists``
    and ``!`` none; ``gt``/``lt`` exactly one 64-bit integer. Keys and values are checked
    with :func:`label_key_errors` and :func:`label_value_errors`.

    Raises:
        korch.errors.BadRequest: naming every problem found.
    """
    op = _OPERATORS.get(operator) if isinstance(operator, str) else None
    if op is None:
        supported = ", ".join(_quote(o.value) for o in Operator)
        raise errors.BadRequest(
            f"operator: Unsupported value: {_quote(operator)}: supported values: {supported}"
        )
    if isinstance(values, (str, bytes)):
        raise errors.BadRequest(f"values: Invalid value: {values!r}: must be a list of strings")
    given = list(values)
    for value in given:
        if not isinstance(value, str):
            raise errors.BadRequest(f"values: Invalid value: {given!r}: must be a list of strings")
    vals = tuple(sorted(given))
    if not isinstance(key, str):
        raise errors.BadRequest(f"key: Invalid value: {key!r}: must be a string")
    problems = [f"key: Invalid value: {_quote(key)}: {p}" for p in label_key_errors(key)]
    # Integer opcodes, not enum members: enum attribute look-ups are slow on this hot path.
    code, count_rule = _OPCODES[op], None
    if code in (_IN, _NOTIN) and not vals:
        count_rule = "for 'in', 'notin' operators, values set can't be empty"
    elif code in (_EQ, _NE) and len(vals) != 1:
        count_rule = "exact-match compatibility requires one single value"
    elif code in (_EXISTS, _ABSENT) and vals:
        count_rule = "values set must be empty for exists and does not exist"
    elif code in (_GT, _LT) and len(vals) != 1:
        count_rule = "for 'Gt', 'Lt' operators, exactly one value is required"
    if count_rule:
        problems.append(f"values: Invalid value: {_quote(vals)}: {count_rule}")
    for i, value in enumerate(vals):
        if code in (_GT, _LT) and _parse_int64(value) is None:
            problems.append(
                f"values[{i}]: Invalid value: {_quote(value)}: for 'Gt', 'Lt' operators, "
                "the value must be an integer"
            )
        bad_value = label_value_errors(value)
        if bad_value:
            quoted = _quote(value)
            problems.extend(f"values[{i}][{key}]: Invalid value: {quoted}: {p}" for p in bad_value)
    if problems:
        raise errors.BadRequest("; ".join(problems))
    return Requirement(key, op, vals)


def _match_one(compiled: _Compiled, labels: Mapping[str, str]) -> bool:
    code, key, arg = compiled
    value = labels.get(key)
    if code == _EQ:
        return bool(value == arg)
    if code == _NE:
        return bool(value != arg)
    if code == _IN:
        return value is not None and bool(value in arg)
    if code == _NOTIN:
        return value is None or bool(value not in arg)
    if code == _EXISTS:
        return value is not None
    if code == _ABSENT:
        return value is None
    if value is None or arg is None:
        return False
    number = _parse_int64(value)
    if number is None:
        return False
    return bool(number > arg) if code == _GT else bool(number < arg)


# -- selectors ------------------------------------------------------------------------------


class Selector:
    """An immutable label selector: a conjunction of :class:`Requirement` objects.

    Build one with :func:`parse_selector`, :func:`selector_from_set`,
    :func:`selector_from_label_selector`, :meth:`empty` (matches everything) or
    :meth:`nothing` (matches nothing).
    """

    __slots__ = ("_compiled", "_nothing", "_requirements")

    def __init__(self, requirements: Iterable[Requirement] = (), *, nothing: bool = False):
        reqs = tuple(sorted(requirements, key=lambda r: r.key))
        self._requirements = reqs
        self._nothing = nothing
        self._compiled = tuple(r._compile() for r in reqs)

    @classmethod
    def empty(cls) -> Selector:
        """The selector that matches every label set (Kubernetes ``Everything()``)."""
        return _EVERYTHING

    @classmethod
    def nothing(cls) -> Selector:
        """The selector that matches no label set (Kubernetes ``Nothing()``)."""
        return _NOTHING

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        """The requirements, sorted by key."""
        return self._requirements

    def is_empty(self) -> bool:
        """Whether this selector matches everything (no requirements)."""
        return not self._requirements and not self._nothing

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy every requirement."""
        if self._nothing:
            return False
        get = labels.get
        for code, key, arg in self._compiled:
            value = get(key)
            if code == _EQ:
                if value != arg:
                    return False
            elif code == _NE:
                if value == arg:
                    return False
            elif code == _IN:
                if value is None or value not in arg:
                    return False
            elif not _match_one((code, key, arg), labels):
                return False
        return True

    def requires_exact_match(self, key: str) -> str | None:
        """The one value ``key`` must have, or None (Kubernetes ``RequiresExactMatch``).

        Only the first requirement on ``key`` is consulted, as in Kubernetes.
        """
        for req in self._requirements:
            if req.key == key:
                exact = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN)
                if req.operator in exact and len(req.values) == 1:
                    return req.values[0]
                return None
        return None

    def exact_matches(self) -> dict[str, str]:
        """Every key pinned to one value, for index look-ups (scheduler, watch cache)."""
        found: dict[str, str] = {}
        for req in self._requirements:
            if req.key not in found:
                value = self.requires_exact_match(req.key)
                if value is not None:
                    found[req.key] = value
        return found

    def add(self, *requirements: Requirement) -> Selector:
        """A new selector with ``requirements`` added (ANDed)."""
        return Selector((*self._requirements, *requirements), nothing=self._nothing)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self._requirements)

    def __repr__(self) -> str:
        if self._nothing:
            return "Selector.nothing()"
        return f"parse_selector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Selector):
            return NotImplemented
        return self._requirements == other._requirements and self._nothing == other._nothing

    def __hash__(self) -> int:
        return hash((self._requirements, self._nothing))


_EVERYTHING: Final = Selector()
_NOTHING: Final = Selector(nothing=True)

# -- the label selector parser ------------------------------------------------------------

_TOKEN_RE: Final = re.compile(r"[ \t\r\n]*(?:(!=|==|[=!(),<>])|([^ \t\r\n=!(),<>]+))")
_IDENT, _END = "identifier", "end of string"
_KEYWORDS: Final = frozenset({"in", "notin"})
_BINARY_OPS: Final = {
    "=": Operator.EQUALS, "==": Operator.DOUBLE_EQUALS, "!=": Operator.NOT_EQUALS,
    "in": Operator.IN, "notin": Operator.NOT_IN, ">": Operator.GREATER_THAN,
    "<": Operator.LESS_THAN,
}  # fmt: skip
_SELECTOR_CACHE_SIZE: Final = 1024
_selector_cache: dict[str, Selector] = {}


def _tokenize(text: str) -> list[tuple[str, str]]:
    # Every non-blank character belongs to a symbol or a word, so findall skips only blanks.
    tokens = [
        (symbol, symbol) if symbol else ((word if word in _KEYWORDS else _IDENT), word)
        for symbol, word in _TOKEN_RE.findall(text)
    ]
    tokens.append((_END, ""))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        """The next token, with keywords read as identifiers (Kubernetes' Values context)."""
        kind, literal = self.tokens[self.pos]
        return (_IDENT if kind in _KEYWORDS else kind), literal

    def take(self, *, keywords: bool = False) -> tuple[str, str]:
        kind, literal = self.tokens[self.pos]
        if self.pos < len(self.tokens) - 1:
            self.pos += 1
        if not keywords and kind in _KEYWORDS:
            kind = _IDENT
        return kind, literal

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, literal = self.peek()
            if kind == _END:
                return requirements
            if kind not in (_IDENT, "!"):
                raise errors.BadRequest(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                requirements.append(self._requirement())
            except errors.BadRequest as exc:
                raise errors.BadRequest(f"unable to parse requirement: {exc.message}") from None
            kind, literal = self.take()
            if kind == _END:
                return requirements
            if kind != ",":
                raise errors.BadRequest(f"found '{literal}', expected: ',' or 'end of string'")
            kind, literal = self.peek()
            if kind not in (_IDENT, "!"):
                raise errors.BadRequest(f"found '{literal}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        kind, key = self.take()
        negated = kind == "!"
        if negated:
            kind, key = self.take()
        if kind != _IDENT:
            raise errors.BadRequest(f"found '{key}', expected: identifier")
        # The key is validated before the operator is read, so its error comes first.
        if negated or label_key_errors(key) or self.peek()[0] in (_END, ","):
            return make_requirement(key, Operator.DOES_NOT_EXIST if negated else Operator.EXISTS)
        kind, literal = self.take(keywords=True)
        op = _BINARY_OPS.get(kind)
        if op is None:
            raise errors.BadRequest(f"found '{literal}', expected: in, notin, =, ==, !=, gt, lt")
        if op is Operator.IN or op is Operator.NOT_IN:
            return make_requirement(key, op, self.value_set())
        kind, literal = self.peek()
        if kind in (_END, ","):
            return make_requirement(key, op, ("",))
        self.take()
        if kind != _IDENT:
            raise errors.BadRequest(f"found '{literal}', expected: identifier")
        return make_requirement(key, op, (literal,))

    def value_set(self) -> set[str]:
        kind, literal = self.take()
        if kind != "(":
            raise errors.BadRequest(f"found '{literal}' expected: '('")
        kind, literal = self.peek()
        if kind == ")":
            self.take()
            return {""}
        if kind not in (_IDENT, ","):
            raise errors.BadRequest(f"found '{literal}', expected: ',', ')' or identifier")
        values: set[str] = set()
        # Empty slots are allowed and mean "": "(,a)", "(a,)" and "(a,,b)" all include "".
        expect_value = True
        while True:
            kind, literal = self.take()
            if kind == _IDENT and expect_value:
                values.add(literal)
                expect_value = False
            elif kind == ",":
                if expect_value:
                    values.add("")
                expect_value = True
            elif kind == ")":
                if expect_value:
                    values.add("")
                return values
            else:
                expected = "',' or identifier" if expect_value else "',' or ')'"
                raise errors.BadRequest(f"found '{literal}', expected: {expected}")


def parse_selector(text: str) -> Selector:
    """Parse a label selector string (Kubernetes ``labels.Parse``).

    ``""`` (or only whitespace) gives the empty selector, which matches everything.

    Raises:
        korch.errors.BadRequest: on a syntax error or an invalid key or value; the
            message names the offending token.
    """
    selector = _selector_cache.get(text)
    if selector is not None:
        return selector
    if not isinstance(text, str):
        raise errors.BadRequest(f"label selector must be a string, not {type(text).__name__}")
    selector = Selector(_Parser(text).parse())
    if len(_selector_cache) >= _SELECTOR_CACHE_SIZE:
        _selector_cache.clear()
    _selector_cache[text] = selector
    return selector


def selector_from_set(labels: Mapping[str, str] | None) -> Selector:
    """A selector requiring every ``key=value`` of ``labels`` (``ValidatedSelectorFromSet``).

    ``None`` or ``{}`` gives the empty selector, which matches everything.

    Raises:
        korch.errors.BadRequest: a key or value is not valid label syntax.
    """
    if not labels:
        return _EVERYTHING
    return Selector(make_requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items())


class LabelSelectorRequirementLike(Protocol):
    """A ``metav1.LabelSelectorRequirement``: attrs classes with these attributes fit."""

    @property
    def key(self) -> str: ...
    @property
    def operator(self) -> str: ...
    @property
    def values(self) -> Sequence[str] | None: ...


_EXPRESSION_OPS: Final = {
    "In": Operator.IN, "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS, "DoesNotExist": Operator.DOES_NOT_EXIST,
}  # fmt: skip


def _parts(obj: object, keys: tuple[str, ...], attributes: tuple[str, ...]) -> list[Any]:
    """Fields of a wire dict (camelCase keys) or of an object (snake_case attributes)."""
    if isinstance(obj, Mapping):
        return [obj.get(key) for key in keys]
    return [getattr(obj, name, None) for name in attributes]


def selector_from_label_selector(
    match_labels: Mapping[str, str] | None = None,
    match_expressions: Sequence[LabelSelectorRequirementLike | Mapping[str, Any]] | None = None,
) -> Selector:
    """Convert the parts of a ``metav1.LabelSelector`` (``LabelSelectorAsSelector``).

    Both parts ``None`` or empty give the empty selector, which matches **everything** — the
    meaning of ``selector: {}``. A ``None`` *LabelSelector* (no ``selector`` at all) matches
    **nothing**; use :func:`label_selector_as_selector` when you hold the whole object, or
    :meth:`Selector.nothing`. ``match_expressions`` items are dicts with ``key``,
    ``operator`` (``In``, ``NotIn``, ``Exists``, ``DoesNotExist``) and ``values``, or
    objects with those attributes.

    Raises:
        korch.errors.BadRequest: an unknown operator, ``In``/``NotIn`` without values,
            ``Exists``/``DoesNotExist`` with values, or an invalid key or value.
    """
    if match_labels is not None and not isinstance(match_labels, Mapping):
        raise errors.BadRequest(f"matchLabels must be a map, not {match_labels!r}")
    requirements = [
        make_requirement(k, Operator.EQUALS, (v,)) for k, v in (match_labels or {}).items()
    ]
    names = ("key", "operator", "values")
    for expr in match_expressions or ():
        key, operator, values = _parts(expr, names, names)
        op = _EXPRESSION_OPS.get(operator) if isinstance(operator, str) else None
        if op is None:
            raise errors.BadRequest(f"{_quote(operator)} is not a valid label selector operator")
        requirements.append(make_requirement(key, op, values or ()))
    return Selector(requirements) if requirements else _EVERYTHING


def label_selector_as_selector(label_selector: object) -> Selector:
    """Convert a whole ``metav1.LabelSelector``: ``None`` matches nothing, ``{}`` everything.

    ``label_selector`` is a wire dict (``matchLabels``, ``matchExpressions``), an object with
    ``match_labels``/``match_expressions`` attributes, or ``None``.

    Raises:
        korch.errors.BadRequest: as :func:`selector_from_label_selector`.
    """
    if label_selector is None:
        return _NOTHING
    labels, expressions = _parts(
        label_selector, ("matchLabels", "matchExpressions"), ("match_labels", "match_expressions")
    )
    return selector_from_label_selector(labels, expressions)
