"""Finds CQ-voted changes in Gerrit and creates or cancels Runs."""
