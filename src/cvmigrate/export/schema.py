"""The BigQuery table of attempts (`schemas/bigquery/attempts.json`) and the analyst SQL.

The JSON file is a BigQuery REST `Table` resource without its `tableReference`: schema,
DAY partitioning on `end_time`, clustering on `luci_project`. Its columns are the fields of
`bigquery.Attempt` (tests/export/test_schema.py keeps the two in step) plus `insert_id`.

Files in `sql/bigquery/` are templates: `{project}`, `{dataset}` and `{table}` are replaced
with the configured table's coordinates; nothing else in the text is touched.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

__all__ = [
    "DEDUP_VIEW_SQL",
    "EXTRA_COLUMNS",
    "SCHEMA_PATH",
    "SQL_DIR",
    "dedup_view_name",
    "load_sql",
    "render_sql",
    "table_resource",
]

_ROOT = Path(__file__).resolve().parents[3]
SCHEMA_PATH: Final = _ROOT / "schemas" / "bigquery" / "attempts.json"
SQL_DIR: Final = _ROOT / "sql" / "bigquery"
DEDUP_VIEW_SQL: Final = "attempts_deduped.sql"
"""The view analysts query: one row per attempt key (sql/bigquery/attempts_deduped.sql)."""

EXTRA_COLUMNS: Final = ("insert_id",)
"""Columns that are not `bigquery.Attempt` fields. `insert_id` is the row's streaming
insertId (`run-<RunID>` or `attempt-<key>`): insertId de-duplication is best effort, and the
view needs it to prefer a CV Run's row over CQDaemon's report of the same attempt."""

_PLACEHOLDER = re.compile(r"\{(project|dataset|table)\}")


def table_resource(project: str, dataset: str, table: str) -> dict[str, Any]:
    """The REST `Table` resource for `project.dataset.table` (for `Table.from_api_repr`)."""
    resource = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    resource["tableReference"] = {"projectId": project, "datasetId": dataset, "tableId": table}
    return resource


def dedup_view_name(table: str) -> str:
    """Name of the de-duplicating view over `table` (in the same dataset)."""
    return f"{table}_deduped"


def render_sql(text: str, *, project: str, dataset: str, table: str) -> str:
    """`text` with `{project}`, `{dataset}` and `{table}` replaced (other braces kept)."""
    values = {"project": project, "dataset": dataset, "table": table}
    return _PLACEHOLDER.sub(lambda match: values[match[1]], text)


def load_sql(name: str, *, project: str, dataset: str, table: str) -> str:
    """The rendered text of `sql/bigquery/<name>`."""
    text = (SQL_DIR / name).read_text(encoding="utf-8")
    return render_sql(text, project=project, dataset=dataset, table=table)
