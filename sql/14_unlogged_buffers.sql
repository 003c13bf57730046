-- UNLOGGED change buffers (pg_trickle.unlogged_buffers) and what a refresh does when they were
-- emptied behind its back, as a crash empties them. (The real crash is in the integration
-- tests: test_scheduler.cpp, UnloggedBuffersEmptiedByACrashRefreshFull.)
SET client_min_messages = notice;
CREATE SCHEMA unlogged_demo;
SET search_path = unlogged_demo, public;

-- Off (the default): buffers are created LOGGED.
SHOW pg_trickle.unlogged_buffers;
CREATE TABLE kept (id int PRIMARY KEY, v int);
INSERT INTO kept SELECT g, g FROM generate_series(1, 5) g;
SELECT pgtrickle.create_stream_table('kept_sum', 'SELECT sum(v) AS s, count(*) AS n FROM kept',
                                     refresh_mode => 'DIFFERENTIAL', schedule => '1h');

-- On: new buffers are UNLOGGED; existing ones keep their kind.
SET pg_trickle.unlogged_buffers = on;
CREATE TABLE events (id int PRIMARY KEY, grp int, v int);
INSERT INTO events SELECT g, g % 3, g FROM generate_series(1, 30) g;
SELECT pgtrickle.create_stream_table('by_grp',
    'SELECT grp, count(*) AS n, sum(v) AS s FROM events GROUP BY grp',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT c.oid::regclass = 'events'::regclass AS source, b.relpersistence
FROM pg_class c JOIN pg_class b ON b.relname = 'changes_' || c.oid
 AND b.relnamespace = 'pgtrickle_changes'::regnamespace
WHERE c.oid IN ('kept'::regclass, 'events'::regclass) ORDER BY 1;
RESET pg_trickle.unlogged_buffers;

-- Changes in an unlogged buffer are refreshed differentially, as any.
INSERT INTO events VALUES (31, 0, 100);
UPDATE events SET v = v + 1 WHERE id <= 3;
SELECT pgtrickle.refresh_stream_table('by_grp');
SELECT action FROM pgtrickle.get_refresh_history('by_grp', 1);
SELECT grp, n, s FROM by_grp ORDER BY grp;

-- A crash empties the buffer and the epoch table (both UNLOGGED). Done here by hand: the
-- changes below are lost from the buffer, and the next refresh must not take the empty buffer
-- for "nothing changed".
INSERT INTO events VALUES (32, 1, 1000);
DELETE FROM events WHERE id = 1;
SELECT count(*) AS epochs FROM pgtrickle_changes.buffer_epoch;
DO $$ BEGIN
    EXECUTE format('DELETE FROM pgtrickle_changes.%I', 'changes_' || 'events'::regclass::oid);
END $$;
DELETE FROM pgtrickle_changes.buffer_epoch;
SELECT pgtrickle.refresh_stream_table('by_grp');
SELECT h.action, r.was_full_fallback FROM pgtrickle.get_refresh_history('by_grp', 1) h
JOIN pgtrickle.pgt_refresh_history r ON r.refresh_id = h.refresh_id;
SELECT grp, n, s FROM by_grp ORDER BY grp;
SELECT (SELECT count(*) FROM ((SELECT grp, n, s FROM by_grp EXCEPT ALL
          SELECT grp, count(*), sum(v) FROM events GROUP BY grp) UNION ALL
         (SELECT grp, count(*), sum(v) FROM events GROUP BY grp EXCEPT ALL
          SELECT grp, n, s FROM by_grp)) d) AS differences;
-- A new epoch started; the refreshes after it are differential again.
SELECT count(*) AS epochs FROM pgtrickle_changes.buffer_epoch;
UPDATE events SET grp = 2 WHERE id = 32;
SELECT pgtrickle.refresh_stream_table('by_grp');
SELECT action FROM pgtrickle.get_refresh_history('by_grp', 1);
SELECT grp, n, s FROM by_grp ORDER BY grp;

-- The same loss, with the buffer made LOGGED again before the next refresh: the refresh still
-- finds that its last one read another epoch.
INSERT INTO events VALUES (33, 0, 7);
DO $$ BEGIN
    EXECUTE format('DELETE FROM pgtrickle_changes.%I', 'changes_' || 'events'::regclass::oid);
    EXECUTE format('ALTER TABLE pgtrickle_changes.%I SET LOGGED', 'changes_' || 'events'::regclass::oid);
END $$;
DELETE FROM pgtrickle_changes.buffer_epoch;
SELECT pgtrickle.refresh_stream_table('by_grp');
SELECT action FROM pgtrickle.get_refresh_history('by_grp', 1);
SELECT grp, n, s FROM by_grp ORDER BY grp;

-- convert_buffers_to_unlogged: the LOGGED buffers become UNLOGGED (here: kept's and events'),
-- and their readers refresh FULL once, then differentially.
SELECT pgtrickle.convert_buffers_to_unlogged() AS converted;
SELECT b.relpersistence FROM pg_class b
WHERE b.relname = 'changes_' || 'kept'::regclass::oid;
SELECT pgtrickle.convert_buffers_to_unlogged() AS converted_again;
INSERT INTO kept VALUES (6, 60);
SELECT pgtrickle.refresh_stream_table('kept_sum');
SELECT action FROM pgtrickle.get_refresh_history('kept_sum', 1);
INSERT INTO kept VALUES (7, 70);
SELECT pgtrickle.refresh_stream_table('kept_sum');
SELECT action FROM pgtrickle.get_refresh_history('kept_sum', 1);
SELECT s, n FROM kept_sum;

-- Only a superuser converts buffers.
CREATE ROLE pgt_unlogged_user;
SET ROLE pgt_unlogged_user;
SELECT pgtrickle.convert_buffers_to_unlogged();
SET pg_trickle.unlogged_buffers = on;
RESET ROLE;
DROP ROLE pgt_unlogged_user;

SELECT pgtrickle.drop_stream_table('by_grp');
SELECT pgtrickle.drop_stream_table('kept_sum');
DROP SCHEMA unlogged_demo CASCADE;
