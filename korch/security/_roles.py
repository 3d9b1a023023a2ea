"""The default ClusterRoles and ClusterRoleBindings, and how they get into a cluster.

kube-apiserver creates these at start-up (its ``rbac/bootstrap-roles`` hook); korch's are
the same in name and intent, with rules for what korch serves:

* **user-facing**: ``cluster-admin`` (everything, bound to the group ``system:masters``),
  and the aggregated ``admin`` ⊇ ``edit`` ⊇ ``view`` — empty shells with an
  ``aggregationRule`` whose rules come from the ``system:aggregate-to-{admin,edit,view}``
  roles and from any ClusterRole you label ``rbac.authorization.k8s.io/aggregate-to-view:
  "true"`` (etc.). ``view`` cannot read Secrets; ``edit`` cannot change roles or bindings;
  ``admin`` can, within a namespace (bind it with a RoleBinding).
* **discovery**: ``system:discovery``, ``system:basic-user`` (SelfSubjectAccessReview,
  SelfSubjectRulesReview: ``kubectl auth can-i``), ``system:public-info-viewer`` (health and
  version), ``system:service-account-issuer-discovery``, each bound to
  ``system:authenticated`` (the last two also to ``system:unauthenticated`` and
  ``system:serviceaccounts`` as Kubernetes does).
* **components** (least privilege): ``system:kube-scheduler`` (user
  ``system:kube-scheduler``), ``system:kube-controller-manager`` (user
  ``system:kube-controller-manager``), ``system:node`` (group ``system:nodes``),
  ``system:node-proxier`` (user ``system:kube-proxy``), ``system:node-bootstrapper`` (group
  ``system:bootstrappers``), ``system:auth-delegator``, ``system:monitoring`` (group
  ``system:monitoring``).

Two deliberate differences from Kubernetes, both because korch lacks a piece Kubernetes has:

* korch's controller manager runs every controller under one identity (Kubernetes gives each
  controller its own service account with ``--use-service-account-credentials``), so
  ``system:kube-controller-manager`` holds the union of what those controllers need —
  including the garbage collector's read/update/delete of every resource.
* Kubernetes leaves ``system:node`` unbound and restricts kubelets with the Node authorizer;
  korch has no Node authorizer yet, so ``system:node`` is bound to the group
  ``system:nodes`` (as Kubernetes did before 1.8).

Every default object carries the label ``kubernetes.io/bootstrapping: rbac-defaults`` and the
annotation ``rbac.authorization.kubernetes.io/autoupdate: "true"``. :func:`ensure_default_roles`
creates the missing ones and, for existing ones still marked autoupdate, adds missing rules
and subjects (never removing what an administrator added), as kube-apiserver's reconciliation
does; set the annotation to ``"false"`` to keep your own version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import attrs

from korch import errors
from korch.api import _meta, _misc
from korch.client import _protocol

__all__ = (
    "AGGREGATE_TO_ADMIN",
    "AGGREGATE_TO_EDIT",
    "AGGREGATE_TO_VIEW",
    "default_cluster_role_bindings",
    "default_cluster_roles",
    "ensure_default_roles",
)

AGGREGATE_TO_ADMIN: Final = "rbac.authorization.k8s.io/aggregate-to-admin"
AGGREGATE_TO_EDIT: Final = "rbac.authorization.k8s.io/aggregate-to-edit"
AGGREGATE_TO_VIEW: Final = "rbac.authorization.k8s.io/aggregate-to-view"
_BOOTSTRAP_LABEL: Final = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_AUTOUPDATE: Final = "rbac.authorization.kubernetes.io/autoupdate"
_RBAC: Final = "rbac.authorization.k8s.io"

_READ: Final = ("get", "list", "watch")
_WRITE: Final = ("create", "delete", "deletecollection", "patch", "update")
_ALL: Final = (*_READ, *_WRITE)


def _rule(
    groups: Sequence[str],
    resources: Sequence[str],
    verbs: Sequence[str],
    names: Sequence[str] = (),
) -> _misc.PolicyRule:
    return _misc.PolicyRule(
        api_groups=list(groups),
        resources=list(resources),
        verbs=list(verbs),
        resource_names=list(names),
    )


def _urls(urls: Sequence[str], verbs: Sequence[str] = ("get",)) -> _misc.PolicyRule:
    return _misc.PolicyRule(non_resource_urls=list(urls), verbs=list(verbs))


def _role(
    name: str,
    rules: Sequence[_misc.PolicyRule] = (),
    *,
    labels: dict[str, str] | None = None,
    aggregate_from: str = "",
) -> _misc.ClusterRole:
    aggregation = None
    if aggregate_from:
        selector = _meta.LabelSelector(match_labels={aggregate_from: "true"})
        aggregation = _misc.AggregationRule(cluster_role_selectors=[selector])
    return _misc.ClusterRole(
        metadata=_meta.ObjectMeta(
            name=name,
            labels={**_BOOTSTRAP_LABEL, **(labels or {})},
            annotations={_AUTOUPDATE: "true"},
        ),
        rules=list(rules),
        aggregation_rule=aggregation,
    )


_EVENTS: Final = (
    _rule([""], ["events"], ["create", "patch", "update"]),
    _rule(["events.k8s.io"], ["events"], ["create", "patch", "update"]),
)
_REVIEWS: Final = (
    _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
    _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
)


def _view_rules() -> list[_misc.PolicyRule]:
    core = [
        "configmaps",
        "endpoints",
        "persistentvolumeclaims",
        "persistentvolumeclaims/status",
        "pods",
        "pods/log",
        "pods/status",
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "replicationcontrollers/status",
        "serviceaccounts",
        "services",
        "services/status",
        "bindings",
        "events",
        "limitranges",
        "namespaces/status",
        "resourcequotas",
        "resourcequotas/status",
    ]
    return [
        _rule([""], core, _READ),
        _rule([""], ["namespaces"], _READ),
        _rule(
            ["apps"],
            [
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
            _READ,
        ),
        _rule(
            ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], _READ
        ),
        _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], _READ),
        _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], _READ),
        _rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], _READ),
        _rule(["discovery.k8s.io"], ["endpointslices"], _READ),
    ]


def _edit_rules() -> list[_misc.PolicyRule]:
    pod_access = ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]
    return [
        _rule([""], [*pod_access, "secrets", "services/proxy"], _READ),
        _rule([""], ["serviceaccounts"], ["impersonate"]),
        _rule([""], ["pods", *pod_access], _WRITE),
        _rule([""], ["pods/eviction", "serviceaccounts/token"], ["create"]),
        _rule(
            [""],
            [
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
            _WRITE,
        ),
        _rule(
            ["apps"],
            [
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            _WRITE,
        ),
        _rule(["autoscaling"], ["horizontalpodautoscalers"], _WRITE),
        _rule(["batch"], ["cronjobs", "jobs"], _WRITE),
        _rule(["policy"], ["poddisruptionbudgets"], _WRITE),
        _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], _WRITE),
        _rule(["coordination.k8s.io"], ["leases"], _ALL),
    ]


def _admin_rules() -> list[_misc.PolicyRule]:
    return [
        _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
        _rule([_RBAC], ["rolebindings", "roles"], _ALL),
    ]


def _scheduler_rules() -> list[_misc.PolicyRule]:
    return [
        *_EVENTS,
        _rule(["coordination.k8s.io"], ["leases"], ["create"]),
        _rule(["coordination.k8s.io"], ["leases"], ["get", "update"], ["kube-scheduler"]),
        _rule([""], ["nodes", "namespaces"], _READ),
        _rule([""], ["pods"], ["delete", *_READ]),
        _rule([""], ["bindings", "pods/binding"], ["create"]),
        _rule([""], ["pods/status"], ["patch", "update"]),
        _rule(
            [""],
            ["persistentvolumeclaims", "persistentvolumes", "replicationcontrollers", "services"],
            _READ,
        ),
        _rule(["apps"], ["replicasets", "statefulsets"], _READ),
        _rule(["policy"], ["poddisruptionbudgets"], _READ),
        _rule(["scheduling.k8s.io"], ["priorityclasses"], _READ),
        _rule(
            ["storage.k8s.io"],
            ["csidrivers", "csinodes", "csistoragecapacities", "storageclasses"],
            _READ,
        ),
        *_REVIEWS,
    ]


def _controller_manager_rules() -> list[_misc.PolicyRule]:
    return [
        *_EVENTS,
        _rule(["coordination.k8s.io"], ["leases"], ["create"]),
        _rule(["coordination.k8s.io"], ["leases"], ["get", "update"], ["kube-controller-manager"]),
        # the garbage collector and namespace controller: every kind, read and delete
        _rule(
            ["*"], ["*"], ["delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        ),
        _rule(
            [""],
            [
                "pods",
                "events",
                "endpoints",
                "serviceaccounts",
                "secrets",
                "configmaps",
                "persistentvolumeclaims",
            ],
            ["create"],
        ),
        _rule(["apps"], ["replicasets", "controllerrevisions"], ["create"]),
        _rule(["batch"], ["jobs"], ["create"]),
        _rule(["discovery.k8s.io"], ["endpointslices"], ["create"]),
        _rule([""], ["pods/eviction", "serviceaccounts/token"], ["create"]),
        _rule([""], ["namespaces/finalize"], ["update"]),
        *_REVIEWS,
    ]


def _node_rules() -> list[_misc.PolicyRule]:
    return [
        *_EVENTS,
        _rule([""], ["nodes"], ["create", "delete", "patch", "update", *_READ]),
        _rule([""], ["nodes/status"], ["patch", "update"]),
        _rule([""], ["pods"], ["create", "delete", *_READ]),
        _rule([""], ["pods/status"], ["patch", "update"]),
        _rule([""], ["pods/eviction", "serviceaccounts/token"], ["create"]),
        _rule(
            [""], ["configmaps", "secrets", "persistentvolumeclaims", "persistentvolumes"], ["get"]
        ),
        _rule([""], ["services", "endpoints"], _READ),
        _rule(["coordination.k8s.io"], ["leases"], ["create", "delete", "get", "patch", "update"]),
        _rule(["certificates.k8s.io"], ["certificatesigningrequests"], ["create", *_READ]),
        _rule(["node.k8s.io"], ["runtimeclasses"], _READ),
        _rule(["storage.k8s.io"], ["csidrivers", "csinodes", "volumeattachments"], ["get"]),
        *_REVIEWS,
    ]


def default_cluster_roles() -> list[_misc.ClusterRole]:
    """The default ClusterRoles (see the module docstring), in a fixed order."""
    health = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
    return [
        _role("cluster-admin", [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])]),
        _role("admin", aggregate_from=AGGREGATE_TO_ADMIN),
        _role("edit", aggregate_from=AGGREGATE_TO_EDIT, labels={AGGREGATE_TO_ADMIN: "true"}),
        _role("view", aggregate_from=AGGREGATE_TO_VIEW, labels={AGGREGATE_TO_EDIT: "true"}),
        _role("system:aggregate-to-admin", _admin_rules(), labels={AGGREGATE_TO_ADMIN: "true"}),
        _role("system:aggregate-to-edit", _edit_rules(), labels={AGGREGATE_TO_EDIT: "true"}),
        _role("system:aggregate-to-view", _view_rules(), labels={AGGREGATE_TO_VIEW: "true"}),
        _role(
            "system:discovery",
            [
                _urls(
                    [
                        "/api",
                        "/api/*",
                        "/apis",
                        "/apis/*",
                        "/healthz",
                        "/livez",
                        "/openapi",
                        "/openapi/*",
                        "/readyz",
                        "/version",
                        "/version/",
                    ]
                ),
            ],
        ),
        _role(
            "system:basic-user",
            [
                _rule(
                    ["authorization.k8s.io"],
                    ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    ["create"],
                ),
                _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
            ],
        ),
        _role("system:public-info-viewer", [_urls(health)]),
        _role(
            "system:service-account-issuer-discovery",
            [
                _urls(
                    [
                        "/.well-known/openid-configuration",
                        "/.well-known/openid-configuration/",
                        "/openid/v1/jwks",
                        "/openid/v1/jwks/",
                    ]
                ),
            ],
        ),
        _role(
            "system:monitoring",
            [
                _urls(
                    [*health, "/healthz/*", "/livez/*", "/readyz/*", "/metrics", "/metrics/slis"]
                ),
            ],
        ),
        _role("system:auth-delegator", list(_REVIEWS)),
        _role("system:kube-scheduler", _scheduler_rules()),
        _role("system:kube-controller-manager", _controller_manager_rules()),
        _role("system:node", _node_rules()),
        _role(
            "system:node-proxier",
            [
                *_EVENTS,
                _rule([""], ["endpoints", "nodes", "services"], _READ),
                _rule(["discovery.k8s.io"], ["endpointslices"], _READ),
            ],
        ),
        _role(
            "system:node-bootstrapper",
            [
                _rule(["certificates.k8s.io"], ["certificatesigningrequests"], ["create", *_READ]),
            ],
        ),
    ]


def _binding(name: str, role: str, *subjects: tuple[str, str]) -> _misc.ClusterRoleBinding:
    return _misc.ClusterRoleBinding(
        metadata=_meta.ObjectMeta(
            name=name, labels=dict(_BOOTSTRAP_LABEL), annotations={_AUTOUPDATE: "true"}
        ),
        role_ref=_misc.RoleRef(api_group=_RBAC, kind="ClusterRole", name=role),
        subjects=[
            _misc.Subject(kind=kind, api_group=_RBAC, name=subject) for kind, subject in subjects
        ],
    )


def default_cluster_role_bindings() -> list[_misc.ClusterRoleBinding]:
    """The default ClusterRoleBindings (see the module docstring)."""
    authenticated = ("Group", "system:authenticated")
    return [
        _binding("cluster-admin", "cluster-admin", ("Group", "system:masters")),
        _binding("system:discovery", "system:discovery", authenticated),
        _binding("system:basic-user", "system:basic-user", authenticated),
        _binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            authenticated,
            ("Group", "system:unauthenticated"),
        ),
        _binding(
            "system:service-account-issuer-discovery",
            "system:service-account-issuer-discovery",
            ("Group", "system:serviceaccounts"),
        ),
        _binding("system:monitoring", "system:monitoring", ("Group", "system:monitoring")),
        _binding(
            "system:kube-scheduler", "system:kube-scheduler", ("User", "system:kube-scheduler")
        ),
        _binding(
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            ("User", "system:kube-controller-manager"),
        ),
        _binding("system:node", "system:node", ("Group", "system:nodes")),
        _binding("system:node-proxier", "system:node-proxier", ("User", "system:kube-proxy")),
        _binding(
            "system:node-bootstrapper",
            "system:node-bootstrapper",
            ("Group", "system:bootstrappers"),
        ),
    ]


def _merged(existing: Sequence[Any], wanted: Sequence[Any]) -> list[Any] | None:
    missing = [item for item in wanted if item not in existing]
    return [*existing, *missing] if missing else None


async def ensure_default_roles(client: _protocol.Client) -> list[object]:
    """Create the default ClusterRoles and ClusterRoleBindings that are missing, and add
    missing rules/subjects to existing ones annotated ``autoupdate: "true"``.

    Aggregated roles (``admin``, ``edit``, ``view``) are created with no rules: their rules
    are computed from the aggregation (see :func:`korch.security.aggregate_cluster_roles`).

    Args:
        client: a client allowed to create and update ClusterRoles and bindings.

    Returns:
        The objects created or updated.
    """
    changed: list[object] = []
    for role in default_cluster_roles():
        try:
            current = await client.get(_misc.ClusterRole, role.metadata.name)
        except errors.NotFound:
            changed.append(await client.create(role))
            continue
        if current.metadata.annotations.get(_AUTOUPDATE) != "true" or role.aggregation_rule:
            continue
        rules = _merged(current.rules, role.rules)
        if rules is not None:
            changed.append(await client.update(attrs.evolve(current, rules=rules)))
    for binding in default_cluster_role_bindings():
        try:
            existing = await client.get(_misc.ClusterRoleBinding, binding.metadata.name)
        except errors.NotFound:
            changed.append(await client.create(binding))
            continue
        if existing.metadata.annotations.get(_AUTOUPDATE) != "true":
            continue
        subjects = _merged(existing.subjects, binding.subjects)
        if subjects is not None:
            changed.append(await client.update(attrs.evolve(existing, subjects=subjects)))
    return changed
