-- Groups keyed by an expression (GROUP BY v % 50, DISTINCT v % 50). The groups a change
-- touches are evaluated again; evaluated one group at a time, a key no index serves makes each
-- evaluation read the table whole (DISTINCT v % 5000 over 200,000 rows took 13 s for 1,000
-- changed rows). Such keys are evaluated in one pass, like unindexed columns; so are the
-- groups whose MIN / MAX must be read again.
SET client_min_messages = warning;
CREATE SCHEMA key_expressions;
SET search_path = key_expressions, public;

CREATE FUNCTION check_all() RETURNS TABLE (st text, differences bigint) LANGUAGE plpgsql AS $f$
DECLARE r record; cols text;
BEGIN
  FOR r IN SELECT pgt_name, defining_query, pgt_relid::regclass AS rel FROM pgtrickle.pgt_stream_tables
           WHERE pgt_schema = 'key_expressions' ORDER BY pgt_id LOOP
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = r.rel AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt%';
    st := r.pgt_name;
    EXECUTE format('SELECT count(*) FROM ((SELECT %s FROM %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL SELECT %s FROM %s)) x',
                   cols, r.rel, r.defining_query, r.defining_query, cols, r.rel) INTO differences;
    RETURN NEXT;
  END LOOP;
END $f$;

