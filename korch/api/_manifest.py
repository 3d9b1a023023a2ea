"""Manifests: multi-document YAML or JSON in, typed objects out, and back to YAML.

API::

    objs = load_manifests("deploy.yaml")         # a file, a directory, or YAML/JSON text
    text = dump_yaml(objs)                       # "---"-separated YAML, Kubernetes names

    mf = ManifestFile.read("deploy.yaml")        # keeps ruamel's round-trip documents
    mf[0] = attrs.evolve(mf[0], spec=...)        # a MutableSequence of typed objects
    mf.append(ConfigMap(...)); del mf[2]
    mf.write()                                   # comments on untouched lines survive

:func:`load_manifests` accepts a path (file, or directory: its ``.yaml``/``.yml``/``.json``
files in name order, not recursive) or text (``str``/``bytes``; a ``str`` without a line
break that names an existing path, or ends in ``.yaml``/``.yml``/``.json``, is a path).
Empty documents are skipped; ``kind: List`` and ``<Kind>List`` documents are flattened into
their items; unknown kinds decode to GenericResource. Errors name the file and the
1-based document number (and the YAML line for syntax errors).

YAML semantics: documents are read as YAML 1.2 (ruamel.yaml), so ``on``/``yes``/``no``
stay the strings they look like, where Kubernetes' YAML 1.1-ish parser would read
booleans, and ``010`` is ten, not eight. Unquoted timestamps are passed on as the strings
Kubernetes would see. Non-string map keys become strings (``80: x`` -> ``"80"``), as
sigs.k8s.io/yaml does. On output, strings a YAML 1.1 reader would misread (``"on"``,
``"1_000"``, ``"1:30"``) are quoted, and multi-line strings use literal blocks.

:class:`ManifestFile` keeps each document's ruamel round-trip tree next to the typed
object and the wire form the object had when loaded. On dump it diffs the loaded wire form
against the current object's and applies only the differences to the tree (changed keys
updated in place, removed keys deleted, new keys appended, list items matched by ``name``),
so comments, quoting and key order of everything untouched are kept.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, MutableSequence
from pathlib import Path
from typing import Any, overload

import attrs
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from korch import errors
from korch.api import _codec, _meta, _registry

__all__ = ("ManifestFile", "dump_yaml", "load_manifests")

_SUFFIXES = (".yaml", ".yml", ".json")
# Strings that YAML 1.2 reads as strings but a YAML 1.1 reader (Kubernetes, PyYAML) would not.
_YAML11_BOOL = frozenset(
    word
    for base in ("y", "yes", "n", "no", "on", "off", "true", "false")
    for word in (base, base.capitalize(), base.upper())
)
_NUMBERISH = re.compile(r"[-+]?[0-9._:]*[0-9][0-9a-fA-FxXoObB._:eE+-]*")

Source = str | bytes | os.PathLike[str]


# -- reading ---------------------------------------------------------------------------


def _is_path(source: Source) -> bool:
    if isinstance(source, os.PathLike):
        return True
    if isinstance(source, bytes) or "\n" in source or not source.strip():
        return False
    return os.path.exists(source) or source.lower().endswith(_SUFFIXES)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES)
    if not path.exists():
        raise FileNotFoundError(f"no such manifest file or directory: {path}")
    return [path]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise errors.BadRequest(f"{path}: not UTF-8 text: {exc}") from exc


def _looks_like_json(text: str) -> bool:
    return text.lstrip()[:1] in ("{", "[")


def _parse_json(text: str, source: str) -> list[Any] | None:
    """The documents of JSON ``text`` (a value, an array, or a stream); None if not JSON."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    pos, end = 0, len(text)
    try:
        while True:
            while pos < end and text[pos].isspace():
                pos += 1
            if pos >= end:
                break
            value, pos = decoder.raw_decode(text, pos)
            docs.extend(value if isinstance(value, list) else [value])
    except json.JSONDecodeError:
        return None
    return docs


def _yaml_loader(round_trip: bool) -> YAML:
    yaml = YAML(typ="rt" if round_trip else "safe", pure=True)
    if round_trip:
        yaml.preserve_quotes = True
    return yaml


