"""Relationship health for managers, and the attention inbox."""
