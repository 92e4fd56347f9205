"""witengine: turn a room of ordinary computers into one compute farm, driven by Wit job scripts."""

__version__ = "0.1.0"
