"""Potential scoring, tiers (one-to-one, one-to-few circles, broadcast) and segments."""
