/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret memory.
 *
 * Each allocation is its own mapping:
 *
 *   | guard | (unused) header canary | data ... | slack | guard |
 *                                     ^ p       (< 16 bytes)
 *
 * The data ends within 16 bytes of the upper guard page, so a linear
 * overflow faults at once; a random canary just below the data detects an
 * underflow at free, before the header below it is trusted. All accessible
 * pages are locked and excluded from core dumps. Free wipes the whole
 * accessible region before unmapping it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <pthread.h>
#include <unistd.h>

#include "crypto/internal.h"

#define SECMEM_ALIGN 16
#define CANARY_BYTES 16

struct secmem_header {
	size_t map_len;    /* whole mapping, guards included */
	size_t user_len;   /* bytes requested */
	size_t user_off;   /* offset of the data from the mapping start */
	bool locked;
};

static uint8_t canary[CANARY_BYTES];
static pthread_once_t canary_once = PTHREAD_ONCE_INIT;
static bool canary_ok;

static void canary_init(void)
{
	canary_ok = rp_random(canary, sizeof(canary)) == 0;
}

static size_t page_size(void)
{
	static size_t cached;

	if (cached == 0) {
		long v = sysconf(_SC_PAGESIZE);
		cached = v > 0 ? (size_t)v : 4096;
	}
	return cached;
}

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static struct secmem_header *header_of(const void *p)
{
	return (struct secmem_header *)((uintptr_t)p - CANARY_BYTES -
					sizeof(struct secmem_header));
}

RP_EXPORT void *rp_secmem_alloc(size_t n)
{
	size_t pg = page_size();
	size_t inner, map_len, user_off;
	struct secmem_header *h;
	uint8_t *base, *user;

	if (n == 0 || n > RP_SECMEM_MAX_BYTES)
		return NULL;
	if (pthread_once(&canary_once, canary_init) != 0 || !canary_ok)
		return NULL;

	/* Accessible area: header + canary + data, rounded to pages. */
	inner = round_up(sizeof(*h) + CANARY_BYTES + round_up(n, SECMEM_ALIGN),
			 pg);
	map_len = inner + 2 * pg;
	base = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;

	if (mprotect(base, pg, PROT_NONE) != 0 ||
	    mprotect(base + pg + inner, pg, PROT_NONE) != 0)
		goto fail;
	/* Never in a core dump; not inherited by fork() children either. */
	(void)madvise(base + pg, inner, MADV_DONTDUMP);
	(void)madvise(base + pg, inner, MADV_DONTFORK);

	user_off = pg + inner - round_up(n, SECMEM_ALIGN);
	user = base + user_off;
	h = header_of(user);
	h->map_len = map_len;
	h->user_len = n;
	h->user_off = user_off;
	/* Locking can fail under a small RLIMIT_MEMLOCK; the memory is still
	 * non-dumpable and wiped, and rp_secmem_locked() reports the state. */
	h->locked = mlock(base + pg, inner) == 0;
	memcpy(user - CANARY_BYTES, canary, CANARY_BYTES);
	return user;
fail:
	munmap(base, map_len);
	return NULL;
}

RP_EXPORT bool rp_secmem_locked(const void *p)
{
	if (p == NULL)
		return false;
	return header_of(p)->locked;
}

RP_EXPORT void rp_secmem_free(void *p)
{
	struct secmem_header *h;
	uint8_t *base;
	size_t pg = page_size(), map_len;
	bool locked;

	if (p == NULL)
		return;
	h = header_of(p);
	if (!rp_ct_equal((uint8_t *)p - CANARY_BYTES, canary, CANARY_BYTES))
		abort(); /* memory holding secrets was overwritten */
	base = (uint8_t *)p - h->user_off;
	map_len = h->map_len;
	locked = h->locked;
	/* Wipe everything accessible, header included, before unmapping. */
	rp_wipe(base + pg, map_len - 2 * pg);
	if (locked)
		(void)munlock(base + pg, map_len - 2 * pg);
	(void)munmap(base, map_len);
}
