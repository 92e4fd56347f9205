"""Test helpers that ship with witengine: fake clock, test executors, a ledger plugin."""
