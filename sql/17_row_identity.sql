-- How the rows of a linear (select-project-join) stream table are identified: by their key when
-- the select list carries the primary key of every table read, or of enough of them to determine
-- the others through equalities with their primary keys; otherwise by a hash of their content.
-- A keyed row changes in place. When a table's primary key is added or dropped, the stream
-- table is reloaded under its new identity.
SET client_min_messages = notice;
CREATE SCHEMA identity;
SET search_path = identity, public;

CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, country_id int);
CREATE TABLE countries (id int PRIMARY KEY, code text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount int NOT NULL);
INSERT INTO countries VALUES (1, 'FR'), (2, 'NL');
INSERT INTO customers VALUES (1, 'ann', 1), (2, 'bob', 2), (3, 'cid', NULL);
INSERT INTO orders VALUES (10, 1, 100), (11, 1, 110), (12, 2, 120), (13, NULL, 130), (14, 3, 140);

CREATE FUNCTION identified_by(name) RETURNS text LANGUAGE sql AS $$
    SELECT substring(value FROM 'rows identified by [^\n]*')
    FROM pgtrickle.explain_st($1) WHERE property = 'operator_tree' $$;
CREATE FUNCTION row_ids_unique(regclass) RETURNS boolean LANGUAGE sql AS $$
    SELECT bool_or(i.indisunique) FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = '__pgt_row_id'
    WHERE i.indrelid = $1 AND i.indkey[0] = a.attnum $$;

