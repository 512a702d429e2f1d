/*
 * The PostgreSQL connection: opening it by libpq URI (or the PG* variables),
 * the session settings every part of sluice relies on, transactions and
 * reconnecting, and the one place a failure becomes a sluice code.
 *
 * Error categories (docs/scaling.md): the code is chosen by SQLSTATE, never
 * by message text. Transient failures, after which the same chunk may well
 * succeed, are retry codes: serialization failure (40001), deadlock
 * (40P01) and lock not available (55P03) are DB_BUSY; too many
 * connections (53300, every connection slot taken) is DB_CONN_LIMIT, and a
 * connection refused so is tried again with backoff for a while
 * (open_session); connection exceptions (class 08), the server shutting down or
 * restarting (57P01-57P03) and a connection lost without any SQLSTATE are
 * DB_CONN; a full disk (53100) is DB_FULL. A row the table refuses is class
 * 23 (DB_CONSTRAINT) or class 22 (DB_VALUE): the row writer isolates it.
 * Everything else is DB_ERROR and fatal, with the SQLSTATE and PostgreSQL's
 * message in sl__pg_errmsg().
 *
 * Two exceptions read the message, both Citus's internal error XX000, which
 * it gives where it passes on a worker node's failure without that node's
 * SQLSTATE: a worker's connection lost (DB_CONN, sl__pg_citus_node_lost),
 * and a row a worker's shard refused inside a COPY into a distributed
 * table (Citus 13.2's ReportCopyError: the worker's message and detail,
 * neither its SQLSTATE nor its constraint's name). PostgreSQL's words for
 * each constraint kind give back the SQLSTATE it had on the worker (class
 * 23: DB_CONSTRAINT, so the row writer isolates the row) and the
 * constraint's name; an XX000 in any other words stays DB_ERROR (a
 * trigger's exception, a real internal error). Those words are the
 * server's English ones: workers with lc_messages in another language make
 * such a refusal DB_ERROR, the chunk failed rather than a row rejected.
 */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pg/pg.h"
#include "sluice/error.h"

struct sl_pg {
	PGconn *conn;
	uint64_t session;
	char extra[256]; /* sl__pg_session_sql */
	char sqlstate[6];
	char constraint[128]; /* the last failure's constraint, "" when none is named */
	char err[2048];
};

/* What every session is set to: values read back as the ISO texts sluice
   stores in SQLite (timestamptz in UTC, dates ISO), floats with every
   digit, and text in UTF-8 whatever the server's default; notices ("table
   exists, skipping") not printed on the program's stderr. */
static const char session_sql[] =
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD';"
    " SET extra_float_digits = 3; SET client_encoding = 'UTF8';"
    " SET application_name = 'sluice'; SET client_min_messages = warning";

bool sl__pg_is_uri(const char *target)
{
	return target &&
	       (!strncmp(target, "postgres://", 11) || !strncmp(target, "postgresql://", 13));
}

struct pg_conn *sl__pg_conn(sl_pg *c)
{
	return c->conn;
}

uint64_t sl__pg_session(const sl_pg *c)
{
	return c->session;
}

const char *sl__pg_errmsg(const sl_pg *c)
{
	return c ? c->err : "no connection";
}

const char *sl__pg_sqlstate(const sl_pg *c)
{
	return c->sqlstate;
}

const char *sl__pg_constraint(const sl_pg *c)
{
	return c->constraint;
}

