-- The rules of the roster a team last published (its time zone, handoff time and layers, as
-- JSON): the planner starts from them, so a re-plan keeps the handoff and the layers.
ALTER TABLE teams ADD COLUMN roster_rules VARCHAR;
