-- A version per LUCI project of what FetchActiveRuns answers (spec §4.7), bumped by triggers
-- in the transaction of every write that can change the answer, whoever writes (the
-- service, `cvmigrate` commands, another process). The handler keeps its last answer per
-- project and encoding and reuses it while the versions it was built at are unchanged.
--
-- The answer of project P depends on: P's Runs (status RUNNING, delay_cancel_until, cl_ids),
-- their frozen RunCLs, verified reports of P's RUNNING Runs, and the snapshots of CLs that
-- are dependencies (fyi_deps, any project). Run IDs start with "<project>/" and projects
-- hold no '/', so a Run ID names its project. The CL snapshots have one shared version,
-- under the project '' (never a LUCI project name).
CREATE TABLE active_set_versions (
    project TEXT    PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER active_set_runs_insert AFTER INSERT ON runs
BEGIN
    INSERT OR IGNORE INTO active_set_versions (project, version) VALUES (NEW.project, 0);
    UPDATE active_set_versions SET version = version + 1 WHERE project = NEW.project;
END;

CREATE TRIGGER active_set_runs_update AFTER UPDATE ON runs
WHEN OLD.status IS NOT NEW.status
  OR OLD.delay_cancel_until IS NOT NEW.delay_cancel_until
  OR OLD.cl_ids IS NOT NEW.cl_ids
  OR OLD.project IS NOT NEW.project
  OR OLD.id IS NOT NEW.id
BEGIN
    INSERT OR IGNORE INTO active_set_versions (project, version) VALUES (NEW.project, 0);
    UPDATE active_set_versions SET version = version + 1
     WHERE project IN (NEW.project, OLD.project);
END;

CREATE TRIGGER active_set_runs_delete AFTER DELETE ON runs
BEGIN
    UPDATE active_set_versions SET version = version + 1 WHERE project = OLD.project;
END;

CREATE TRIGGER active_set_run_cls_insert AFTER INSERT ON run_cls
BEGIN
    INSERT OR IGNORE INTO active_set_versions (project, version)
    VALUES (substr(NEW.run_id, 1, instr(NEW.run_id, '/') - 1), 0);
    UPDATE active_set_versions SET version = version + 1
     WHERE project = substr(NEW.run_id, 1, instr(NEW.run_id, '/') - 1);
END;

CREATE TRIGGER active_set_run_cls_update AFTER UPDATE ON run_cls
BEGIN
    UPDATE active_set_versions SET version = version + 1
     WHERE project IN (substr(NEW.run_id, 1, instr(NEW.run_id, '/') - 1),
                       substr(OLD.run_id, 1, instr(OLD.run_id, '/') - 1));
END;

CREATE TRIGGER active_set_run_cls_delete AFTER DELETE ON run_cls
BEGIN
    UPDATE active_set_versions SET version = version + 1
     WHERE project = substr(OLD.run_id, 1, instr(OLD.run_id, '/') - 1);
END;

-- A verified report removes a RUNNING Run from the answer; for a Run in any other status it
-- changes nothing until that Run's status changes (which bumps the version itself).
-- 2 is runs.status.Status.RUNNING (tests/store/test_active_set_versions.py checks it).
CREATE TRIGGER active_set_verified_insert AFTER INSERT ON verified_runs
WHEN EXISTS (SELECT 1 FROM runs WHERE id = NEW.run_id AND status = 2)
BEGIN
    UPDATE active_set_versions SET version = version + 1
     WHERE project = substr(NEW.run_id, 1, instr(NEW.run_id, '/') - 1);
END;

CREATE TRIGGER active_set_verified_delete AFTER DELETE ON verified_runs
BEGIN
    UPDATE active_set_versions SET version = version + 1
     WHERE project = substr(OLD.run_id, 1, instr(OLD.run_id, '/') - 1);
END;

CREATE TRIGGER active_set_verified_update AFTER UPDATE OF run_id ON verified_runs
BEGIN
    UPDATE active_set_versions SET version = version + 1
     WHERE project IN (substr(NEW.run_id, 1, instr(NEW.run_id, '/') - 1),
                       substr(OLD.run_id, 1, instr(OLD.run_id, '/') - 1));
END;

INSERT INTO active_set_versions (project, version) VALUES ('', 0);

-- A CL without a snapshot is in no answer (a dependency without one fails the call, and a
-- failed answer is not kept), so its first snapshot changes nothing kept: new CLs that the
-- poller stores do not cost every project a rebuild. Any later change of a snapshot does.
CREATE TRIGGER active_set_cls_update AFTER UPDATE ON cls
WHEN OLD.id IS NOT NEW.id
  OR ((OLD.snapshot_pb IS NOT NULL OR OLD.snapshot_json IS NOT NULL
       OR OLD.snapshot_twirp_json IS NOT NULL)
      AND (OLD.snapshot_pb IS NOT NEW.snapshot_pb
           OR OLD.snapshot_json IS NOT NEW.snapshot_json
           OR OLD.snapshot_twirp_json IS NOT NEW.snapshot_twirp_json))
BEGIN
    UPDATE active_set_versions SET version = version + 1 WHERE project = '';
END;

CREATE TRIGGER active_set_cls_delete AFTER DELETE ON cls
BEGIN
    UPDATE active_set_versions SET version = version + 1 WHERE project = '';
END;

-- Projects with Runs before this migration start at version 1.
INSERT OR IGNORE INTO active_set_versions (project, version)
SELECT DISTINCT project, 1 FROM runs;
