-- What several daemons on one PostgreSQL need from the database itself (one daemon on DuckDB
-- serialises its writes, which gives the same):
-- two daemons opening an incident for the same dedup key at once: one wins, the other's
-- transaction is tried again and counts against it,
CREATE UNIQUE INDEX incidents_open_dedup_key ON incidents (service_id, dedup_key)
    WHERE status <> 'resolved' AND dedup_key IS NOT NULL;
-- two daemons accepting overlapping shifts in one team's layer at once: exactly one wins.
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE schedules ADD CONSTRAINT schedules_no_overlap EXCLUDE USING gist
    (team_id WITH =, layer WITH =, tstzrange(start_time, end_time) WITH &&);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX incidents_open ON incidents (status, next_escalation_at)
