"""RBAC evaluation: grants, denials, resourceNames, subresources, nonResourceURLs, namespace
scoping, aggregation, service-account subjects, default roles and access reviews."""

from __future__ import annotations

import pytest

from korch import errors
from korch.api import (
    AggregationRule,
    ClusterRole,
    ClusterRoleBinding,
    LabelSelector,
    ObjectMeta,
    PolicyRule,
    Role,
    RoleBinding,
    RoleRef,
    Subject,
)
from korch.apiserver import UserInfo
from korch.security import _rbac, _rbac_reviews, _roles
from korch.security._rbac import NonResourceAttributes, ResourceAttributes
from korch.security._rbac_aggregation import aggregate_cluster_roles
from korch.security._rbac_authorizer import RBACAuthorizer
from korch.security._rbac_index import RBACEvaluator

RBAC = "rbac.authorization.k8s.io"
ALICE = UserInfo(name="alice", groups=("devs", "system:authenticated"))
BOB = UserInfo(name="bob", groups=("system:authenticated",))


def role(name: str, *rules: PolicyRule, namespace: str = "dev") -> Role:
    return Role(metadata=ObjectMeta(name=name, namespace=namespace), rules=list(rules))


def cluster_role(
    name: str, *rules: PolicyRule, labels: dict[str, str] | None = None
) -> ClusterRole:
    return ClusterRole(metadata=ObjectMeta(name=name, labels=labels or {}), rules=list(rules))


def rule(
    verbs: list[str],
    resources: list[str],
    groups: list[str] | None = None,
    names: list[str] | None = None,
) -> PolicyRule:
    return PolicyRule(
        verbs=verbs, resources=resources, api_groups=groups or [""], resource_names=names or []
    )


def user(name: str) -> Subject:
    return Subject(kind="User", api_group=RBAC, name=name)


def group(name: str) -> Subject:
    return Subject(kind="Group", api_group=RBAC, name=name)


def sa(name: str, namespace: str = "") -> Subject:
    return Subject(kind="ServiceAccount", name=name, namespace=namespace)


def binding(
    name: str, ref_kind: str, ref_name: str, *subjects: Subject, namespace: str = "dev"
) -> RoleBinding:
    return RoleBinding(
        metadata=ObjectMeta(name=name, namespace=namespace),
        role_ref=RoleRef(api_group=RBAC, kind=ref_kind, name=ref_name),
        subjects=list(subjects),
    )


def cluster_binding(name: str, ref_name: str, *subjects: Subject) -> ClusterRoleBinding:
    return ClusterRoleBinding(
        metadata=ObjectMeta(name=name),
        role_ref=RoleRef(api_group=RBAC, kind="ClusterRole", name=ref_name),
        subjects=list(subjects),
    )


def res(
    verb: str,
    resource: str,
    namespace: str = "dev",
    name: str = "",
    group: str = "",
    subresource: str = "",
) -> ResourceAttributes:
    return ResourceAttributes(
        verb=verb,
        resource=resource,
        namespace=namespace,
        name=name,
        group=group,
        subresource=subresource,
    )


def check(
    objects: list[object], who: UserInfo | None, request: ResourceAttributes | NonResourceAttributes
) -> bool:
    """Ask both evaluators; they must agree."""
    evaluator = RBACEvaluator.from_objects(objects)
    indexed = evaluator.allowed(who, request)
    naive, _ = _rbac.naive_decision(evaluator.policy, who, request)
    assert indexed == naive
    return indexed


def test_role_grants_listed_verbs_only() -> None:
    objects: list[object] = [
        role("pod-reader", rule(["get", "list"], ["pods"])),
        binding("read", "Role", "pod-reader", user("alice")),
    ]
    assert check(objects, ALICE, res("get", "pods", name="web"))
    assert check(objects, ALICE, res("list", "pods"))
    assert not check(objects, ALICE, res("delete", "pods", name="web"))
    assert not check(objects, ALICE, res("get", "secrets", name="s"))
    assert not check(objects, BOB, res("get", "pods", name="web"))


def test_wildcards_for_verbs_groups_and_resources() -> None:
    objects: list[object] = [
        role("all", rule(["*"], ["*"], ["*"])),
        binding("b", "Role", "all", user("alice")),
    ]
    assert check(objects, ALICE, res("deletecollection", "deployments", group="apps"))
    assert check(objects, ALICE, res("get", "pods", name="p", subresource="log"))


