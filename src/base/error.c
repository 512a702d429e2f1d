/*
 * The error table, expanded from SL_ERROR_MAP (include/sluice/error.h), and
 * the ledger of codes reported to users that tests read (base.h).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "sluice/error.h"

struct entry {
	int code;
	enum sl_error_class cls;
	const char *name;
	const char *message;
};

static const struct entry table[] = {
#define SL__ERR_ROW(name, num, cls, msg) {num, SL_CLASS_##cls, #name, msg},
    SL_ERROR_MAP(SL__ERR_ROW)
#undef SL__ERR_ROW
};

_Static_assert(sizeof table / sizeof table[0] == SL_ERROR_COUNT,
               "SL_ERROR_COUNT must equal the number of rows of SL_ERROR_MAP");

int sl_error_index(int code)
{
	for (int i = 0; i < SL_ERROR_COUNT; i++)
		if (table[i].code == code)
			return i;
	return -1;
}

int sl_error_at(int index)
{
	return (index >= 0 && index < SL_ERROR_COUNT) ? table[index].code : SL_INTERNAL;
}

const char *sl_error_name(int code)
{
	int i = sl_error_index(code);
	return i < 0 ? "UNKNOWN" : table[i].name;
}

const char *sl_error_message(int code)
{
	int i = sl_error_index(code);
	return i < 0 ? "unknown error" : table[i].message;
}

enum sl_error_class sl_error_class(int code)
{
	int i = sl_error_index(code);
	return i < 0 ? SL_CLASS_FATAL : table[i].cls;
}

int sl_error_from_name(const char *name)
{
	for (int i = 0; i < SL_ERROR_COUNT; i++)
		if (strcmp(table[i].name, name) == 0)
			return table[i].code;
	return 1;
}

/* --- the ledger of reported codes (base.h) ---------------------------------- */

static int ledger_fd = -1;
static pthread_once_t ledger_once = PTHREAD_ONCE_INIT;
static const char *channel = "library";
static unsigned char reported[SL_ERROR_COUNT + 1]; /* the last: codes not in the table */

static void ledger_open(void)
{
	const char *path = getenv("SLUICE_CODES_LOG");
	if (path && *path)
		ledger_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

void sl__error_channel(const char *name)
{
	channel = name;
}

const char *sl__error_report(int code)
{
	const char *name = sl_error_name(code);
	pthread_once(&ledger_once, ledger_open);
	if (ledger_fd < 0)
		return name;
	int i = sl_error_index(code);
	/* once per code and process; threads may race to write it twice, which
	   the reader does not mind */
	if (__atomic_exchange_n(&reported[i < 0 ? SL_ERROR_COUNT : i], 1, __ATOMIC_RELAXED))
		return name;
	char line[128];
	int n = snprintf(line, sizeof line, "%s\t%s\n", i < 0 ? "UNKNOWN" : name, channel);
	/* one write with O_APPEND: lines of concurrent processes do not mix */
	if (n > 0 && (size_t)n < sizeof line && write(ledger_fd, line, (size_t)n) < 0)
		return name; /* a test aid: a failed write only loses a line */
	return name;
}
