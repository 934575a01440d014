"""Run/attempt to BigQuery row, the outbox, and the BigQuery sink."""