def test_api_group_must_match() -> None:
    objects: list[object] = [
        role("r", rule(["get"], ["deployments"], ["apps"])),
        binding("b", "Role", "r", user("alice")),
    ]
    assert check(objects, ALICE, res("get", "deployments", group="apps", name="d"))
    assert not check(objects, ALICE, res("get", "deployments", group="extensions", name="d"))
    assert not check(objects, ALICE, res("get", "deployments", name="d"))


def test_resource_names_restrict_to_named_objects() -> None:
    objects: list[object] = [
        role("r", rule(["get", "update", "list"], ["configmaps"], names=["app-config"])),
        binding("b", "Role", "r", user("alice")),
    ]
    assert check(objects, ALICE, res("get", "configmaps", name="app-config"))
    assert not check(objects, ALICE, res("get", "configmaps", name="other"))
    # a list names no object, so a resourceNames rule never covers it
    assert not check(objects, ALICE, res("list", "configmaps"))


def test_subresources_need_their_own_rule() -> None:
    objects: list[object] = [
        role(
            "r",
            rule(["get"], ["pods"]),
            rule(["get"], ["deployments/scale"], ["apps"]),
            rule(["update"], ["*/status"], ["*"]),
        ),
        binding("b", "Role", "r", user("alice")),
    ]
    assert check(objects, ALICE, res("get", "pods", name="p"))
    assert not check(objects, ALICE, res("get", "pods", name="p", subresource="log"))
    assert check(
        objects, ALICE, res("get", "deployments", group="apps", name="d", subresource="scale")
    )
    assert not check(objects, ALICE, res("get", "deployments", group="apps", name="d"))
    assert check(
        objects, ALICE, res("update", "jobs", group="batch", name="j", subresource="status")
    )
    assert not check(objects, ALICE, res("update", "jobs", group="batch", name="j"))


def test_pods_log_rule() -> None:
    objects: list[object] = [
        role("logs", rule(["get"], ["pods/log"])),
        binding("b", "Role", "logs", user("alice")),
    ]
    assert check(objects, ALICE, res("get", "pods", name="p", subresource="log"))
    assert not check(objects, ALICE, res("get", "pods", name="p"))
    assert not check(objects, ALICE, res("get", "pods", name="p", subresource="exec"))


def test_non_resource_urls_exact_and_prefix() -> None:
    objects: list[object] = [
        cluster_role(
            "health", PolicyRule(verbs=["get"], non_resource_urls=["/healthz", "/metrics/*"])
        ),
        cluster_binding("b", "health", group("devs")),
    ]
    assert check(objects, ALICE, NonResourceAttributes(path="/healthz", verb="get"))
    assert check(objects, ALICE, NonResourceAttributes(path="/metrics/slis", verb="get"))
    assert not check(objects, ALICE, NonResourceAttributes(path="/metrics", verb="get"))
    assert not check(objects, ALICE, NonResourceAttributes(path="/healthz", verb="post"))
    assert not check(objects, ALICE, NonResourceAttributes(path="/healthz/etcd", verb="get"))


def test_non_resource_urls_through_a_role_binding_grant_nothing() -> None:
    objects: list[object] = [
        cluster_role("health", PolicyRule(verbs=["get"], non_resource_urls=["*"])),
        binding("b", "ClusterRole", "health", user("alice")),
    ]
    assert not check(objects, ALICE, NonResourceAttributes(path="/healthz", verb="get"))


def test_role_binding_to_cluster_role_grants_in_its_namespace_only() -> None:
    objects: list[object] = [
        cluster_role("pod-reader", rule(["get", "list"], ["pods"])),
        binding("read", "ClusterRole", "pod-reader", user("alice"), namespace="dev"),
    ]
    assert check(objects, ALICE, res("get", "pods", namespace="dev", name="p"))
    assert not check(objects, ALICE, res("get", "pods", namespace="prod", name="p"))
    assert not check(objects, ALICE, res("list", "pods", namespace=""))  # all namespaces


def test_cluster_role_binding_grants_everywhere() -> None:
    objects: list[object] = [
        cluster_role("node-reader", rule(["get", "list"], ["nodes", "pods"])),
        cluster_binding("read", "node-reader", group("devs")),
    ]
    assert check(objects, ALICE, res("get", "nodes", namespace="", name="n1"))
    assert check(objects, ALICE, res("list", "pods", namespace=""))
    assert check(objects, ALICE, res("list", "pods", namespace="anything"))
    assert not check(objects, BOB, res("list", "pods", namespace=""))


