"""Built-in types and activities that every job has, whatever plugins are installed."""

from witengine.runtime.builtins.types import builtin_types
from witengine.runtime.builtins.variables import builtin_activities

__all__ = ["builtin_activities", "builtin_types"]
