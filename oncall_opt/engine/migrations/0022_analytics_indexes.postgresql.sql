-- A team's incidents and pages over a window of days (engine/analytics.py, engine/burden.py),
-- without reading every incident and notification ever made.
CREATE INDEX incidents_created ON incidents (created_at);
CREATE INDEX notifications_pages_sent ON notifications (kind, sent_at);
