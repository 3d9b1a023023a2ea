"""OpenAPI documents: every kind has a schema, references resolve, markers are right, the
fixtures validate, and the documents are what kubectl reads (GVKs, fieldValidation, index)."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from korch import errors
from korch.api import (
    _apiextensions,
    _apps,
    _batch,
    _codec,
    _core_container,
    _core_node,
    _core_other,
    _core_pod,
    _core_volume,
    _generic,
    _manifest,
    _meta,
    _misc,
    _openapi,
    _openapi_names,
    _registry,
)

FIXTURES = Path(__file__).parent / "fixtures"
REGISTRY = _registry.default_registry()
GROUP_VERSIONS = sorted({(rt.group, rt.version) for rt in REGISTRY})
REF = "#/components/schemas/"
MODEL_MODULES = (
    _meta,
    _core_container,
    _core_volume,
    _core_pod,
    _core_node,
    _core_other,
    _apps,
    _batch,
    _misc,
    _apiextensions,
)
MODEL_CLASSES = sorted(
    {
        obj
        for module in MODEL_MODULES
        for obj in vars(module).values()
        if isinstance(obj, type)
        and attrs.has(obj)
        and issubclass(obj, _meta.Model)
        and obj.__module__ == module.__name__
        and obj is not _meta.Model
        and not obj.__name__.startswith("_")
    },
    key=lambda cls: cls.__qualname__,
)


def _gv_id(gv: tuple[str, str]) -> str:
    return "/".join(p for p in gv if p)


@functools.cache
def _document(group: str, version: str) -> dict[str, Any]:
    return _openapi.openapi_v3_document(group, version)


def _documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in [FIXTURES / "seeds.yaml", *sorted((FIXTURES / "corpus").iterdir())]:
        docs, _ = _manifest._raw_documents(path.read_text(), str(path), round_trip=False)
        for index, raw in enumerate(docs, start=1):
            if raw is not None:
                out.append((f"{path.name}#{index}", _manifest._plain(raw, str(path))))
    return out


DOCUMENTS = _documents()
CRDS = [
    _codec.from_dict(data, _apiextensions.CustomResourceDefinition)
    for _, data in DOCUMENTS
    if data.get("kind") == "CustomResourceDefinition"
]


def _with_crds() -> _registry.Registry:
    registry = REGISTRY.copy()
    for crd in CRDS:
        registry.register_crd(crd)
    return registry


CRD_REGISTRY = _with_crds()


# -- a small JSON-schema walker, with kubectl's strict rules --------------------------


class Walker:
    """Validates wire values against a document's components.

    Strict: a field no schema declares is an error, unless the object schema says
    ``x-kubernetes-preserve-unknown-fields``. ``null`` counts as absent (the API server
    decodes it so).
    """

    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while True:
            if "$ref" in schema:
                schema = self.schemas[schema["$ref"].removeprefix(REF)]
            elif "allOf" in schema and len(schema["allOf"]) == 1:
                schema = schema["allOf"][0]
            else:
                return schema

    def errors(self, value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
        out: list[str] = []
        self._walk(value, schema, path, out)
        return out

    def _walk(self, value: Any, schema: dict[str, Any], path: str, out: list[str]) -> None:
        schema = self.resolve(schema)
        if value is None:
            return
        if "oneOf" in schema:
            if not any(not self.errors(value, branch, path) for branch in schema["oneOf"]):
                out.append(f"{path}: matches no alternative")
            return
        kind = schema.get("type")
        if kind is None:
            if not schema.get("x-kubernetes-preserve-unknown-fields"):
                out.append(f"{path}: schema without a type")
            return
        checks = {
            "string": lambda v: isinstance(v, str),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool),
            "array": lambda v: isinstance(v, list),
            "object": lambda v: isinstance(v, dict),
        }
        if not checks[kind](value):
            out.append(f"{path}: expected {kind}, got {type(value).__name__}")
            return
        fmt = schema.get("format")
        if fmt == "date-time" and not re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value
        ):
            out.append(f"{path}: not a date-time: {value!r}")
        if fmt == "byte":
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error:
                out.append(f"{path}: not base64: {value!r}")
        if kind == "array":
            for i, item in enumerate(value):
                self._walk(item, schema.get("items", {}), f"{path}[{i}]", out)
        if kind == "object":
            self._object(value, schema, path, out)

    def _object(
        self, value: dict[str, Any], schema: dict[str, Any], path: str, out: list[str]
    ) -> None:
        for name in schema.get("required", []):
            if value.get(name) is None:
                out.append(f"{path}.{name}: required" if path else f"{name}: required")
        properties = schema.get("properties", {})
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key in properties:
                self._walk(item, properties[key], where, out)
            elif "additionalProperties" in schema:
                self._walk(item, schema["additionalProperties"], f"{path}[{key}]", out)
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                out.append(f"{where}: unknown field")


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(x) for x in node)) if node else set()
    return set()


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(x) for x in node)) if node else set()
    return set()


def _kind_schema(document: dict[str, Any], group: str, version: str, kind: str) -> str | None:
    wanted = {"group": group, "version": version, "kind": kind}
    for name, schema in document["components"]["schemas"].items():
        if wanted in schema.get("x-kubernetes-group-version-kind", []):
            return str(name)
    return None


# -- every kind, every reference ---------------------------------------------------------


@pytest.mark.parametrize("rt", list(REGISTRY), ids=lambda rt: f"{rt.api_version}/{rt.kind}")
def test_every_builtin_kind_has_a_schema(rt: _registry.ResourceType) -> None:
    document = _document(rt.group, rt.version)
    name = _kind_schema(document, rt.group, rt.version, rt.kind)
    assert name == _openapi.kind_component_name(rt.group, rt.version, rt.kind)
    schema = document["components"]["schemas"][name]
    assert schema["type"] == "object"
    assert {"apiVersion", "kind", "metadata"} <= set(schema["properties"])
    assert schema["properties"]["metadata"]["allOf"] == [{"$ref": REF + _openapi_names.OBJECT_META}]
    assert schema["description"]


@pytest.mark.parametrize("gv", GROUP_VERSIONS, ids=_gv_id)
def test_every_ref_resolves_within_the_document(gv: tuple[str, str]) -> None:
    document = _document(*gv)
    schemas = document["components"]["schemas"]
    refs = _refs(document)
    assert refs
    assert {r for r in refs if not r.startswith(REF) or r.removeprefix(REF) not in schemas} == set()
    # and nothing is published that nothing needs
    reachable = {r.removeprefix(REF) for r in _refs(document["paths"])}
    pending = list(reachable)
    while pending:
        for r in _refs(schemas[pending.pop()]):
            name = r.removeprefix(REF)
            if name not in reachable:
                reachable.add(name)
                pending.append(name)
    assert set(schemas) == reachable


def test_v2_refs_resolve_and_use_definitions() -> None:
    document = _openapi.openapi_v2_document()
    assert document["swagger"] == "2.0"
    definitions = document["definitions"]
    refs = _refs(document)
    assert all(r.startswith("#/definitions/") for r in refs)
    assert {r.removeprefix("#/definitions/") for r in refs} <= set(definitions)
    assert not {"allOf", "oneOf", "anyOf", "requestBody", "components"} & _keys(document)
    v3_names = set().union(*(_document(*gv)["components"]["schemas"] for gv in GROUP_VERSIONS))
    assert set(definitions) == v3_names


def test_every_model_class_has_a_kubernetes_name_of_its_own() -> None:
    names = {cls: _openapi.component_name(cls) for cls in MODEL_CLASSES}
    assert all(name.startswith("io.k8s.") for name in names.values()), names
    assert len(set(names.values())) == len(names)


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (_core_pod.Pod, "io.k8s.api.core.v1.Pod"),
        (_meta.ObjectMeta, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
        (_apps.Deployment, "io.k8s.api.apps.v1.Deployment"),
        (_misc.Ingress, "io.k8s.api.networking.v1.Ingress"),
        (_misc.ClusterRole, "io.k8s.api.rbac.v1.ClusterRole"),
        (_misc.Lease, "io.k8s.api.coordination.v1.Lease"),
        (_misc.Scale, "io.k8s.api.autoscaling.v1.Scale"),
        (
            _apiextensions.CustomResourceDefinition,
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        ),
    ],
)
def test_component_names_follow_kubernetes(cls: type, name: str) -> None:
    assert _openapi.component_name(cls) == name


def test_kind_component_names_of_custom_groups_are_reversed() -> None:
    assert _openapi.kind_component_name("stable.example.com", "v1", "CronTab") == (
        "com.example.stable.v1.CronTab"
    )
    assert _openapi.kind_component_name("networking.k8s.io", "v1", "NetworkPolicy") == (
        "io.k8s.api.networking.v1.NetworkPolicy"
    )


# -- known fields ----------------------------------------------------------------------


def _schemas(group: str = "", version: str = "v1") -> dict[str, Any]:
    schemas: dict[str, Any] = _document(group, version)["components"]["schemas"]
    return schemas


def _field(schemas: dict[str, Any], component: str, *path: str) -> dict[str, Any]:
    walker = Walker(schemas)
    schema: dict[str, Any] = schemas[component]
    for name in path:
        schema = walker.resolve(schema)
        schema = schema["items"] if name == "[]" else schema["properties"][name]
    return schema


def test_pod_containers_are_a_map_list_whose_items_require_a_name() -> None:
    schemas = _schemas()
    containers = _field(schemas, "io.k8s.api.core.v1.Pod", "spec", "containers")
    assert containers["type"] == "array"
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    container = Walker(schemas).resolve(containers["items"])
    assert container["required"] == ["name"]  # image is optional, as in Kubernetes
    assert "containers" in schemas["io.k8s.api.core.v1.PodSpec"]["required"]
    ports = _field(schemas, "io.k8s.api.core.v1.Container", "ports")
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    protocol = _field(schemas, "io.k8s.api.core.v1.ContainerPort", "protocol")
    assert protocol["default"] == "TCP"  # a map-list key an item may omit


def test_workload_specs_require_selector_and_template() -> None:
    schemas = _schemas("apps")
    assert {"selector", "template"} <= set(schemas["io.k8s.api.apps.v1.DeploymentSpec"]["required"])
    assert "selector" in schemas["io.k8s.api.apps.v1.ReplicaSetSpec"]["required"]
    selector = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]
    assert selector["x-kubernetes-map-type"] == "atomic"
    strategy = _field(schemas, "io.k8s.api.apps.v1.DeploymentSpec", "strategy")
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"


def test_times_quantities_and_int_or_string() -> None:
    schemas = _schemas()
    walker = Walker(schemas)
    created = _field(schemas, _openapi_names.OBJECT_META, "creationTimestamp")
    assert walker.resolve(created) == schemas[_openapi_names.TIME]
    assert schemas[_openapi_names.TIME] | {"description": ""} == {
        "description": "",
        "type": "string",
        "format": "date-time",
    }
    limits = _field(schemas, "io.k8s.api.core.v1.ResourceRequirements", "limits")
    assert limits["type"] == "object"
    assert limits["additionalProperties"] == {"$ref": REF + _openapi_names.QUANTITY}
    quantity = schemas[_openapi_names.QUANTITY]
    assert quantity["oneOf"] == [{"type": "string"}, {"type": "number"}]
    port = _field(schemas, "io.k8s.api.core.v1.HTTPGetAction", "port")
    int_or_string = walker.resolve(port)
    assert int_or_string["x-kubernetes-int-or-string"] is True
    assert int_or_string["format"] == "int-or-string"
    assert int_or_string["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    event_time = _field(schemas, "io.k8s.api.core.v1.Event", "eventTime")
    assert walker.resolve(event_time) == schemas[_openapi_names.MICRO_TIME]
    data = _field(schemas, "io.k8s.api.core.v1.Secret", "data")
    assert data["additionalProperties"] == {"type": "string", "format": "byte"}
    node_selector = _field(schemas, "io.k8s.api.core.v1.PodSpec", "nodeSelector")
    assert node_selector["x-kubernetes-map-type"] == "atomic"


def test_free_form_fields_preserve_unknown_fields() -> None:
    crd = _schemas("apiextensions.k8s.io")
    validation = crd[
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceValidation"
    ]
    assert (
        validation["properties"]["openAPIV3Schema"]["x-kubernetes-preserve-unknown-fields"] is True
    )
    generic = _openapi.schema_for(_generic.GenericResource)
    assert generic["x-kubernetes-preserve-unknown-fields"] is True
    assert set(generic["properties"]) == {"apiVersion", "kind", "metadata"}
    policy = _schemas("networking.k8s.io")["io.k8s.api.networking.v1.NetworkPolicy"]
    assert policy["x-kubernetes-preserve-unknown-fields"] is True
    assert policy["x-kubernetes-group-version-kind"] == [
        {"group": "networking.k8s.io", "kind": "NetworkPolicy", "version": "v1"}
    ]


def test_descriptions_come_from_metadata_or_are_generated() -> None:
    @attrs.frozen(kw_only=True)
    class Widget(_meta.Model):
        """A widget."""

        size: int = attrs.field(default=0, metadata=_meta.field_info(description="How big."))
        max_count: int = 0

    schema = _openapi.schema_for(Widget)
    assert schema["description"] == "A widget."
    assert schema["properties"]["size"]["description"] == "How big."
    assert schema["properties"]["maxCount"]["description"] == "Max count of the Widget."
    assert _openapi.component_name(Widget) == f"{__name__}.{Widget.__qualname__}"


def test_bad_arguments_raise_typed_errors() -> None:
    with pytest.raises(errors.NotFound):
        _openapi.openapi_v3_document("nothing.example.com", "v1")
    with pytest.raises(errors.BadRequest):
        _openapi.schema_for(int)
    with pytest.raises(errors.BadRequest):
        _openapi.component_name(dict)


# -- validating the fixtures -------------------------------------------------------------


@functools.cache
def _crd_document(group: str, version: str) -> dict[str, Any]:
    return _openapi.openapi_v3_document(group, version, registry=CRD_REGISTRY, crds=CRDS)


def _validate(data: dict[str, Any]) -> list[str] | None:
    """Errors of ``data`` against its kind's schema; None when no document has the kind."""
    group, version = _meta.split_api_version(data["apiVersion"])
    try:
        document = _crd_document(group, version)
    except errors.NotFound:
        return None
    name = _kind_schema(document, group, version, data["kind"])
    if name is None:
        return None
    schemas = document["components"]["schemas"]
    return Walker(schemas).errors(data, schemas[name])


