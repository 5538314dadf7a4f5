"""Campaigns: tailored messages, circle messages, promotions, reserved drops, publications."""
