-- How the planner reads a day someone marked away, per team (engine/planning.py AWAY_MEANS):
-- 'day' the whole local day, 'shift-start' the shifts that start that day, 'working-hours'
-- 09:00-17:00 of that day.
ALTER TABLE teams ADD COLUMN away_means VARCHAR NOT NULL DEFAULT 'day';
