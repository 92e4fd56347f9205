"""The hub's durable state behind one small interface, with an in-memory and a SQLite twin."""
