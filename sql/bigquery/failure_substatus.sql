-- Why attempts failed: failed attempts per LUCI project by status and substatus, last 30 days.
--
-- Failed = status FAILURE or INFRA_FAILURE. substatus says why (FAILED_TRYJOBS, FAILED_LINT,
-- UNAPPROVED, PERMISSION_DENIED, UNSATISFIED_DEPENDENCY, …; NO_SUBSTATUS when CV ended the
-- attempt without a CQDaemon report).
-- Columns: luci_project, status, substatus, attempts, share (of the project's failed
-- attempts, rounded to 4 places). Largest first within each project.
SELECT
  luci_project,
  status,
  substatus,
  COUNT(*) AS attempts,
  ROUND(COUNT(*) / SUM(COUNT(*)) OVER (PARTITION BY luci_project), 4) AS share
FROM `{project}.{dataset}.{table}_deduped`
WHERE
  end_time >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 30 DAY)
  AND status IN ('FAILURE', 'INFRA_FAILURE')
GROUP BY luci_project, status, substatus
ORDER BY luci_project, attempts DESC, status, substatus
