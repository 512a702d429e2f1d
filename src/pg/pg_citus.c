/*
 * Citus, the distributed target (docs/scaling.md, "Citus"): a schema with
 * `distribution: {column: ..., shard_count: ...}` loaded on a Citus
 * coordinator gets its target as a hash-distributed table.
 *
 * Only the table's making is Citus's own; the load is not: COPY into a
 * distributed table is routed by the coordinator, and the keyed path's
 * INSERT INTO distributed SELECT ... FROM a coordinator-local temporary
 * staging table ON CONFLICT ... RETURNING works as it is (Citus pulls the
 * staging rows through the coordinator and routes them to their shards).
 * The job store stays in the `sluice` schema on the coordinator, as local
 * tables, so a chunk's rows (on the workers) and its status, counters and
 * event (on the coordinator) still commit together: Citus commits a
 * transaction that wrote to several nodes by two-phase commit, and its
 * recovery finishes a commit a worker missed (a worker restarted between
 * PREPARE and COMMIT PREPARED).
 *
 * A worker node lost in the middle of a transaction is a connection
 * failure like the coordinator's own (DB_CONN: the chunk is retried with
 * backoff), although Citus reports some of these as internal errors
 * (XX000): one of the two places sluice reads a message, not only the
 * SQLSTATE (sl__pg_citus_node_lost; the other, a row a shard refused, is
 * in pg_conn.c).
 *
 * A row a worker's shard refuses comes back named by the shard: Citus
 * appends the shard's id to each constraint's and index's name on the
 * shards ("banned_102024"). The writer reads the table's shard ids once
 * (sl__pg_citus_shards) to name the constraint as the user made it.
 *
 * On a database without Citus a schema that asks for distribution is a
 * CONFIG error rather than a table quietly made on one node: a user who
 * wrote `distribution:` sized the load for shards. On a Citus worker node
 * (not the coordinator) it is CONFIG too: distributed tables are made, and
 * loaded, through the coordinator.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/pg.h"
#include "sluice/error.h"

bool sl__pg_citus_node_lost(const char *sqlstate, const char *message)
{
	/* Citus raises these without an SQLSTATE of their own (XX000) when a
	   worker node's connection breaks inside a transaction (the node
	   restarted or was cut off); the coordinator's transaction is aborted
	   whole, so the chunk may be tried again. Citus 13.2's words
	   (transaction/remote_transaction.c, connection/): */
	static const char *const lost[] = {
	    "failure on connection marked as essential",
	    "failed to prepare transaction",
	    "connection to the remote node",
	    "could not establish any connections to the node",
	    /* a COPY into a distributed table passes on the worker's own
	       message without its SQLSTATE (57P01-57P03, a lost connection):
	       the node shut down or restarted under the COPY */
	    "terminating connection due to",
	    "the database system is",
	    "server closed the connection unexpectedly",
	};
	if (!sqlstate || strcmp(sqlstate, "XX000") || !message)
		return false;
	for (size_t i = 0; i < sizeof lost / sizeof *lost; i++)
		if (!strncmp(message, lost[i], strlen(lost[i])))
			return true;
	return false;
}

int sl__pg_citus_check(sl_pg *c, const sl_schema *sc)
{
	char v[64];
	int rc = sl__pg_value(c, "SELECT extversion FROM pg_extension WHERE extname = 'citus'", 0,
	                      NULL, v, sizeof v);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return sl__pg_seterr(
		    c, SL_CONFIG,
		    "schema %s: `distribution:` needs a Citus coordinator, and this database has no"
		    " citus extension (leave `distribution:` out for a plain PostgreSQL table;"
		    " docs/scaling.md, Citus)",
		    sc->name);
	char coord[8];
	rc = sl__pg_value(c, "SELECT citus_is_coordinator()", 0, NULL, coord, sizeof coord);
	if (rc < 0)
		return rc;
	if (strcmp(coord, "t"))
		return sl__pg_seterr(c, SL_CONFIG,
		                     "schema %s: `distribution:` on a Citus node that is not a"
		                     " coordinator with workers (Citus %s): connect sluice to the"
		                     " coordinator, whose database has its nodes"
		                     " (citus_set_coordinator_host, citus_add_node)",
		                     sc->name, v);
	return 0;
}

int sl__pg_citus_distribute(sl_pg *c, const sl_schema *sc, const char *qname)
{
	const char *col = sc->cols[sc->dist_col].name;
	PGresult *res = NULL;
	int rc = 0;
	const char *p[3] = {qname, col, NULL};
	res = PQexecParams(sl__pg_conn(c),
	                   "SELECT p.partmethod::text,"
	                   " coalesce(column_to_column_name(p.logicalrelid, p.partkey), '')"
	                   " FROM pg_dist_partition p WHERE p.logicalrelid = to_regclass($1)",
	                   1, NULL, p, NULL, NULL, 0);
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = sl__pg_fail(c, res, "the distribution of the target table");
		goto out;
	}
	if (PQntuples(res) == 1) {
		/* a table Citus knows already: hashed on the schema's column,
		   whatever its shard count (the table's layout is its owner's) */
		const char *method = PQgetvalue(res, 0, 0), *have = PQgetvalue(res, 0, 1);
		if (strcmp(method, "h"))
			rc = sl__pg_seterr(
			    c, SL_DB_SCHEMA,
			    "table %s is a Citus %s table, but the schema distributes it"
			    " on %s",
			    sc->table, !strcmp(method, "n") ? "reference or local" : method, col);
		else if (strcmp(have, col))
			rc = sl__pg_seterr(c, SL_DB_SCHEMA,
			                   "table %s is distributed on column %s, but the schema"
			                   " distributes it on %s",
			                   sc->table, have, col);
		goto out;
	}
	PQclear(res);
	res = NULL;
	/* a table on the coordinator only (just made, or made by hand): its
	   shards are made and any rows it has moved into them. Citus takes the
	   column's name as it is stored (not as SQL would fold it), which is
	   how sluice creates it */
	char shards[16];
	snprintf(shards, sizeof shards, "%d", sc->shard_count);
	p[2] = shards;
	rc = sl__pg_execp(c,
	                  sc->shard_count
	                      ? "SELECT create_distributed_table($1, $2, shard_count => $3::int)"
	                      : "SELECT create_distributed_table($1, $2)",
	                  sc->shard_count ? 3 : 2, p);
out:
	PQclear(res);
	return rc;
}

int sl__pg_citus_shards(sl_pg *c, const char *table, uint64_t **ids, size_t *n)
{
	sl_buf b;
	int rc = 0;
	PGresult *res = NULL;
	*ids = NULL;
	*n = 0;
	sl_buf_init(&b, 1 << 16);
	if (sl__pg_ident(&b, table) || sl_buf_append(&b, "", 1)) {
		rc = SL_NOMEM;
		goto out;
	}
	const char *p[1] = {b.p};
	res = PQexecParams(sl__pg_conn(c),
	                   "SELECT shardid FROM pg_dist_shard WHERE logicalrelid = to_regclass($1)",
	                   1, NULL, p, NULL, NULL, 0);
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = sl__pg_fail(c, res, "the shards of the target table");
		goto out;
	}
	size_t rows = (size_t)PQntuples(res);
	if (rows && !(*ids = calloc(rows, sizeof **ids))) {
		rc = SL_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < rows; i++)
		(*ids)[i] = strtoull(PQgetvalue(res, (int)i, 0), NULL, 10);
	*n = rows;
out:
	PQclear(res);
	sl_buf_free(&b);
	return rc;
}
