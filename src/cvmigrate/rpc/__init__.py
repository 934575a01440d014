"""Protocol-neutral RPC core (codes, errors, methods, call context) and one adapter per protocol."""
