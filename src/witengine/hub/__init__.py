"""The hub: the orchestrator that stores jobs, runs them, and hands their tasks to nodes."""
