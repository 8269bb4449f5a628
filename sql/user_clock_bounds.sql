--
-- A version taken from a user column cannot be set far in the future: any
-- writer could otherwise pin a row mesh-wide (no later write would win).
--
CREATE TABLE uc (id int PRIMARY KEY, v text, mod_time timestamptz);
SELECT multimaster.add_table('uc', 'last_update_wins', 'mod_time');
INSERT INTO uc VALUES (1, 'now', now());
INSERT INTO uc VALUES (2, 'soon', now() + interval '1 minute');
INSERT INTO uc VALUES (3, 'pinned', '294276-12-31');
UPDATE uc SET v = 'pinned', mod_time = '2040-01-01' WHERE id = 1;
SELECT id, v FROM uc ORDER BY id;
-- the bound is a setting
SET multimaster.max_future_version = '6000d';
UPDATE uc SET v = 'far ahead', mod_time = '2040-01-01' WHERE id = 1;
RESET multimaster.max_future_version;
SELECT id, v FROM uc ORDER BY id;
