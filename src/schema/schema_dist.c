/*
 * The schema's `distribution:` key: the target as a Citus distributed
 * table (docs/schema.md, docs/scaling.md). Only the schema's side is here:
 * the column named must exist and hold a value in every row (a NULL cannot
 * be routed to a shard, and Citus refuses it), a key must include it (a
 * unique index of a distributed table must contain its distribution
 * column, or Citus could not check it shard by shard), and the shard count
 * is Citus's range. Whether the database is a Citus coordinator is the
 * PostgreSQL target's question (src/pg/pg_citus.c); SQLite has no shards
 * and ignores the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_int.h"
#include "sluice/error.h"

/* Citus's own bounds on create_distributed_table's shard_count */
#define MAX_SHARDS 64000

int sl__yaml_parse_distribution(struct ctx *x, struct fy_node *key, struct fy_node *n)
{
	static const char *const keys[] = {"column", "shard_count"};
	struct fy_node *k[2], *v[2];
	sl_schema *s = x->s;
	const char *name;
	int rc = sl__yaml_read_map(x, n, key, "distribution", keys, 2, k, v);
	if (rc)
		return rc;
	if (!k[0])
		return sl__yaml_fail(x, n, key,
		                     "distribution needs a column (the one rows are hashed on)");
	if ((rc = sl__yaml_get_text(x, k[0], v[0], "distribution column", &name, NULL)))
		return rc;
	size_t c;
	for (c = 0; c < s->ncols; c++)
		if (strcmp(s->cols[c].name, name) == 0)
			break;
	if (c == s->ncols)
		return sl__yaml_fail(x, v[0], k[0], "distribution names unknown column '%.60s'",
		                     name);
	s->dist_col = c;
	s->distributed = true;
	if (k[1]) {
		int64_t m;
		if ((rc = sl__yaml_get_int(x, k[1], v[1], "shard_count", &m)))
			return rc;
		if (m < 1 || m > MAX_SHARDS)
			return sl__yaml_fail(x, v[1], k[1], "shard_count must be 1 to %d, not %lld",
			                     MAX_SHARDS, (long long)m);
		s->shard_count = (int)m;
	}
	bool in_key = false;
	for (size_t i = 0; i < s->nkey; i++)
		in_key = in_key || s->key[i] == c;
	if (s->nkey && !in_key) {
		char keys_text[256] = "";
		for (size_t i = 0; i < s->nkey; i++) {
			size_t l = strlen(keys_text);
			snprintf(keys_text + l, sizeof keys_text - l, "%s%s", i ? ", " : "",
			         s->cols[s->key[i]].name);
		}
		return sl__yaml_fail(
		    x, v[0], k[0],
		    "the key (%s) must include the distribution column '%s': Citus checks a key"
		    " shard by shard (add '%s' to the key, or distribute on a key column)",
		    keys_text, s->cols[c].name, s->cols[c].name);
	}
	if (!in_key && !s->cols[c].required)
		return sl__yaml_fail(x, v[0], k[0],
		                     "the distribution column '%s' must be `required: true` (or in"
		                     " the key): a row without it has no shard",
		                     s->cols[c].name);
	return 0;
}
