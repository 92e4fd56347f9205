"""Job folders: job files dropped into a watched folder (`wit hub --watch DIR`, `wit watch DIR`)
run on the farm and land in `done/NAME/` or `failed/NAME/` beside them.

intake.py (which files are complete, which are ignored), records.py (a file's record on the
blackboard and the claim decision) and rules.py (what job a file makes) are pure; watcher.py is
the shell that lists folders, renames files and talks to the hub.
"""
