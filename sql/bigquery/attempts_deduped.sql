-- View `{table}_deduped`: one row per attempt key. Query this, not the table.
--
-- Why: the exporter sends each ended attempt once, with its dedup key as insertId, but
-- BigQuery de-duplicates insertIds only best effort (about a minute), so a re-send after a
-- crash or a timeout can leave two copies. An attempt can also have two rows of different
-- kinds: `attempt-<key>` when CQDaemon reported it finished before CV knew the Run, and
-- `run-<RunID>` when CV later ended that Run. Kept: the `run-` row (CV's view, reconciled
-- with CQDaemon's report), else the row with the latest end_time; ties broken by insert_id.
-- Columns: every column of the table (schemas/bigquery/attempts.json).
-- `cvmigrate bq create-table` creates or replaces this view.
CREATE OR REPLACE VIEW `{project}.{dataset}.{table}_deduped` AS
SELECT * EXCEPT (row_rank)
FROM (
  SELECT
    attempt.*,
    ROW_NUMBER() OVER (
      PARTITION BY attempt.key
      ORDER BY
        IF(STARTS_WITH(attempt.insert_id, 'run-'), 0, 1),
        attempt.end_time DESC,
        attempt.insert_id DESC
    ) AS row_rank
  FROM `{project}.{dataset}.{table}` AS attempt
)
WHERE row_rank = 1