def test_fixtures_validate_against_their_schemas() -> None:
    checked = 0
    failures = {}
    for label, data in DOCUMENTS:
        problems = _validate(data)
        if problems is not None:
            checked += 1
            if problems:
                failures[f"{data['kind']}/{data['metadata']['name']}"] = (label, problems)
    assert checked >= 45
    # The seed MySQLDatabase sets an integer where its CRD says string; kube-apiserver
    # rejects it the same way.
    assert {k: v[1] for k, v in failures.items()} == {
        "MySQLDatabase/my-database": ["spec.storage: expected string, got int"]
    }


def test_unknown_and_mistyped_fields_are_rejected() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labelz": {"a": "b"}},
        "spec": {
            "containers": [{"name": "web", "image": "nginx", "imagePullPolicyy": "Always"}],
            "restartPolicy": 3,
        },
        "extra": True,
    }
    assert sorted(_validate(pod) or []) == [
        "extra: unknown field",
        "metadata.labelz: unknown field",
        "spec.containers[0].imagePullPolicyy: unknown field",
        "spec.restartPolicy: expected string, got int",
    ]
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1}}
    assert sorted(_validate(deployment) or []) == [
        "spec.selector: required",
        "spec.template: required",
    ]
    crontab = {
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "c"},
        "spec": {"cronSpec": "* * * * *", "sparkle": 1},
    }
    assert _validate(crontab) == ["spec.sparkle: unknown field"]


