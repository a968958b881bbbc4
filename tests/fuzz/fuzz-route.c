/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for what rampartd decodes of a request itself
 * (src/rampartd/route.c): the path against route patterns, query
 * parameters and the Range header.
 *
 * The input is split at its first two newlines into a path, a query
 * string and a Range header value; byte 0 also picks the file size the
 * range is judged against. Invariants, any broken one aborts:
 *  - a decoded path segment or query value is no longer than its
 *    encoding, and a path segment never holds '/';
 *  - a matching route yields at most the allowed number of parameters,
 *    each non-empty without '/', and for "{*}" a non-empty rest with no
 *    empty segment; whatever was allocated is reported (and freed here,
 *    so a leak shows under LeakSanitizer);
 *  - a satisfiable range lies inside the file and is not empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rampart/common.h>

#include "route.h"
#include "fuzz.h"

#define PARAMS_MAX 4

/* Route shapes of rampartd's table. */
static const char *const patterns[] = {
	"/healthz",
	"/v1/vaults/{}",
	"/v1/vaults/{}/keys/{}",
	"/v1/vaults/{}/keys/{}/versions/{}",
	"/v1/vaults/{}/keys/{}/unwrap",
	"/v1/tenants/{}/sites/{}/files/{*}",
	"/v1/tenants/{}/sites/{}/versions/{*}",
	"/v1/{}/{}/{}/{}/{}",
};

static const char *const names[] = { "version", "prefix", "force", "a", "" };

static const uint64_t sizes[] = { 0, 1, 2, 100, 1 << 20, UINT64_MAX - 1,
				  UINT64_MAX };

static void check_match(const char *pattern, const char *path)
{
	char *params[PARAMS_MAX] = { NULL };
	unsigned n = 99;
	char *rest = (char *)1;
	int m = rd_match(pattern, path, params, PARAMS_MAX, &n, &rest);

	CHECK(n <= PARAMS_MAX);
	CHECK(m == 0 || m == 1 || m == RP_ERR_INVALID || m == RP_ERR_NOMEM);
	if (m == 1) {
		for (unsigned i = 0; i < n; i++) {
			CHECK(params[i] != NULL && params[i][0] != '\0');
			CHECK(strchr(params[i], '/') == NULL);
			CHECK(strlen(params[i]) <= strlen(path));
		}
		if (strstr(pattern, "{*}") != NULL) {
			CHECK(rest != NULL && rest[0] != '\0');
			CHECK(rest[0] != '/' && rest[strlen(rest) - 1] != '/');
			CHECK(strstr(rest, "//") == NULL);
			CHECK(strlen(rest) <= strlen(path));
		} else {
			CHECK(rest == NULL);
		}
	}
	for (unsigned i = 0; i < n; i++)
		free(params[i]);
	free(rest);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *path, *query, *range, *nl;
	uint64_t fsize;

	if (size == 0)
		return 0;
	fsize = sizes[data[0] % (sizeof(sizes) / sizeof(sizes[0]))];
	buf = malloc(size);
	if (buf == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	path = buf;
	query = "";
	range = NULL;
	if ((nl = strchr(path, '\n')) != NULL) {
		*nl = '\0';
		query = nl + 1;
		if ((nl = strchr(query, '\n')) != NULL) {
			*nl = '\0';
			range = nl + 1;
		}
	}

	/* Path segments and values decode to no more than they were. */
	for (int slash = 0; slash < 2; slash++) {
		size_t n = strlen(path);
		char *d = rd_pct_decode(path, n, slash != 0);

		if (d != NULL) {
			CHECK(strlen(d) <= n);
			CHECK(slash || strchr(d, '/') == NULL);
			free(d);
		}
	}
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		check_match(patterns[i], path);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *v = (char *)1;
		int r = rd_query_get(query, names[i], &v);

		CHECK(r == 0 || r == RP_ERR_INVALID || r == RP_ERR_NOMEM);
		if (r == 0 && v != NULL)
			CHECK(strlen(v) <= strlen(query));
		if (r == 0)
			free(v);
		else
			CHECK(v == NULL);
	}
	{
		uint64_t off = 7, len = 7;
		int r = rd_parse_range(range, fsize, &off, &len);

		CHECK(r == -1 || r == 0 || r == 1);
		if (r == 1) {
			CHECK(len >= 1 && len <= fsize);
			CHECK(off <= fsize - len);
		}
	}
	free(buf);
	return 0;
}
