-- Attempts and success rate per LUCI project per day (UTC, by end time), last 30 days.
--
-- Columns: luci_project, day, attempts (all ended attempts), succeeded, failed (FAILURE or
-- INFRA_FAILURE), aborted (cancelled), success_rate = succeeded / (attempts - aborted),
-- rounded to 4 places; NULL when every attempt of the day was aborted.
SELECT
  luci_project,
  DATE(end_time) AS day,
  COUNT(*) AS attempts,
  COUNTIF(status = 'SUCCESS') AS succeeded,
  COUNTIF(status IN ('FAILURE', 'INFRA_FAILURE')) AS failed,
  COUNTIF(status = 'ABORTED') AS aborted,
  ROUND(SAFE_DIVIDE(COUNTIF(status = 'SUCCESS'), COUNTIF(status != 'ABORTED')), 4)
    AS success_rate
FROM `{project}.{dataset}.{table}_deduped`
WHERE end_time >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 30 DAY)
GROUP BY luci_project, day
ORDER BY luci_project, day
