import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChangeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANGE_STATUS_INVALID: _ClassVar[ChangeStatus]
    NEW: _ClassVar[ChangeStatus]
    MERGED: _ClassVar[ChangeStatus]
    ABANDONED: _ClassVar[ChangeStatus]

class QueryOption(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPTION_UNSPECIFIED: _ClassVar[QueryOption]
    LABELS: _ClassVar[QueryOption]
    DETAILED_LABELS: _ClassVar[QueryOption]
    CURRENT_REVISION: _ClassVar[QueryOption]
    ALL_REVISIONS: _ClassVar[QueryOption]
    CURRENT_COMMIT: _ClassVar[QueryOption]
    ALL_COMMITS: _ClassVar[QueryOption]
    CURRENT_FILES: _ClassVar[QueryOption]
    ALL_FILES: _ClassVar[QueryOption]
    DETAILED_ACCOUNTS: _ClassVar[QueryOption]
    REVIEWER_UPDATES: _ClassVar[QueryOption]
    MESSAGES: _ClassVar[QueryOption]
    CURRENT_ACTIONS: _ClassVar[QueryOption]
    CHANGE_ACTIONS: _ClassVar[QueryOption]
    REVIEWED: _ClassVar[QueryOption]
    SKIP_MERGEABLE: _ClassVar[QueryOption]
    SUBMITTABLE: _ClassVar[QueryOption]
    WEB_LINKS: _ClassVar[QueryOption]
    CHECK: _ClassVar[QueryOption]
    COMMIT_FOOTERS: _ClassVar[QueryOption]
    PUSH_CERTIFICATES: _ClassVar[QueryOption]
    TRACKING_IDS: _ClassVar[QueryOption]
    DOWNLOAD_COMMANDS: _ClassVar[QueryOption]

class Notify(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTIFY_UNSPECIFIED: _ClassVar[Notify]
    NOTIFY_NONE: _ClassVar[Notify]
    NOTIFY_OWNER: _ClassVar[Notify]
    NOTIFY_OWNER_REVIEWERS: _ClassVar[Notify]
    NOTIFY_ALL: _ClassVar[Notify]
CHANGE_STATUS_INVALID: ChangeStatus
NEW: ChangeStatus
MERGED: ChangeStatus
ABANDONED: ChangeStatus
OPTION_UNSPECIFIED: QueryOption
LABELS: QueryOption
DETAILED_LABELS: QueryOption
CURRENT_REVISION: QueryOption
ALL_REVISIONS: QueryOption
CURRENT_COMMIT: QueryOption
ALL_COMMITS: QueryOption
CURRENT_FILES: QueryOption
ALL_FILES: QueryOption
DETAILED_ACCOUNTS: QueryOption
REVIEWER_UPDATES: QueryOption
MESSAGES: QueryOption
CURRENT_ACTIONS: QueryOption
CHANGE_ACTIONS: QueryOption
REVIEWED: QueryOption
SKIP_MERGEABLE: QueryOption
SUBMITTABLE: QueryOption
WEB_LINKS: QueryOption
CHECK: QueryOption
COMMIT_FOOTERS: QueryOption
PUSH_CERTIFICATES: QueryOption
TRACKING_IDS: QueryOption
DOWNLOAD_COMMANDS: QueryOption
NOTIFY_UNSPECIFIED: Notify
NOTIFY_NONE: Notify
NOTIFY_OWNER: Notify
NOTIFY_OWNER_REVIEWERS: Notify
NOTIFY_ALL: Notify

class ChangeInfo(_message.Message):
    __slots__ = ("number", "owner", "project", "ref", "status", "current_revision", "revisions", "labels", "messages", "submittable", "created", "updated", "is_private", "requirements", "revert_of", "cherry_pick_of_change")
    class RevisionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: RevisionInfo
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[RevisionInfo, _Mapping]] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: LabelInfo
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[LabelInfo, _Mapping]] = ...) -> None: ...
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_REVISION_FIELD_NUMBER: _ClassVar[int]
    REVISIONS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SUBMITTABLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    IS_PRIVATE_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    REVERT_OF_FIELD_NUMBER: _ClassVar[int]
    CHERRY_PICK_OF_CHANGE_FIELD_NUMBER: _ClassVar[int]
    number: int
    owner: AccountInfo
    project: str
    ref: str
    status: ChangeStatus
    current_revision: str
    revisions: _containers.MessageMap[str, RevisionInfo]
    labels: _containers.MessageMap[str, LabelInfo]
    messages: _containers.RepeatedCompositeFieldContainer[ChangeMessageInfo]
    submittable: bool
    created: _timestamp_pb2.Timestamp
    updated: _timestamp_pb2.Timestamp
    is_private: bool
    requirements: _containers.RepeatedCompositeFieldContainer[Requirement]
    revert_of: int
    cherry_pick_of_change: int
    def __init__(self, number: _Optional[int] = ..., owner: _Optional[_Union[AccountInfo, _Mapping]] = ..., project: _Optional[str] = ..., ref: _Optional[str] = ..., status: _Optional[_Union[ChangeStatus, str]] = ..., current_revision: _Optional[str] = ..., revisions: _Optional[_Mapping[str, RevisionInfo]] = ..., labels: _Optional[_Mapping[str, LabelInfo]] = ..., messages: _Optional[_Iterable[_Union[ChangeMessageInfo, _Mapping]]] = ..., submittable: _Optional[bool] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., is_private: _Optional[bool] = ..., requirements: _Optional[_Iterable[_Union[Requirement, _Mapping]]] = ..., revert_of: _Optional[int] = ..., cherry_pick_of_change: _Optional[int] = ...) -> None: ...