def test_crd_components_are_named_and_wired_like_kubernetes() -> None:
    (crontab,) = [crd for crd in CRDS if crd.spec.names.kind == "CronTab"]
    components = _openapi.crd_schema_components(crontab, version="v1")
    schema = components["com.example.stable.v1.CronTab"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}
    ]
    assert schema["properties"]["metadata"]["allOf"] == [{"$ref": REF + _openapi_names.OBJECT_META}]
    assert schema["properties"]["apiVersion"]["type"] == "string"
    assert schema["properties"]["spec"]["required"] == ["cronSpec"]
    assert components["com.example.stable.v1.CronTabList"]["properties"]["items"]["items"] == {
        "$ref": REF + "com.example.stable.v1.CronTab"
    }
    assert "com.example.stable.v1beta1.CronTab" not in components
    assert "com.example.stable.v1beta1.CronTab" in _openapi.crd_schema_components(crontab)
    assert {r.removeprefix(REF) for r in _refs(components)} <= set(components)
    original = crontab.spec.versions[0].schema
    assert original is not None and original.open_api_v3_schema is not None
    assert "apiVersion" not in original.open_api_v3_schema["properties"]  # input left alone


def test_malformed_crd_schema_is_invalid() -> None:
    (crontab,) = [crd for crd in CRDS if crd.spec.names.kind == "CronTab"]
    bad_version = attrs.evolve(
        crontab.spec.versions[0],
        schema=_apiextensions.CustomResourceValidation(
            open_api_v3_schema={"type": "object", "properties": ["spec"]}
        ),
    )
    bad = attrs.evolve(crontab, spec=attrs.evolve(crontab.spec, versions=[bad_version]))
    with pytest.raises(errors.Invalid) as exc:
        _openapi.crd_schema_components(bad)
    assert exc.value.causes[0].field == "spec.versions[0].schema.openAPIV3Schema.properties"


