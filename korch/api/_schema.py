"""Structural OpenAPI v3 schemas of CustomResourceDefinitions: validate, default, prune.

:func:`compile_schema` turns a CRD version's ``schema.openAPIV3Schema`` (a plain dict) into a
:class:`StructuralSchema`, rejecting what kube-apiserver rejects in a CRD (every node typed
unless ``x-kubernetes-int-or-string``/``x-kubernetes-preserve-unknown-fields``, no
``additionalProperties`` beside ``properties``, no ``$ref``/``uniqueItems``, value validations
(``anyOf``/``allOf``/``oneOf``/``not``) without types or defaults and only naming fields the
structural part declares, root ``metadata`` restricted to ``name``/``generateName``, list-type
rules, defaults that validate) with causes naming the schema path
(``openAPIV3Schema.properties[spec].type``).

Compilation builds a tree of ``_schema_node.Node`` objects whose keyword checks are closures
made once, so validating an object walks the object, not the schema dict. On a compiled
schema:

* :meth:`StructuralSchema.prune` removes fields the schema does not declare (honouring
  ``x-kubernetes-preserve-unknown-fields``; ``apiVersion``/``kind``/``metadata`` are kept at
  the root and in embedded resources, whose metadata is cut to ObjectMeta's fields) and drops
  ``null`` values of non-nullable fields that have no default, as kube-apiserver does.
* :meth:`StructuralSchema.default` applies ``default`` values top-down to missing fields and
  to ``null`` values of non-nullable fields, inside array items and map values too.
* :meth:`StructuralSchema.validate` returns causes in kube-apiserver's words, e.g.
  ``spec.storage: Invalid value: "integer": spec.storage in body must be of type string:
  "integer"`` (reason ``FieldValueTypeInvalid``). Unknown fields are not errors (pruning
  removes them); the root ``metadata`` is left to ``_validation.validate_object_meta``.

All three take and return plain wire-format values and never mutate their input. Where
korch differs from kube-apiserver, on purpose or by Python's nature:

* Field paths: properties ``spec.storage``, items ``spec.items[2]``, map values
  ``spec.labels[foo]`` (the field.Path form of native kinds; kube-openapi writes
  ``spec.labels.foo``).
* Patterns are Go RE2; ``_go_compat.go_regexp`` translates them to Python ``re``: ``$`` and ``\\z``
  mean end of text (Python's ``$`` also matches before a final newline), ``\\d\\w\\s\\b`` are
  ASCII-only, ``(?flags)`` inside a group is rewritten as a scoped group, POSIX classes are
  expanded. Constructs RE2 lacks (lookaround, backreferences, possessive or nested
  repetition, ``(?U)``, counts above 1000) are rejected; Unicode classes (``\\p{L}``) and
  negated POSIX classes are rejected though RE2 has them; ``(?i)`` folds ASCII only.
* Integral floats (``1.0``) pass ``type: integer``, as in Kubernetes; ``int32``/``int64``
  formats are not range-checked (kube-openapi does not either). Unknown formats pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from korch import errors
from korch.api import _go_compat as go
from korch.api import _schema_node as nodes
from korch.api import _validation as fv

__all__ = ("StructuralSchema", "compile_schema")


class StructuralSchema:
    """A compiled structural schema; build one with :func:`compile_schema`.

    Immutable and safe to share between threads and tasks.
    """

    __slots__ = ("_root",)

    def __init__(self, root: nodes.Node) -> None:
        self._root = root

    def validate(self, obj: Any) -> list[errors.Cause]:
        """Validate a wire-format object (a dict) against the schema.

        Returns:
            The causes, in kube-apiserver's words and field paths; empty when valid.
        """
        return nodes.run(self._root, obj, "")

    def default(self, obj: Any) -> Any:
        """Return a copy of ``obj`` with the schema's defaults applied."""
        result = nodes.copy_json(obj)
        nodes.apply_defaults(result, self._root)
        return result

    def prune(self, obj: Any) -> tuple[Any, list[str]]:
        """Return a copy of ``obj`` without the fields the schema does not declare.

        Returns:
            ``(pruned_object, paths)``: ``paths`` lists the removed fields, sorted.
        """
        result = nodes.copy_json(obj)
        pruned: list[str] = []
        nodes.prune_value(result, self._root, "", pruned, root=True)
        return result, sorted(pruned)


