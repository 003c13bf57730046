-- TPC-H Q14: Promotion Effect.
-- pg_trickle test/tpch query set v1: the query of the TPC-H specification (revision 3.0.1),
-- typed for this test suite, with the spec's validation substitution parameters:
-- DATE = 1995-09-01.
-- One SELECT, no trailing semicolon, unqualified table names (schema via search_path).
SELECT
    100.00 * sum(CASE
        WHEN p_type LIKE 'PROMO%' THEN l_extendedprice * (1 - l_discount)
        ELSE 0
    END) / sum(l_extendedprice * (1 - l_discount)) AS promo_revenue
FROM
    lineitem,
    part
WHERE
    l_partkey = p_partkey
    AND l_shipdate >= DATE '1995-09-01'
    AND l_shipdate < DATE '1995-09-01' + INTERVAL '1' MONTH