def test_role_in_another_namespace_is_not_found() -> None:
    objects: list[object] = [
        role("r", rule(["get"], ["pods"]), namespace="other"),
        binding("b", "Role", "r", user("alice"), namespace="dev"),
    ]
    evaluator = RBACEvaluator.from_objects(objects)
    allowed, reason = evaluator.decide(ALICE, res("get", "pods", name="p"))
    assert not allowed
    assert reason == f'RBAC: role.{RBAC} "r" not found'


def test_service_account_subjects() -> None:
    robot = UserInfo(
        name="system:serviceaccount:dev:robot",
        groups=("system:serviceaccounts", "system:serviceaccounts:dev", "system:authenticated"),
    )
    objects: list[object] = [
        role("r", rule(["get"], ["pods"])),
        binding("explicit", "Role", "r", sa("robot", "dev")),
        role("s", rule(["get"], ["secrets"])),
        binding("implicit", "Role", "s", sa("robot")),  # namespace: the binding's
        cluster_role("cm", rule(["list"], ["configmaps"])),
        cluster_binding("all-sas-in-dev", "cm", group("system:serviceaccounts:dev")),
    ]
    assert check(objects, robot, res("get", "pods", name="p"))
    assert check(objects, robot, res("get", "secrets", name="s"))
    assert check(objects, robot, res("list", "configmaps", namespace="prod"))
    other = UserInfo(
        name="system:serviceaccount:prod:robot",
        groups=("system:serviceaccounts", "system:serviceaccounts:prod"),
    )
    assert not check(objects, other, res("get", "pods", name="p"))
    assert not check(objects, other, res("list", "configmaps", namespace="prod"))


def test_service_account_username_helpers() -> None:
    assert _rbac.service_account_username("dev", "robot") == "system:serviceaccount:dev:robot"
    assert _rbac.split_service_account_username("system:serviceaccount:dev:robot") == (
        "dev",
        "robot",
    )
    assert _rbac.split_service_account_username("alice") is None
    assert _rbac.split_service_account_username("system:serviceaccount:dev") is None


def test_anonymous_is_system_unauthenticated() -> None:
    objects: list[object] = _roles.default_cluster_roles() + _roles.default_cluster_role_bindings()
    assert check(objects, None, NonResourceAttributes(path="/version", verb="get"))
    assert not check(objects, None, NonResourceAttributes(path="/apis", verb="get"))
    assert check(objects, BOB, NonResourceAttributes(path="/apis", verb="get"))


def test_reasons_are_kube_apiservers() -> None:
    objects: list[object] = [
        cluster_role("pod-reader", rule(["get"], ["pods"])),
        binding("read", "ClusterRole", "pod-reader", user("alice")),
        cluster_binding("ghost", "does-not-exist", user("bob")),
        binding("robots", "ClusterRole", "pod-reader", sa("robot")),
    ]
    evaluator = RBACEvaluator.from_objects(objects)
    assert evaluator.decide(ALICE, res("get", "pods", name="p")) == (
        True,
        'RBAC: allowed by RoleBinding "read/dev" of ClusterRole "pod-reader" to User "alice"',
    )
    robot = UserInfo(name="system:serviceaccount:dev:robot")
    assert evaluator.decide(robot, res("get", "pods", name="p"))[1] == (
        'RBAC: allowed by RoleBinding "robots/dev" of ClusterRole "pod-reader" to '
        'ServiceAccount "robot/dev"'
    )
    assert evaluator.decide(ALICE, res("delete", "pods", name="p")) == (False, "")
    assert evaluator.decide(BOB, res("get", "pods", name="p")) == (
        False,
        f'RBAC: clusterrole.{RBAC} "does-not-exist" not found',
    )


