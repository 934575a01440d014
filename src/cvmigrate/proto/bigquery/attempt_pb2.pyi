import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODE_UNSPECIFIED: _ClassVar[Mode]
    DRY_RUN: _ClassVar[Mode]
    FULL_RUN: _ClassVar[Mode]
    QUICK_DRY_RUN: _ClassVar[Mode]

class AttemptStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTEMPT_STATUS_UNSPECIFIED: _ClassVar[AttemptStatus]
    STARTED: _ClassVar[AttemptStatus]
    SUCCESS: _ClassVar[AttemptStatus]
    ABORTED: _ClassVar[AttemptStatus]
    FAILURE: _ClassVar[AttemptStatus]
    INFRA_FAILURE: _ClassVar[AttemptStatus]

class AttemptSubstatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTEMPT_SUBSTATUS_UNSPECIFIED: _ClassVar[AttemptSubstatus]
    NO_SUBSTATUS: _ClassVar[AttemptSubstatus]
    FAILED_TRYJOBS: _ClassVar[AttemptSubstatus]
    FAILED_LINT: _ClassVar[AttemptSubstatus]
    UNAPPROVED: _ClassVar[AttemptSubstatus]
    PERMISSION_DENIED: _ClassVar[AttemptSubstatus]
    UNSATISFIED_DEPENDENCY: _ClassVar[AttemptSubstatus]
    MANUAL_CANCEL: _ClassVar[AttemptSubstatus]
    BUILDBUCKET_MISCONFIGURATION: _ClassVar[AttemptSubstatus]
MODE_UNSPECIFIED: Mode
DRY_RUN: Mode
FULL_RUN: Mode
QUICK_DRY_RUN: Mode
ATTEMPT_STATUS_UNSPECIFIED: AttemptStatus
STARTED: AttemptStatus
SUCCESS: AttemptStatus
ABORTED: AttemptStatus
FAILURE: AttemptStatus
INFRA_FAILURE: AttemptStatus
ATTEMPT_SUBSTATUS_UNSPECIFIED: AttemptSubstatus
NO_SUBSTATUS: AttemptSubstatus
FAILED_TRYJOBS: AttemptSubstatus
FAILED_LINT: AttemptSubstatus
UNAPPROVED: AttemptSubstatus
PERMISSION_DENIED: AttemptSubstatus
UNSATISFIED_DEPENDENCY: AttemptSubstatus
MANUAL_CANCEL: AttemptSubstatus
BUILDBUCKET_MISCONFIGURATION: AttemptSubstatus

class Attempt(_message.Message):
    __slots__ = ("key", "luci_project", "cl_group_key", "equivalent_cl_group_key", "start_time", "end_time", "gerrit_changes", "builds", "status", "substatus", "config_group", "has_custom_requirement")
    KEY_FIELD_NUMBER: _ClassVar[int]
    LUCI_PROJECT_FIELD_NUMBER: _ClassVar[int]
    CL_GROUP_KEY_FIELD_NUMBER: _ClassVar[int]
    EQUIVALENT_CL_GROUP_KEY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GERRIT_CHANGES_FIELD_NUMBER: _ClassVar[int]
    BUILDS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUBSTATUS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_GROUP_FIELD_NUMBER: _ClassVar[int]
    HAS_CUSTOM_REQUIREMENT_FIELD_NUMBER: _ClassVar[int]
    key: str
    luci_project: str
    cl_group_key: str
    equivalent_cl_group_key: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    gerrit_changes: _containers.RepeatedCompositeFieldContainer[GerritChange]
    builds: _containers.RepeatedCompositeFieldContainer[Build]
    status: AttemptStatus
    substatus: AttemptSubstatus
    config_group: str
    has_custom_requirement: bool
    def __init__(self, key: _Optional[str] = ..., luci_project: _Optional[str] = ..., cl_group_key: _Optional[str] = ..., equivalent_cl_group_key: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., gerrit_changes: _Optional[_Iterable[_Union[GerritChange, _Mapping]]] = ..., builds: _Optional[_Iterable[_Union[Build, _Mapping]]] = ..., status: _Optional[_Union[AttemptStatus, str]] = ..., substatus: _Optional[_Union[AttemptSubstatus, str]] = ..., config_group: _Optional[str] = ..., has_custom_requirement: _Optional[bool] = ...) -> None: ...

class GerritChange(_message.Message):
    __slots__ = ("host", "project", "change", "patchset", "earliest_equivalent_patchset", "trigger_time", "mode", "submit_status")
    class SubmitStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SUBMIT_STATUS_UNSPECIFIED: _ClassVar[GerritChange.SubmitStatus]
        PENDING: _ClassVar[GerritChange.SubmitStatus]
        UNKNOWN: _ClassVar[GerritChange.SubmitStatus]
        FAILURE: _ClassVar[GerritChange.SubmitStatus]
        SUCCESS: _ClassVar[GerritChange.SubmitStatus]
    SUBMIT_STATUS_UNSPECIFIED: GerritChange.SubmitStatus
    PENDING: GerritChange.SubmitStatus
    UNKNOWN: GerritChange.SubmitStatus
    FAILURE: GerritChange.SubmitStatus
    SUCCESS: GerritChange.SubmitStatus
    HOST_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    PATCHSET_FIELD_NUMBER: _ClassVar[int]
    EARLIEST_EQUIVALENT_PATCHSET_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_TIME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_STATUS_FIELD_NUMBER: _ClassVar[int]
    host: str
    project: str
    change: int
    patchset: int
    earliest_equivalent_patchset: int
    trigger_time: _timestamp_pb2.Timestamp
    mode: Mode
    submit_status: GerritChange.SubmitStatus
    def __init__(self, host: _Optional[str] = ..., project: _Optional[str] = ..., change: _Optional[int] = ..., patchset: _Optional[int] = ..., earliest_equivalent_patchset: _Optional[int] = ..., trigger_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mode: _Optional[_Union[Mode, str]] = ..., submit_status: _Optional[_Union[GerritChange.SubmitStatus, str]] = ...) -> None: ...

class Build(_message.Message):
    __slots__ = ("id", "host", "origin", "critical")
    class Origin(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ORIGIN_UNSPECIFIED: _ClassVar[Build.Origin]
        NOT_REUSABLE: _ClassVar[Build.Origin]
        NOT_REUSED: _ClassVar[Build.Origin]
        REUSED: _ClassVar[Build.Origin]
    ORIGIN_UNSPECIFIED: Build.Origin
    NOT_REUSABLE: Build.Origin
    NOT_REUSED: Build.Origin
    REUSED: Build.Origin
    ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    CRITICAL_FIELD_NUMBER: _ClassVar[int]
    id: int
    host: str
    origin: Build.Origin
    critical: bool
    def __init__(self, id: _Optional[int] = ..., host: _Optional[str] = ..., origin: _Optional[_Union[Build.Origin, str]] = ..., critical: _Optional[bool] = ...) -> None: ...
