-- The PagerDuty schedule a team is linked to (its id, such as PABC123): the console's planner
-- and POST /teams/{id}/pagerduty/push make that schedule's final schedule equal the team's.
ALTER TABLE teams ADD COLUMN pagerduty_schedule VARCHAR;