def test_aggregation_collects_labelled_roles_by_name() -> None:
    aggregated = ClusterRole(
        metadata=ObjectMeta(name="monitoring"),
        aggregation_rule=AggregationRule(
            cluster_role_selectors=[LabelSelector(match_labels={"aggregate-to-monitoring": "true"})]
        ),
        rules=[rule(["*"], ["*"])],  # controller-managed: replaced
    )
    b = cluster_role(
        "b-endpoints", rule(["get"], ["endpoints"]), labels={"aggregate-to-monitoring": "true"}
    )
    a = cluster_role(
        "a-services",
        rule(["get"], ["services"]),
        rule(["get"], ["endpoints"]),
        labels={"aggregate-to-monitoring": "true"},
    )
    unrelated = cluster_role("c", rule(["get"], ["secrets"]))
    rules = aggregate_cluster_roles([aggregated, b, a, unrelated])
    assert rules == {"monitoring": (rule(["get"], ["services"]), rule(["get"], ["endpoints"]))}
    objects: list[object] = [
        aggregated,
        a,
        b,
        unrelated,
        cluster_binding("m", "monitoring", user("alice")),
    ]
    assert check(objects, ALICE, res("get", "services", name="s"))
    assert not check(objects, ALICE, res("get", "secrets", name="s"))
    assert not check(objects, ALICE, res("delete", "pods", name="p"))


def test_default_admin_edit_view_nest() -> None:
    objects: list[object] = [
        *_roles.default_cluster_roles(),
        binding("v", "ClusterRole", "view", user("viewer")),
        binding("e", "ClusterRole", "edit", user("editor")),
        binding("a", "ClusterRole", "admin", user("admin")),
    ]
    viewer, editor, admin = (UserInfo(name=n) for n in ("viewer", "editor", "admin"))
    read_pods = res("list", "pods")
    read_secret = res("get", "secrets", name="s")
    write_deploy = res("update", "deployments", group="apps", name="d")
    write_role = res("create", "rolebindings", group=RBAC)
    assert [check(objects, u, read_pods) for u in (viewer, editor, admin)] == [True] * 3
    assert [check(objects, u, read_secret) for u in (viewer, editor, admin)] == [False, True, True]
    assert [check(objects, u, write_deploy) for u in (viewer, editor, admin)] == [False, True, True]
    assert [check(objects, u, write_role) for u in (viewer, editor, admin)] == [False, False, True]
    # a custom role labelled aggregate-to-view flows into view, edit and admin
    crd_viewer = cluster_role(
        "crontabs-view",
        rule(["get"], ["crontabs"], ["stable.example.com"]),
        labels={_roles.AGGREGATE_TO_VIEW: "true"},
    )
    request = res("get", "crontabs", group="stable.example.com", name="c")
    assert not check(objects, viewer, request)
    assert all(check([*objects, crd_viewer], u, request) for u in (viewer, editor, admin))


def test_aggregation_cycle_terminates() -> None:
    selector = [LabelSelector(match_labels={"ring": "yes"})]
    one = ClusterRole(
        metadata=ObjectMeta(name="one", labels={"ring": "yes"}),
        aggregation_rule=AggregationRule(cluster_role_selectors=selector),
    )
    two = ClusterRole(
        metadata=ObjectMeta(name="two", labels={"ring": "yes"}),
        aggregation_rule=AggregationRule(cluster_role_selectors=selector),
    )
    leaf = cluster_role("leaf", rule(["get"], ["pods"]), labels={"ring": "yes"})
    rules = aggregate_cluster_roles([one, two, leaf])
    assert rules == {"one": (rule(["get"], ["pods"]),), "two": (rule(["get"], ["pods"]),)}


def test_invalid_aggregation_selector_names_the_field() -> None:
    bad = ClusterRole(
        metadata=ObjectMeta(name="bad"),
        aggregation_rule=AggregationRule(
            cluster_role_selectors=[LabelSelector(match_labels={"not a key!": "x"})]
        ),
    )
    with pytest.raises(errors.Invalid, match=r"aggregationRule.clusterRoleSelectors\[0\]"):
        aggregate_cluster_roles([bad])


@pytest.mark.parametrize(
    ("who", "request_", "allowed"),
    [
        ("system:kube-scheduler", res("create", "pods", name="p", subresource="binding"), True),
        (
            "system:kube-scheduler",
            res(
                "update",
                "leases",
                group="coordination.k8s.io",
                namespace="kube-system",
                name="kube-scheduler",
            ),
            True,
        ),
        (
            "system:kube-scheduler",
            res(
                "update",
                "leases",
                group="coordination.k8s.io",
                namespace="kube-system",
                name="other",
            ),
            False,
        ),
        ("system:kube-scheduler", res("get", "secrets", name="s"), False),
        ("system:kube-scheduler", res("create", "deployments", group="apps"), False),
        ("system:kube-controller-manager", res("create", "replicasets", group="apps"), True),
        (
            "system:kube-controller-manager",
            res("delete", "widgets", group="example.com", name="w"),
            True,
        ),
        (
            "system:kube-controller-manager",
            res("create", "clusterroles", group=RBAC, namespace=""),
            False,
        ),
        ("system:kube-proxy", res("watch", "endpointslices", group="discovery.k8s.io"), True),
        ("system:kube-proxy", res("get", "secrets", name="s"), False),
    ],
)
def test_component_roles_are_least_privilege(
    who: str, request_: ResourceAttributes, allowed: bool
) -> None:
    objects: list[object] = _roles.default_cluster_roles() + _roles.default_cluster_role_bindings()
    assert check(objects, UserInfo(name=who, groups=("system:authenticated",)), request_) is allowed


