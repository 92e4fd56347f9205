"""Scheduling: pure functions that decide how work is split among nodes. No I/O, no clock."""
