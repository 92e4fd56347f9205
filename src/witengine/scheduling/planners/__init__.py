"""The strategies: what a requesting node gets, and where returned items go.

`adaptive` (the default): benchmark-seeded weighted factoring with online rates and duplicates
near the end. `balanced`: WitEngine's published static plan. `queued`: one item per request.
"""
