/*
 * The route table's data (the list itself is HTTP_ROUTES in http_routes.h)
 * and what is derived from it alone: method bits and the Allow header. Data
 * only, no handler: the reply helpers (http_reply.c) read it for a 405
 * without depending on the router.
 */
#include <stdio.h>
#include <string.h>

#include "http/http_routes.h"

#define HTTP_ROUTE_ROW(id, pattern, m, sc, fl) [id] = {pattern, m, sc, fl},
const http_route http_routes[RT_COUNT] = {HTTP_ROUTES(HTTP_ROUTE_ROW)};
#undef HTTP_ROUTE_ROW

unsigned http_method_bit(const char *m)
{
	return !strcmp(m, "GET")       ? M_GET
	       : !strcmp(m, "HEAD")    ? M_HEAD
	       : !strcmp(m, "POST")    ? M_POST
	       : !strcmp(m, "PATCH")   ? M_PATCH
	       : !strcmp(m, "DELETE")  ? M_DELETE
	       : !strcmp(m, "OPTIONS") ? M_OPTIONS
	                               : 0;
}

void http_route_allow(int rt, char *buf, size_t n)
{
	static const char *const names[] = {"GET, HEAD", "POST",    "PATCH",
	                                    "DELETE",    "OPTIONS", "HEAD"};
	unsigned m = rt >= 0 && rt < RT_COUNT ? http_routes[rt].methods : 0;
	if (!n)
		return;
	buf[0] = 0;
	if ((m & M_GET) && (m & M_HEAD))
		m &= ~(unsigned)M_HEAD;
	for (unsigned i = 0; i < 6; i++)
		if (m & (1u << i))
			snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? ", " : "",
			         names[i]);
}
