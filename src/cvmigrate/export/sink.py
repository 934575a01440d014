"""The BigQuery table rows are streamed into: the one place a BigQuery client is made.

Every method blocks (the client uses `requests`); the exporter calls them with
`asyncio.to_thread`, the CLI directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from google.api_core import exceptions as google_exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_RETRY

from cvmigrate.config import BigQuerySettings
from cvmigrate.export.schema import DEDUP_VIEW_SQL, dedup_view_name, load_sql, table_resource

__all__ = ["BigQuerySink", "TableSetup", "make_client"]


def make_client(settings: BigQuerySettings) -> bigquery.Client:
    """A client for `settings.project`: anonymous against `api_endpoint` (the local
    emulator), else Application Default Credentials. Raises google.auth's
    DefaultCredentialsError when ADC finds no credentials."""
    if settings.api_endpoint:
        return bigquery.Client(
            project=settings.project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=settings.api_endpoint),
        )
    return bigquery.Client(project=settings.project or None)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TableSetup:
    """What `BigQuerySink.create_table` did."""

    table_created: bool
    added_columns: tuple[str, ...]
    view: str


class BigQuerySink:
    """Streams rows into the configured table with an explicit retry deadline."""

    def __init__(self, settings: BigQuerySettings, client: bigquery.Client | None = None):
        self.settings = settings
        self.client = client if client is not None else make_client(settings)
        self.table_id = f"{settings.project}.{settings.dataset}.{settings.table}"
        # Retries 5xx/429/connection errors inside one call, but only until the deadline:
        # after that the rows go back to the outbox (whose backoff survives a restart).
        self._retry = DEFAULT_RETRY.with_timeout(settings.retry_deadline_s)

    def insert_rows(
        self, rows: Sequence[Mapping[str, Any]], row_ids: Sequence[str]
    ) -> Sequence[Mapping[str, Any]]:
        """Stream `rows` with insertIds `row_ids`; return BigQuery's insertErrors (empty when
        every row was written). Raises google.api_core exceptions on request failures."""
        return self.client.insert_rows_json(
            self.table_id,
            rows,
            row_ids=list(row_ids),
            # Defaults, spelled out: one invalid row fails the request and the others come
            # back `stopped`, so a row is only ever written whole and on purpose.
            skip_invalid_rows=False,
            ignore_unknown_values=False,
            retry=self._retry,
            timeout=self.settings.request_timeout_s,
        )

    def create_table(self) -> TableSetup:
        """Create the dataset, the table (from attempts.json) and the de-duplicating view.

        Idempotent: existing ones are kept; columns attempts.json has and the table lacks are
        added (BigQuery allows adding NULLABLE/REPEATED columns); the view is replaced.
        """
        settings = self.settings
        self.client.create_dataset(
            bigquery.DatasetReference(settings.project, settings.dataset), exists_ok=True
        )
        wanted = bigquery.Table.from_api_repr(
            table_resource(settings.project, settings.dataset, settings.table)
        )
        created, added = True, ()
        try:
            self.client.create_table(wanted)
        except google_exceptions.Conflict:
            created = False
            added = self._add_missing_columns(wanted)
        view_sql = load_sql(
            DEDUP_VIEW_SQL, project=settings.project, dataset=settings.dataset, table=settings.table
        )
        self.client.query(view_sql).result()
        view = f"{settings.project}.{settings.dataset}.{dedup_view_name(settings.table)}"
        return TableSetup(table_created=created, added_columns=added, view=view)

    def _add_missing_columns(self, wanted: bigquery.Table) -> tuple[str, ...]:
        existing = self.client.get_table(self.table_id)
        have = {field.name for field in existing.schema}
        missing = [field for field in wanted.schema if field.name not in have]
        if missing:
            existing.schema = [*existing.schema, *missing]
            self.client.update_table(existing, ["schema"])
        return tuple(field.name for field in missing)

    def close(self) -> None:
        """Release the client's HTTP connections."""
        self.client.close()
