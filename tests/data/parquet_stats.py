"""What `kwire stats --json` counts, computed by DuckDB from kwire's Parquet.

usage: python3 parquet_stats.py FILE.parquet...
Prints one JSON object: for each file, its totals and per-API counts (as
stats counts them: a negotiation's expected answer is no error unless the
client never completed it on its connection), errors per API and code,
records produced and fetched, and latency count/min/max. tests/parquet.rs
compares them with `kwire stats --json`; docs/parquet.md has the same
queries.
"""
import json
import sys

import duckdb

# The counts of `kwire stats --json` (COUNTS), over the rows of table t
# joined with k (whether a negotiation failed).
COUNTS = """
  count(*) AS requests,
  count(response_frame) AS answered,
  count(*) FILTER (WHERE status = 'error' AND (outcome <> 'negotiation' OR failed)) AS errors,
  count(*) FILTER (WHERE status = 'error' AND outcome = 'negotiation' AND NOT failed) AS negotiations,
  count(*) FILTER (WHERE status = 'malformed') AS malformed,
  count(*) FILTER (WHERE status = 'no_response') AS no_response,
  count(*) FILTER (WHERE status = 'no_response_expected') AS no_response_expected,
  coalesce(sum(request_size + 4), 0)::BIGINT AS request_bytes,
  coalesce(sum(response_size + 4), 0)::BIGINT AS response_bytes
"""


def rows(c, q):
    cur = c.execute(q)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def aggregates(path):
    c = duckdb.connect()
    quoted = path.replace("'", "''")
    c.execute(f"CREATE TEMP TABLE t AS SELECT * FROM read_parquet('{quoted}')")
    # A negotiation's answer (ApiVersions UNSUPPORTED_VERSION, JoinGroup v4+
    # MEMBER_ID_REQUIRED) that no later request of the same API on the same
    # connection answered without error: the client never got past it.
    c.execute("""
      CREATE TEMP TABLE k AS
      SELECT a.seq, a.status = 'error' AND a.outcome = 'negotiation' AND NOT EXISTS (
          SELECT 1 FROM t b
          WHERE b.stream = a.stream AND b.api_key = a.api_key
            AND b.status = 'ok' AND b.seq > a.seq) AS failed
      FROM t a""")
    return {
        "rows": rows(c, "SELECT count(*) AS n FROM t")[0]["n"],
        "totals": rows(c, f"SELECT {COUNTS} FROM t JOIN k USING (seq)")[0],
        "apis": rows(c, f"""
            SELECT api_key, any_value(api_name) AS api_name, {COUNTS}
            FROM t JOIN k USING (seq) GROUP BY api_key ORDER BY api_key"""),
        "errors": rows(c, """
            SELECT api_key, code, count(*) AS count, count(DISTINCT seq) AS exchanges
            FROM (SELECT api_key, seq, unnest(error_codes) AS code FROM t)
            GROUP BY ALL ORDER BY ALL"""),
        "records": rows(c, """
            SELECT coalesce(sum(batches_produced), 0)::BIGINT AS batches_produced,
                   coalesce(sum(records_produced), 0)::BIGINT AS records_produced,
                   coalesce(sum(record_bytes_produced), 0)::BIGINT AS bytes_produced,
                   coalesce(sum(batches_fetched), 0)::BIGINT AS batches_fetched,
                   coalesce(sum(records_fetched), 0)::BIGINT AS records_fetched,
                   coalesce(sum(record_bytes_fetched), 0)::BIGINT AS bytes_fetched
            FROM t""")[0],
        "latency": rows(c, """
            SELECT count(latency_us) AS count, min(latency_us) AS min, max(latency_us) AS max
            FROM t""")[0],
    }


print(json.dumps({p: aggregates(p) for p in sys.argv[1:]}))
