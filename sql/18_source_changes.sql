-- Sources whose shape is other than plain columns, or changes after stream tables read them:
-- stored generated columns are captured like any column.
SET client_min_messages = warning;
CREATE SCHEMA source_changes;
SET search_path = source_changes, public;

-- A STORED generated column read by a stream table (its values are in the statement's
-- transition tables, and in the change buffer).
CREATE TABLE gen (id int PRIMARY KEY, a int, g int GENERATED ALWAYS AS (a * 2) STORED);
SELECT pgtrickle.create_stream_table('gen_rows', 'SELECT id, g FROM gen',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('gen_sums',
    'SELECT g % 3 AS k, sum(g) AS total FROM gen WHERE g > 2 GROUP BY 1',
    refresh_mode => 'DIFFERENTIAL', schedule => '1h');
SELECT pgtrickle.create_stream_table('gen_now', 'SELECT id, g FROM gen WHERE g > 2',
    refresh_mode => 'IMMEDIATE');
INSERT INTO gen (id, a) VALUES (1, 10), (2, 3), (3, 1);
UPDATE gen SET a = a + 1 WHERE id = 1;
DELETE FROM gen WHERE id = 2;
SELECT pgtrickle.refresh_stream_table('gen_rows');
SELECT pgtrickle.refresh_stream_table('gen_sums');
SELECT id, g FROM gen_rows ORDER BY id;
SELECT k, total FROM gen_sums ORDER BY k;
SELECT id, g FROM gen_now ORDER BY id;

SELECT pgtrickle.drop_stream_table(pgt_schema || '.' || pgt_name)
FROM pgtrickle.pgt_stream_tables WHERE pgt_schema = 'source_changes' ORDER BY pgt_id;
DROP SCHEMA source_changes CASCADE;
