"""Who may talk to the hub, and what each may do: tokens, the gate every route passes, the audit
log, node enrolment and the dashboard's sign-in."""
