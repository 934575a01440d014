"""attempts.json stays the BigQuery image of attempt.proto; the table is created from it."""

from __future__ import annotations

import json
from typing import Any

from bq_emulator import LocalBigQuery
from export_support import emulator_settings
from google.cloud import bigquery
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from cvmigrate.export.schema import (
    EXTRA_COLUMNS,
    SCHEMA_PATH,
    dedup_view_name,
    render_sql,
    table_resource,
)
from cvmigrate.export.sink import BigQuerySink

_SCALARS = {
    FieldDescriptor.TYPE_STRING: "STRING",
    FieldDescriptor.TYPE_INT64: "INTEGER",
    FieldDescriptor.TYPE_BOOL: "BOOLEAN",
    FieldDescriptor.TYPE_ENUM: "STRING",  # enums are exported by name
}


def _from_proto(descriptor: Descriptor) -> list[dict[str, Any]]:
    """(name, type, mode, nested) per field, read from the official runtime's descriptor."""
    fields = []
    for field in sorted(descriptor.fields, key=lambda f: f.number):
        entry: dict[str, Any] = {
            "name": field.name,
            "mode": "REPEATED" if field.is_repeated else "NULLABLE",
        }
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.full_name == "google.protobuf.Timestamp":
                entry["type"] = "TIMESTAMP"
            else:
                entry["type"] = "RECORD"
                entry["fields"] = _from_proto(field.message_type)
        else:
            entry["type"] = _SCALARS[field.type]  # KeyError: a type this test must learn
        fields.append(entry)
    return fields


def _from_json(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for field in fields:
        entry = {"name": field["name"], "mode": field["mode"], "type": field["type"]}
        if "fields" in field:
            entry["fields"] = _from_json(field["fields"])
        result.append(entry)
    return result


def test_attempts_json_matches_attempt_proto(google_pb):
    resource = json.loads(SCHEMA_PATH.read_text())
    fields = _from_json(resource["schema"]["fields"])
    expected = _from_proto(google_pb.bigquery.Attempt.DESCRIPTOR)
    assert fields[: len(expected)] == expected
    assert [field["name"] for field in fields[len(expected) :]] == list(EXTRA_COLUMNS)


def test_every_column_is_documented():
    def walk(fields):
        for field in fields:
            yield field
            yield from walk(field.get("fields", []))

    resource = json.loads(SCHEMA_PATH.read_text())
    assert all(field.get("description") for field in walk(resource["schema"]["fields"]))


def test_table_is_partitioned_by_day_on_end_time_and_clustered_by_project():
    table = bigquery.Table.from_api_repr(table_resource("p", "raw", "attempts_cv"))
    assert table.reference.path == "/projects/p/datasets/raw/tables/attempts_cv"
    assert (table.time_partitioning.type_, table.time_partitioning.field) == ("DAY", "end_time")
    assert table.clustering_fields == ["luci_project"]


def test_render_sql_replaces_only_the_three_placeholders():
    text = "SELECT '{x}' FROM `{project}.{dataset}.{table}_deduped` -- {table}"
    assert render_sql(text, project="p", dataset="d", table="t") == (
        "SELECT '{x}' FROM `p.d.t_deduped` -- t"
    )
    assert dedup_view_name("t") == "t_deduped"


def test_create_table_makes_dataset_table_and_view_and_is_idempotent(
    bq_emulator: LocalBigQuery, bq_client
):
    settings = emulator_settings(bq_emulator, dataset="fresh_dataset")
    sink = BigQuerySink(settings)
    try:
        first = sink.create_table()
        second = sink.create_table()
    finally:
        sink.close()
    assert (first.table_created, second.table_created) == (True, False)
    assert second.added_columns == ()
    table = bq_client.get_table(sink.table_id)
    assert _from_json([field.to_api_repr() for field in table.schema]) == _from_json(
        json.loads(SCHEMA_PATH.read_text())["schema"]["fields"]
    )
    assert (table.time_partitioning.field, table.clustering_fields) == (
        "end_time",
        ["luci_project"],
    )
    view = bq_client.get_table(first.view)
    assert view.table_type == "VIEW"


def test_create_table_adds_columns_an_older_table_lacks(bq_emulator: LocalBigQuery, bq_client):
    settings = emulator_settings(bq_emulator)
    resource = table_resource(settings.project, settings.dataset, settings.table)
    resource["schema"]["fields"] = resource["schema"]["fields"][:-1]  # before insert_id
    bq_client.create_dataset(settings.dataset, exists_ok=True)
    bq_client.create_table(bigquery.Table.from_api_repr(resource))
    sink = BigQuerySink(settings)
    try:
        setup = sink.create_table()
    finally:
        sink.close()
    assert (setup.table_created, setup.added_columns) == (False, ("insert_id",))
    names = [field.name for field in bq_client.get_table(sink.table_id).schema]
    assert names[-1] == "insert_id"
