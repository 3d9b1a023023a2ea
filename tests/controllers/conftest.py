"""Shared fixtures: a Widget custom resource (with a status subresource) and helpers."""

from __future__ import annotations

from typing import Any

from korch.api import GenericResource, ObjectMeta, from_dict

WIDGET = ("example.com/v1", "Widget")

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


def widget_crd() -> Any:
    return from_dict(WIDGET_CRD)


def widget(name: str, namespace: str = "default", **spec: Any) -> GenericResource:
    return GenericResource(
        api_version=WIDGET[0],
        kind=WIDGET[1],
        metadata=ObjectMeta(name=name, namespace=namespace),
        body={"spec": spec},
    )
