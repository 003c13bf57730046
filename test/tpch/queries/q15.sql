-- TPC-H Q15: Top Supplier.
-- pg_trickle test/tpch query set v1: the query of the TPC-H specification (revision 3.0.1),
-- typed for this test suite, with the spec's validation substitution parameters:
-- DATE = 1996-01-01. The spec's view revenue0 (CREATE VIEW ... / DROP VIEW) is written as a
-- WITH query (the spec's own variant), its column names given by AS in the select list.
-- One SELECT, no trailing semicolon, unqualified table names (schema via search_path).
WITH revenue0 AS (
    SELECT
        l_suppkey AS supplier_no,
        sum(l_extendedprice * (1 - l_discount)) AS total_revenue
    FROM
        lineitem
    WHERE
        l_shipdate >= DATE '1996-01-01'
        AND l_shipdate < DATE '1996-01-01' + INTERVAL '3' MONTH
    GROUP BY
        l_suppkey
)
SELECT
    s_suppkey,
    s_name,
    s_address,
    s_phone,
    total_revenue
FROM
    supplier,
    revenue0
WHERE
    s_suppkey = supplier_no
    AND total_revenue = (
        SELECT
            max(total_revenue)
        FROM
            revenue0
    )
ORDER BY
    s_suppkey
