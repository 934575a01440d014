"""Gerrit REST client, error mapping, JSON to gerrit.ChangeInfo, message truncation."""
