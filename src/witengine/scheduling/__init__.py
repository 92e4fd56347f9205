"""Scheduling: pure functions and state machines that decide how work is split among nodes.

No I/O, no clock, no sleeping: time is passed in. `scheduler.Scheduler.schedule` opens a map's
`core.MapSchedule` (see `core` for the driver's protocol); `simulator` drives one against
virtual nodes. Import what you need from its modules: the runtime imports `strategy` alone, and
must not pay for the rest.
"""
