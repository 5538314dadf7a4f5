"""Loyalty programmes: points on an append-only ledger, tiers, rewards, expiry."""
