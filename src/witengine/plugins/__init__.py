"""Plugins: the SDK (`witengine.plugins.api`), discovery by entry point, and the shipped plugins."""
