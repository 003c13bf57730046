-- pg_trickle's triggers on a source switched by hand: disabled, enabled again, dropped, or
-- bypassed with session_replication_role = replica. No write may go missing from a stream
-- table: DIFFERENTIAL and FULL ones refresh FULL until capture is back (and once after), an
-- IMMEDIATE one refuses to lose its triggers; repair_stream_table puts things back.
SET client_min_messages = warning;
CREATE SCHEMA capture_switches;
SET search_path = capture_switches, public;

-- Each stream table of the schema against its query (0 = equal as multisets).
CREATE FUNCTION check_all() RETURNS TABLE (st text, differences bigint) LANGUAGE plpgsql AS $f$
DECLARE r record; cols text;
BEGIN
  FOR r IN SELECT pgt_name, defining_query, pgt_relid::regclass AS rel FROM pgtrickle.pgt_stream_tables
           WHERE pgt_schema = 'capture_switches' ORDER BY pgt_id LOOP
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = r.rel AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt%';
    st := r.pgt_name;
    EXECUTE format('SELECT count(*) FROM ((SELECT %s FROM %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL SELECT %s FROM %s)) x',
                   cols, r.rel, r.defining_query, r.defining_query, cols, r.rel) INTO differences;
    RETURN NEXT;
  END LOOP;
END $f$;
-- Runs a statement; its error as SQLSTATE and message, with OIDs in trigger names as N.
CREATE FUNCTION try_sql(statement text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE statement;
  RETURN 'ok';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '_[0-9]+', '_N', 'g');
END $f$;
CREATE FUNCTION refresh_all() RETURNS void LANGUAGE sql AS $$
  SELECT pgtrickle.refresh_stream_table('capture_switches.' || pgt_name)
  FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'capture_switches' AND refresh_mode <> 'IMMEDIATE'
$$;
CREATE FUNCTION last_refreshes() RETURNS TABLE (st text, action text, fallback bool) LANGUAGE sql AS $$
  SELECT DISTINCT ON (st.pgt_name) st.pgt_name, h.action, h.was_full_fallback
  FROM pgtrickle.pgt_refresh_history h JOIN pgtrickle.pgt_stream_tables st USING (pgt_id)
  WHERE st.pgt_schema = 'capture_switches' ORDER BY st.pgt_name, h.refresh_id DESC
$$;
CREATE FUNCTION our_triggers(t regclass) RETURNS TABLE (trigger_name text, enabled "char") LANGUAGE sql AS $$
  SELECT regexp_replace(tgname, '_[0-9]+$', '_N'), tgenabled FROM pg_trigger
  WHERE tgrelid = t AND NOT tgisinternal ORDER BY 1
$$;