def _parse_yaml(text: str, source: str, *, round_trip: bool) -> list[Any]:
    try:
        return list(_yaml_loader(round_trip).load_all(text))
    except YAMLError as exc:
        raise errors.BadRequest(f"{source}: invalid YAML: {exc}") from exc


def _plain(value: Any, where: str) -> Any:
    """A YAML-loaded value as plain JSON data (what sigs.k8s.io/yaml would hand on)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dict):
        return {_plain_key(k): _plain(v, where) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, where) for v in value]
    if isinstance(value, str):
        return str(value)
    if type(value).__name__ == "ScalarBoolean":
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise errors.BadRequest(f"{where}: {value} cannot be represented in JSON")
        return float(value)
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise errors.BadRequest(f"{where}: unsupported YAML value {value!r}")


def _plain_key(key: Any) -> str:
    if isinstance(key, str):
        return str(key)
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _raw_documents(text: str, source: str, *, round_trip: bool) -> tuple[list[Any], bool]:
    """Parse ``text`` into raw documents; returns (documents, whether it was JSON)."""
    if _looks_like_json(text):
        docs = _parse_json(text, source)
        if docs is not None:
            return docs, True
    return _parse_yaml(text, source, round_trip=round_trip), False


def _decode(
    raw: Any,
    where: str,
    *,
    strict: bool,
    registry: _registry.Registry | None,
) -> object:
    if not isinstance(raw, dict):
        raise errors.BadRequest(f"{where}: expected a mapping, got {type(raw).__name__}")
    data = _plain(raw, where)
    try:
        return _codec.from_dict(data, strict=strict, registry=registry)
    except errors.Invalid as exc:
        raise errors.Invalid(f"{where}: {_describe(data)} is invalid", exc.causes) from None
    except errors.BadRequest as exc:
        raise errors.BadRequest(f"{where}: {exc.message}") from None


def _describe(data: dict[str, Any]) -> str:
    kind = data.get("kind") if isinstance(data.get("kind"), str) else "object"
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f'{kind} "{name}"' if isinstance(name, str) and name else str(kind)


def _flatten(obj: object) -> list[object]:
    if isinstance(obj, _meta.ResourceList):
        out: list[object] = []
        for item in obj.items:
            out.extend(_flatten(item))
        return out
    return [obj]


def load_manifests(
    source: Source,
    *,
    strict: bool = False,
    registry: _registry.Registry | None = None,
) -> list[object]:
    """Load every object from a manifest file, a directory of them, or YAML/JSON text.

    Args:
        source: a path (``os.PathLike`` or a path-looking ``str``), or text.
        strict: reject fields the typed classes do not know.
        registry: resolves kinds (default: the built-in registry).

    Returns:
        Typed objects in document order, List kinds flattened, empty documents skipped.

    Raises:
        FileNotFoundError: ``source`` names a path that does not exist.
        korch.errors.BadRequest: malformed YAML/JSON or a document that is not an object
            (the message names the file and document).
        korch.errors.Invalid: a document has bad fields (message names file and document,
            causes name the fields).
    """
    if _is_path(source) and not isinstance(source, bytes):
        texts = [(str(p), _read_text(p)) for p in _files(Path(source))]
    else:
        text = source.decode("utf-8") if isinstance(source, bytes) else os.fspath(source)
        texts = [("<string>", text)]
    out: list[object] = []
    for name, text in texts:
        docs, _ = _raw_documents(text, name, round_trip=False)
        for index, raw in enumerate(docs, start=1):
            if raw is None or raw == {}:
                continue
            where = f"{name}: document {index}"
            out.extend(_flatten(_decode(raw, where, strict=strict, registry=registry)))
    return out


# -- writing ---------------------------------------------------------------------------


def _yaml_value(value: Any) -> Any:
    """Plain wire data prepared for ruamel: risky strings quoted, multi-line as blocks."""
    if isinstance(value, dict):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _yaml_value(item)
        return out
    if isinstance(value, list):
        return CommentedSeq(_yaml_value(item) for item in value)
    if isinstance(value, str):
        if "\n" in value and not any(line != line.rstrip() for line in value.split("\n")):
            return LiteralScalarString(value)
        if value in _YAML11_BOOL or _NUMBERISH.fullmatch(value):
            return DoubleQuotedScalarString(value)
    return value


@attrs.frozen
class _Style:
    """Indentation of a YAML text, so a re-dumped file keeps its look."""

    mapping: int = 2
    offset: int = 0  # columns from a key to the "-" of its block sequence (kubectl: 0)
    explicit_start: bool = False

    @classmethod
    def of(cls, text: str) -> _Style:
        mapping: int | None = None
        offset: int | None = None
        previous: tuple[int, str] | None = None
        for line in text.splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith(("#", "---")):
                continue
            indent = len(line) - len(line.lstrip(" "))
            if previous is not None and previous[1].endswith(":"):
                if stripped.startswith("- ") and offset is None and indent >= previous[0]:
                    offset = indent - previous[0]
                elif not stripped.startswith("- ") and mapping is None and indent > previous[0]:
                    mapping = indent - previous[0]
            previous = (indent, stripped.split(" #")[0].rstrip())
        return cls(mapping or 2, offset or 0, text.lstrip().startswith("---"))


def _dumper(style: _Style = _Style()) -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.default_flow_style = False
    yaml.width = 1 << 16  # never fold long values (annotations holding JSON…)
    yaml.indent(mapping=style.mapping, sequence=style.offset + 2, offset=style.offset)
    yaml.explicit_start = style.explicit_start
    return yaml


def _wire(obj: object) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    return _codec.to_dict(obj)


def dump_yaml(objs: object | Iterable[object]) -> str:
    """Write objects as multi-document YAML with Kubernetes field names.

    Args:
        objs: one object or an iterable of objects (typed, GenericResource, ResourceList,
            or plain wire dicts).

    Returns:
        YAML text, documents separated by ``---``; ``load_manifests`` reads it back equal.

    Raises:
        korch.errors.BadRequest: an element is not an API object.
    """
    if attrs.has(type(objs)) or isinstance(objs, dict):
        items: list[object] = [objs]
    elif isinstance(objs, Iterable):
        items = list(objs)
    else:
        raise errors.BadRequest(f"dump_yaml() expects API objects, got {type(objs).__name__}")
    stream = io.StringIO()
    _dumper().dump_all([_yaml_value(_wire(obj)) for obj in items], stream)
    return stream.getvalue()


# -- comment-preserving round trip -----------------------------------------------------


def _named_items(items: list[Any]) -> dict[str, int] | None:
    """Index of list items by ``name`` when every item is a mapping with a unique name."""
    index: dict[str, int] = {}
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or name in index:
            return None
        index[name] = i
    return index


def _apply(node: Any, old: Any, new: Any) -> Any:
    """Make ``node`` (a ruamel tree loaded as ``old``) represent ``new``; return the node."""
    if isinstance(node, dict) and isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key not in new and key in node:
                del node[key]
        for key, value in new.items():
            if key in old and key in node:
                if old[key] != value:
                    updated = _apply(node[key], old[key], value)
                    if updated is not node[key]:
                        node[key] = updated
            else:
                node[key] = _yaml_value(value)
        return node
    if (
        isinstance(node, list)
        and isinstance(old, list)
        and isinstance(new, list)
        and len(node) == len(old)
    ):
        old_names, new_names = _named_items(old), _named_items(new)
        if old_names is not None and new_names is not None and old_names != new_names:
            rebuilt = [
                _apply(node[old_names[name]], old[old_names[name]], item)
                if name in old_names
                else _yaml_value(item)
                for name, item in zip(new_names, new, strict=True)
            ]
            node[:] = rebuilt
            return node
        for i in range(min(len(old), len(new))):
            if old[i] != new[i]:
                updated = _apply(node[i], old[i], new[i])
                if updated is not node[i]:
                    node[i] = updated
        del node[len(new) :]
        node.extend(_yaml_value(item) for item in new[len(old) :])
        return node
    return _yaml_value(new)


@attrs.define
class _Document:
    node: Any  # the ruamel tree (or a plain dict for JSON sources)
    loaded: dict[str, Any]  # the object's wire form when loaded (or last dumped)
    obj: object


class ManifestFile(MutableSequence[object]):
    """A manifest file as a list of typed objects that dumps back with comments intact.

    Build with :meth:`read` or :meth:`parse`; index, replace, insert and delete objects like
    a list; :meth:`dump` / :meth:`write` produce the text. One object per document (a List
    document is one :class:`ResourceList`); empty documents are dropped on dump.
    """

    def __init__(
        self,
        documents: list[_Document],
        *,
        path: Path | None,
        json_source: bool,
        style: _Style,
    ) -> None:
        self._docs = documents
        self.path = path
        self._json = json_source
        self._style = style

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        source: str = "<string>",
        strict: bool = False,
        registry: _registry.Registry | None = None,
    ) -> ManifestFile:
        """Parse manifest text (arguments and errors as :func:`load_manifests`)."""
        raw_docs, is_json = _raw_documents(text, source, round_trip=True)
        docs = []
        for index, raw in enumerate(raw_docs, start=1):
            if raw is None or raw == {}:
                continue
            obj = _decode(raw, f"{source}: document {index}", strict=strict, registry=registry)
            docs.append(_Document(node=raw, loaded=_codec.to_dict(obj), obj=obj))
        return cls(docs, path=None, json_source=is_json, style=_Style.of(text))

    @classmethod
    def read(
        cls,
        path: str | os.PathLike[str],
        *,
        strict: bool = False,
        registry: _registry.Registry | None = None,
    ) -> ManifestFile:
        """Read one manifest file (arguments and errors as :func:`load_manifests`)."""
        file_path = Path(os.fspath(path))
        if not file_path.is_file():
            raise FileNotFoundError(f"no such manifest file: {file_path}")
        manifest = cls.parse(
            _read_text(file_path), source=str(file_path), strict=strict, registry=registry
        )
        manifest.path = file_path
        return manifest

    # -- MutableSequence ---------------------------------------------------------------

    @overload
    def __getitem__(self, index: int) -> object: ...

    @overload
    def __getitem__(self, index: slice) -> list[object]: ...

    def __getitem__(self, index: int | slice) -> object | list[object]:
        if isinstance(index, slice):
            return [doc.obj for doc in self._docs[index]]
        return self._docs[index].obj

    def __setitem__(self, index: Any, value: Any) -> None:
        if not isinstance(index, int):
            raise TypeError("ManifestFile supports integer indices only")
        self._docs[index].obj = value

    def __delitem__(self, index: Any) -> None:
        if not isinstance(index, int):
            raise TypeError("ManifestFile supports integer indices only")
        del self._docs[index]

    def __len__(self) -> int:
        return len(self._docs)

    def __iter__(self) -> Iterator[object]:
        return iter([doc.obj for doc in self._docs])

    def insert(self, index: int, value: object) -> None:
        """Insert a new object (it becomes a new document)."""
        wire = _wire(value)
        self._docs.insert(index, _Document(node=_yaml_value(wire), loaded=wire, obj=value))

    # -- output ------------------------------------------------------------------------

    def dump(self) -> str:
        """The file's text with every object's current state (comments kept where untouched)."""
        nodes = []
        for doc in self._docs:
            new = _wire(doc.obj)
            if new != doc.loaded:
                doc.node = _apply(doc.node, doc.loaded, new)
                doc.loaded = new
            nodes.append(doc.node)
        if self._json:
            return "".join(json.dumps(_plain(n, "json"), indent=2) + "\n" for n in nodes)
        stream = io.StringIO()
        _dumper(self._style).dump_all(nodes, stream)
        return stream.getvalue()

    def write(self, path: str | os.PathLike[str] | None = None) -> None:
        """Write :meth:`dump` to ``path`` (default: the file it was read from).

        Raises:
            ValueError: no ``path`` given and the manifest was not read from a file.
        """
        target = Path(os.fspath(path)) if path is not None else self.path
        if target is None:
            raise ValueError("ManifestFile.write() needs a path: it was not read from a file")
        target.write_text(self.dump(), encoding="utf-8")