# -- what kubectl reads ----------------------------------------------------------------


@pytest.mark.parametrize(
    "rt",
    [rt for rt in REGISTRY if "patch" in rt.verbs],
    ids=lambda rt: f"{rt.api_version}/{rt.kind}",
)
def test_every_patch_operation_of_a_kind_offers_field_validation(
    rt: _registry.ResourceType,
) -> None:
    # kubectl's check: the PATCH operations carrying the kind's GVK list fieldValidation
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    patches = [
        item["patch"]
        for item in _document(rt.group, rt.version)["paths"].values()
        if "patch" in item and item["patch"]["x-kubernetes-group-version-kind"] == gvk
    ]
    assert patches
    for operation in patches:
        names = {(p["name"], p["in"]) for p in operation["parameters"]}
        assert ("fieldValidation", "query") in names


def test_paths_of_a_namespaced_resource() -> None:
    paths = _document("apps", "v1")["paths"]
    base = "/apis/apps/v1/namespaces/{namespace}/deployments"
    assert set(paths[base]) == {"get", "post", "parameters"}
    assert set(paths[base + "/{name}"]) == {"get", "put", "patch", "delete", "parameters"}
    assert paths[base + "/{name}"]["patch"]["operationId"] == "patchAppsV1NamespacedDeployment"
    assert paths[base + "/{name}/scale"]["get"]["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling",
        "kind": "Scale",
        "version": "v1",
    }
    namespaces = _document("", "v1")["paths"]
    assert "/api/v1/namespaces/{name}/status" in namespaces
    assert set(namespaces["/api/v1/namespaces/{namespace}/bindings"]) == {"post", "parameters"}


