-- IMMEDIATE maintenance and the writes it causes: a user's trigger on a stream table that writes
-- a table IMMEDIATE stream tables read (another source, or one of its own). Those rows are
-- maintained too, in further rounds, each stream table taking the rows it has not taken yet;
-- after every statement each stream table equals its query.
SET client_min_messages = warning;
CREATE SCHEMA nested_writes;
SET search_path = nested_writes, public;

CREATE FUNCTION check_all() RETURNS TABLE (st text, differences bigint) LANGUAGE plpgsql AS $f$
DECLARE r record; cols text;
BEGIN
  FOR r IN SELECT pgt_name, defining_query, pgt_relid::regclass AS rel FROM pgtrickle.pgt_stream_tables
           WHERE pgt_schema = 'nested_writes' ORDER BY pgt_id LOOP
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = r.rel AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt%';
    st := r.pgt_name;
    EXECUTE format('SELECT count(*) FROM ((SELECT %s FROM %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL SELECT %s FROM %s)) x',
                   cols, r.rel, r.defining_query, r.defining_query, cols, r.rel) INTO differences;
    RETURN NEXT;
  END LOOP;
END $f$;

CREATE TABLE orders (k int, v int);
CREATE TABLE audit (k int, n bigint);
-- per_k: maintained by increments; its trigger logs every change of a group into audit.
SELECT pgtrickle.create_stream_table('per_k', 'SELECT k, count(*) AS n, sum(v) AS s FROM orders GROUP BY k',
    refresh_mode => 'IMMEDIATE');
