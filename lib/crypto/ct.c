/* SPDX-License-Identifier: Apache-2.0 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "crypto/internal.h"

RP_EXPORT void rp_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

RP_EXPORT void rp_wipe_free(void *p)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

RP_EXPORT void *rp_wipe_realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (p == NULL)
		return malloc(n);
	old = malloc_usable_size(p);
	if (n <= old)
		return p; /* within the block: stays in place */
	q = malloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old);
	rp_wipe_free(p);
	return q;
}

RP_EXPORT bool rp_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a;
	const volatile uint8_t *y = b;
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	/* Map d == 0 to 1 without a data-dependent branch. */
	return (bool)(1 & ((uint32_t)(d - 1) >> 8));
}