CREATE TABLE readings (id int PRIMARY KEY, v int, g int, s text);
INSERT INTO readings SELECT i, i, i % 7, CASE WHEN i % 11 = 0 THEN NULL ELSE 'k' || (i % 13) END
FROM generate_series(1, 2000) i;
SELECT pgtrickle.create_stream_table('buckets',
    'SELECT DISTINCT v % 50 AS b FROM readings', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('bucket_stats',
    'SELECT v % 50 AS b, count(*) AS n, max(g) AS top, min(g) AS low FROM readings GROUP BY 1',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('label_stats',
    'SELECT upper(s) AS label, count(*) AS n, max(v) AS top FROM readings GROUP BY 1',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgt_name, value FROM pgtrickle.pgt_stream_tables st,
     LATERAL pgtrickle.explain_st(st.pgt_schema || '.' || st.pgt_name) e
WHERE st.pgt_schema = 'key_expressions' AND e.property = 'operator_tree'
  AND st.pgt_name = 'buckets';

-- An expression index serves the key only when it is on the key expression itself.
CREATE INDEX readings_lower_s ON readings (lower(s));
SELECT value LIKE '%all in one evaluation%' AS one_pass FROM pgtrickle.explain_st('key_expressions.buckets')
WHERE property = 'operator_tree';
CREATE INDEX readings_bucket ON readings ((v % 50));
SELECT value LIKE '%all in one evaluation%' AS one_pass FROM pgtrickle.explain_st('key_expressions.buckets')
WHERE property = 'operator_tree';

SET pg_trickle.refresh_strategy = 'differential';
-- Changes moving rows between buckets, removing the extremes of some, emptying others, NULL
-- labels.
UPDATE readings SET v = v + 1, g = (g + 3) % 7 WHERE id % 17 = 5;
UPDATE readings SET g = 0 WHERE id % 23 = 1;
DELETE FROM readings WHERE v % 50 = 7;
UPDATE readings SET s = NULL WHERE id % 19 = 2;
INSERT INTO readings VALUES (5001, 5001, 9, NULL), (5002, 5007, -1, 'new');
SELECT pgtrickle.refresh_stream_table('key_expressions.' || pgt_name)
FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'key_expressions' ORDER BY pgt_id;
SELECT action FROM pgtrickle.get_refresh_history('key_expressions.bucket_stats', 1);
SELECT * FROM check_all();
DELETE FROM readings WHERE g = 6;
SELECT pgtrickle.refresh_stream_table('key_expressions.' || pgt_name)
FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'key_expressions' ORDER BY pgt_id;
SELECT * FROM check_all();
RESET pg_trickle.refresh_strategy;

SELECT pgtrickle.drop_stream_table('key_expressions.' || pgt_name)
FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'key_expressions';
DROP SCHEMA key_expressions CASCADE;

-- (Not about keys: pg_trickle's own catalog statements run as a superuser, and must not find
-- functions of the caller's search_path. A function evil.now() that would make its caller a
-- superuser, a search_path putting it first: creating, altering and refreshing a stream table
-- leave the role as it was.)
RESET search_path;
DROP ROLE IF EXISTS pgt_mallory;
CREATE ROLE pgt_mallory;
CREATE SCHEMA evil AUTHORIZATION pgt_mallory;
GRANT CREATE ON SCHEMA public TO pgt_mallory;
SET ROLE pgt_mallory;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'ALTER ROLE pgt_mallory SUPERUSER'; RETURN pg_catalog.now(); END $$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'ALTER ROLE pgt_mallory SUPERUSER'; RETURN pg_catalog.clock_timestamp(); END $$;
CREATE TABLE public.mallory_src (id int PRIMARY KEY, v int);
SET search_path = evil, pg_catalog, public;
SELECT pgtrickle.create_stream_table('public.mallory_st', 'SELECT id, v FROM public.mallory_src',
    schedule => '1h');
INSERT INTO public.mallory_src VALUES (1, 1);
SELECT pgtrickle.alter_stream_table('public.mallory_st', schedule => '2h');
SELECT pgtrickle.refresh_stream_table('public.mallory_st');
SELECT pgtrickle.drop_stream_table('public.mallory_st');
RESET search_path;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'pgt_mallory';
DROP TABLE public.mallory_src;
DROP SCHEMA evil CASCADE;
REVOKE CREATE ON SCHEMA public FROM pgt_mallory;
DROP ROLE pgt_mallory;

-- (Nor this: row-level security that applies to a stream table's owner. A change buffer holds
-- every row; the delta would read rows the policies hide from the owner. Refused in
-- DIFFERENTIAL; AUTO makes it FULL, which reads the table through the policies.)
DROP ROLE IF EXISTS pgt_rls_reader;
CREATE ROLE pgt_rls_reader;
CREATE TABLE public.rls_src (id int PRIMARY KEY, owner text, v int);
INSERT INTO public.rls_src VALUES (1, 'a', 1), (2, 'b', 2);
ALTER TABLE public.rls_src ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_a ON public.rls_src FOR SELECT USING (owner = 'a');
GRANT SELECT ON public.rls_src TO pgt_rls_reader;
GRANT CREATE ON SCHEMA public TO pgt_rls_reader;
SET ROLE pgt_rls_reader;
\set VERBOSITY default
SELECT pgtrickle.create_stream_table('public.rls_diff', 'SELECT id, v FROM public.rls_src',
    refresh_mode => 'DIFFERENTIAL');
\set VERBOSITY terse
SELECT pgtrickle.create_stream_table('public.rls_auto', 'SELECT id, v FROM public.rls_src');
RESET ROLE;
INSERT INTO public.rls_src VALUES (3, 'b', 3), (4, 'a', 4);
SET ROLE pgt_rls_reader;
SELECT pgtrickle.refresh_stream_table('public.rls_auto');
SELECT id, v FROM public.rls_auto ORDER BY id;
SELECT pgtrickle.drop_stream_table('public.rls_auto');
RESET ROLE;
-- Switched on under a DIFFERENTIAL stream table of that role: refused, as at creation.
ALTER TABLE public.rls_src DISABLE ROW LEVEL SECURITY;
SET ROLE pgt_rls_reader;
SELECT pgtrickle.create_stream_table('public.rls_later', 'SELECT id, v FROM public.rls_src',
    refresh_mode => 'DIFFERENTIAL');
RESET ROLE;
\set VERBOSITY default
ALTER TABLE public.rls_src ENABLE ROW LEVEL SECURITY;
\set VERBOSITY terse
SET ROLE pgt_rls_reader;
SELECT pgtrickle.drop_stream_table('public.rls_later');
RESET ROLE;
DROP TABLE public.rls_src;
REVOKE CREATE ON SCHEMA public FROM pgt_rls_reader;
DROP ROLE pgt_rls_reader;

-- (Nor this: a change buffer holds the columns every reader of the source needs. A stream
-- table's owner may read in it the columns of the source it may read itself, no others.)
CREATE FUNCTION public.try_read(statement text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
  EXECUTE statement INTO n;
  RETURN 'read ' || n;
EXCEPTION WHEN insufficient_privilege THEN
  RETURN 'permission denied';
END $f$;
DROP ROLE IF EXISTS pgt_col_reader;
CREATE ROLE pgt_col_reader;
CREATE TABLE public.salaries (id int PRIMARY KEY, pub text, priv text);
INSERT INTO public.salaries VALUES (1, 'p1', 'secret-1');
GRANT SELECT (id, pub) ON public.salaries TO pgt_col_reader;
GRANT CREATE ON SCHEMA public TO pgt_col_reader;
SELECT pgtrickle.create_stream_table('public.salaries_all', 'SELECT id, priv FROM public.salaries',
    refresh_mode => 'DIFFERENTIAL');
SET ROLE pgt_col_reader;
SELECT pgtrickle.create_stream_table('public.salaries_pub', 'SELECT id, pub FROM public.salaries',
    refresh_mode => 'DIFFERENTIAL');
RESET ROLE;
INSERT INTO public.salaries VALUES (2, 'p2', 'secret-2');
SET ROLE pgt_col_reader;
SELECT try_read(format('SELECT count(priv) FROM pgtrickle_changes.changes_%s',
                       'public.salaries'::regclass::oid)) AS priv_column;
SELECT try_read(format('SELECT count(pub) FROM pgtrickle_changes.changes_%s',
                       'public.salaries'::regclass::oid)) AS pub_column;
SELECT pgtrickle.refresh_stream_table('public.salaries_pub');
SELECT id, pub FROM public.salaries_pub ORDER BY id;
-- (The grant stands: a refresh does not set capture up again, which would rewrite the buffer's
-- catalog row and take the capture lock at every refresh.)
SELECT xmin AS buffer_row_version FROM pg_class
WHERE oid = format('pgtrickle_changes.changes_%s', 'public.salaries'::regclass::oid)::regclass \gset
RESET ROLE;
INSERT INTO public.salaries VALUES (3, 'p3', 'secret-3');
SET ROLE pgt_col_reader;
SELECT pgtrickle.refresh_stream_table('public.salaries_pub');
SELECT xmin = :'buffer_row_version'::xid AS buffer_row_unchanged FROM pg_class
WHERE oid = format('pgtrickle_changes.changes_%s', 'public.salaries'::regclass::oid)::regclass;
SELECT pgtrickle.drop_stream_table('public.salaries_pub');
RESET ROLE;
-- (A source column whose own name looks like the buffer's prefix for reserved names is granted
-- under its own privilege.)
CREATE TABLE public.odd_names (id int PRIMARY KEY, x text, "__usr_x" text);
GRANT SELECT (id, "__usr_x") ON public.odd_names TO pgt_col_reader;
SELECT pgtrickle.create_stream_table('public.odd_all', 'SELECT id, x FROM public.odd_names',
    refresh_mode => 'DIFFERENTIAL');
SET ROLE pgt_col_reader;
SELECT pgtrickle.create_stream_table('public.odd_mine', 'SELECT id, "__usr_x" FROM public.odd_names',
    refresh_mode => 'DIFFERENTIAL');
RESET ROLE;
INSERT INTO public.odd_names VALUES (1, 'hidden', 'mine');
SET ROLE pgt_col_reader;
SELECT pgtrickle.refresh_stream_table('public.odd_mine');
SELECT id, "__usr_x" FROM public.odd_mine;
SELECT try_read(format('SELECT count(x) FROM pgtrickle_changes.changes_%s',
                       'public.odd_names'::regclass::oid)) AS x_column;
SELECT pgtrickle.drop_stream_table('public.odd_mine');
RESET ROLE;
SELECT pgtrickle.drop_stream_table('public.odd_all');
DROP TABLE public.odd_names;
SELECT pgtrickle.drop_stream_table('public.salaries_all');
DROP TABLE public.salaries;
REVOKE CREATE ON SCHEMA public FROM pgt_col_reader;
DROP ROLE pgt_col_reader;
DROP FUNCTION public.try_read(text);

-- (Nor this: quick_health tells every role whether the scheduler runs, as it tells a superuser;
-- pg_stat_activity hides the scheduler's backend_type from other roles.)
SELECT scheduler_running AS as_superuser FROM pgtrickle.quick_health \gset
DROP ROLE IF EXISTS pgt_plain_monitor;
CREATE ROLE pgt_plain_monitor;
SET ROLE pgt_plain_monitor;
SELECT scheduler_running = :'as_superuser'::boolean AS same_answer FROM pgtrickle.quick_health;
RESET ROLE;
DROP ROLE pgt_plain_monitor;
