-- Attempt duration percentiles per LUCI project and mode, last 30 days.
--
-- Duration = end_time - start_time in seconds. start_time is the trigger time (the last CQ
-- vote), so the duration is what the CL owner waited, queueing included. The mode is the
-- attempt's CQ mode (DRY_RUN, FULL_RUN, QUICK_DRY_RUN), shared by all its CLs.
-- Percentiles are APPROX_QUANTILES over 100 buckets: each is one of the observed values.
-- Columns: luci_project, mode, attempts, p50_s, p90_s, p99_s, max_s.
SELECT
  luci_project,
  mode,
  COUNT(*) AS attempts,
  APPROX_QUANTILES(duration_s, 100)[OFFSET(50)] AS p50_s,
  APPROX_QUANTILES(duration_s, 100)[OFFSET(90)] AS p90_s,
  APPROX_QUANTILES(duration_s, 100)[OFFSET(99)] AS p99_s,
  MAX(duration_s) AS max_s
FROM (
  SELECT
    luci_project,
    gerrit_changes[SAFE_OFFSET(0)].mode AS mode,
    TIMESTAMP_DIFF(end_time, start_time, SECOND) AS duration_s
  FROM `{project}.{dataset}.{table}_deduped`
  WHERE end_time >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 30 DAY)
)
GROUP BY luci_project, mode
ORDER BY luci_project, mode
