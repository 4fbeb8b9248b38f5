-- An override that breaks the team's rules (two layers at once, rest, shifts in a row, a day
-- away) is made only when an admin says "I know": what it broke, in words, and who knew, so the
-- timeline shows it (change_rules.py).
ALTER TABLE overrides ADD COLUMN rules_broken VARCHAR;
ALTER TABLE overrides ADD COLUMN known_by BIGINT;