int sl__pg_code(const char *st)
{
	if (!st || strlen(st) != 5)
		return SL_DB_CONN;
	if (!strcmp(st, "40001") || !strcmp(st, "40P01") || !strcmp(st, "55P03"))
		return SL_DB_BUSY;
	if (!strcmp(st, "53300"))
		return SL_DB_CONN_LIMIT;
	if (!strncmp(st, "08", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") ||
	    !strcmp(st, "57P03"))
		return SL_DB_CONN;
	if (!strcmp(st, "53100"))
		return SL_DB_FULL;
	if (!strncmp(st, "23", 2))
		return SL_DB_CONSTRAINT;
	if (!strncmp(st, "22", 2))
		return SL_DB_VALUE;
	return SL_DB_ERROR;
}

/* PostgreSQL's messages for a row a constraint refuses (the primary
   message, as a worker node's COPY reports it), with the SQLSTATE each
   comes with; all but not-null name the constraint in double quotes right
   after these words. The RESTRICT one before the plain foreign key's, whose
   words it contains. */
static const struct {
	const char *words, *state;
} refusals[] = {
    {"violates not-null constraint", "23502"},
    {"violates RESTRICT setting of foreign key constraint ", "23001"},
    {"violates foreign key constraint ", "23503"},
    {"violates unique constraint ", "23505"},
    {"violates check constraint ", "23514"},
    {"violates partition constraint", "23514"},
    {"violates exclusion constraint ", "23P01"},
};

/* The SQLSTATE class 23 a message says its row had, or NULL; the
   constraint it names (quoted) into name[len] ("" when none). */
static const char *refusal_state(const char *msg, char *name, size_t len)
{
	name[0] = 0;
	for (size_t i = 0; msg && i < sizeof refusals / sizeof *refusals; i++) {
		const char *at = strstr(msg, refusals[i].words);
		if (!at)
			continue;
		at += strlen(refusals[i].words);
		const char *end = *at == '"' ? strchr(at + 1, '"') : NULL;
		if (end && (size_t)(end - at - 1) < len)
			snprintf(name, len, "%.*s", (int)(end - at - 1), at + 1);
		return refusals[i].state;
	}
	return NULL;
}

/* libpq's messages end with a newline and may run over several lines;
   keep one line. */
static void one_line(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = 0;
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
}

int sl__pg_fail(sl_pg *c, const PGresult *res, const char *what)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char own[512];
	/* a result without an SQLSTATE on a live connection is libpq's own
	   complaint (out of memory, a protocol error): no SQLSTATE to go by.
	   libpq may notice a closed socket only on the next read: look (which
	   rewrites the connection's message, so that is read afterwards, and
	   kept: the result's words first) */
	if (!msg || !*msg) {
		snprintf(own, sizeof own, "%s", PQerrorMessage(c->conn));
		msg = own;
	}
	if (!st && PQstatus(c->conn) == CONNECTION_OK)
		PQconsumeInput(c->conn);
	bool lost = PQstatus(c->conn) != CONNECTION_OK;
	const char *con = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
	char named[sizeof c->constraint];
	const char *said = refusal_state(msg, named, sizeof named);
	const char *was = NULL; /* the SQLSTATE Citus reported instead of the row's own */
	if (st && !strcmp(st, "XX000") && said)
		was = st, st = said; /* a worker's shard refused the row (Citus's COPY) */
	snprintf(c->sqlstate, sizeof c->sqlstate, "%s", st ? st : "");
	/* Citus passes on a worker's refusal without the constraint's field
	   (by INSERT ... SELECT too, with the SQLSTATE): its name from the
	   message then */
	snprintf(c->constraint, sizeof c->constraint, "%s",
	         con                           ? con
	         : st && !strncmp(st, "23", 2) ? named
	                                       : "");
	int code = st ? sl__pg_code(st) : lost ? SL_DB_CONN : SL_DB_ERROR;
	if (code == SL_DB_ERROR && sl__pg_citus_node_lost(st, msg))
		code = SL_DB_CONN; /* a Citus worker node, not this connection */
	if (was)
		snprintf(c->err, sizeof c->err, "%s: SQLSTATE %s (reported by Citus as %s): %s",
		         what, st, was, msg ? msg : "");
	else if (st)
		snprintf(c->err, sizeof c->err, "%s: SQLSTATE %s: %s", what, st, msg ? msg : "");
	else
		snprintf(c->err, sizeof c->err, "%s: %s%s", what, lost ? "connection lost: " : "",
		         msg ? msg : "");
	one_line(c->err);
	return code;
}

int sl__pg_seterr(sl_pg *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	c->sqlstate[0] = 0;
	c->constraint[0] = 0;
	return code;
}

