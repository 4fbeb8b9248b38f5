-- Each service's rate limit on its integration key (events a minute, NULL: the daemon's
-- ONCALL_EVENTS_PER_MINUTE): a storm is throttled at the door with 429 and Retry-After.
ALTER TABLE services ADD COLUMN events_per_minute INTEGER;
