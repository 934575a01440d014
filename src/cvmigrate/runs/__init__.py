"""Runs: IDs, attempt keys, statuses, the run manager, submission and trigger cancellation."""
