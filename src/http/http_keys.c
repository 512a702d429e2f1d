/*
 * API keys: SLUICE_API_KEYS (KEY:SCOPE+SCOPE,...) parsed at start into
 * s->keys, and the scopes of a presented bearer token, compared in time
 * that does not depend on how much of a key was right. Each key has a
 * fingerprint (XXH3 of the key, never the key itself) that marks what it
 * created: tus uploads, idempotency keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "base/base.h"
#include "http/http_reply.h"

int http_keys_parse(http_srv *s, const char *spec)
{
	int rc = 0;
	char *copy = strdup(spec), *save = NULL;
	if (!copy)
		return SL_NOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		if (!colon || colon == tok || s->nkeys >= HTTP_MAX_KEYS) {
			rc = SL_CONFIG;
			goto out;
		}
		*colon = 0;
		unsigned scopes = 0;
		char *save2 = NULL;
		for (char *sc = strtok_r(colon + 1, "+", &save2); sc;
		     sc = strtok_r(NULL, "+", &save2)) {
			if (!strcmp(sc, "read"))
				scopes |= SCOPE_READ;
			else if (!strcmp(sc, "write"))
				scopes |= SCOPE_WRITE;
			else if (!strcmp(sc, "admin"))
				scopes |= SCOPE_ADMIN;
			else {
				rc = SL_CONFIG;
				goto out;
			}
		}
		if (!scopes || !http_valid_token(tok, 256, false)) {
			rc = SL_CONFIG;
			goto out;
		}
		http_key *k = &s->keys[s->nkeys];
		if (!(k->key = strdup(tok))) {
			rc = SL_NOMEM;
			goto out;
		}
		k->len = strlen(tok);
		k->scopes = scopes;
		snprintf(k->owner, sizeof k->owner, "%016llx",
		         (unsigned long long)XXH3_64bits_withSeed(tok, k->len, 0x736c75696365ull));
		s->nkeys++;
	}
	if (!s->nkeys)
		rc = SL_CONFIG;
out:
	free(copy);
	return rc;
}

/* The scopes of the presented key, 0 when it is unknown. Every key is
   compared over its whole length whatever the outcome, so the time taken
   does not tell how much of a key was right. */
unsigned http_key_scopes(const http_srv *s, const char *tok, size_t n, char *owner)
{
	unsigned found = 0;
	owner[0] = 0;
	for (size_t i = 0; i < s->nkeys; i++) {
		const http_key *k = &s->keys[i];
		unsigned char diff = (unsigned char)(n != k->len);
		for (size_t j = 0; j < k->len; j++)
			diff |= (unsigned char)(k->key[j] ^ (j < n ? tok[j] : 0));
		unsigned match = (unsigned)(diff == 0);
		found |= k->scopes & (0u - match);
		if (match)
			memcpy(owner, k->owner, sizeof k->owner);
	}
	return found;
}
