-- cvmigrate live set. Times are integer microseconds since the Unix epoch (UTC).
-- Protobuf payloads are stored encoded; RunCL snapshots are frozen at Run creation and kept
-- in every wire form FetchActiveRuns needs, so responses splice bytes instead of re-encoding.

-- CLs: stable int64 CLID per external ID `gerrit/<host>/<change>`, with the latest snapshot.
CREATE TABLE cls (
    id            INTEGER PRIMARY KEY,           -- CLID, assigned at first sight, never reused
    external_id   TEXT    NOT NULL UNIQUE,       -- gerrit/<host>/<change>
    host          TEXT    NOT NULL,
    change        INTEGER NOT NULL,
    patchset      INTEGER NOT NULL DEFAULT 0,
    snapshot_pb   BLOB,                          -- migration.RunCL with only id, gc (no mode), info, files
    snapshot_json TEXT,                          -- the same, proto3 JSON (lowerCamel, defaults omitted)
    snapshot_twirp_json TEXT,                    -- the same, Twirp JSON (snake_case, defaults emitted)
    deps          TEXT    NOT NULL DEFAULT '[]', -- JSON [[clid, 1=HARD|2=SOFT], ...] sorted by clid
    update_time   INTEGER NOT NULL
);

-- Runs. `id` sorts newest first within a project (spec §3.3).
CREATE TABLE runs (
    id                 TEXT    PRIMARY KEY,
    project            TEXT    NOT NULL,
    attempt_key        TEXT    NOT NULL,         -- = text after the last '-' of id (§3.4)
    mode               TEXT    NOT NULL,         -- DRY_RUN | FULL_RUN | QUICK_DRY_RUN
    status             INTEGER NOT NULL,         -- runs.status.Status
    config_group       TEXT    NOT NULL,         -- name of the config group
    create_time        INTEGER NOT NULL,         -- latest trigger time among its CLs
    start_time         INTEGER,
    end_time           INTEGER,
    cl_ids             TEXT    NOT NULL,         -- JSON array of CLIDs, Run.CLs order
    submission         TEXT,                     -- JSON {cls, submitted_cls, failed_cls, deadline}
    finalized_by_cqd   INTEGER NOT NULL DEFAULT 0,
    delay_cancel_until INTEGER,                  -- set while a cancel waits for CQDaemon (§5.6)
    end_message        TEXT    NOT NULL DEFAULT '',
    update_time        INTEGER NOT NULL
);
CREATE INDEX runs_by_project_status ON runs (project, status, id);
CREATE INDEX runs_by_attempt_key ON runs (attempt_key, id);

-- Run CLs: the snapshot frozen at Run creation, pre-encoded as migration.RunCL.
CREATE TABLE run_cls (
    run_id        TEXT    NOT NULL REFERENCES runs (id),
    cl_id         INTEGER NOT NULL REFERENCES cls (id),
    position      INTEGER NOT NULL,
    trigger_json  TEXT    NOT NULL,              -- {time_us, mode, additional_label, email, account_id}
    dep_ids       TEXT    NOT NULL DEFAULT '[]', -- JSON array of the CLIDs in the RunCL's deps
    run_cl_pb     BLOB    NOT NULL,
    run_cl_json   TEXT    NOT NULL,
    run_cl_twirp_json TEXT NOT NULL,
    PRIMARY KEY (run_id, cl_id)
) WITHOUT ROWID;
CREATE INDEX run_cls_by_cl ON run_cls (cl_id);

-- ReportVerifiedRun: first write wins; never deleted (spec §4.3).
CREATE TABLE verified_runs (
    run_id      TEXT    PRIMARY KEY REFERENCES runs (id),
    payload_pb  BLOB    NOT NULL,                -- ReportVerifiedRunRequest with run.id cleared
    update_time INTEGER NOT NULL
) WITHOUT ROWID;

-- ReportFinishedRun: last write wins per attempt key (spec §4.2).
CREATE TABLE finished_runs (
    attempt_key TEXT    PRIMARY KEY,
    run_id      TEXT,                            -- NULL while unclaimed
    payload_pb  BLOB    NOT NULL,                -- the ReportedRun
    update_time INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX finished_runs_by_run ON finished_runs (run_id);

-- ReportUsedNetrc: one credential per Gerrit host, encrypted (Fernet, CVMIGRATE_SECRET_KEY).
CREATE TABLE netrc_tokens (
    gerrit_host TEXT    PRIMARY KEY,
    ciphertext  BLOB    NOT NULL,
    update_time INTEGER NOT NULL
) WITHOUT ROWID;

-- ReportRuns: the latest report per LUCI project.
CREATE TABLE reported_runs (
    project      TEXT    PRIMARY KEY,
    attempt_keys TEXT    NOT NULL,               -- JSON array, sorted
    payload_pb   BLOB    NOT NULL,               -- ReportRunsRequest restricted to this project
    update_time  INTEGER NOT NULL
) WITHOUT ROWID;

-- Run-manager events, durable: written in the transaction that causes them.
CREATE TABLE run_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,              -- cqd_verification_completed | cqd_finished | ...
    payload       TEXT    NOT NULL DEFAULT '{}',
    trace_context TEXT    NOT NULL DEFAULT '',
    attempts      INTEGER NOT NULL DEFAULT 0,
    not_before    INTEGER NOT NULL,
    last_error    TEXT    NOT NULL DEFAULT '',
    done_time     INTEGER,
    create_time   INTEGER NOT NULL
);
CREATE INDEX run_events_pending ON run_events (done_time, not_before);

-- BigQuery outbox: one logical row per ended attempt; dedup_key doubles as insertId.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key     TEXT    NOT NULL UNIQUE,       -- run-<RunID> | attempt-<attempt key>
    row_json      TEXT    NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'pending', -- pending | sent | dead
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT    NOT NULL DEFAULT '',
    trace_context TEXT    NOT NULL DEFAULT '',
    not_before    INTEGER NOT NULL DEFAULT 0,
    create_time   INTEGER NOT NULL,
    sent_time     INTEGER
);
CREATE INDEX outbox_by_state ON outbox (state, not_before, id);

-- API tokens created with `cvmigrate token create` (only the digest is stored).
CREATE TABLE api_tokens (
    sha256      TEXT    PRIMARY KEY,
    identity    TEXT    NOT NULL,
    create_time INTEGER NOT NULL
) WITHOUT ROWID;
