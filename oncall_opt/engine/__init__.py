"""The on-call domain over the store: users, shifts, incidents, outbox, planning, jobs; no HTTP."""
