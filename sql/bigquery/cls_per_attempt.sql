-- How many CLs attempts carry: attempts per LUCI project by number of CLs, last 30 days.
--
-- A multi-CL attempt tests and submits CLs together (Cq-Depend or a stack of changes).
-- Columns: luci_project, cls (CLs in the attempt), attempts, share (of the project's
-- attempts, rounded to 4 places).
SELECT
  luci_project,
  ARRAY_LENGTH(gerrit_changes) AS cls,
  COUNT(*) AS attempts,
  ROUND(COUNT(*) / SUM(COUNT(*)) OVER (PARTITION BY luci_project), 4) AS share
FROM `{project}.{dataset}.{table}_deduped`
WHERE end_time >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 30 DAY)
GROUP BY luci_project, cls
ORDER BY luci_project, cls
