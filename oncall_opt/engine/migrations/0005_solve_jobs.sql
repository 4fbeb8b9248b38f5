-- Solve jobs in the database (not in one daemon's memory): any daemon may run a queued one, and
-- one whose daemon died (its heartbeat stopped) is picked up again by another.
CREATE TABLE solve_jobs (
    id VARCHAR PRIMARY KEY,
    status VARCHAR NOT NULL,
    team_id BIGINT,
    input VARCHAR NOT NULL,
    time_limit DOUBLE PRECISION NOT NULL,
    gap DOUBLE PRECISION NOT NULL,
    schedule_start VARCHAR NOT NULL,
    schedule_end VARCHAR NOT NULL,
    warnings VARCHAR NOT NULL DEFAULT '[]',
    created_at TIMESTAMPTZ NOT NULL,
    submitted_by VARCHAR NOT NULL,
    claimed_by VARCHAR,
    started_at TIMESTAMPTZ,
    heartbeat_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    seconds DOUBLE PRECISION,
    output VARCHAR,
    reasons VARCHAR,
    error VARCHAR
)