class AccountInfo(_message.Message):
    __slots__ = ("name", "email", "secondary_emails", "username", "account_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    SECONDARY_EMAILS_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    email: str
    secondary_emails: _containers.RepeatedScalarFieldContainer[str]
    username: str
    account_id: int
    def __init__(self, name: _Optional[str] = ..., email: _Optional[str] = ..., secondary_emails: _Optional[_Iterable[str]] = ..., username: _Optional[str] = ..., account_id: _Optional[int] = ...) -> None: ...

class ListChangesRequest(_message.Message):
    __slots__ = ("query", "options", "limit", "offset")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    query: str
    options: _containers.RepeatedScalarFieldContainer[QueryOption]
    limit: int
    offset: int
    def __init__(self, query: _Optional[str] = ..., options: _Optional[_Iterable[_Union[QueryOption, str]]] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ListChangesResponse(_message.Message):
    __slots__ = ("changes", "more_changes")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    MORE_CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[ChangeInfo]
    more_changes: bool
    def __init__(self, changes: _Optional[_Iterable[_Union[ChangeInfo, _Mapping]]] = ..., more_changes: _Optional[bool] = ...) -> None: ...

class GetChangeRequest(_message.Message):
    __slots__ = ("number", "options", "project")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    number: int
    options: _containers.RepeatedScalarFieldContainer[QueryOption]
    project: str
    def __init__(self, number: _Optional[int] = ..., options: _Optional[_Iterable[_Union[QueryOption, str]]] = ..., project: _Optional[str] = ...) -> None: ...

class RevisionInfo(_message.Message):
    __slots__ = ("kind", "number", "uploader", "ref", "commit", "files", "created", "description")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_INVALID: _ClassVar[RevisionInfo.Kind]
        REWORK: _ClassVar[RevisionInfo.Kind]
        TRIVIAL_REBASE: _ClassVar[RevisionInfo.Kind]
        MERGE_FIRST_PARENT_UPDATE: _ClassVar[RevisionInfo.Kind]
        NO_CODE_CHANGE: _ClassVar[RevisionInfo.Kind]
        NO_CHANGE: _ClassVar[RevisionInfo.Kind]
    KIND_INVALID: RevisionInfo.Kind
    REWORK: RevisionInfo.Kind
    TRIVIAL_REBASE: RevisionInfo.Kind
    MERGE_FIRST_PARENT_UPDATE: RevisionInfo.Kind
    NO_CODE_CHANGE: RevisionInfo.Kind
    NO_CHANGE: RevisionInfo.Kind
    class FilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: FileInfo
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[FileInfo, _Mapping]] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    UPLOADER_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    kind: RevisionInfo.Kind
    number: int
    uploader: AccountInfo
    ref: str
    commit: CommitInfo
    files: _containers.MessageMap[str, FileInfo]
    created: _timestamp_pb2.Timestamp
    description: str
    def __init__(self, kind: _Optional[_Union[RevisionInfo.Kind, str]] = ..., number: _Optional[int] = ..., uploader: _Optional[_Union[AccountInfo, _Mapping]] = ..., ref: _Optional[str] = ..., commit: _Optional[_Union[CommitInfo, _Mapping]] = ..., files: _Optional[_Mapping[str, FileInfo]] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class CommitInfo(_message.Message):
    __slots__ = ("id", "parents", "message")
    class Parent(_message.Message):
        __slots__ = ("id",)
        ID_FIELD_NUMBER: _ClassVar[int]
        id: str
        def __init__(self, id: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    PARENTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    parents: _containers.RepeatedCompositeFieldContainer[CommitInfo.Parent]
    message: str
    def __init__(self, id: _Optional[str] = ..., parents: _Optional[_Iterable[_Union[CommitInfo.Parent, _Mapping]]] = ..., message: _Optional[str] = ...) -> None: ...

class LabelInfo(_message.Message):
    __slots__ = ("optional", "approved", "rejected", "recommended", "disliked", "blocking", "value", "default_value", "all", "values")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: str
        def __init__(self, key: _Optional[int] = ..., value: _Optional[str] = ...) -> None: ...
    OPTIONAL_FIELD_NUMBER: _ClassVar[int]
    APPROVED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDED_FIELD_NUMBER: _ClassVar[int]
    DISLIKED_FIELD_NUMBER: _ClassVar[int]
    BLOCKING_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    optional: bool
    approved: AccountInfo
    rejected: AccountInfo
    recommended: AccountInfo
    disliked: AccountInfo
    blocking: bool
    value: int
    default_value: int
    all: _containers.RepeatedCompositeFieldContainer[ApprovalInfo]
    values: _containers.ScalarMap[int, str]
    def __init__(self, optional: _Optional[bool] = ..., approved: _Optional[_Union[AccountInfo, _Mapping]] = ..., rejected: _Optional[_Union[AccountInfo, _Mapping]] = ..., recommended: _Optional[_Union[AccountInfo, _Mapping]] = ..., disliked: _Optional[_Union[AccountInfo, _Mapping]] = ..., blocking: _Optional[bool] = ..., value: _Optional[int] = ..., default_value: _Optional[int] = ..., all: _Optional[_Iterable[_Union[ApprovalInfo, _Mapping]]] = ..., values: _Optional[_Mapping[int, str]] = ...) -> None: ...

class ApprovalInfo(_message.Message):
    __slots__ = ("user", "value", "permitted_voting_range", "date", "tag", "post_submit")
    USER_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PERMITTED_VOTING_RANGE_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    POST_SUBMIT_FIELD_NUMBER: _ClassVar[int]
    user: AccountInfo
    value: int
    permitted_voting_range: VotingRangeInfo
    date: _timestamp_pb2.Timestamp
    tag: str
    post_submit: bool
    def __init__(self, user: _Optional[_Union[AccountInfo, _Mapping]] = ..., value: _Optional[int] = ..., permitted_voting_range: _Optional[_Union[VotingRangeInfo, _Mapping]] = ..., date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tag: _Optional[str] = ..., post_submit: _Optional[bool] = ...) -> None: ...

class VotingRangeInfo(_message.Message):
    __slots__ = ("min", "max")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    min: int
    max: int
    def __init__(self, min: _Optional[int] = ..., max: _Optional[int] = ...) -> None: ...

class ChangeMessageInfo(_message.Message):
    __slots__ = ("id", "author", "real_author", "date", "message")
    ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    REAL_AUTHOR_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    author: AccountInfo
    real_author: AccountInfo
    date: _timestamp_pb2.Timestamp
    message: str
    def __init__(self, id: _Optional[str] = ..., author: _Optional[_Union[AccountInfo, _Mapping]] = ..., real_author: _Optional[_Union[AccountInfo, _Mapping]] = ..., date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class Requirement(_message.Message):
    __slots__ = ("status", "fallback_text", "type")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        REQUIREMENT_STATUS_UNSPECIFIED: _ClassVar[Requirement.Status]
        REQUIREMENT_STATUS_OK: _ClassVar[Requirement.Status]
        REQUIREMENT_STATUS_NOT_READY: _ClassVar[Requirement.Status]
        REQUIREMENT_STATUS_RULE_ERROR: _ClassVar[Requirement.Status]
    REQUIREMENT_STATUS_UNSPECIFIED: Requirement.Status
    REQUIREMENT_STATUS_OK: Requirement.Status
    REQUIREMENT_STATUS_NOT_READY: Requirement.Status
    REQUIREMENT_STATUS_RULE_ERROR: Requirement.Status
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_TEXT_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    status: Requirement.Status
    fallback_text: str
    type: str
    def __init__(self, status: _Optional[_Union[Requirement.Status, str]] = ..., fallback_text: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class FileInfo(_message.Message):
    __slots__ = ("status", "binary", "old_path", "lines_inserted", "lines_deleted", "size_delta", "size")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        M: _ClassVar[FileInfo.Status]
        A: _ClassVar[FileInfo.Status]
        D: _ClassVar[FileInfo.Status]
        R: _ClassVar[FileInfo.Status]
        C: _ClassVar[FileInfo.Status]
        W: _ClassVar[FileInfo.Status]
    M: FileInfo.Status
    A: FileInfo.Status
    D: FileInfo.Status
    R: FileInfo.Status
    C: FileInfo.Status
    W: FileInfo.Status
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    OLD_PATH_FIELD_NUMBER: _ClassVar[int]
    LINES_INSERTED_FIELD_NUMBER: _ClassVar[int]
    LINES_DELETED_FIELD_NUMBER: _ClassVar[int]
    SIZE_DELTA_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    status: FileInfo.Status
    binary: bool
    old_path: str
    lines_inserted: int
    lines_deleted: int
    size_delta: int
    size: int
    def __init__(self, status: _Optional[_Union[FileInfo.Status, str]] = ..., binary: _Optional[bool] = ..., old_path: _Optional[str] = ..., lines_inserted: _Optional[int] = ..., lines_deleted: _Optional[int] = ..., size_delta: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class ListFilesRequest(_message.Message):
    __slots__ = ("number", "revision_id", "parent", "project")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    REVISION_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    number: int
    revision_id: str
    parent: int
    project: str
    def __init__(self, number: _Optional[int] = ..., revision_id: _Optional[str] = ..., parent: _Optional[int] = ..., project: _Optional[str] = ...) -> None: ...

class ListFilesResponse(_message.Message):
    __slots__ = ("files",)
    class FilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: FileInfo
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[FileInfo, _Mapping]] = ...) -> None: ...
    FILES_FIELD_NUMBER: _ClassVar[int]
    files: _containers.MessageMap[str, FileInfo]
    def __init__(self, files: _Optional[_Mapping[str, FileInfo]] = ...) -> None: ...

class GetRelatedChangesRequest(_message.Message):
    __slots__ = ("number", "revision_id", "project")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    REVISION_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    number: int
    revision_id: str
    project: str
    def __init__(self, number: _Optional[int] = ..., revision_id: _Optional[str] = ..., project: _Optional[str] = ...) -> None: ...

class GetRelatedChangesResponse(_message.Message):
    __slots__ = ("changes",)
    class ChangeAndCommit(_message.Message):
        __slots__ = ("project", "number", "patchset", "current_patchset", "commit", "status")
        PROJECT_FIELD_NUMBER: _ClassVar[int]
        NUMBER_FIELD_NUMBER: _ClassVar[int]
        PATCHSET_FIELD_NUMBER: _ClassVar[int]
        CURRENT_PATCHSET_FIELD_NUMBER: _ClassVar[int]
        COMMIT_FIELD_NUMBER: _ClassVar[int]
        STATUS_FIELD_NUMBER: _ClassVar[int]
        project: str
        number: int
        patchset: int
        current_patchset: int
        commit: CommitInfo
        status: ChangeStatus
        def __init__(self, project: _Optional[str] = ..., number: _Optional[int] = ..., patchset: _Optional[int] = ..., current_patchset: _Optional[int] = ..., commit: _Optional[_Union[CommitInfo, _Mapping]] = ..., status: _Optional[_Union[ChangeStatus, str]] = ...) -> None: ...
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[GetRelatedChangesResponse.ChangeAndCommit]
    def __init__(self, changes: _Optional[_Iterable[_Union[GetRelatedChangesResponse.ChangeAndCommit, _Mapping]]] = ...) -> None: ...

class NotifyDetails(_message.Message):
    __slots__ = ("recipients",)
    class RecipientType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        RECIPIENT_TYPE_UNSPECIFIED: _ClassVar[NotifyDetails.RecipientType]
        RECIPIENT_TYPE_TO: _ClassVar[NotifyDetails.RecipientType]
        RECIPIENT_TYPE_CC: _ClassVar[NotifyDetails.RecipientType]
        RECIPIENT_TYPE_BCC: _ClassVar[NotifyDetails.RecipientType]
    RECIPIENT_TYPE_UNSPECIFIED: NotifyDetails.RecipientType
    RECIPIENT_TYPE_TO: NotifyDetails.RecipientType
    RECIPIENT_TYPE_CC: NotifyDetails.RecipientType
    RECIPIENT_TYPE_BCC: NotifyDetails.RecipientType
    class Info(_message.Message):
        __slots__ = ("accounts",)
        ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
        accounts: _containers.RepeatedScalarFieldContainer[int]
        def __init__(self, accounts: _Optional[_Iterable[int]] = ...) -> None: ...
    class Recipient(_message.Message):
        __slots__ = ("recipient_type", "info")
        RECIPIENT_TYPE_FIELD_NUMBER: _ClassVar[int]
        INFO_FIELD_NUMBER: _ClassVar[int]
        recipient_type: NotifyDetails.RecipientType
        info: NotifyDetails.Info
        def __init__(self, recipient_type: _Optional[_Union[NotifyDetails.RecipientType, str]] = ..., info: _Optional[_Union[NotifyDetails.Info, _Mapping]] = ...) -> None: ...
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    recipients: _containers.RepeatedCompositeFieldContainer[NotifyDetails.Recipient]
    def __init__(self, recipients: _Optional[_Iterable[_Union[NotifyDetails.Recipient, _Mapping]]] = ...) -> None: ...

class SetReviewRequest(_message.Message):
    __slots__ = ("number", "project", "revision_id", "message", "labels", "tag", "notify", "notify_details", "on_behalf_of")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    REVISION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    NOTIFY_FIELD_NUMBER: _ClassVar[int]
    NOTIFY_DETAILS_FIELD_NUMBER: _ClassVar[int]
    ON_BEHALF_OF_FIELD_NUMBER: _ClassVar[int]
    number: int
    project: str
    revision_id: str
    message: str
    labels: _containers.ScalarMap[str, int]
    tag: str
    notify: Notify
    notify_details: NotifyDetails
    on_behalf_of: int
    def __init__(self, number: _Optional[int] = ..., project: _Optional[str] = ..., revision_id: _Optional[str] = ..., message: _Optional[str] = ..., labels: _Optional[_Mapping[str, int]] = ..., tag: _Optional[str] = ..., notify: _Optional[_Union[Notify, str]] = ..., notify_details: _Optional[_Union[NotifyDetails, _Mapping]] = ..., on_behalf_of: _Optional[int] = ...) -> None: ...

class ReviewResult(_message.Message):
    __slots__ = ("labels",)
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    LABELS_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.ScalarMap[str, int]
    def __init__(self, labels: _Optional[_Mapping[str, int]] = ...) -> None: ...

class SubmitRevisionRequest(_message.Message):
    __slots__ = ("number", "revision_id", "project")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    REVISION_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    number: int
    revision_id: str
    project: str
    def __init__(self, number: _Optional[int] = ..., revision_id: _Optional[str] = ..., project: _Optional[str] = ...) -> None: ...