def test_nodes_and_bootstrappers() -> None:
    objects: list[object] = _roles.default_cluster_roles() + _roles.default_cluster_role_bindings()
    node = UserInfo(name="system:node:n1", groups=("system:nodes", "system:authenticated"))
    assert check(
        objects, node, res("patch", "nodes", namespace="", name="n1", subresource="status")
    )
    assert not check(objects, node, res("delete", "deployments", group="apps", name="d"))
    joiner = UserInfo(
        name="system:bootstrap:abcdef", groups=("system:bootstrappers", "system:authenticated")
    )
    assert check(
        objects,
        joiner,
        res("create", "certificatesigningrequests", group="certificates.k8s.io", namespace=""),
    )
    assert not check(objects, joiner, res("list", "pods"))


def test_system_masters_bound_to_cluster_admin() -> None:
    objects: list[object] = _roles.default_cluster_roles() + _roles.default_cluster_role_bindings()
    root = UserInfo(name="root", groups=("system:masters",))
    assert check(objects, root, res("delete", "anything", group="x.io", name="a"))
    assert check(objects, root, NonResourceAttributes(path="/debug/pprof", verb="get"))


def test_rules_for_lists_namespace_and_cluster_rules() -> None:
    objects: list[object] = [
        *_roles.default_cluster_roles(),
        *_roles.default_cluster_role_bindings(),
        role("r", rule(["get"], ["pods"], names=["web"])),
        binding("b", "Role", "r", user("alice")),
        binding("missing", "Role", "nope", user("alice")),
    ]
    authorizer = RBACAuthorizer(objects=objects)
    status = authorizer.rules_for(ALICE, "dev")
    assert (
        _rbac_reviews.ResourceRule(
            verbs=("get",), api_groups=("",), resources=("pods",), resource_names=("web",)
        )
        in status.resource_rules
    )
    assert any("/apis/*" in r.non_resource_urls for r in status.non_resource_rules)
    assert status.incomplete and status.evaluation_error == f'role.{RBAC} "nope" not found'
    elsewhere = authorizer.rules_for(ALICE, "prod")
    assert all(r.resources != ("pods",) for r in elsewhere.resource_rules)
    assert not elsewhere.incomplete


def test_subject_access_review() -> None:
    objects: list[object] = [
        cluster_role("r", rule(["get"], ["pods"])),
        cluster_binding("b", "r", group("devs")),
    ]
    authorizer = RBACAuthorizer(objects=objects)
    spec = _rbac_reviews.SubjectAccessReviewSpec(
        user="carol", groups=("devs",), resource_attributes=res("get", "pods", name="p")
    )
    status = authorizer.subject_access_review(spec)
    assert status.allowed and not status.denied
    assert status.reason == (
        'RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to Group "devs"'
    )
    denied = authorizer.subject_access_review(
        _rbac_reviews.SubjectAccessReviewSpec(user="carol", resource_attributes=res("get", "pods"))
    )
    assert not denied.allowed and not denied.denied
    masters = authorizer.subject_access_review(
        _rbac_reviews.SubjectAccessReviewSpec(
            user="x",
            groups=("system:masters",),
            non_resource_attributes=NonResourceAttributes(path="/anything", verb="delete"),
        )
    )
    assert masters.allowed
    with pytest.raises(errors.Invalid, match="exactly one of"):
        authorizer.subject_access_review(_rbac_reviews.SubjectAccessReviewSpec(user="carol"))
    with pytest.raises(errors.Invalid, match="user or group"):
        authorizer.subject_access_review(
            _rbac_reviews.SubjectAccessReviewSpec(resource_attributes=res("get", "pods"))
        )
    can_i = authorizer.self_subject_access_review(ALICE, res("get", "pods", name="p"))
    assert can_i.allowed
