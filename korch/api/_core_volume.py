"""core/v1 object references, node selectors, volumes, PersistentVolume(Claim).

The common volume sources (emptyDir, hostPath, configMap, secret, persistentVolumeClaim,
projected, downwardAPI, nfs) are typed; every other Kubernetes volume source is a declared
field holding its JSON verbatim (``dict[str, Any]``), so manifests using them decode, pass
strict mode and round-trip without korch modelling each cloud plugin.
"""

from __future__ import annotations

import datetime
from typing import Any

import attrs

from korch.api._core_container import ObjectFieldSelector, ResourceFieldSelector
from korch.api._meta import LabelSelector, Model, ObjectMeta, field_info

__all__ = (
    "ClusterTrustBundleProjection",
    "ConfigMapProjection",
    "ConfigMapVolumeSource",
    "DownwardAPIProjection",
    "DownwardAPIVolumeFile",
    "DownwardAPIVolumeSource",
    "EmptyDirVolumeSource",
    "HostPathVolumeSource",
    "KeyToPath",
    "LocalObjectReference",
    "NFSVolumeSource",
    "NodeSelector",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "ObjectReference",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "PersistentVolumeClaimCondition",
    "PersistentVolumeClaimSpec",
    "PersistentVolumeClaimStatus",
    "PersistentVolumeClaimVolumeSource",
    "PersistentVolumeSpec",
    "PersistentVolumeStatus",
    "ProjectedVolumeSource",
    "SecretProjection",
    "SecretVolumeSource",
    "ServiceAccountTokenProjection",
    "TypedLocalObjectReference",
    "TypedObjectReference",
    "Volume",
    "VolumeNodeAffinity",
    "VolumeProjection",
    "VolumeResourceRequirements",
)

_REQ = field_info(always=True, required=True)
_Raw = dict[str, Any] | None


# -- references and node selectors -----------------------------------------------------


@attrs.frozen(kw_only=True)
class ObjectReference(Model):
    """A reference to any object (events' involvedObject, a PV's claimRef…)."""

    kind: str = ""
    namespace: str = ""
    name: str = ""
    uid: str = ""
    api_version: str = ""
    resource_version: str = ""
    field_path: str = ""


@attrs.frozen(kw_only=True)
class LocalObjectReference(Model):
    """A reference by name to an object in the same namespace."""

    name: str = ""


@attrs.frozen(kw_only=True)
class TypedLocalObjectReference(Model):
    """A typed reference to an object in the same namespace."""

    api_group: str | None = None
    kind: str = attrs.field(default="", metadata=_REQ)
    name: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class TypedObjectReference(Model):
    """A typed reference to an object, possibly in another namespace."""

    api_group: str | None = None
    kind: str = attrs.field(default="", metadata=_REQ)
    name: str = attrs.field(default="", metadata=_REQ)
    namespace: str | None = None


@attrs.frozen(kw_only=True)
class NodeSelectorRequirement(Model):
    """``key operator values`` over node labels or fields (In, NotIn, Exists, Gt, Lt…)."""

    key: str = attrs.field(default="", metadata=_REQ)
    operator: str = attrs.field(default="", metadata=_REQ)
    values: list[str] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class NodeSelectorTerm(Model):
    """Requirements ANDed together; an empty term matches no node."""

    match_expressions: list[NodeSelectorRequirement] = attrs.Factory(list)
    match_fields: list[NodeSelectorRequirement] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class NodeSelector(Model):
    """Terms ORed together."""

    node_selector_terms: list[NodeSelectorTerm] = attrs.Factory(list)


# -- volume sources --------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class KeyToPath(Model):
    """Project one key of a ConfigMap/Secret to a file path."""

    key: str = attrs.field(default="", metadata=_REQ)
    path: str = attrs.field(default="", metadata=_REQ)
    mode: int | None = None


@attrs.frozen(kw_only=True)
class HostPathVolumeSource(Model):
    """A file or directory of the node."""

    path: str = attrs.field(default="", metadata=_REQ)
    type: str | None = None


@attrs.frozen(kw_only=True)
class EmptyDirVolumeSource(Model):
    """A scratch directory living as long as the pod."""

    medium: str = ""
    size_limit: str | None = attrs.field(default=None, metadata=field_info(quantity=True))


@attrs.frozen(kw_only=True)
class ConfigMapVolumeSource(Model):
    """A ConfigMap's keys as files."""

    name: str = ""
    items: list[KeyToPath] = attrs.Factory(list)
    default_mode: int | None = None
    optional: bool | None = None