_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]
_LEVEL_MSG = {
    "root": "must not be empty at the root",
    "item": "must not be empty for specified array items",
    "field": "must not be empty for specified object fields",
}


# -- compilation ------------------------------------------------------------------------


def compile_schema(
    schema: Mapping[str, Any],
    *,
    path: str = "openAPIV3Schema",
    allow_unique_items: bool = False,
) -> StructuralSchema:
    """Compile a CRD version's ``openAPIV3Schema`` into a :class:`StructuralSchema`.

    Args:
        schema: the schema as a plain dict (as found in the CRD's YAML/JSON).
        path: the field path of ``schema``, prefixed to every cause
            (``spec.versions[0].schema.openAPIV3Schema`` for a CRD).
        allow_unique_items: accept ``uniqueItems: true``, which CRDs forbid (quadratic).

    Raises:
        korch.errors.Invalid: the schema is malformed or not structural; each cause names
            the schema path (``openAPIV3Schema.properties[spec].type``).
    """
    compiler = _Compiler(allow_unique_items)
    root = compiler.node(schema, path, "root")
    for node, default_path in compiler.defaults:
        compiler.check_default(node, default_path)
    if compiler.causes:
        raise errors.Invalid("invalid structural schema", compiler.causes)
    return StructuralSchema(root)


def _is_int(x: Any, minimum: int = 0) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= minimum


