/*
 * Reading loaded rows back for front ends (the HTTP records API): convert
 * each filter value the way the loader converts a field, so that it is
 * compared with the row as stored, then walk the matching rows through the
 * sink. Like jobs.c, each call opens the store, reads and closes it; the
 * walk is one SELECT, so it sees one snapshot of the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "sluice/records.h"
#include "store/store.h"

int sl_records_query(const char *db, const sl_schema *sc, const sl_record_filter *f, size_t nf,
                     const char *job_id, int64_t after, size_t limit, sl_record_cb cb, void *ctx,
                     char *msg, size_t msglen)
{
	const char *path = db ? db : "sluice.db";
	sl_sink *st = NULL;
	sl_validator *v = NULL;
	size_t *cols = NULL, room = 0, used = 0;
	sl_value *vals = NULL;
	char *conv = NULL;
	int rc;
	msg[0] = 0;
	for (size_t k = 0; k < nf; k++) {
		if (f[k].col >= sc->ncols) {
			snprintf(msg, msglen, "filter %zu names no column of %s", k, sc->name);
			rc = SL_INVAL;
			goto out;
		}
		/* sl_value_convert writes canonical forms into 64 bytes more than
		   the field at most */
		room += f[k].len + 64;
	}
	cols = calloc(nf + 1, sizeof *cols);
	vals = calloc(nf + 1, sizeof *vals);
	conv = malloc(room + 1);
	if (!cols || !vals || !conv) {
		rc = SL_NOMEM;
		goto out;
	}
	if (nf && (rc = sl_validator_new(sc, &v)) < 0)
		goto out;
	for (size_t k = 0; k < nf; k++) {
		sl_str field = sl_str_make(f[k].text ? f[k].text : "", f[k].text ? f[k].len : 0);
		size_t u = 0;
		cols[k] = f[k].col;
		rc = sl_value_convert(v, f[k].col, &field, &vals[k], conv + used, &u, msg, msglen);
		if (rc == SL_VAL_REQUIRED) {
			/* a null text in a required column: a NULL no loaded row holds,
			   so it matches nothing, which is the answer */
			vals[k] = (sl_value){.kind = SL_VALUE_NULL};
			msg[0] = 0;
			rc = 0;
		}
		if (rc < 0)
			goto out;
		used += u;
	}
	if ((rc = sl_sink_open(path, 0, &st, msg, msglen)) < 0)
		goto out;
	rc = sl_sink_records_each(st, sc, cols, vals, nf, job_id, after, limit, cb, ctx);
	if (rc < 0 && !msg[0])
		snprintf(msg, msglen, "database: %s", sl_sink_errmsg(st));
out:
	if (st)
		sl_sink_close(st);
	sl_validator_free(v);
	free(cols);
	free(vals);
	free(conv);
	return rc;
}