@attrs.frozen(kw_only=True)
class SecretVolumeSource(Model):
    """A Secret's keys as files."""

    secret_name: str = ""
    items: list[KeyToPath] = attrs.Factory(list)
    default_mode: int | None = None
    optional: bool | None = None


@attrs.frozen(kw_only=True)
class PersistentVolumeClaimVolumeSource(Model):
    """The volume bound to a PersistentVolumeClaim."""

    claim_name: str = attrs.field(default="", metadata=_REQ)
    read_only: bool = False


@attrs.frozen(kw_only=True)
class NFSVolumeSource(Model):
    """An NFS export."""

    server: str = attrs.field(default="", metadata=_REQ)
    path: str = attrs.field(default="", metadata=_REQ)
    read_only: bool = False


@attrs.frozen(kw_only=True)
class DownwardAPIVolumeFile(Model):
    """A file holding a pod field or container resource value."""

    path: str = attrs.field(default="", metadata=_REQ)
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    mode: int | None = None


@attrs.frozen(kw_only=True)
class DownwardAPIVolumeSource(Model):
    """Pod fields and resource values as files."""

    items: list[DownwardAPIVolumeFile] = attrs.Factory(list)
    default_mode: int | None = None


@attrs.frozen(kw_only=True)
class DownwardAPIProjection(Model):
    """Downward API files inside a projected volume."""

    items: list[DownwardAPIVolumeFile] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class ConfigMapProjection(Model):
    """ConfigMap keys inside a projected volume."""

    name: str = ""
    items: list[KeyToPath] = attrs.Factory(list)
    optional: bool | None = None


@attrs.frozen(kw_only=True)
class SecretProjection(Model):
    """Secret keys inside a projected volume."""

    name: str = ""
    items: list[KeyToPath] = attrs.Factory(list)
    optional: bool | None = None


@attrs.frozen(kw_only=True)
class ServiceAccountTokenProjection(Model):
    """A bound service account token file."""

    audience: str = ""
    expiration_seconds: int | None = None
    path: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class ClusterTrustBundleProjection(Model):
    """ClusterTrustBundle certificates as a file."""

    name: str | None = None
    signer_name: str | None = None
    label_selector: LabelSelector | None = None
    optional: bool | None = None
    path: str = attrs.field(default="", metadata=_REQ)


@attrs.frozen(kw_only=True)
class VolumeProjection(Model):
    """One source of a projected volume."""

    secret: SecretProjection | None = None
    downward_api: DownwardAPIProjection | None = None
    config_map: ConfigMapProjection | None = None
    service_account_token: ServiceAccountTokenProjection | None = None
    cluster_trust_bundle: ClusterTrustBundleProjection | None = None
    pod_certificate: _Raw = None


@attrs.frozen(kw_only=True)
class ProjectedVolumeSource(Model):
    """Several sources merged into one directory (the service account volume is one)."""

    sources: list[VolumeProjection] = attrs.Factory(list)
    default_mode: int | None = None


@attrs.frozen(kw_only=True)
class Volume(Model):
    """A named volume of a pod: exactly one source is set."""

    name: str = attrs.field(default="", metadata=_REQ)
    host_path: HostPathVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = None
    gce_persistent_disk: _Raw = None
    aws_elastic_block_store: _Raw = None
    git_repo: _Raw = None
    secret: SecretVolumeSource | None = None
    nfs: NFSVolumeSource | None = None
    iscsi: _Raw = None
    glusterfs: _Raw = None
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None
    rbd: _Raw = None
    flex_volume: _Raw = None
    cinder: _Raw = None
    cephfs: _Raw = None
    flocker: _Raw = None
    downward_api: DownwardAPIVolumeSource | None = None
    fc: _Raw = None
    azure_file: _Raw = None
    config_map: ConfigMapVolumeSource | None = None
    vsphere_volume: _Raw = None
    quobyte: _Raw = None
    azure_disk: _Raw = None
    photon_persistent_disk: _Raw = None
    projected: ProjectedVolumeSource | None = None
    portworx_volume: _Raw = None
    scale_io: _Raw = attrs.field(default=None, metadata=field_info(wire="scaleIO"))
    storageos: _Raw = None
    csi: _Raw = None
    ephemeral: _Raw = None
    image: _Raw = None


# -- persistent volumes ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class VolumeResourceRequirements(Model):
    """Storage requested/limited for a claim (quantity strings)."""

    limits: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    requests: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))


