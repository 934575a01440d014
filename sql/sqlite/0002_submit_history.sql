-- Submit queue rate limit (spec §5.2 step 2): when each LUCI project's full runs finished
-- submitting. A Run may take the project's submit slot only while fewer than `max_burst`
-- submissions happened within the last `burst_delay`. The queue itself (who holds the slot,
-- who waits in which order) is derived from Run statuses and their pending `submit` events.
CREATE TABLE submit_history (
    project     TEXT    NOT NULL,
    submit_time INTEGER NOT NULL,                -- when the Run's last CL was submitted
    run_id      TEXT    NOT NULL,
    PRIMARY KEY (project, submit_time, run_id)
) WITHOUT ROWID;