def test_index_lists_every_group_version_with_its_document_hash() -> None:
    index = _openapi.openapi_v3_index()
    keys = list(index["paths"])
    assert keys[0] == "api/v1"
    assert "apis/apps/v1" in keys and "apis/rbac.authorization.k8s.io/v1" in keys
    assert len(keys) == len(GROUP_VERSIONS)
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    assert url == "/openapi/v3/apis/apps/v1?hash=" + _openapi.document_hash(_document("apps", "v1"))
    assert re.fullmatch(r"/openapi/v3/apis/apps/v1\?hash=[0-9A-F]{128}", url)


def test_documents_are_json_and_deterministic() -> None:
    for group, version in GROUP_VERSIONS:
        first = json.dumps(_openapi.openapi_v3_document(group, version))
        assert json.dumps(_openapi.openapi_v3_document(group, version)) == first
    assert json.dumps(_openapi.openapi_v2_document()) == json.dumps(_openapi.openapi_v2_document())
    assert _openapi.openapi_v3_index() == _openapi.openapi_v3_index()


def test_a_crd_changes_only_its_group_versions_hash() -> None:
    before = _openapi.openapi_v3_index(registry=CRD_REGISTRY)["paths"]
    after = _openapi.openapi_v3_index(registry=CRD_REGISTRY, crds=CRDS)["paths"]
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {
        "apis/stable.example.com/v1",
        "apis/stable.example.com/v1beta1",
        "apis/ops.example.com/v1alpha1",
        "apis/example.com/v1",
    } & set(before)
    assert "apis/stable.example.com/v1" in changed