@attrs.frozen(kw_only=True)
class PersistentVolumeClaimSpec(Model):
    """What storage a claim asks for."""

    access_modes: list[str] = attrs.Factory(list)
    selector: LabelSelector | None = None
    resources: VolumeResourceRequirements = attrs.Factory(VolumeResourceRequirements)
    volume_name: str = ""
    storage_class_name: str | None = None
    volume_mode: str | None = None
    data_source: TypedLocalObjectReference | None = None
    data_source_ref: TypedObjectReference | None = None
    volume_attributes_class_name: str | None = None


@attrs.frozen(kw_only=True)
class PersistentVolumeClaimCondition(Model):
    """A condition of a claim (Resizing, FileSystemResizePending…)."""

    type: str = attrs.field(default="", metadata=_REQ)
    status: str = attrs.field(default="", metadata=_REQ)
    last_probe_time: datetime.datetime | None = None
    last_transition_time: datetime.datetime | None = None
    reason: str = ""
    message: str = ""


@attrs.frozen(kw_only=True)
class PersistentVolumeClaimStatus(Model):
    """The observed state of a claim."""

    phase: str = ""
    access_modes: list[str] = attrs.Factory(list)
    capacity: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    conditions: list[PersistentVolumeClaimCondition] = attrs.Factory(list)
    allocated_resources: dict[str, str] = attrs.field(
        factory=dict, metadata=field_info(quantity=True)
    )
    allocated_resource_statuses: dict[str, str] = attrs.Factory(dict)
    current_volume_attributes_class_name: str | None = None
    modify_volume_status: _Raw = None


@attrs.frozen(kw_only=True)
class PersistentVolumeClaim(Model):
    """core/v1 PersistentVolumeClaim: a request for storage."""

    api_version: str = "v1"
    kind: str = "PersistentVolumeClaim"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: PersistentVolumeClaimSpec = attrs.Factory(PersistentVolumeClaimSpec)
    status: PersistentVolumeClaimStatus = attrs.Factory(PersistentVolumeClaimStatus)


@attrs.frozen(kw_only=True)
class VolumeNodeAffinity(Model):
    """The nodes a persistent volume can be reached from."""

    required: NodeSelector | None = None


@attrs.frozen(kw_only=True)
class PersistentVolumeSpec(Model):
    """A piece of storage: capacity, one source, access modes, binding and policy."""

    capacity: dict[str, str] = attrs.field(factory=dict, metadata=field_info(quantity=True))
    gce_persistent_disk: _Raw = None
    aws_elastic_block_store: _Raw = None
    host_path: HostPathVolumeSource | None = None
    glusterfs: _Raw = None
    nfs: NFSVolumeSource | None = None
    rbd: _Raw = None
    iscsi: _Raw = None
    cinder: _Raw = None
    cephfs: _Raw = None
    fc: _Raw = None
    flocker: _Raw = None
    flex_volume: _Raw = None
    azure_file: _Raw = None
    vsphere_volume: _Raw = None
    quobyte: _Raw = None
    azure_disk: _Raw = None
    photon_persistent_disk: _Raw = None
    portworx_volume: _Raw = None
    scale_io: _Raw = attrs.field(default=None, metadata=field_info(wire="scaleIO"))
    local: _Raw = None
    storageos: _Raw = None
    csi: _Raw = None
    access_modes: list[str] = attrs.Factory(list)
    claim_ref: ObjectReference | None = None
    persistent_volume_reclaim_policy: str = ""
    storage_class_name: str = ""
    mount_options: list[str] = attrs.Factory(list)
    volume_mode: str | None = None
    node_affinity: VolumeNodeAffinity | None = None
    volume_attributes_class_name: str | None = None


@attrs.frozen(kw_only=True)
class PersistentVolumeStatus(Model):
    """The phase of a persistent volume (Available, Bound, Released, Failed)."""

    phase: str = ""
    message: str = ""
    reason: str = ""
    last_phase_transition_time: datetime.datetime | None = None


@attrs.frozen(kw_only=True)
class PersistentVolume(Model):
    """core/v1 PersistentVolume (cluster-scoped)."""

    api_version: str = "v1"
    kind: str = "PersistentVolume"
    metadata: ObjectMeta = attrs.Factory(ObjectMeta)
    spec: PersistentVolumeSpec = attrs.Factory(PersistentVolumeSpec)
    status: PersistentVolumeStatus = attrs.Factory(PersistentVolumeStatus)
