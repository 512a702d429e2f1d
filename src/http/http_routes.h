/*
 * The route table of `sluice serve`, defined once: every route's id, its
 * path pattern (also the `route` label of the request metrics and the key
 * the OpenAPI test looks up in docs/api.yaml), the methods it takes and
 * the API key scope it needs. The router (http_router.c), the scope check,
 * the Allow header of a 405, the metrics and the CORS preflight all read
 * this one list; tests/http/test_api.py parses the X(...) lines below, so
 * keep each entry on one line.
 */
#ifndef SLUICE_HTTP_ROUTES_H
#define SLUICE_HTTP_ROUTES_H

enum { SCOPE_READ = 1, SCOPE_WRITE = 2, SCOPE_ADMIN = 4 };
/* Methods a route takes (a bit set); HEAD goes with GET unless a route
   takes HEAD alone (tus). */
enum { M_GET = 1, M_POST = 2, M_PATCH = 4, M_DELETE = 8, M_OPTIONS = 16, M_HEAD = 32 };

/* Route flags: RF_SLOW, the handler may wait (the database's write lock, a
   disk sync, a long read) and runs off the event loop (http_pool.c);
   RF_CORS, a browser on an allowed origin (--cors-origin) may preflight it
   (OPTIONS with Access-Control-Request-Method). */
enum { RF_SLOW = 1, RF_CORS = 2 };

/* X(id, pattern, methods, scope, flags): scope 0 needs no key. */
#define HTTP_ROUTES(X)                                                                             \
	X(RT_LIVE, "/healthz/live", M_GET, 0, 0)                                                   \
	X(RT_READY, "/healthz/ready", M_GET, 0, 0)                                                 \
	X(RT_METRICS, "/metrics", M_GET, 0, 0)                                                     \
	X(RT_DASHBOARD, "/", M_GET, 0, 0)                                                          \
	X(RT_DATASETS, "/v1/datasets", M_GET, SCOPE_READ, 0)                                       \
	X(RT_UPLOAD, "/v1/datasets/{name}/uploads", M_POST, SCOPE_WRITE, RF_CORS)                  \
	X(RT_UPLOAD_URLS, "/v1/datasets/{name}/upload-urls", M_POST, SCOPE_WRITE,                  \
	  RF_SLOW | RF_CORS)                                                                       \
	X(RT_RECORDS, "/v1/datasets/{name}/records", M_GET, SCOPE_READ, RF_SLOW)                   \
	X(RT_RECORD, "/v1/datasets/{name}/records/{key}", M_GET, SCOPE_READ, RF_SLOW)              \
	X(RT_TUS, "/v1/tus", M_POST | M_OPTIONS, SCOPE_WRITE, RF_SLOW | RF_CORS)                  \
	X(RT_TUS_FILE, "/v1/tus/{id}", M_HEAD | M_PATCH | M_DELETE | M_OPTIONS, SCOPE_WRITE,       \
	  RF_CORS)                                                                                 \
	X(RT_JOBS, "/v1/jobs", M_GET, SCOPE_READ, RF_SLOW)                                         \
	X(RT_JOB, "/v1/jobs/{id}", M_GET, SCOPE_READ, 0)                                           \
	X(RT_CHUNKS, "/v1/jobs/{id}/chunks", M_GET, SCOPE_READ, RF_SLOW)                           \
	X(RT_ERRORS, "/v1/jobs/{id}/errors", M_GET, SCOPE_READ, RF_SLOW)                           \
	X(RT_EVENTS, "/v1/jobs/{id}/events", M_GET, SCOPE_READ, RF_SLOW)                           \
	X(RT_RETRY, "/v1/jobs/{id}/retry", M_POST, SCOPE_ADMIN, RF_SLOW)                           \
	X(RT_CANCEL, "/v1/jobs/{id}/cancel", M_POST, SCOPE_ADMIN, RF_SLOW)                         \
	X(RT_ROLLBACK, "/v1/jobs/{id}/rollback", M_POST, SCOPE_ADMIN, RF_SLOW)                     \
	X(RT_REFEED, "/v1/jobs/{id}/refeed", M_POST, SCOPE_ADMIN, 0)                               \
	X(RT_NONE, "other", 0, 0, 0)

#define HTTP_ROUTE_ID(id, pattern, methods, scope, flags) id,
enum { HTTP_ROUTES(HTTP_ROUTE_ID) RT_COUNT };
#undef HTTP_ROUTE_ID

typedef struct http_route {
	const char *name; /* the pattern */
	unsigned methods, scope, flags;
} http_route;

/* http_routes.c: the table, indexed by route id. */
extern const http_route http_routes[RT_COUNT];
/* The methods a route takes, as an Allow header's value ("GET, HEAD, ..."). */
void http_route_allow(int rt, char *buf, size_t n);
/* The bit of a method name, 0 for one no route takes. */
unsigned http_method_bit(const char *m);

#endif