def test_v2_primitives_and_kinds() -> None:
    definitions = _openapi.openapi_v2_document()["definitions"]
    assert definitions[_openapi_names.INT_OR_STRING]["type"] == "string"
    assert definitions[_openapi_names.INT_OR_STRING]["format"] == "int-or-string"
    assert definitions[_openapi_names.QUANTITY]["type"] == "string"
    deployment = definitions["io.k8s.api.apps.v1.Deployment"]
    assert (
        deployment["properties"]["spec"]["$ref"]
        == "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    )
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]


# -- the schemas and the codec agree ------------------------------------------------------


def _values(schemas: dict[str, Any], schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
    schema = Walker(schemas).resolve(schema)
    if "oneOf" in schema:
        # Quantity: Kubernetes also takes numbers, korch's codec only strings (reported).
        return st.one_of(*(_values(schemas, b, depth) for b in schema["oneOf"][:1]))
    kind = schema.get("type")
    fmt = schema.get("format")
    if kind is None or (kind == "object" and schema.get("x-kubernetes-preserve-unknown-fields")):
        return st.just({})
    if kind == "string" and fmt == "date-time":
        return st.just("2024-05-01T10:00:00Z")
    if kind == "string" and fmt == "byte":
        return st.binary(max_size=4).map(lambda b: base64.b64encode(b).decode())
    simple = {
        "string": st.text(max_size=3),
        "integer": st.integers(-5, 5),
        "number": st.floats(-5, 5),
        "boolean": st.booleans(),
    }
    if kind in simple:
        return simple[kind]
    if kind == "array":
        if depth <= 0:
            return st.just([])
        return st.lists(_values(schemas, schema["items"], depth - 1), max_size=2)
    if "additionalProperties" in schema:
        if depth <= 0:
            return st.just({})
        item = _values(schemas, schema["additionalProperties"], depth - 1)
        return st.dictionaries(st.text(min_size=1, max_size=3), item, max_size=2)
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    if depth <= 0 and not required:
        return st.just({})
    fixed = {k: _values(schemas, properties[k], depth - 1) for k in sorted(required)}
    optional = {
        k: _values(schemas, v, depth - 1) for k, v in properties.items() if k not in required
    }
    return st.fixed_dictionaries(fixed, optional=optional)


TYPED = [rt for rt in REGISTRY if rt.typed]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_what_the_schema_accepts_the_strict_codec_accepts(data: st.DataObject) -> None:
    rt = data.draw(st.sampled_from(TYPED))
    schemas = _schemas(rt.group, rt.version)
    name = _openapi.kind_component_name(rt.group, rt.version, rt.kind)
    obj = data.draw(_values(schemas, schemas[name], depth=4))
    obj.update(apiVersion=rt.api_version, kind=rt.kind)
    assert Walker(schemas).errors(obj, schemas[name]) == []
    decoded = _codec.from_dict(obj, strict=True)
    assert isinstance(decoded, rt.cls)
