"""Kubernetes resource quantities (``resource.Quantity``) and int-or-percent values.

A :class:`Quantity` is an exact fixed-point number, the way Kubernetes writes CPU (``500m``),
memory (``1Gi``) and every other resource amount. Design and invariants:

* **Value.** Every quantity is stored as one Python ``int``: its value in *nano* units
  (``value * 10**9``). Kubernetes rounds every parsed value *up in magnitude* to a multiple
  of 10^-9 ("if you ask for some resource you get some"), so this representation is exact;
  there is never a float in the arithmetic. Comparisons, hashing and ``+``/``-``/``*`` work
  on that integer, so ``Quantity("1Gi") == Quantity("1024Mi")``.
* **Format.** Like Kubernetes, a quantity remembers the family of its suffix
  (:class:`QuantityFormat`: ``BinarySI`` ``Ki Mi Gi Ti Pi Ei``; ``DecimalSI``
  ``n u m "" k M G T P E``; ``DecimalExponent`` ``e3``/``E-6``) and prints itself in that
  family in canonical form: no fractional digits, the largest exact suffix, the exponent a
  multiple of three (``1024Mi`` -> ``1Gi``, ``1000m`` -> ``1``, ``0.5`` -> ``500m``,
  ``1.5Gi`` -> ``1536Mi``, ``5e-1`` -> ``500e-3``). A binary quantity that is below 1024 in
  magnitude or not whole prints in ``DecimalSI``. Zero prints as ``0``.
* **Kept spelling.** Kubernetes keeps the caller's text as the string form when it is
  already canonical-looking (it skips a reformat); that quirk is reproduced, so ``+1``,
  ``1E3`` and ``1.`` print unchanged, exactly as kube-apiserver echoes them back.
* **Limits.** Binary-suffixed input is capped at 2^63-1 as in Kubernetes. Unlike Kubernetes
  (which silently wraps exponents at 32 bits and prints nonsense past ``E``/``Ei``), korch
  rejects inputs with more than 1000 digits or a value above 10^1000, and prints
  ``1000E``/``1024Ei`` rather than dropping the suffix of very large values.
* **Speed.** Quantities are immutable, so ``Quantity(text)`` returns a cached instance for
  strings it has seen (pods repeat the same few strings many times).

``Value()``/``MilliValue()`` round away from zero like Kubernetes but return unbounded Python
ints (no int64 overflow). Parsing is strict (no surrounding whitespace); the codec strips
whitespace from wire values first, as Kubernetes' JSON decoder does.
"""

from __future__ import annotations

import enum
import math
import re
from fractions import Fraction
from typing import Any, Final

from korch import errors

__all__ = (
    "Quantity",
    "QuantityFormat",
    "parse_int_or_percent",
    "parse_quantity",
)


class QuantityFormat(enum.StrEnum):
    """The suffix family a quantity prints itself in (Kubernetes' ``resource.Format``)."""

    DECIMAL_EXPONENT = "DecimalExponent"
    BINARY_SI = "BinarySI"
    DECIMAL_SI = "DecimalSI"


_DEC: Final = QuantityFormat.DECIMAL_SI
_BIN: Final = QuantityFormat.BINARY_SI
_EXP: Final = QuantityFormat.DECIMAL_EXPONENT

_NANO: Final = 10**9
_MAX_INT64: Final = 2**63 - 1
_MAX_DIGITS: Final = 1000
_MAX_EXPONENT: Final = 1000

_DECIMAL_SUFFIXES: Final[dict[str, int]] = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}  # fmt: skip
_BINARY_SUFFIXES: Final[dict[str, int]] = {
    "Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60,
}  # fmt: skip
_DECIMAL_BY_EXPONENT: Final = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_POWER: Final = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")

# Mirrors Kubernetes' hand-written scanner: sign, leading zeros (dropped), integer digits,
# optional "." and fraction digits, then suffix letters, an optional sign and digits.
_SCANNER: Final = re.compile(r"([+-]?)0*([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)")
_INT64_TEXT: Final = re.compile(r"[+-]?[0-9]+")