class _Compiler:
    def __init__(self, allow_unique_items: bool) -> None:
        self.allow_unique_items = allow_unique_items
        self.causes: list[errors.Cause] = []
        self.defaults: list[tuple[nodes.Node, str]] = []

    def err(self, cause: errors.Cause) -> None:
        self.causes.append(cause)

    def node(
        self, s: Any, path: str, level: str, *, nested: bool = False, typed: bool = False,
        no_default: str = "",
    ) -> nodes.Node:  # fmt: skip
        """Compile ``s``; ``nested`` inside anyOf/allOf/oneOf/not (``typed``: the int-or-string
        pattern, whose branches may name a type); ``no_default``: why defaults are forbidden."""
        n = nodes.Node()
        if not isinstance(s, Mapping):
            self.err(nodes.type_error(path, "object", fv.json_type(s)))
            return n
        for kw in (
            "$ref",
            "definitions",
            "dependencies",
            "additionalItems",
            "patternProperties",
            "id",
        ):
            if kw in s:
                self.err(fv.forbidden(f"{path}.{kw}", f"{kw} is not supported"))
        for ext in ("nullable", "x-kubernetes-int-or-string", "x-kubernetes-embedded-resource"):
            if ext in s and not isinstance(s[ext], bool):
                self.err(nodes.type_error(f"{path}.{ext}", "boolean", fv.json_type(s[ext])))
        preserve = s.get("x-kubernetes-preserve-unknown-fields")
        if preserve is not None and preserve is not True:
            self.err(
                fv.invalid(
                    f"{path}.x-kubernetes-preserve-unknown-fields",
                    preserve,
                    "must be true or undefined",
                )
            )
        n.preserve, n.nullable = preserve is True, s.get("nullable") is True
        n.embedded = s.get("x-kubernetes-embedded-resource") is True
        int_or_string = s.get("x-kubernetes-int-or-string") is True
        if isinstance(s.get("format"), str):
            n.format = s["format"]
        if nested:
            self.nested_rules(s, path, typed)
        if not nested or typed:
            self.types(n, s, path, level, int_or_string, nested)
        props = s.get("properties")
        if isinstance(props, Mapping):
            for key, sub in props.items():
                forbid = no_default or (
                    f"in top-level {key}" if level == "root" and key in nodes.META else ""
                )
                sub_path = f"{path}.properties[{key}]"
                n.properties[key] = self.node(
                    sub, sub_path, "field", nested=nested, no_default=forbid
                )
            n.defaulted = tuple(
                (k, p) for k, p in n.properties.items() if p.default is not nodes.MISSING
            )
            if not nested and (level == "root" or n.embedded):
                self.meta_rules(props, path, level)
        elif props is not None:
            self.err(nodes.type_error(f"{path}.properties", "object", fv.json_type(props)))
        self.additional(n, s, path, level, nested, no_default)
        items = s.get("items")
        if isinstance(items, list):
            self.err(
                fv.forbidden(f"{path}.items", "items must be a schema object and not an array")
            )
        elif items is not None:
            n.items = self.node(
                items, f"{path}.items", "item", nested=nested, no_default=no_default
            )
        elif s.get("type") == "array" and not nested:
            self.err(fv.required(f"{path}.items", "must be specified"))
        required = s.get("required")
        if isinstance(required, list) and all(isinstance(r, str) for r in required):
            n.required = tuple(required)
        elif required is not None:
            self.err(fv.invalid(f"{path}.required", required, "must be an array of strings"))
        if "default" in s and not nested:
            if no_default:
                self.err(fv.forbidden(f"{path}.default", f"must not be set {no_default}"))
            else:
                n.default = s["default"]
                self.defaults.append((n, f"{path}.default"))
        self.value_checks(n, s, path)
        if not nested:
            self.list_type(n, s, path)
        self.junctors(n, s, path, level, nested)
        return n

    def types(
        self, n: nodes.Node, s: Mapping[str, Any], path: str, level: str, ios: bool, nested: bool
    ) -> None:
        t = s.get("type", "")
        if not isinstance(t, str):
            self.err(nodes.type_error(f"{path}.type", "string", fv.json_type(t)))
            t = ""
        if t == "null":
            self.err(
                fv.forbidden(
                    f"{path}.type", "type cannot be set to null, use nullable as an alternative"
                )
            )
        elif t and t not in _TYPES:
            self.err(fv.not_supported(f"{path}.type", t, _TYPES))
        if nested:
            pass
        elif n.embedded and t != "object":
            msg = "must be object if x-kubernetes-embedded-resource is true"
            self.err(fv.invalid(f"{path}.type", t, msg) if t else fv.required(f"{path}.type", msg))
        elif not t and not ios and not n.preserve:
            self.err(fv.required(f"{path}.type", _LEVEL_MSG[level]))
        if level == "root" and t and t != "object" and not nested:
            self.err(fv.invalid(f"{path}.type", t, "must be object at the root"))
        for flag, on in (
            ("preserve-unknown-fields", n.preserve),
            ("embedded-resource", n.embedded),
        ):
            if ios and on:
                msg = "must be false if x-kubernetes-int-or-string is true"
                self.err(fv.invalid(f"{path}.x-kubernetes-{flag}", True, msg))
        if ios:
            n.types, n.label = frozenset(("integer", "string")), "integer,string"
        elif t in _TYPES:
            n.types, n.label = frozenset((t,)), t

    def nested_rules(self, s: Mapping[str, Any], path: str, typed: bool) -> None:
        rules = [
            ("additionalProperties", "must be undefined"), ("default", "must be undefined"),
            ("title", "must be empty"), ("description", "must be empty"),
            ("x-kubernetes-list-map-keys", "must be empty"),
            ("x-kubernetes-list-type", "must be undefined"),
        ]  # fmt: skip
        if not typed:
            rules.append(("type", "must be empty"))
        for key, rule in rules:
            if key in s:
                self.err(fv.forbidden(f"{path}.{key}", f"{rule} to be structural"))
        for key in (
            "nullable",
            "x-kubernetes-preserve-unknown-fields",
            "x-kubernetes-embedded-resource",
            "x-kubernetes-int-or-string",
        ):
            if s.get(key) is True:
                self.err(fv.forbidden(f"{path}.{key}", "must be false to be structural"))
        if isinstance(s.get("properties"), Mapping) and "metadata" in s["properties"]:
            msg = "must not be specified in a nested context"
            self.err(fv.forbidden(f"{path}.properties[metadata]", msg))

    def meta_rules(self, props: Mapping[str, Any], path: str, level: str) -> None:
        for key, want in (("kind", "string"), ("apiVersion", "string"), ("metadata", "object")):
            sub = props.get(key)
            if isinstance(sub, Mapping) and sub.get("type") != want:
                got = sub.get("type", "")
                self.err(fv.invalid(f"{path}.properties[{key}].type", got, f"must be {want}"))
        meta = props.get("metadata")
        if level == "root" and isinstance(meta, Mapping):
            fields = meta.get("properties", {})
            if set(meta) - {"type", "properties", "default"} or (
                not isinstance(fields, Mapping) or set(fields) - {"name", "generateName"}
            ):
                msg = "must not specify anything other than name and generateName, but metadata is implicitly specified"  # noqa: E501
                self.err(fv.forbidden(f"{path}.properties[metadata]", msg))

    def additional(
        self,
        n: nodes.Node,
        s: Mapping[str, Any],
        path: str,
        level: str,
        nested: bool,
        no_default: str,
    ) -> None:
        extra = s.get("additionalProperties")
        if extra is None or nested:
            return
        at = f"{path}.additionalProperties"
        if level == "root":
            self.err(fv.forbidden(at, "must not be used at the root"))
        if n.embedded:
            self.err(fv.forbidden(at, "must not be used if x-kubernetes-embedded-resource is set"))
        if n.properties and (extra is False or isinstance(extra, Mapping)):
            self.err(fv.forbidden(at, "additionalProperties and properties are mutual exclusive"))
        if extra is False:
            n.closed = True
        elif extra is True:
            n.additional = nodes.Node()  # any value; its object fields are pruned, as in Kubernetes
        elif isinstance(extra, Mapping):
            n.additional = self.node(extra, at, "field", no_default=no_default)
        else:
            self.err(fv.invalid(at, extra, "must be a boolean or a schema"))

    def number(self, s: Mapping[str, Any], key: str, path: str, minimum: int = -1) -> Any:
        value = s.get(key)
        ok = nodes.is_number(value) if minimum < 0 else _is_int(value, minimum)
        if value is not None and not ok:
            kind = "a number" if minimum < 0 else f"an integer >= {minimum}"
            self.err(fv.invalid(f"{path}.{key}", value, f"must be {kind}"))
            return None
        return value

    def value_checks(self, n: nodes.Node, s: Mapping[str, Any], path: str) -> None:
        checks = n.checks
        enum = s.get("enum")
        if isinstance(enum, list):
            checks.append(nodes.enum_check(enum))
        elif enum is not None:
            self.err(fv.invalid(f"{path}.enum", enum, "must be an array"))
        pattern = s.get("pattern")
        if pattern is not None:
            try:
                checks.append(nodes.pattern_check(pattern, go.go_regexp(pattern)))
            except (TypeError, ValueError) as exc:
                msg = f"must be a valid regular expression, but isn't: {exc}"
                self.err(fv.invalid(f"{path}.pattern", pattern, msg))
        min_len, max_len = (
            self.number(s, "minLength", path, 0),
            self.number(s, "maxLength", path, 0),
        )
        if min_len is not None or max_len is not None:
            checks.append(nodes.length_check(min_len, max_len))
        bounds = [self.number(s, k, path) for k in ("minimum", "maximum", "multipleOf")]
        if bounds[2] is not None and bounds[2] <= 0:
            self.err(fv.invalid(f"{path}.multipleOf", bounds[2], "must be greater than 0"))
            bounds[2] = None
        exclusive = [s.get("exclusiveMinimum") is True, s.get("exclusiveMaximum") is True]
        if bounds != [None, None, None]:
            checks.append(nodes.number_check(*bounds, *exclusive))
        counts = [self.number(s, k, path, 0) for k in ("minItems", "maxItems")]
        if s.get("uniqueItems") is True and not self.allow_unique_items:
            msg = "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
            self.err(fv.forbidden(f"{path}.uniqueItems", msg))
        if counts != [None, None] or s.get("uniqueItems") is True:
            checks.append(nodes.items_check(counts[0], counts[1], s.get("uniqueItems") is True))
        props = [self.number(s, k, path, 0) for k in ("minProperties", "maxProperties")]
        if props != [None, None]:
            checks.append(nodes.properties_check(*props))
        valid = go.format_checker(n.format)
        if valid is not None:
            checks.append(nodes.format_check(n.format, valid))

    def list_type(self, n: nodes.Node, s: Mapping[str, Any], path: str) -> None:
        list_type, keys = s.get("x-kubernetes-list-type"), s.get("x-kubernetes-list-map-keys")
        at_type, at_keys = f"{path}.x-kubernetes-list-type", f"{path}.x-kubernetes-list-map-keys"
        if list_type is not None:
            if list_type not in ("atomic", "set", "map"):
                self.err(fv.not_supported(at_type, list_type, ["atomic", "set", "map"]))
            if s.get("type") != "array":
                msg = "must be array if x-kubernetes-list-type is specified"
                self.err(fv.invalid(f"{path}.type", s.get("type", ""), msg))
        if keys and list_type != "map":
            msg = "must be map if x-kubernetes-list-map-keys is non-empty"
            self.err(
                fv.invalid(at_type, list_type, msg) if list_type else fv.required(at_type, msg)
            )
        items = n.items
        if list_type in ("set", "map") and items is not None and items.nullable:
            self.err(
                fv.forbidden(
                    f"{path}.items.nullable",
                    f"cannot be nullable when x-kubernetes-list-type is {list_type}",
                )
            )
        if list_type == "set":
            n.checks.append(nodes.set_check)
        if list_type != "map":
            return
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            self.err(fv.required(at_keys, "must not be empty if x-kubernetes-list-type is map"))
            return
        if items is None or items.types != frozenset(("object",)):
            msg = "must be object if parent array's x-kubernetes-list-type is map"
            self.err(fv.invalid(f"{path}.items.type", items.label if items else "", msg))
            return
        for key in keys:
            prop = items.properties.get(key)
            if prop is None:
                self.err(fv.invalid(at_keys, keys, "entries must all be names of item properties"))
                continue
            if prop.types and prop.types & {"array", "object"}:
                msg = "must be a scalar type if parent array's x-kubernetes-list-type is map"
                self.err(fv.invalid(f"{path}.items.properties[{key}].type", prop.label, msg))
            if key not in items.required and prop.default is nodes.MISSING:
                msg = "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"  # noqa: E501
                self.err(fv.required(f"{path}.items.properties[{key}].default", msg))
        if len(set(keys)) != len(keys):
            self.err(fv.invalid(at_keys, keys, "must not contain duplicate entries"))
        n.checks.append(nodes.map_check(tuple(keys)))

    def junctors(
        self, n: nodes.Node, s: Mapping[str, Any], path: str, level: str, nested: bool
    ) -> None:
        for kw in ("anyOf", "allOf", "oneOf"):
            branches = s.get(kw)
            if branches is None:
                continue
            if not isinstance(branches, list):
                self.err(nodes.type_error(f"{path}.{kw}", "array", fv.json_type(branches)))
                continue
            typed = kw == "anyOf" and branches == _INT_OR_STRING
            targets = getattr(n, kw[:-2] + "_of")
            for i, branch in enumerate(branches):
                at = f"{path}.{kw}[{i}]"
                targets.append(self.node(branch, at, level, nested=True, typed=typed))
        if "not" in s:
            n.not_ = self.node(s["not"], f"{path}.not", level, nested=True)
        if not nested:  # nested junctors are checked against this structural node, too
            self.complete(n, n, path, path)

    def complete(self, s: nodes.Node, v: nodes.Node, s_path: str, v_path: str) -> None:
        """Every field that the value validations of ``v`` name must be declared in ``s``."""
        branches = [("anyOf", v.any_of), ("allOf", v.all_of), ("oneOf", v.one_of)]
        branches.append(("not", [v.not_] if v.not_ is not None else []))
        for kw, group in branches:
            for i, branch in enumerate(group):
                at = f"{v_path}.{kw}" + ("" if kw == "not" else f"[{i}]")
                self.complete_fields(s, branch, s_path, at)

    def complete_fields(self, s: nodes.Node, v: nodes.Node, s_path: str, v_path: str) -> None:
        if v.items is not None:
            if s.items is None:
                self.err(fv.required(f"{s_path}.items", f"because it is defined in {v_path}.items"))
            else:
                self.complete_fields(s.items, v.items, f"{s_path}.items", f"{v_path}.items")
        for key, sub in v.properties.items():
            at_s, at_v = f"{s_path}.properties[{key}]", f"{v_path}.properties[{key}]"
            target = s.properties.get(key) or s.additional
            if target is None:
                self.err(fv.required(at_s, f"because it is defined in {at_v}"))
            else:
                self.complete_fields(target, sub, at_s, at_v)
        self.complete(s, v, s_path, v_path)

    def check_default(self, n: nodes.Node, path: str) -> None:
        value = nodes.copy_json(n.default)
        pruned: list[str] = []
        nodes.prune_value(value, n, "", pruned)
        if pruned:
            detail = f"must not have unknown fields [{' '.join(pruned)}]"  # Go's %v of a slice
            self.err(fv.invalid(path, n.default, detail))
        nodes.apply_defaults(value, n)
        self.causes.extend(nodes.run(n, value, path))
