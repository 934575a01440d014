-- False rejections: failed attempts that a later attempt on an equivalent patch set passed.
--
-- A failed attempt (FAILURE or INFRA_FAILURE) ending in the last 30 days is a false
-- rejection when an attempt of the same LUCI project with the same equivalent_cl_group_key
-- (the same CLs at equivalent patch sets: trivial rebases and description edits keep the
-- key) was triggered at or after the failure ended and SUCCEEDED: the code was fine, the
-- checks or the infrastructure were not. Either attempt may be a dry or a full run.
-- Columns: luci_project, failed_key, failed_status, failed_substatus, failed_end_time,
-- success_key, success_end_time (the first such success), hours_to_success.
SELECT
  failed.luci_project,
  failed.key AS failed_key,
  failed.status AS failed_status,
  failed.substatus AS failed_substatus,
  failed.end_time AS failed_end_time,
  success.key AS success_key,
  success.end_time AS success_end_time,
  ROUND(TIMESTAMP_DIFF(success.end_time, failed.end_time, SECOND) / 3600, 2)
    AS hours_to_success
FROM `{project}.{dataset}.{table}_deduped` AS failed
JOIN `{project}.{dataset}.{table}_deduped` AS success
  ON success.luci_project = failed.luci_project
  AND success.equivalent_cl_group_key = failed.equivalent_cl_group_key
  AND success.status = 'SUCCESS'
  AND success.start_time >= failed.end_time
WHERE
  failed.end_time >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 30 DAY)
  AND failed.status IN ('FAILURE', 'INFRA_FAILURE')
QUALIFY
  ROW_NUMBER() OVER (PARTITION BY failed.key ORDER BY success.end_time, success.key) = 1
ORDER BY failed.luci_project, failed_end_time, failed_key