_FORMAT_MESSAGE: Final = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_SUFFIX_MESSAGE: Final = "unable to parse quantity's suffix"

_CACHE_SIZE: Final = 4096
_cache: dict[str, Quantity] = {}


def _bad(text: str, message: str) -> errors.BadRequest:
    return errors.BadRequest(f"invalid quantity {text!r}: {message}")


def _interpret_suffix(text: str, suffix: str) -> tuple[int, int, QuantityFormat]:
    """Return (base, exponent, format) of a suffix, as Kubernetes' suffixer does."""
    exponent = _DECIMAL_SUFFIXES.get(suffix)
    if exponent is not None:
        return 10, exponent, _DEC
    exponent = _BINARY_SUFFIXES.get(suffix)
    if exponent is not None:
        return 2, exponent, _BIN
    if len(suffix) > 1 and suffix[0] in "eE" and _INT64_TEXT.fullmatch(suffix, 1):
        exponent = int(suffix[1:])
        if -(2**63) <= exponent < 2**63:
            return 10, exponent, _EXP
    raise _bad(text, _SUFFIX_MESSAGE)


def _ceil_div(numerator: int, denominator: int) -> int:
    """Ceiling of a non-negative numerator over a positive denominator."""
    return -(-numerator // denominator)


def _parse(text: str) -> Quantity:
    if not isinstance(text, str):
        raise errors.BadRequest(f"invalid quantity {text!r}: expected a string")
    if text == "":
        raise _bad(text, _FORMAT_MESSAGE)
    match = _SCANNER.fullmatch(text)
    if match is None:
        raise _bad(text, _FORMAT_MESSAGE)
    sign, num, denom, suffix = match.groups()
    num = num or "0"
    denom = denom or ""
    base, exponent, fmt = _interpret_suffix(text, suffix)
    if len(num) + len(denom) > _MAX_DIGITS:
        raise _bad(text, f"more than {_MAX_DIGITS} digits are not supported")
    digits = int(num + denom)

    if digits == 0:
        nanos = 0
    elif base == 10:
        shift = exponent - len(denom) + 9
        if shift >= 0:
            if len(num) + exponent > _MAX_EXPONENT:
                raise _bad(text, f"values above 10^{_MAX_EXPONENT} are not supported")
            nanos = digits * 10**shift
        elif -shift > len(num) + len(denom) + 1:
            # Far below one nano: any non-zero amount rounds up to 1n.
            nanos = 1
        else:
            nanos = _ceil_div(digits, 10**-shift)
    else:
        nanos = _ceil_div(digits * _NANO << exponent, 10 ** len(denom))
        if nanos > _MAX_INT64 * _NANO:
            nanos = _MAX_INT64 * _NANO
        if 0 < nanos < _NANO:
            fmt = _DEC
    if sign == "-":
        nanos = -nanos

    quantity = Quantity._make(nanos, fmt, None)
    if _keeps_spelling(num, denom, base, exponent, digits):
        object.__setattr__(quantity, "_text", text)
    return quantity


def _keeps_spelling(num: str, denom: str, base: int, exponent: int, digits: int) -> bool:
    """Whether Kubernetes reuses the input text as the string form (its int64 fast path)."""
    if base == 2:
        if denom or 14 - len(num) - exponent * 3 // 10 < 0:
            return False
        return digits << exponent <= _MAX_INT64 and digits & 7 != 0
    scale = exponent - len(denom)
    if len(num) + len(denom) > 18 or scale < -9:
        return False
    shifted = num + denom
    return scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"


def _nanos_from_fraction(value: Fraction) -> int:
    scaled = value * _NANO
    magnitude = math.ceil(abs(scaled))
    return magnitude if scaled >= 0 else -magnitude


def _round_away(nanos: int, unit: int) -> int:
    """``nanos / unit`` rounded away from zero, as Kubernetes' ScaledValue does."""
    magnitude = _ceil_div(abs(nanos), unit)
    return magnitude if nanos >= 0 else -magnitude


class Quantity:
    """An exact resource amount such as ``500m``, ``1Gi`` or ``1e3`` (Kubernetes' Quantity).

    ``Quantity(value, *, format=None)`` accepts a quantity string, an ``int``, a ``float``
    (read through its shortest decimal spelling, so ``0.1`` is exactly one tenth), a
    ``Fraction`` or another ``Quantity``. Non-string values are rounded up in magnitude to
    a nano and default to ``DecimalSI``; ``format`` overrides the suffix family.

    Raises :class:`korch.errors.BadRequest` for malformed text, naming it.
    """

    __slots__ = ("_format", "_nanos", "_text")

    _nanos: int
    _format: QuantityFormat
    _text: str | None

    def __new__(
        cls,
        value: str | int | float | Fraction | Quantity = 0,
        *,
        format: str | None = None,
    ) -> Quantity:
        if isinstance(value, str):
            quantity = _cache.get(value)
            if quantity is None:
                quantity = _parse(value)
                if len(_cache) >= _CACHE_SIZE:
                    _cache.clear()
                _cache[value] = quantity
        elif isinstance(value, Quantity):
            quantity = value
        elif isinstance(value, bool):
            raise errors.BadRequest(f"invalid quantity {value!r}: expected a number or string")
        elif isinstance(value, int):
            quantity = cls._make(value * _NANO, _DEC, None)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise errors.BadRequest(f"invalid quantity {value!r}: not a finite number")
            quantity = cls._make(_nanos_from_fraction(Fraction(repr(value))), _DEC, None)
        elif isinstance(value, Fraction):
            quantity = cls._make(_nanos_from_fraction(value), _DEC, None)
        else:
            raise errors.BadRequest(
                f"invalid quantity {value!r}: expected a string, int, float or Fraction"
            )
        if format is not None and format != quantity._format:
            try:
                fmt = QuantityFormat(format)
            except ValueError:
                raise errors.BadRequest(f"unknown quantity format {format!r}") from None
            quantity = cls._make(quantity._nanos, fmt, None)
        return quantity

    @classmethod
    def _make(cls, nanos: int, fmt: QuantityFormat, text: str | None) -> Quantity:
        self = object.__new__(cls)
        object.__setattr__(self, "_nanos", nanos)
        object.__setattr__(self, "_format", fmt)
        object.__setattr__(self, "_text", text)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Quantity is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Quantity is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (self._nanos, self._format.value, self._text))

    def __copy__(self) -> Quantity:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Quantity:
        return self

    # -- accessors -------------------------------------------------------------------

    @property
    def format(self) -> QuantityFormat:
        """The suffix family this quantity prints in."""
        return self._format

    def value(self) -> int:
        """The value as a whole number, rounded away from zero (Kubernetes ``Value()``)."""
        return _round_away(self._nanos, _NANO)

    def milli_value(self) -> int:
        """The value in thousandths, rounded away from zero (Kubernetes ``MilliValue()``)."""
        return _round_away(self._nanos, 1_000_000)

    def scaled_value(self, scale: int) -> int:
        """The value in units of ``10**scale`` rounded away from zero (``ScaledValue``).

        ``scaled_value(-3)`` equals :meth:`milli_value`, ``scaled_value(-9)`` is exact.
        """
        if scale <= -9:
            return self._nanos * int(10 ** (-9 - scale))
        return _round_away(self._nanos, 10 ** (scale + 9))

    def as_fraction(self) -> Fraction:
        """The exact value as a :class:`fractions.Fraction`."""
        return Fraction(self._nanos, _NANO)

    def is_zero(self) -> bool:
        """Whether the value is zero."""
        return self._nanos == 0

    def __float__(self) -> float:
        return self._nanos / _NANO

    def __bool__(self) -> bool:
        return self._nanos != 0

    # -- comparisons -----------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Quantity):
            return self._nanos == other._nanos
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, Quantity):
            return self._nanos != other._nanos
        return NotImplemented

    def __lt__(self, other: Quantity) -> bool:
        if isinstance(other, Quantity):
            return self._nanos < other._nanos
        return NotImplemented

    def __le__(self, other: Quantity) -> bool:
        if isinstance(other, Quantity):
            return self._nanos <= other._nanos
        return NotImplemented

    def __gt__(self, other: Quantity) -> bool:
        if isinstance(other, Quantity):
            return self._nanos > other._nanos
        return NotImplemented

    def __ge__(self, other: Quantity) -> bool:
        if isinstance(other, Quantity):
            return self._nanos >= other._nanos
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._nanos)

    # -- arithmetic (formats follow Kubernetes: the left operand's, unless it is zero) --

    def __add__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        fmt = self._format if self._nanos else other._format
        return Quantity._make(self._nanos + other._nanos, fmt, None)

    def __radd__(self, other: int) -> Quantity:
        # Lets ``sum(quantities)`` start from the integer 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def __sub__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        fmt = self._format if self._nanos else other._format
        return Quantity._make(self._nanos - other._nanos, fmt, None)

    def __mul__(self, other: int) -> Quantity:
        if isinstance(other, bool) or not isinstance(other, int):
            return NotImplemented
        return Quantity._make(self._nanos * other, self._format, None)

    __rmul__ = __mul__

    def __neg__(self) -> Quantity:
        return Quantity._make(-self._nanos, self._format, None)

    def __pos__(self) -> Quantity:
        return self

    def __abs__(self) -> Quantity:
        return self if self._nanos >= 0 else -self

    # -- formatting ------------------------------------------------------------------

    def __str__(self) -> str:
        text = self._text
        if text is None:
            text = _canonical(self._nanos, self._format)
            object.__setattr__(self, "_text", text)
        return text

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"


