"""Defaulting of the built-in kinds, as kube-apiserver applies it before validation.

:func:`default` fills the fields Kubernetes fills when an object is created or updated
(``SetDefaults_*`` of ``pkg/apis/*/v1/defaults.go`` and the generated
``zz_generated.defaults.go``), plus the two values the API server adds on the way in that a
user sees on every object: ``priority: 0`` on Pods without a priority class (Priority
admission) and a Service's ``ipFamilyPolicy`` (set by the service REST storage). What the
server derives from *request context* is not here: the namespace, uid, generated names, and
a Job's generated selector (:func:`job_selector_defaults`, which needs the uid); neither are
admission's tolerations for not-ready/unreachable nodes.

Per kind, in short (pod specs in :mod:`korch.api._defaults_pod`):

* Deployment: ``replicas: 1``, ``strategy: RollingUpdate`` with ``25%``/``25%``,
  ``revisionHistoryLimit: 10``, ``progressDeadlineSeconds: 600``; ReplicaSet and
  ReplicationController ``replicas: 1`` (an RC also takes its selector and labels from the
  template); StatefulSet ``replicas: 1``, ``podManagementPolicy: OrderedReady``,
  ``updateStrategy: RollingUpdate`` (``partition: 0``), ``revisionHistoryLimit: 10``,
  claim retention ``Retain``/``Retain``, claim templates ``volumeMode: Filesystem`` and
  ``status.phase: Pending``; DaemonSet ``updateStrategy: RollingUpdate`` (``maxUnavailable:
  1``, ``maxSurge: 0``), ``revisionHistoryLimit: 10``.
* Job: ``completions``/``parallelism`` 1 when both are unset (else ``parallelism: 1``),
  ``backoffLimit: 6`` (2^31-1 with ``backoffLimitPerIndex``), ``completionMode:
  NonIndexed``, ``suspend: false``, ``podReplacementPolicy`` (``Failed`` with a
  ``podFailurePolicy``, else ``TerminatingOrFailed``), pod-failure condition status
  ``True``, labels from the template when the Job has none; the template's
  ``restartPolicy`` is left as given. CronJob: ``concurrencyPolicy: Allow``, ``suspend:
  false``, history limits 3 and 1; its job template gets pod-spec defaults only.
* Service: ``type: ClusterIP``, ``sessionAffinity: None`` (ClientIP gets a 10800 s
  timeout), port ``protocol: TCP`` and ``targetPort = port``, ``externalTrafficPolicy:
  Cluster`` when externally reachable, ``internalTrafficPolicy: Cluster``,
  ``allocateLoadBalancerNodePorts: true`` for load balancers, ``ipFamilyPolicy:
  SingleStack`` (``RequireDualStack`` for headless services without a selector).
* Namespace: the ``kubernetes.io/metadata.name`` label, ``status.phase: Active``; Node:
  ``allocatable`` from ``capacity``; Secret ``type: Opaque``; PersistentVolume(Claim)
  ``volumeMode: Filesystem``, ``status.phase: Pending`` (PVs also ``Retain``); Endpoints
  port ``TCP``; LimitRange container defaults from max/min; PriorityClass
  ``preemptionPolicy: PreemptLowerPriority``; HPA ``minReplicas: 1``; RBAC bindings'
  ``apiGroup``; IngressClass parameter ``scope: Cluster``; CRD ``singular``/``listKind``,
  ``conversion.strategy: None``, webhook service port 443, ``status.storedVersions``.

Not defaulted on purpose, as in Kubernetes: a CRD's ``scope`` (required in v1), a Job's
``manualSelector``; quantities are not rounded to milli-units (``SetDefaults_ResourceList``).

Invariants: :func:`default` is pure (never mutates its argument; unchanged parts are shared),
idempotent (``default(default(x)) == default(x)``), and returns its argument itself when
nothing is missing. Kinds without defaults (and GenericResource) are returned unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

from korch.api import _apiextensions as ext
from korch.api import _apps, _batch, _meta, _misc
from korch.api import _core_node as cn
from korch.api import _core_other as co
from korch.api import _core_pod as cp
from korch.api import _core_volume as cv
from korch.api import _defaults_pod as dp

__all__ = ("default", "job_selector_defaults")

T = TypeVar("T")
_copy = dp.copy_with
_MAX_INT32: Final = 2**31 - 1
RBAC_GROUP: Final = "rbac.authorization.k8s.io"
JOB_LABELS: Final = (
    ("batch.kubernetes.io/controller-uid", "controller-uid"),
    ("batch.kubernetes.io/job-name", "job-name"),
)


def _template(template: cp.PodTemplateSpec, *, keep_restart_policy: bool = False) -> Any:
    spec = dp.pod_spec(template.spec, keep_restart_policy=keep_restart_policy)
    return template if spec is template.spec else _copy(template, {"spec": spec})


def _with_spec(obj: T, spec: Any) -> T:
    return obj if spec is getattr(obj, "spec") else _copy(obj, {"spec": spec})  # noqa: B009


# -- core ----------------------------------------------------------------------------------


def _pod(pod: cp.Pod) -> cp.Pod:
    return _with_spec(pod, dp.pod_spec(pod.spec, pod=True))


def _pod_template(obj: cp.PodTemplate) -> cp.PodTemplate:
    template = _template(obj.template)
    return obj if template is obj.template else _copy(obj, {"template": template})


def _claim_spec(spec: cv.PersistentVolumeClaimSpec) -> cv.PersistentVolumeClaimSpec:
    return spec if spec.volume_mode is not None else _copy(spec, {"volume_mode": "Filesystem"})


def _claim(claim: cv.PersistentVolumeClaim) -> cv.PersistentVolumeClaim:
    changes: dict[str, Any] = {}
    spec = _claim_spec(claim.spec)
    if spec is not claim.spec:
        changes["spec"] = spec
    if not claim.status.phase:
        changes["status"] = _copy(claim.status, {"phase": "Pending"})
    return _copy(claim, changes)


def _volume(pv: cv.PersistentVolume) -> cv.PersistentVolume:
    changes: dict[str, Any] = {}
    spec_changes: dict[str, Any] = {}
    if not pv.spec.persistent_volume_reclaim_policy:
        spec_changes["persistent_volume_reclaim_policy"] = "Retain"
    if pv.spec.volume_mode is None:
        spec_changes["volume_mode"] = "Filesystem"
    if pv.spec.host_path is not None and pv.spec.host_path.type is None:
        spec_changes["host_path"] = _copy(pv.spec.host_path, {"type": ""})
    if spec_changes:
        changes["spec"] = _copy(pv.spec, spec_changes)
    if not pv.status.phase:
        changes["status"] = _copy(pv.status, {"phase": "Pending"})
    return _copy(pv, changes)


def _service_port(port: cn.ServicePort) -> cn.ServicePort:
    changes: dict[str, Any] = {}
    if not port.protocol:
        changes["protocol"] = "TCP"
    if port.target_port in (0, ""):
        changes["target_port"] = port.port
    return _copy(port, changes)


def _service(svc: cn.Service) -> cn.Service:
    spec = svc.spec
    changes: dict[str, Any] = {}
    affinity = spec.session_affinity or "None"
    if affinity != spec.session_affinity:
        changes["session_affinity"] = affinity
    config = spec.session_affinity_config
    if affinity == "None" and config is not None:
        changes["session_affinity_config"] = None
    elif affinity == "ClientIP" and (
        config is None or config.client_ip is None or config.client_ip.timeout_seconds is None
    ):
        changes["session_affinity_config"] = cn.SessionAffinityConfig(
            client_ip=cn.ClientIPConfig(timeout_seconds=10800)
        )
    kind = spec.type or "ClusterIP"
    if kind != spec.type:
        changes["type"] = kind
    ports = dp.update_list(spec.ports, _service_port)
    if ports is not spec.ports:
        changes["ports"] = ports
    external = kind in ("NodePort", "LoadBalancer") or (kind == "ClusterIP" and spec.external_ips)
    if external and not spec.external_traffic_policy:
        changes["external_traffic_policy"] = "Cluster"
    if spec.internal_traffic_policy is None and kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        changes["internal_traffic_policy"] = "Cluster"
    if kind == "LoadBalancer" and spec.allocate_load_balancer_node_ports is None:
        changes["allocate_load_balancer_node_ports"] = True
    if spec.ip_family_policy is None and kind != "ExternalName":
        headless = spec.cluster_ip == "None" and not spec.selector
        changes["ip_family_policy"] = "RequireDualStack" if headless else "SingleStack"
    result = _with_spec(svc, _copy(spec, changes))
    ingress = result.status.load_balancer.ingress
    if kind == "LoadBalancer" and any(i.ip and i.ip_mode is None for i in ingress):
        vip = [_copy(i, {"ip_mode": "VIP"}) if i.ip and i.ip_mode is None else i for i in ingress]
        balancer = _copy(result.status.load_balancer, {"ingress": vip})
        result = _copy(result, {"status": _copy(result.status, {"load_balancer": balancer})})
    return result


def _namespace(ns: cn.Namespace) -> cn.Namespace:
    changes: dict[str, Any] = {}
    name, labels = ns.metadata.name, ns.metadata.labels
    if name and labels.get("kubernetes.io/metadata.name") != name:
        new_labels = {**labels, "kubernetes.io/metadata.name": name}
        changes["metadata"] = _copy(ns.metadata, {"labels": new_labels})
    if not ns.status.phase:
        changes["status"] = _copy(ns.status, {"phase": "Active"})
    return _copy(ns, changes)


def _node(node: cn.Node) -> cn.Node:
    status = node.status
    if status.allocatable or not status.capacity:
        return node
    return _copy(node, {"status": _copy(status, {"allocatable": dict(status.capacity)})})


def _secret(secret: co.Secret) -> co.Secret:
    return secret if secret.type else _copy(secret, {"type": "Opaque"})


def _endpoint_port(port: cn.EndpointPort) -> cn.EndpointPort:
    return port if port.protocol else _copy(port, {"protocol": "TCP"})


def _endpoints(ep: cn.Endpoints) -> cn.Endpoints:
    def subset(s: cn.EndpointSubset) -> cn.EndpointSubset:
        ports = dp.update_list(s.ports, _endpoint_port)
        return s if ports is s.ports else _copy(s, {"ports": ports})

    subsets = dp.update_list(ep.subsets, subset)
    return ep if subsets is ep.subsets else _copy(ep, {"subsets": subsets})


def _limit_item(item: co.LimitRangeItem) -> co.LimitRangeItem:
    if item.type != "Container":
        return item
    default = dict(item.default)
    for name, value in item.max.items():
        default.setdefault(name, value)
    request = dict(item.default_request)
    for source in (default, item.min):
        for name, value in source.items():
            request.setdefault(name, value)
    if default == item.default and request == item.default_request:
        return item
    return _copy(item, {"default": default, "default_request": request})


def _limit_range(lr: co.LimitRange) -> co.LimitRange:
    limits = dp.update_list(lr.spec.limits, _limit_item)
    return (
        lr if limits is lr.spec.limits else _copy(lr, {"spec": _copy(lr.spec, {"limits": limits})})
    )


def _replication_controller(rc: co.ReplicationController) -> co.ReplicationController:
    spec = rc.spec
    changes: dict[str, Any] = {}
    template = spec.template
    spec_changes: dict[str, Any] = {}
    if template is not None:
        new_template = _template(template)
        if new_template is not template:
            spec_changes["template"] = new_template
        labels = template.metadata.labels
        if labels and not spec.selector:
            spec_changes["selector"] = dict(labels)
        if labels and not rc.metadata.labels:
            changes["metadata"] = _copy(rc.metadata, {"labels": dict(labels)})
    if spec.replicas is None:
        spec_changes["replicas"] = 1
    if spec_changes:
        changes["spec"] = _copy(spec, spec_changes)
    return _copy(rc, changes)


# -- apps ----------------------------------------------------------------------------------


def _deployment(d: _apps.Deployment) -> _apps.Deployment:
    spec = d.spec
    changes: dict[str, Any] = {}
    if spec.replicas is None:
        changes["replicas"] = 1
    strategy = spec.strategy
    kind = strategy.type or "RollingUpdate"
    if kind == "RollingUpdate":
        rolling = strategy.rolling_update or _apps.RollingUpdateDeployment()
        if rolling.max_unavailable is None or rolling.max_surge is None:
            rolling = _copy(
                rolling,
                {
                    "max_unavailable": "25%"
                    if rolling.max_unavailable is None
                    else rolling.max_unavailable,
                    "max_surge": "25%" if rolling.max_surge is None else rolling.max_surge,
                },
            )
        if kind != strategy.type or rolling is not strategy.rolling_update:
            changes["strategy"] = _copy(strategy, {"type": kind, "rolling_update": rolling})
    if spec.revision_history_limit is None:
        changes["revision_history_limit"] = 10
    if spec.progress_deadline_seconds is None:
        changes["progress_deadline_seconds"] = 600
    template = _template(spec.template)
    if template is not spec.template:
        changes["template"] = template
    return _with_spec(d, _copy(spec, changes))


def _replica_set(rs: _apps.ReplicaSet) -> _apps.ReplicaSet:
    spec = rs.spec
    changes: dict[str, Any] = {}
    if spec.replicas is None:
        changes["replicas"] = 1
    template = _template(spec.template)
    if template is not spec.template:
        changes["template"] = template
    return _with_spec(rs, _copy(spec, changes))


def _claim_template(claim: cv.PersistentVolumeClaim) -> cv.PersistentVolumeClaim:
    return _claim(claim)


def _stateful_set(sts: _apps.StatefulSet) -> _apps.StatefulSet:
    spec = sts.spec
    changes: dict[str, Any] = {}
    if not spec.pod_management_policy:
        changes["pod_management_policy"] = "OrderedReady"
    strategy = spec.update_strategy
    rolling = strategy.rolling_update
    kind = strategy.type
    if not kind:
        kind = "RollingUpdate"
        rolling = rolling or _apps.RollingUpdateStatefulSetStrategy()
    if kind == "RollingUpdate" and rolling is not None and rolling.partition is None:
        rolling = _copy(rolling, {"partition": 0})
    if kind != strategy.type or rolling is not strategy.rolling_update:
        changes["update_strategy"] = _copy(strategy, {"type": kind, "rolling_update": rolling})
    policy = spec.persistent_volume_claim_retention_policy
    if policy is None or not policy.when_deleted or not policy.when_scaled:
        policy = policy or _apps.StatefulSetPersistentVolumeClaimRetentionPolicy()
        changes["persistent_volume_claim_retention_policy"] = _copy(
            policy,
            {
                "when_deleted": policy.when_deleted or "Retain",
                "when_scaled": policy.when_scaled or "Retain",
            },
        )
    if spec.replicas is None:
        changes["replicas"] = 1
    if spec.revision_history_limit is None:
        changes["revision_history_limit"] = 10
    template = _template(spec.template)
    if template is not spec.template:
        changes["template"] = template
    claims = dp.update_list(spec.volume_claim_templates, _claim_template)
    if claims is not spec.volume_claim_templates:
        changes["volume_claim_templates"] = claims
    return _with_spec(sts, _copy(spec, changes))


def _daemon_set(ds: _apps.DaemonSet) -> _apps.DaemonSet:
    spec = ds.spec
    changes: dict[str, Any] = {}
    strategy = spec.update_strategy
    kind = strategy.type or "RollingUpdate"
    if kind == "RollingUpdate":
        rolling = strategy.rolling_update or _apps.RollingUpdateDaemonSet()
        if rolling.max_unavailable is None or rolling.max_surge is None:
            rolling = _copy(
                rolling,
                {
                    "max_unavailable": 1
                    if rolling.max_unavailable is None
                    else rolling.max_unavailable,
                    "max_surge": 0 if rolling.max_surge is None else rolling.max_surge,
                },
            )
        if kind != strategy.type or rolling is not strategy.rolling_update:
            changes["update_strategy"] = _copy(strategy, {"type": kind, "rolling_update": rolling})
    if spec.revision_history_limit is None:
        changes["revision_history_limit"] = 10
    template = _template(spec.template)
    if template is not spec.template:
        changes["template"] = template
    return _with_spec(ds, _copy(spec, changes))


# -- batch ---------------------------------------------------------------------------------


def _failure_rule(rule: _batch.PodFailurePolicyRule) -> _batch.PodFailurePolicyRule:
    def pattern(
        p: _batch.PodFailurePolicyOnPodConditionsPattern,
    ) -> _batch.PodFailurePolicyOnPodConditionsPattern:
        return p if p.status else _copy(p, {"status": "True"})

    patterns = dp.update_list(rule.on_pod_conditions, pattern)
    return (
        rule if patterns is rule.on_pod_conditions else _copy(rule, {"on_pod_conditions": patterns})
    )


def _job_spec(spec: _batch.JobSpec) -> _batch.JobSpec:
    changes: dict[str, Any] = {}
    if spec.completions is None and spec.parallelism is None:
        changes["completions"] = 1
    if spec.parallelism is None:
        changes["parallelism"] = 1
    if spec.backoff_limit is None:
        changes["backoff_limit"] = _MAX_INT32 if spec.backoff_limit_per_index is not None else 6
    if spec.completion_mode is None:
        changes["completion_mode"] = "NonIndexed"
    if spec.suspend is None:
        changes["suspend"] = False
    policy = spec.pod_failure_policy
    if policy is not None:
        rules = dp.update_list(policy.rules, _failure_rule)
        if rules is not policy.rules:
            changes["pod_failure_policy"] = _copy(policy, {"rules": rules})
    if spec.pod_replacement_policy is None:
        changes["pod_replacement_policy"] = (
            "Failed" if policy is not None else "TerminatingOrFailed"
        )
    template = _template(spec.template, keep_restart_policy=True)
    if template is not spec.template:
        changes["template"] = template
    return _copy(spec, changes)


def _job(job: _batch.Job) -> _batch.Job:
    result = _with_spec(job, _job_spec(job.spec))
    labels = job.spec.template.metadata.labels
    if labels and not job.metadata.labels:
        result = _copy(result, {"metadata": _copy(job.metadata, {"labels": dict(labels)})})
    return result


def _cron_job(cj: _batch.CronJob) -> _batch.CronJob:
    spec = cj.spec
    changes: dict[str, Any] = {}
    if not spec.concurrency_policy:
        changes["concurrency_policy"] = "Allow"
    if spec.suspend is None:
        changes["suspend"] = False
    if spec.successful_jobs_history_limit is None:
        changes["successful_jobs_history_limit"] = 3
    if spec.failed_jobs_history_limit is None:
        changes["failed_jobs_history_limit"] = 1
    job_template = spec.job_template
    template = _template(job_template.spec.template, keep_restart_policy=True)
    if template is not job_template.spec.template:
        job_spec = _copy(job_template.spec, {"template": template})
        changes["job_template"] = _copy(job_template, {"spec": job_spec})
    return _with_spec(cj, _copy(spec, changes))


def job_selector_defaults(job: _batch.Job, uid: str) -> _batch.Job:
    """Add the selector and pod labels kube-apiserver generates when it creates a Job.

    Unless ``spec.manualSelector`` is true, the template gets the labels
    ``batch.kubernetes.io/controller-uid`` and ``controller-uid`` (= ``uid``),
    ``batch.kubernetes.io/job-name`` and ``job-name`` (= the Job's name) where not already
    set, and the selector gets ``matchLabels: {batch.kubernetes.io/controller-uid: uid}``
    where not already set. A user's conflicting labels are left for validation to reject.
    The API server calls this at create time, with the uid it assigns; :func:`default`
    does not.

    Args:
        job: the Job being created (not modified).
        uid: the uid assigned to it.

    Returns:
        The Job with the generated selector and labels (``job`` itself when manual).
    """
    if job.spec.manual_selector:
        return job
    template = job.spec.template
    labels = dict(template.metadata.labels)
    for uid_label, name_label in zip(*JOB_LABELS, strict=True):
        labels.setdefault(name_label, job.metadata.name)
        labels.setdefault(uid_label, uid)
    selector = job.spec.selector or _meta.LabelSelector()
    match = dict(selector.match_labels)
    match.setdefault(JOB_LABELS[0][0], uid)
    new_template = _copy(template, {"metadata": _copy(template.metadata, {"labels": labels})})
    spec = _copy(
        job.spec,
        {"template": new_template, "selector": _copy(selector, {"match_labels": match})},
    )
    return _copy(job, {"spec": spec})


# -- other groups --------------------------------------------------------------------------


def _subject(subject: _misc.Subject) -> _misc.Subject:
    if subject.api_group or subject.kind not in ("User", "Group"):
        return subject
    return _copy(subject, {"api_group": RBAC_GROUP})


def _binding(binding: Any) -> Any:
    changes: dict[str, Any] = {}
    if not binding.role_ref.api_group:
        changes["role_ref"] = _copy(binding.role_ref, {"api_group": RBAC_GROUP})
    subjects = dp.update_list(binding.subjects, _subject)
    if subjects is not binding.subjects:
        changes["subjects"] = subjects
    return _copy(binding, changes)


def _priority_class(pc: _misc.PriorityClass) -> _misc.PriorityClass:
    if pc.preemption_policy is not None:
        return pc
    return _copy(pc, {"preemption_policy": "PreemptLowerPriority"})


def _hpa(hpa: _misc.HorizontalPodAutoscaler) -> _misc.HorizontalPodAutoscaler:
    if hpa.spec.min_replicas is not None:
        return hpa
    return _with_spec(hpa, _copy(hpa.spec, {"min_replicas": 1}))


def _ingress_class(ic: _misc.IngressClass) -> _misc.IngressClass:
    params = ic.spec.parameters
    if params is None or params.scope is not None:
        return ic
    spec = _copy(ic.spec, {"parameters": _copy(params, {"scope": "Cluster"})})
    return _with_spec(ic, spec)


def _crd(crd: ext.CustomResourceDefinition) -> ext.CustomResourceDefinition:
    spec, names = crd.spec, crd.spec.names
    changes: dict[str, Any] = {}
    name_changes: dict[str, Any] = {}
    if not names.singular:
        name_changes["singular"] = names.kind.lower()
    if not names.list_kind and names.kind:
        name_changes["list_kind"] = names.kind + "List"
    if name_changes:
        changes["names"] = _copy(names, name_changes)
    conversion = spec.conversion
    if conversion is None:
        changes["conversion"] = ext.CustomResourceConversion(strategy="None")
    else:
        webhook = conversion.webhook
        config = webhook.client_config if webhook is not None else None
        service = config.service if config is not None else None
        if (
            webhook is not None
            and config is not None
            and service is not None
            and service.port is None
        ):
            config = _copy(config, {"service": _copy(service, {"port": 443})})
            webhook = _copy(webhook, {"client_config": config})
            changes["conversion"] = _copy(conversion, {"webhook": webhook})
    result = _with_spec(crd, _copy(spec, changes))
    if not crd.status.stored_versions:
        storage = next((v.name for v in spec.versions if v.storage), None)
        if storage is not None:
            status = _copy(crd.status, {"stored_versions": [storage]})
            result = _copy(result, {"status": status})
    return result


_DEFAULTERS: Final[dict[type, Callable[[Any], Any]]] = {
    cp.Pod: _pod,
    cp.PodTemplate: _pod_template,
    cv.PersistentVolume: _volume,
    cv.PersistentVolumeClaim: _claim,
    cn.Service: _service,
    cn.Namespace: _namespace,
    cn.Node: _node,
    cn.Endpoints: _endpoints,
    co.Secret: _secret,
    co.LimitRange: _limit_range,
    co.ReplicationController: _replication_controller,
    _apps.Deployment: _deployment,
    _apps.ReplicaSet: _replica_set,
    _apps.StatefulSet: _stateful_set,
    _apps.DaemonSet: _daemon_set,
    _batch.Job: _job,
    _batch.CronJob: _cron_job,
    _misc.RoleBinding: _binding,
    _misc.ClusterRoleBinding: _binding,
    _misc.PriorityClass: _priority_class,
    _misc.HorizontalPodAutoscaler: _hpa,
    _misc.IngressClass: _ingress_class,
    ext.CustomResourceDefinition: _crd,
}


def default(obj: T) -> T:
    """Apply kube-apiserver's defaults to a typed object (rules in the module docstring).

    Args:
        obj: any typed kind (``Pod``, ``Deployment``…), GenericResource or other model
            object; never modified.

    Returns:
        A new object with every missing default filled, sharing unchanged parts with
        ``obj``; ``obj`` itself when nothing was missing or the kind has no defaults.
        ``default(default(obj)) == default(obj)``.
    """
    defaulter = _DEFAULTERS.get(obj.__class__)
    if defaulter is None:
        return obj
    result: T = defaulter(obj)
    return result