CREATE TABLE orders (id int PRIMARY KEY, amount int);
INSERT INTO orders VALUES (1, 10), (2, 20);
SELECT pgtrickle.create_stream_table('totals', 'SELECT count(*) AS n, sum(amount) AS total FROM orders',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('totals_full', 'SELECT count(*) AS n, sum(amount) AS total FROM orders',
    refresh_mode => 'FULL', schedule => '1h');

-- Disabled for a bulk load and enabled again, with no refresh in between: the rows loaded were
-- not captured; the next refresh of each is FULL (the FULL one's is not skipped as NO_DATA).
ALTER TABLE orders DISABLE TRIGGER USER;
INSERT INTO orders SELECT g, g FROM generate_series(3, 10) g;
ALTER TABLE orders ENABLE TRIGGER USER;
-- ENABLE TRIGGER would make them fire in origin mode only: ours are set back to ALWAYS.
SELECT * FROM our_triggers('orders');
SELECT refresh_all();
SELECT * FROM check_all();
SELECT * FROM last_refreshes();

-- Disabled across refreshes: every refresh is FULL while capture is off, and the first after it
-- is back too; then DIFFERENTIAL again.
ALTER TABLE orders DISABLE TRIGGER ALL;
UPDATE orders SET amount = amount + 1 WHERE id <= 3;
SELECT refresh_all();
SELECT * FROM check_all();
SELECT * FROM last_refreshes();
DELETE FROM orders WHERE id = 10;
ALTER TABLE orders ENABLE TRIGGER ALL;
SELECT refresh_all();
SELECT * FROM check_all();
SELECT * FROM last_refreshes();
INSERT INTO orders VALUES (11, 11);
SELECT refresh_all();
SELECT * FROM check_all();
SELECT * FROM last_refreshes();

-- One capture trigger dropped: the inventory shows it, refreshes are FULL, repair puts capture
-- back.
SELECT try_sql(format('DROP TRIGGER %I ON capture_switches.orders', tgname)) FROM pg_trigger
WHERE tgrelid = 'orders'::regclass AND tgname LIKE 'pg\_trickle\_cdc\_upd\_%';
SELECT regexp_replace(trigger_name, '_[0-9]+$', '_N') AS trigger_name, trigger_type, present, enabled
FROM pgtrickle.trigger_inventory() WHERE source_table = 'orders' ORDER BY 1;
UPDATE orders SET amount = 0 WHERE id = 1;
SELECT refresh_all();
SELECT * FROM check_all();
SELECT * FROM last_refreshes();
SELECT pgtrickle.repair_stream_table('totals');
SELECT count(*) AS missing_or_off FROM pgtrickle.trigger_inventory() WHERE NOT (present AND enabled);
SELECT pgtrickle.repair_stream_table('totals');
UPDATE orders SET amount = 5 WHERE id = 2;
SELECT refresh_all();
SELECT * FROM check_all();
SELECT refresh_all();
SELECT * FROM last_refreshes();

-- Rows applied as logical replication applies them (session_replication_role = replica) are
-- captured and maintained.
CREATE TABLE events (id int PRIMARY KEY, kind text);
SELECT pgtrickle.create_stream_table('event_kinds', 'SELECT kind, count(*) AS n FROM events GROUP BY kind',
    refresh_mode => 'IMMEDIATE');
SET session_replication_role = replica;
INSERT INTO orders VALUES (12, 12);
INSERT INTO events VALUES (1, 'click'), (2, 'view'), (3, 'click');
RESET session_replication_role;
SELECT refresh_all();
SELECT * FROM check_all();

-- IMMEDIATE maintenance cannot catch up later: its triggers may not be disabled or dropped.
SELECT try_sql('ALTER TABLE capture_switches.events DISABLE TRIGGER USER');
SELECT try_sql('ALTER TABLE capture_switches.events DISABLE TRIGGER ALL');
SELECT try_sql(format('DROP TRIGGER %I ON capture_switches.events', tgname)) FROM pg_trigger
WHERE tgrelid = 'events'::regclass AND tgname LIKE 'pg\_trickle\_ivm\_ins\_%';
-- A trigger of one's own is disabled by name as usual.
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER mine AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION noop();
ALTER TABLE events DISABLE TRIGGER mine;
INSERT INTO events VALUES (4, 'view');
SELECT * FROM check_all();
SELECT pgtrickle.repair_stream_table('event_kinds');

-- A stream table's guard disabled (direct writes to it allowed): repair makes it again, and the
-- next refresh is FULL.
ALTER TABLE totals DISABLE TRIGGER USER;
SELECT pgtrickle.repair_stream_table('totals');
SELECT * FROM our_triggers('totals');
SELECT try_sql('DELETE FROM capture_switches.totals');

-- Switched under session_replication_role = replica too (the event triggers fire ALWAYS).
SET session_replication_role = replica;
ALTER TABLE orders DISABLE TRIGGER ALL;
INSERT INTO orders VALUES (13, 13);
ALTER TABLE orders ENABLE TRIGGER ALL;
SELECT try_sql('ALTER TABLE capture_switches.events DISABLE TRIGGER ALL');
RESET session_replication_role;
SELECT * FROM our_triggers('orders');
SELECT refresh_all();
SELECT * FROM check_all();

-- pg_trickle's triggers are found by name: renaming one is refused.
SELECT try_sql(format('ALTER TRIGGER %I ON capture_switches.orders RENAME TO my_copy', tgname))
FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND tgname LIKE 'pg\_trickle\_cdc\_ins\_%';
SELECT try_sql(format('ALTER TRIGGER %I ON capture_switches.events RENAME TO my_copy', tgname))
FROM pg_trigger WHERE tgrelid = 'events'::regclass AND tgname LIKE 'pg\_trickle\_ivm\_ins\_%';

-- A SUSPENDED IMMEDIATE stream table is still maintained by writes: repair recomputes it too.
ALTER TABLE event_kinds DISABLE TRIGGER pgt_dml_guard;
INSERT INTO event_kinds (__pgt_row_id, kind, n) VALUES (1, 'bogus', 1);
SELECT pgtrickle.alter_stream_table('event_kinds', status => 'suspended');
SELECT pgtrickle.repair_stream_table('event_kinds');
SELECT * FROM check_all();
SELECT pgtrickle.resume_stream_table('event_kinds');

-- A storage table's guards enabled again fire ALWAYS.
ALTER TABLE totals DISABLE TRIGGER ALL;
ALTER TABLE totals ENABLE TRIGGER ALL;
SELECT * FROM our_triggers('totals');

-- Rules on a stream table, and its storage in an inheritance tree, would let writes in or out
-- past the guards: refused.
SELECT try_sql('CREATE RULE keep AS ON DELETE TO capture_switches.totals DO INSTEAD NOTHING');
CREATE TABLE totals_parent (__pgt_row_id bigint NOT NULL, n bigint, total bigint);
SELECT try_sql('ALTER TABLE capture_switches.totals INHERIT capture_switches.totals_parent');

-- DDL that a user's trigger runs during a refresh is checked as the user's own (not taken for
-- pg_trickle's DDL): a trigger on a stream table that disables an IMMEDIATE stream table's
-- triggers makes the refresh fail.
CREATE FUNCTION sneaky() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'ALTER TABLE capture_switches.events DISABLE TRIGGER USER'; RETURN NULL; END $$;
CREATE TRIGGER sneaky AFTER INSERT ON totals_full FOR EACH STATEMENT EXECUTE FUNCTION sneaky();
UPDATE orders SET amount = amount + 1 WHERE id = 1;
SELECT try_sql($$SELECT pgtrickle.refresh_stream_table('capture_switches.totals_full')$$);
DROP TRIGGER sneaky ON totals_full;
SELECT count(*) AS disabled FROM pgtrickle.trigger_inventory() WHERE NOT enabled;

-- An IMMEDIATE stream table is not maintained while in ERROR: made ACTIVE again by
-- alter_stream_table, it is recomputed (as by resume_stream_table).
SELECT pgtrickle.alter_stream_table('event_kinds', status => 'error');
INSERT INTO events VALUES (5, 'buy');
SELECT pgtrickle.alter_stream_table('event_kinds', status => 'active');
SELECT refresh_all();
SELECT * FROM check_all();

-- Triggers missing behind pg_trickle's back (event triggers disabled by a superuser): repair
-- makes them again and recomputes every IMMEDIATE stream table reading that source.
SELECT pgtrickle.create_stream_table('event_ids', 'SELECT id FROM events', refresh_mode => 'IMMEDIATE');
ALTER EVENT TRIGGER pg_trickle_drop_tracker DISABLE;
SELECT try_sql(format('DROP TRIGGER %I ON capture_switches.events', tgname)) FROM pg_trigger
WHERE tgrelid = 'events'::regclass AND tgname LIKE 'pg\_trickle\_ivm\_ins\_%';
ALTER EVENT TRIGGER pg_trickle_drop_tracker ENABLE ALWAYS;
INSERT INTO events VALUES (6, 'view');
SELECT pgtrickle.repair_stream_table('event_kinds');
SELECT * FROM check_all();

-- Also when the stream table repaired is in ERROR (a source of its own dropped).
CREATE TABLE tags (id int PRIMARY KEY);
SELECT pgtrickle.create_stream_table('tagged_events', 'SELECT e.id FROM events e JOIN tags t USING (id)',
    refresh_mode => 'IMMEDIATE');
DROP TABLE tags;
ALTER EVENT TRIGGER pg_trickle_drop_tracker DISABLE;
SELECT try_sql(format('DROP TRIGGER %I ON capture_switches.events', tgname)) FROM pg_trigger
WHERE tgrelid = 'events'::regclass AND tgname LIKE 'pg\_trickle\_ivm\_ins\_%';
ALTER EVENT TRIGGER pg_trickle_drop_tracker ENABLE ALWAYS;
INSERT INTO events VALUES (7, 'click');
SELECT regexp_replace(pgtrickle.repair_stream_table('tagged_events'), '[0-9]+', 'N', 'g') AS repaired;
SELECT pgtrickle.drop_stream_table('tagged_events');
SELECT * FROM check_all();

SET client_min_messages = warning;
DROP SCHEMA capture_switches CASCADE;