/* A result that is not what was asked for becomes the handle's failure. */
static int check(sl_pg *c, PGresult *res, ExecStatusType want, const char *what)
{
	int rc = 0;
	if (!res || PQresultStatus(res) != want)
		rc = sl__pg_fail(c, res, what);
	PQclear(res);
	return rc;
}

int sl__pg_exec(sl_pg *c, const char *sql)
{
	PGresult *res = PQexec(c->conn, sql);
	/* several statements: the last one's status; an error stops at once */
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
		PQclear(res);
		return 0;
	}
	return check(c, res, PGRES_COMMAND_OK, "query");
}

int sl__pg_execp(sl_pg *c, const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
		PQclear(res);
		return 0;
	}
	return check(c, res, PGRES_COMMAND_OK, "query");
}

int sl__pg_value(sl_pg *c, const char *sql, int n, const char *const *params, char *buf, size_t len)
{
	PGresult *res = PQexecParams(c->conn, sql, n, NULL, params, NULL, NULL, 0);
	buf[0] = 0;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
		return check(c, res, PGRES_TUPLES_OK, "query");
	int found = PQntuples(res) > 0;
	if (found && !PQgetisnull(res, 0, 0))
		snprintf(buf, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return found;
}

static int session_setup(sl_pg *c)
{
	c->session++;
	int rc = sl__pg_exec(c, session_sql);
	return rc == 0 && c->extra[0] ? sl__pg_exec(c, c->extra) : rc;
}

int sl__pg_session_sql(sl_pg *c, const char *sql)
{
	if (strlen(sql) >= sizeof c->extra)
		return sl__pg_seterr(c, SL_INVAL, "session settings too long");
	snprintf(c->extra, sizeof c->extra, "%s", sql);
	return sl__pg_exec(c, sql);
}

/* The server's notices and warnings ("terminating connection due to
   immediate shutdown") are not printed: a failure they announce comes back
   as the next command's error, which sluice reports with its code. */
static void quiet(void *arg, const char *message)
{
	(void)arg, (void)message;
}

/* Is a refused connection's message PostgreSQL's "no connection slot is
   free" (SQLSTATE 53300)? libpq keeps a refusal's SQLSTATE only in its
   text: "sorry, too many clients already" (max_connections), "remaining
   connection slots are reserved for ..." (only superuser or replication
   slots left), "too many connections for role/database" (a CONNECTION
   LIMIT). The server's English messages: one with lc_messages in another
   language gives DB_CONN, retried as a lost connection is. */
static bool slots_taken(const char *msg)
{
	return strstr(msg, "too many clients") || strstr(msg, "too many connections") ||
	       strstr(msg, "remaining connection slots are reserved");
}

static int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* How long connections refused for want of a slot are tried again:
   SLUICE_PG_CONNECT_WAIT seconds (0..3600), 60 when unset or not a number
   in that range. */
static int64_t slot_wait_ms(void)
{
	const char *v = getenv("SLUICE_PG_CONNECT_WAIT");
	char *end;
	double s = v && *v ? strtod(v, &end) : -1;
	if (!v || !*v || *end || s < 0 || s > 3600)
		return 60000;
	return (int64_t)(s * 1000);
}

/* Make c->conn a live session: from `uri` (NULL: PQreset of the session
   that was lost). A refusal for want of a slot is tried again with
   exponential backoff (100 ms doubling to 5 s, each wait 50..100 % of
   that, so that many refused clients do not come back at once) until
   slot_wait_ms() has passed: a server full of clients usually frees some
   soon, and a load that waits is better than one that fails. Any other
   refusal is DB_CONN at once (the engine retries a chunk's). */
static int open_session(sl_pg *c, const char *uri)
{
	const char *what = uri ? "connect to" : "reconnect to";
	int64_t t0 = mono_ms(), wait = slot_wait_ms(), delay = 100;
	unsigned seed = (unsigned)t0 ^ (unsigned)getpid() * 2654435761u;
	int tries = 0;
	for (;;) {
		tries++;
		if (uri) {
			PQfinish(c->conn);
			c->conn = PQconnectdb(uri);
			if (!c->conn)
				return sl__pg_seterr(c, SL_NOMEM,
				                     "out of memory for a PostgreSQL connection");
			PQsetNoticeProcessor(c->conn, quiet, NULL);
		} else {
			PQreset(c->conn);
		}
		if (PQstatus(c->conn) == CONNECTION_OK)
			return session_setup(c);
		c->sqlstate[0] = 0, c->constraint[0] = 0;
		const char *why = PQerrorMessage(c->conn);
		int64_t spent = mono_ms() - t0;
		if (!slots_taken(why)) {
			snprintf(c->err, sizeof c->err, "cannot %s PostgreSQL: %s", what, why);
			one_line(c->err);
			return SL_DB_CONN;
		}
		if (spent >= wait) {
			snprintf(c->err, sizeof c->err,
			         "cannot %s PostgreSQL: the server refused the connection, its "
			         "connection slots all taken (too many clients, SQLSTATE 53300), "
			         "on each of %d tries over %.1f s (SLUICE_PG_CONNECT_WAIT): %s",
			         what, tries, (double)spent / 1000, why);
			one_line(c->err);
			snprintf(c->sqlstate, sizeof c->sqlstate, "53300");
			return SL_DB_CONN_LIMIT;
		}
		seed = seed * 1103515245u + 12345u;
		int64_t nap = delay / 2 + (int64_t)((seed >> 8) % (unsigned)(delay / 2 + 1));
		if (nap > wait - spent)
			nap = wait - spent;
		struct timespec ts = {(time_t)(nap / 1000), (long)(nap % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		if (delay < 5000)
			delay = delay * 2 > 5000 ? 5000 : delay * 2;
	}
}

int sl__pg_connect(const char *uri, sl_pg **out)
{
	sl_pg *c = calloc(1, sizeof *c);
	*out = c;
	if (!c)
		return SL_NOMEM;
	/* libpq fills what the string leaves out from PG* variables and its
	   defaults, so "" is "everything from the environment" */
	return open_session(c, uri ? uri : "");
}

int sl__pg_reconnect(sl_pg *c)
{
	if (PQstatus(c->conn) == CONNECTION_OK)
		return 0;
	return open_session(c, NULL);
}

void sl__pg_close(sl_pg *c)
{
	if (!c)
		return;
	PQfinish(c->conn);
	free(c);
}

int sl__pg_begin(sl_pg *c)
{
	int rc = sl__pg_reconnect(c);
	if (rc == 0)
		rc = sl__pg_exec(c, "BEGIN");
	/* a session that died since its last command (the server restarted)
	   is found here: nothing was done in it, so a new one may begin */
	if (rc == SL_DB_CONN && PQstatus(c->conn) != CONNECTION_OK &&
	    (rc = sl__pg_reconnect(c)) == 0)
		rc = sl__pg_exec(c, "BEGIN");
	return rc;
}

int sl__pg_commit(sl_pg *c)
{
	/* COMMIT of an aborted transaction answers COMMAND_OK with the tag
	   ROLLBACK: that is a failure, not a commit */
	PGresult *res = PQexec(c->conn, "COMMIT");
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK &&
	    !strcmp(PQcmdStatus(res), "ROLLBACK")) {
		PQclear(res);
		snprintf(c->err, sizeof c->err,
		         "commit: the transaction had failed and was rolled back");
		c->sqlstate[0] = 0, c->constraint[0] = 0;
		return SL_DB_ERROR;
	}
	return check(c, res, PGRES_COMMAND_OK, "commit");
}

void sl__pg_rollback(sl_pg *c)
{
	if (PQstatus(c->conn) != CONNECTION_OK || PQtransactionStatus(c->conn) == PQTRANS_IDLE)
		return;
	PQclear(PQexec(c->conn, "ROLLBACK"));
}

int sl__pg_add(sl_buf *b, const char *s)
{
	return sl_buf_append(b, s, strlen(s));
}

int sl__pg_ident(sl_buf *b, const char *name)
{
	return sl_buf_add_ident(b, name);
}
