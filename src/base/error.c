/*
 * The error table, expanded from SL_ERROR_MAP (include/sluice/error.h).
 */
#include <string.h>

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