CREATE FUNCTION log_per_k() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO nested_writes.audit VALUES (NEW.k, NEW.n); RETURN NULL; END $$;
CREATE TRIGGER log_per_k AFTER INSERT OR UPDATE ON per_k FOR EACH ROW EXECUTE FUNCTION log_per_k();
-- Readers of audit alone, of audit and orders (maintained once per round with what it has not
-- taken), and of the stream table together with audit.
SELECT pgtrickle.create_stream_table('audit_count', 'SELECT k, count(*) AS entries FROM audit GROUP BY k',
    refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('orders_audited',
    'SELECT o.k, o.v, a.n FROM orders o JOIN audit a ON a.k = o.k', refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('per_k_audited',
    'SELECT p.k, p.n, count(a.k) AS entries FROM per_k p LEFT JOIN audit a ON a.k = p.k GROUP BY p.k, p.n',
    refresh_mode => 'IMMEDIATE');
INSERT INTO orders VALUES (1, 10), (2, 20);
SELECT * FROM check_all();
UPDATE orders SET v = v + 1 WHERE k = 1;
INSERT INTO orders VALUES (1, 5), (3, 7);
SELECT * FROM check_all();
SELECT k, entries FROM audit_count ORDER BY k;
-- Several statements and a savepoint in one transaction.
BEGIN;
INSERT INTO orders VALUES (2, 1);
SAVEPOINT s;
DELETE FROM orders WHERE k = 1;
SELECT * FROM check_all();
ROLLBACK TO SAVEPOINT s;
INSERT INTO orders VALUES (4, 4);
SELECT * FROM check_all();
COMMIT;
SELECT * FROM check_all();

-- Maintenance writes the stream table it maintains, and nothing else: a trigger on a stream
-- table may not write another stream table.
CREATE FUNCTION meddle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN DELETE FROM nested_writes.audit_count; RETURN NULL; END $$;
CREATE TRIGGER meddle AFTER INSERT OR UPDATE ON per_k FOR EACH ROW EXECUTE FUNCTION meddle();
\set SHOW_CONTEXT never
INSERT INTO orders VALUES (5, 5);
\set SHOW_CONTEXT errors
DROP TRIGGER meddle ON per_k;
SELECT * FROM check_all();

-- Nor the stream table it is on: maintenance writes it, not the statements its triggers run.
CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE nested_writes.per_k SET n = n + 100; RETURN NULL; END $$;
CREATE TRIGGER bump AFTER INSERT OR UPDATE ON per_k FOR EACH STATEMENT EXECUTE FUNCTION bump();
\set SHOW_CONTEXT never
INSERT INTO orders VALUES (5, 5);
\set SHOW_CONTEXT errors
DROP TRIGGER bump ON per_k;
SELECT * FROM check_all();

-- An error a trigger on a stream table raises is the statement's error (it is not taken for a
-- data error of the delta, after which the stream table would be recomputed instead).
CREATE TABLE readings (k int, v int);
SELECT pgtrickle.create_stream_table('peaks', 'SELECT k, max(v) AS top FROM readings GROUP BY k',
    refresh_mode => 'IMMEDIATE');
CREATE FUNCTION no_lower_peaks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.top < OLD.top THEN RAISE EXCEPTION 'peak of % would go down', NEW.k USING ERRCODE = '22023'; END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER no_lower_peaks AFTER UPDATE ON peaks FOR EACH ROW EXECUTE FUNCTION no_lower_peaks();
INSERT INTO readings VALUES (1, 5), (1, 7);
\set SHOW_CONTEXT never
DELETE FROM readings WHERE v = 7;
\set SHOW_CONTEXT errors
SELECT k, top FROM peaks;

-- From a trigger, while IMMEDIATE maintenance is pending or running: refreshing an IMMEDIATE
-- stream table (it would count the statement's rows twice) and dropping a stream table are
-- refused.
CREATE FUNCTION refresh_peaks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pgtrickle.refresh_stream_table('nested_writes.peaks'); RETURN NULL; END $$;
-- (Named to fire before the maintenance trigger of the same event: triggers fire by name.)
CREATE TRIGGER a_refresh_peaks AFTER INSERT ON readings FOR EACH STATEMENT EXECUTE FUNCTION refresh_peaks();
\set SHOW_CONTEXT never
INSERT INTO readings VALUES (2, 1);
\set SHOW_CONTEXT errors
DROP TRIGGER a_refresh_peaks ON readings;
CREATE FUNCTION drop_audit_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pgtrickle.drop_stream_table('nested_writes.audit_count'); RETURN NULL; END $$;
CREATE TRIGGER drop_audit_count AFTER INSERT ON per_k FOR EACH STATEMENT EXECUTE FUNCTION drop_audit_count();
\set SHOW_CONTEXT never
INSERT INTO orders VALUES (6, 6);
\set SHOW_CONTEXT errors
DROP TRIGGER drop_audit_count ON per_k;
SELECT * FROM check_all();

-- A row trigger writing a source once per row: thousands of nested statements, whose rows
-- are kept together.
CREATE TABLE items (id int);
CREATE TABLE shipped (id int);
SELECT pgtrickle.create_stream_table('item_count', 'SELECT id % 10 AS bucket, count(*) AS n FROM items GROUP BY 1',
    refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('shipped_count', 'SELECT count(*) AS n FROM shipped',
    refresh_mode => 'IMMEDIATE');
CREATE FUNCTION ship() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO nested_writes.shipped VALUES (NEW.n); RETURN NULL; END $$;
CREATE TRIGGER ship AFTER INSERT OR UPDATE ON item_count FOR EACH ROW EXECUTE FUNCTION ship();
CREATE FUNCTION log_item() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO nested_writes.shipped VALUES (NEW.id); RETURN NULL; END $$;
CREATE TRIGGER log_item AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION log_item();
INSERT INTO items SELECT generate_series(1, 20000);
SELECT n FROM shipped_count;
SELECT * FROM check_all();

-- A trigger that writes its own stream table's source, until the count reaches 5: one round per
-- row it adds.
CREATE TABLE tickets (id serial, note text);
SELECT pgtrickle.create_stream_table('ticket_count', 'SELECT count(*) AS n FROM tickets',
    refresh_mode => 'IMMEDIATE');
CREATE FUNCTION top_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.n < 5 THEN INSERT INTO nested_writes.tickets (note) VALUES ('top-up'); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER top_up AFTER INSERT OR UPDATE ON ticket_count FOR EACH ROW EXECUTE FUNCTION top_up();
INSERT INTO tickets (note) VALUES ('first');
SELECT n FROM ticket_count;
SELECT note, count(*) FROM tickets GROUP BY note ORDER BY note;
SELECT * FROM check_all();

-- One that never stops is an error (as a trigger recursing without end is), and the statement
-- leaves nothing behind.
CREATE OR REPLACE FUNCTION top_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO nested_writes.tickets (note) VALUES ('again'); RETURN NULL; END $$;
\set VERBOSITY default
INSERT INTO tickets (note) VALUES ('runaway');
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT n FROM ticket_count;
SELECT * FROM check_all();

-- A COPY run by a trigger on a stream table is a statement of its own too.
CREATE TABLE copied (k int, v int);
SELECT pgtrickle.create_stream_table('copied_rows', 'SELECT k, v FROM copied', refresh_mode => 'IMMEDIATE');
CREATE FUNCTION copy_in() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN COPY nested_writes.copied_rows FROM PROGRAM 'echo 1,99,99' WITH (FORMAT csv); RETURN NULL; END $$;
CREATE TRIGGER copy_in AFTER INSERT ON copied_rows FOR EACH STATEMENT EXECUTE FUNCTION copy_in();
\set SHOW_CONTEXT never
INSERT INTO copied VALUES (1, 1);
\set SHOW_CONTEXT errors
DROP TRIGGER copy_in ON copied_rows;

-- A refresh recomputing an IMMEDIATE stream table empties it first: the triggers that fires
-- downstream may write its sources, which the recomputation then reads (once).
CREATE TABLE seeds (k int, w int);
INSERT INTO seeds VALUES (1, 1);
SELECT pgtrickle.create_stream_table('seed_rows', 'SELECT k, w FROM seeds', refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('seed_counts', 'SELECT k, count(*) AS m FROM seed_rows GROUP BY k',
    refresh_mode => 'IMMEDIATE');
CREATE FUNCTION grow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.m < 3 THEN INSERT INTO nested_writes.seeds VALUES (NEW.k, NEW.m + 1); END IF; RETURN NULL; END $$;
CREATE TRIGGER grow AFTER INSERT OR UPDATE ON seed_counts FOR EACH ROW EXECUTE FUNCTION grow();
INSERT INTO seeds VALUES (2, 1);
SELECT pgtrickle.refresh_stream_table('seed_rows');
SELECT * FROM check_all();

-- A stream table in ERROR (a source dropped) is not maintained: writes to its other sources go
-- on, and resuming it recomputes it.
CREATE TABLE left_side (id int PRIMARY KEY, v int);
CREATE TABLE right_side (id int PRIMARY KEY, w int);
SELECT pgtrickle.create_stream_table('both_sides',
    'SELECT l.id, l.v, r.w FROM left_side l JOIN right_side r USING (id)', refresh_mode => 'IMMEDIATE');
DROP TABLE right_side;
INSERT INTO left_side VALUES (1, 1), (2, 2);
CREATE TABLE right_side (id int PRIMARY KEY, w int);
INSERT INTO right_side VALUES (2, 20);
SELECT pgtrickle.resume_stream_table('both_sides');
INSERT INTO right_side VALUES (1, 10);
SELECT id, v, w FROM both_sides ORDER BY id;
SELECT * FROM check_all();

-- Made ACTIVE again with alter_stream_table instead: the same (the source created again is
-- found by name, and the stream table recomputed and maintained from it).
DROP TABLE right_side;
CREATE TABLE right_side (id int PRIMARY KEY, w int);
INSERT INTO right_side VALUES (1, 100);
SELECT pgtrickle.alter_stream_table('both_sides', status => 'active');
INSERT INTO right_side VALUES (2, 200);
SELECT id, v, w FROM both_sides ORDER BY id;

-- A stream table whose storage is rebuilt (its columns change with its mode): the IMMEDIATE
-- stream tables reading it are recomputed (the old storage's drop told them nothing).
CREATE TABLE grades (id int PRIMARY KEY, g int, v int);
INSERT INTO grades SELECT i, i % 5, i FROM generate_series(1, 100) i;
SELECT pgtrickle.create_stream_table('grade_sums', 'SELECT g, sum(v) AS s FROM grades GROUP BY g',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('low_grades', 'SELECT g, s FROM grade_sums WHERE g < 3',
    refresh_mode => 'IMMEDIATE');
SET client_min_messages = error;
SELECT pgtrickle.alter_stream_table('grade_sums', refresh_mode => 'FULL');
SET client_min_messages = warning;
SELECT g, s FROM low_grades ORDER BY g;
SELECT * FROM check_all();

-- BEFORE ROW triggers could change or skip the rows maintenance writes: refused on stream
-- tables (AFTER ones, above, are fine).
CREATE FUNCTION doubled() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.v := NEW.v * 2; RETURN NEW; END $$;
CREATE TRIGGER doubled BEFORE INSERT OR UPDATE ON copied_rows FOR EACH ROW EXECUTE FUNCTION doubled();
CREATE TRIGGER doubled BEFORE INSERT ON copied FOR EACH ROW EXECUTE FUNCTION doubled();
INSERT INTO copied VALUES (2, 2);
SELECT * FROM check_all();

SET client_min_messages = warning;
DROP SCHEMA nested_writes CASCADE;