-- customers is determined by orders (c.id = o.customer_id), countries by customers: o.id alone.
SELECT pgtrickle.create_stream_table('inner_chain',
    'SELECT o.id, o.amount, c.name, k.code FROM orders o JOIN customers c ON c.id = o.customer_id
     JOIN countries k ON k.id = c.country_id', refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- The same through WHERE, and a LEFT JOIN whose nullable side is determined.
SELECT pgtrickle.create_stream_table('where_join',
    'SELECT o.id, o.amount, c.name FROM orders o, customers c WHERE o.customer_id = c.id AND o.amount > 0',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('left_join',
    'SELECT o.id, o.amount, c.name FROM orders o LEFT JOIN customers c ON c.id = o.customer_id',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- Not determined: an expression instead of the column (a COLLATE clause is one too), the
-- preserved side of a LEFT JOIN, a key equated to a column of a table that is itself not
-- identified, an equality across types (bigint = integer: one-to-one here, but
-- timestamp = timestamptz is not), or a key checked only at commit (in the select list or not).
SELECT pgtrickle.create_stream_table('expression',
    'SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id + 0',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('preserved_side',
    'SELECT c.name, o.id FROM customers c LEFT JOIN orders o ON o.id = c.id',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('no_anchor',
    'SELECT c.name, k.code FROM customers c JOIN countries k ON k.id = c.country_id',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
CREATE COLLATION loose (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE codes (code text PRIMARY KEY, label text NOT NULL);
INSERT INTO codes VALUES ('FR', 'France'), ('fr', 'lower-case France');
SELECT pgtrickle.create_stream_table('loose_collation',
    'SELECT k.id, d.label FROM countries k JOIN codes d ON d.code = k.code COLLATE loose',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
CREATE TABLE deferred_keys (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, note text);
INSERT INTO deferred_keys VALUES (1, 'one');
SELECT pgtrickle.create_stream_table('deferred_key',
    'SELECT o.id, d.note FROM orders o JOIN deferred_keys d ON d.id = o.customer_id',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
CREATE TABLE orders8 (id int PRIMARY KEY, customer_id bigint);
INSERT INTO orders8 VALUES (1, 1);
SELECT pgtrickle.create_stream_table('cross_type',
    'SELECT o.id, c.name FROM orders8 o JOIN customers c ON c.id = o.customer_id',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('deferred_in_list', 'SELECT id, note FROM deferred_keys',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgt_name, identified_by(pgt_name), row_ids_unique(pgt_relid)
FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'identity' ORDER BY pgt_id;

-- Changes on every side, including a row re-pointed to another customer and a customer whose
-- name changes under several orders; then each stream table equals its query.
CREATE FUNCTION differs(name, text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint; cols text;
BEGIN
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\_\_pgt%';
    EXECUTE format('SELECT count(*) FROM ((SELECT %3$s FROM %1$I EXCEPT ALL (%2$s))'
                   ' UNION ALL ((%2$s) EXCEPT ALL SELECT %3$s FROM %1$I)) x', $1, $2, cols) INTO n;
    RETURN n;
END $$;
CREATE VIEW visible AS
    SELECT pgt_name, regexp_replace(defining_query, '\s+', ' ', 'g') AS query
    FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'identity';
UPDATE customers SET name = 'ann2' WHERE id = 1;
UPDATE orders SET customer_id = 2, amount = amount + 1 WHERE id = 11;
UPDATE countries SET code = 'fr' WHERE id = 1;
DELETE FROM orders WHERE id = 12;
INSERT INTO orders VALUES (15, 3, 150), (16, 2, 160);
UPDATE customers SET country_id = 1 WHERE id = 3;
SELECT pgt_name, pgtrickle.refresh_stream_table(pgt_name)
FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'identity' ORDER BY pgt_id;
SELECT s.pgt_name, h.action, differs(s.pgt_name, v.query)
FROM pgtrickle.pgt_stream_tables s JOIN visible v USING (pgt_name),
     LATERAL pgtrickle.get_refresh_history(s.pgt_name, 1) h
WHERE s.pgt_schema = 'identity' ORDER BY s.pgt_id;
SELECT id, amount, name, code FROM inner_chain ORDER BY id;

-- customers loses its primary key: the stream tables that relied on it are reloaded (FULL,
-- with a NOTICE), their rows identified by content from then on, and maintained
-- differentially again at the next change. Its key back: reloaded once more.
ALTER TABLE customers DROP CONSTRAINT customers_pkey;
UPDATE orders SET amount = amount + 1 WHERE id = 10;
SELECT pgtrickle.refresh_stream_table('inner_chain');
SELECT identified_by('inner_chain'), row_ids_unique('inner_chain'),
       differs('inner_chain', (SELECT query FROM visible WHERE pgt_name = 'inner_chain'));
UPDATE orders SET amount = amount + 1 WHERE id = 10;
SELECT pgtrickle.refresh_stream_table('inner_chain');
SELECT action FROM pgtrickle.get_refresh_history('inner_chain', 1);
ALTER TABLE customers ADD PRIMARY KEY (id);
UPDATE customers SET name = 'bob2' WHERE id = 2;
SELECT pgtrickle.refresh_stream_table('inner_chain');
SELECT identified_by('inner_chain'), row_ids_unique('inner_chain'),
       differs('inner_chain', (SELECT query FROM visible WHERE pgt_name = 'inner_chain'));

-- countries' key moves from id to code: inner_chain's rows are identified by (id, code) from
-- then on, unique as before; they are reloaded all the same.
ALTER TABLE countries DROP CONSTRAINT countries_pkey, ADD PRIMARY KEY (code);
UPDATE orders SET amount = amount + 1 WHERE id = 10;
SELECT pgtrickle.refresh_stream_table('inner_chain');
SELECT identified_by('inner_chain'), row_ids_unique('inner_chain'),
       differs('inner_chain', (SELECT query FROM visible WHERE pgt_name = 'inner_chain'));
DELETE FROM orders WHERE id = 15;
SELECT pgtrickle.refresh_stream_table('inner_chain');
SELECT action FROM pgtrickle.get_refresh_history('inner_chain', 1);
SELECT differs('inner_chain', (SELECT query FROM visible WHERE pgt_name = 'inner_chain'));

-- The same for an IMMEDIATE stream table: the first write after the key changed rebuilds it.
SELECT pgtrickle.create_stream_table('immediate_join',
    'SELECT o.id, o.amount, c.name FROM orders o JOIN customers c ON c.id = o.customer_id',
    refresh_mode => 'IMMEDIATE');
SELECT identified_by('immediate_join'), row_ids_unique('immediate_join');
ALTER TABLE customers DROP CONSTRAINT customers_pkey;
BEGIN;
UPDATE orders SET amount = amount + 1 WHERE id = 14;
SELECT identified_by('immediate_join'), row_ids_unique('immediate_join'),
       differs('immediate_join', (SELECT query FROM visible WHERE pgt_name = 'immediate_join'));
ROLLBACK;
SELECT row_ids_unique('immediate_join');
UPDATE orders SET amount = amount + 1 WHERE id = 14;
UPDATE customers SET name = 'cid2' WHERE id = 3;
SELECT row_ids_unique('immediate_join'),
       differs('immediate_join', (SELECT query FROM visible WHERE pgt_name = 'immediate_join'));
ALTER TABLE customers ADD PRIMARY KEY (id);
INSERT INTO orders VALUES (17, 1, 170);
SELECT row_ids_unique('immediate_join'),
       differs('immediate_join', (SELECT query FROM visible WHERE pgt_name = 'immediate_join'));

-- A key's versions are told apart by their columns only where equal values are the same value:
-- not a char(n) under a nondeterministic collation ('abc' = 'ABC' there: the update below would
-- have netted out, in coded_keyed's change and in coded's consolidated changes of coded_join),
-- nor an expression mixing two collations (no order to sort by). Compared as bytes.
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE coded (id int PRIMARY KEY, code char(3) COLLATE ci, a text COLLATE "C",
                    b text COLLATE "POSIX");
INSERT INTO coded VALUES (1, 'abc', 'p', 'q'), (2, 'def', 'r', 's');
SELECT pgtrickle.create_stream_table('coded_keyed', 'SELECT id, code FROM coded',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('coded_mixed', 'SELECT id, a || b AS ab FROM coded',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- (Two tables changed together: each one's changes are consolidated, by their text here.)
CREATE TABLE tags (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO tags VALUES (1, 10), (2, 20);
SELECT pgtrickle.create_stream_table('coded_join',
    'SELECT c.id, c.code, t.v FROM coded c JOIN tags t ON t.id = c.id',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
UPDATE coded SET code = 'ABC' WHERE id = 1;
UPDATE coded SET b = 'S' WHERE id = 2;
UPDATE tags SET v = v + 1 WHERE id = 2;
SELECT pgtrickle.refresh_stream_table('coded_keyed');
SELECT pgtrickle.refresh_stream_table('coded_mixed');
SELECT pgtrickle.refresh_stream_table('coded_join');
SELECT id, code::bytea FROM coded_keyed ORDER BY id;
SELECT id, ab::bytea FROM coded_mixed ORDER BY id;
SELECT id, code::bytea, v FROM coded_join ORDER BY id;
SELECT pgt_name, (SELECT action FROM pgtrickle.get_refresh_history(pgt_name, 1))
FROM pgtrickle.pgt_stream_tables WHERE pgt_name LIKE 'coded%' ORDER BY pgt_name;
-- Groups under such a collation: 'abc' and 'ABC' are one group, which the engine would have
-- stored as two (it identifies a group by the bytes of its key): recomputed instead.
SELECT pgtrickle.create_stream_table('coded_groups',
    'SELECT code, count(*) AS n FROM coded GROUP BY code',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT split_part(value, E'\n', 1) AS plan
FROM pgtrickle.explain_st('coded_groups') WHERE property = 'operator_tree';
INSERT INTO coded VALUES (3, 'abc', 'p', 'q');
SELECT pgtrickle.refresh_stream_table('coded_groups');
SELECT lower(code), n FROM coded_groups ORDER BY 1;
-- Below the top, max() over such strings picks one spelling by the order rows arrive in, which
-- differs between the delta's two evaluations: refused.
SELECT pgtrickle.create_stream_table('coded_max',
    'SELECT t.id, (SELECT max(c.code) FROM coded c WHERE c.id <= t.id) AS m FROM tags t',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- The same for numbers of varying scale (1.0 = 1.00) and intervals ('1 day' = '24 hours'); a
-- numeric of one scale (numeric(p,s), extract(year ...), round(x, 1)) is grouped on incrementally.
CREATE TABLE amounts (id int PRIMARY KEY, x numeric, x2 numeric(8,2), span interval, d date);
INSERT INTO amounts VALUES (1, 1.0, 1.0, '1 day', '2024-01-01');
SELECT pgtrickle.create_stream_table('by_x', 'SELECT x, count(*) AS n FROM amounts GROUP BY x',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('by_span', 'SELECT DISTINCT span FROM amounts',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('by_x2', 'SELECT x2, extract(year FROM d) AS y,
    round(x, 1) AS rx, count(*) AS n FROM amounts GROUP BY x2, extract(year FROM d), round(x, 1)',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
-- A key named by a subquery in FROM (through a join, too) is judged by the subquery's
-- expression: extract(year ...) there is grouped on incrementally (TPC-H Q7-Q9), a bare numeric
-- column is not.
SELECT pgtrickle.create_stream_table('by_year_sub', 'SELECT y, count(*) AS n
    FROM (SELECT a.y FROM (SELECT id, extract(year FROM d) AS y FROM amounts) a
          JOIN amounts b USING (id)) s GROUP BY y',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('by_x_sub', 'SELECT v, count(*) AS n
    FROM (SELECT x AS v FROM amounts) s GROUP BY v',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgt_name, split_part(value, E'\n', 1) AS plan
FROM pgtrickle.pgt_stream_tables, pgtrickle.explain_st(pgt_name)
WHERE pgt_name IN ('by_x', 'by_span', 'by_x2', 'by_year_sub', 'by_x_sub')
  AND property = 'operator_tree' ORDER BY 1;
INSERT INTO amounts VALUES (2, 1.00, 1.00, '24 hours', '2024-02-01');
DELETE FROM amounts WHERE id = 1;
SELECT pgtrickle.refresh_stream_table(t)
FROM unnest(ARRAY['by_x', 'by_span', 'by_x2', 'by_year_sub', 'by_x_sub']) t;
SELECT x, n FROM by_x;
SELECT span FROM by_span;
SELECT x2, y, rx, n FROM by_x2;
SELECT y, n FROM by_year_sub;
SELECT v, n FROM by_x_sub;

-- Row ids hash the key values with a separator byte between them: a value holding that byte
-- (E'\x1e') is still one value. ('x<1e>y', 'z') and ('x', 'y<1e>z') are two groups.
CREATE TABLE glued (id int PRIMARY KEY, a text, b text, v text);
SELECT pgtrickle.create_stream_table('glued_d',
    'SELECT a, b, max(v) AS mx FROM glued GROUP BY a, b HAVING count(*) > 0',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('glued_i',
    'SELECT DISTINCT a, b FROM glued', refresh_mode => 'IMMEDIATE');
INSERT INTO glued VALUES (1, E'x\x1ey', 'z', 'first');
SELECT pgtrickle.refresh_stream_table('glued_d');
INSERT INTO glued VALUES (2, 'x', E'y\x1ez', 'second');
SELECT pgtrickle.refresh_stream_table('glued_d');
SELECT replace(a, E'\x1e', '<1e>') AS a, replace(b, E'\x1e', '<1e>') AS b, mx
FROM glued_d ORDER BY 1, 2;
SELECT replace(a, E'\x1e', '<1e>') AS a, replace(b, E'\x1e', '<1e>') AS b
FROM glued_i ORDER BY 1, 2;

-- A DEFERRABLE primary key can hold a key twice inside a transaction: no key for rebuilding
-- a table's old state either (the rows now without the keys inserted would lose a duplicate's
-- first copy too). Checked inside the transaction (IMMEDIATE after each statement, a
-- DIFFERENTIAL refresh there) and after it.
CREATE TABLE twice (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, g int);
INSERT INTO twice VALUES (1, 0), (2, 0);
SELECT pgtrickle.create_stream_table('twice_join',
    'SELECT x.id, y.id AS id2 FROM twice x JOIN twice y ON x.g = y.g', refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('twice_groups',
    'SELECT x.g, x.c FROM (SELECT g, count(*) AS c FROM twice GROUP BY g) x',
    refresh_mode => 'IMMEDIATE');
SELECT pgtrickle.create_stream_table('twice_groups_d',
    'SELECT x.g, x.c FROM (SELECT g, count(*) AS c FROM twice GROUP BY g) x',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
BEGIN;
UPDATE twice SET id = 1 WHERE id = 2;
SELECT pgtrickle.refresh_stream_table('twice_groups_d');
SELECT v.pgt_name, differs(v.pgt_name, v.query) FROM visible v
WHERE v.pgt_name LIKE 'twice%' ORDER BY 1;
UPDATE twice SET id = 2 WHERE ctid = (SELECT max(ctid) FROM twice);
COMMIT;
SELECT pgtrickle.refresh_stream_table('twice_groups_d');
SELECT v.pgt_name, differs(v.pgt_name, v.query) FROM visible v
WHERE v.pgt_name LIKE 'twice%' ORDER BY 1;
SELECT id, id2 FROM twice_join ORDER BY 1, 2;

SELECT pgtrickle.drop_stream_table(pgt_name)
FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'identity' ORDER BY pgt_id;
DROP SCHEMA identity CASCADE;