def _restore(nanos: int, fmt: str, text: str | None) -> Quantity:
    return Quantity._make(nanos, QuantityFormat(fmt), text)


def _canonical(nanos: int, fmt: QuantityFormat) -> str:
    if nanos == 0:
        return "0"
    sign = "-" if nanos < 0 else ""
    magnitude = abs(nanos)
    if fmt == _BIN and magnitude >= 1024 * _NANO and magnitude % _NANO == 0:
        whole = magnitude // _NANO
        power = 0
        while whole % 1024 == 0 and power < 6:
            whole //= 1024
            power += 1
        return f"{sign}{whole}{_BINARY_BY_POWER[power]}"
    digits = str(magnitude)
    mantissa = digits.rstrip("0")
    exponent = len(digits) - len(mantissa) - 9
    pad = exponent % 3
    if fmt == _EXP:
        exponent -= pad
        return f"{sign}{mantissa}{'0' * pad}" + (f"e{exponent}" if exponent else "")
    if exponent - pad > 18:
        # Kubernetes has no decimal suffix past E; keep the value exact with "E".
        pad = exponent - 18
    exponent -= pad
    return f"{sign}{mantissa}{'0' * pad}{_DECIMAL_BY_EXPONENT[exponent]}"


def parse_quantity(text: str) -> Quantity:
    """Parse a quantity string (Kubernetes ``ParseQuantity``).

    Raises:
        korch.errors.BadRequest: ``text`` is not a quantity; the message names it.
    """
    return Quantity(text)


_PERCENT: Final = re.compile(r"([+-]?[0-9]+)%")


def parse_int_or_percent(value: int | str, total: int, *, round_up: bool) -> int:
    """Resolve an IntOrString such as ``maxSurge`` against ``total``.

    An ``int`` is returned as is; a string must be a percentage (``"25%"``) and yields
    ``total * percent / 100`` rounded up or down (Kubernetes'
    ``GetScaledValueFromIntOrPercent``): ``parse_int_or_percent("25%", 10, round_up=True)``
    is 3. The arithmetic is exact.

    Raises:
        korch.errors.BadRequest: ``value`` is neither an int nor a percentage string.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise errors.BadRequest(
            f"invalid value for IntOrString: {value!r} is neither an int nor a percentage"
        )
    match = _PERCENT.fullmatch(value)
    if match is None:
        if not value.endswith("%"):
            raise errors.BadRequest(
                f"invalid value for IntOrString: {value!r}: a string must be a percentage"
            )
        raise errors.BadRequest(f"invalid value for IntOrString: invalid value {value!r}")
    scaled = int(match.group(1)) * total
    return -(-scaled // 100) if round_up else scaled // 100
