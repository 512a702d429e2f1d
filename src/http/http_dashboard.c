/*
 * GET / (and HEAD): the dashboard page (docs/serve.md, "Dashboard"). The page
 * is src/http/dashboard/index.html with its style and script inlined,
 * compiled into the binary by src/http/dashboard/embed.cmake, so the server
 * needs no file on disk and the page cannot drift from the binary that
 * serves its API. It needs no API key: it holds no data, and asks for a key
 * itself when the API answers 401.
 *
 * The Content-Security-Policy, generated with the page, allows only its own
 * inline script and style (by SHA-256) and requests to this origin, so
 * anything an attacker gets into the page (a dataset name, an error message)
 * cannot run or reach elsewhere.
 */
#include <stddef.h>

#include "http/http_reply.h"

/* generated: build/generated/dashboard_page.c */
extern const unsigned char sl_dashboard_page[];
extern const size_t sl_dashboard_page_len;
extern const char sl_dashboard_csp[];

enum MHD_Result http_dashboard(struct MHD_Connection *c, http_req *r)
{
	/* PERSISTENT: the bytes live as long as the program; MHD neither copies
	   nor frees them (the cast drops a const MHD's old signature lacks). */
	struct MHD_Response *resp = MHD_create_response_from_buffer(
	    sl_dashboard_page_len, (void *)sl_dashboard_page, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
	MHD_add_response_header(resp, "Content-Security-Policy", sl_dashboard_csp);
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	http_common_headers(resp, r);
	return http_queue(c, r, 200, resp);
}
