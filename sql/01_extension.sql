-- Installing and removing the extension.
CREATE EXTENSION pg_trickle;

-- Schemas, catalog tables and the event trigger exist.
SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pgtrickle%' ORDER BY 1;
SELECT relname FROM pg_class WHERE relnamespace = 'pgtrickle'::regnamespace AND relkind = 'r' ORDER BY 1;
SELECT evtname, evtevent FROM pg_event_trigger ORDER BY 1;
SELECT pgtrickle.version();

-- GUCs are registered with their defaults.
SHOW pg_trickle.enabled;
SHOW pg_trickle.min_schedule_seconds;
SHOW pg_trickle.default_schedule_seconds;
SHOW pg_trickle.max_consecutive_errors;
SET pg_trickle.max_consecutive_errors = 0;   -- out of range
SET pg_trickle.no_such_setting = 1;          -- the prefix is reserved
RESET pg_trickle.max_consecutive_errors;

-- Ordinary users may read the catalog but not write it.
CREATE ROLE pgt_ext_user;
SET ROLE pgt_ext_user;
SELECT count(*) FROM pgtrickle.pgt_stream_tables;
INSERT INTO pgtrickle.pgt_stream_tables (pgt_relid, pgt_name, pgt_schema, defining_query)
VALUES (1, 'x', 'public', 'SELECT 1');
RESET ROLE;
DROP ROLE pgt_ext_user;

-- DROP EXTENSION takes the stream tables with it and leaves user tables alone.
CREATE TABLE ext_src (id int PRIMARY KEY, v int);
INSERT INTO ext_src VALUES (1, 10), (2, 20);
SELECT pgtrickle.create_stream_table('ext_st', 'SELECT id, v FROM ext_src', refresh_mode => 'FULL');
DROP EXTENSION pg_trickle;
SELECT count(*) AS stream_table_left FROM pg_class WHERE relname = 'ext_st';
SELECT count(*) AS pgtrickle_schemas_left FROM pg_namespace WHERE nspname LIKE 'pgtrickle%';
SELECT * FROM ext_src ORDER BY id;
DROP TABLE ext_src;

-- And it can be installed again.
CREATE EXTENSION pg_trickle;
SELECT count(*) FROM pgtrickle.pgt_stream_tables;
