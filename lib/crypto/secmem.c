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
 * overflow faults at once, or, when it stays in the zero-filled alignment
 * slack, is detected at free; a random canary just below the data detects
 * an underflow at free, before the header below it is trusted. All accessible
 * pages are locked and excluded from core dumps. Free wipes the whole
 * accessible region before unmapping it.
 *
 * One-page mappings (the common case: keys, unwrapped key material) are
 * not unmapped at free but wiped and kept, guards and lock intact, on a
 * short free list, so that a hot path which releases a secret per call
 * makes no system call for it: an mmap, mlock, two mprotects and a munmap
 * per secret cost more than the key operation around them, and a munmap
 * or mprotect in a threaded process interrupts every other core to flush
 * its TLB. rp__secmem_trim() hands the kept mappings back to the kernel.
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

/* Most wiped one-page mappings kept for reuse. */
#define SECMEM_KEEP 64

static uint8_t canary[CANARY_BYTES];
static pthread_mutex_t keep_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kept {
	uint8_t *base;
	bool locked;
} keep[SECMEM_KEEP];
static size_t keep_n;
static pthread_once_t canary_once = PTHREAD_ONCE_INIT;
static bool canary_ok;

/*
 * Kept mappings are MADV_DONTFORK: a child of fork() does not have them, so
 * its list starts empty (and the lock is not held across the fork).
 */
static void keep_prefork(void)
{
	pthread_mutex_lock(&keep_lock);
}

static void keep_parent(void)
{
	pthread_mutex_unlock(&keep_lock);
}

static void keep_child(void)
{
	keep_n = 0;
	pthread_mutex_unlock(&keep_lock);
}

static void canary_init(void)
{
	canary_ok = rp_random(canary, sizeof(canary)) == 0 &&
		    pthread_atfork(keep_prefork, keep_parent, keep_child) == 0;
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
	bool locked;

	if (n == 0 || n > RP_SECMEM_MAX_BYTES)
		return NULL;
	if (pthread_once(&canary_once, canary_init) != 0 || !canary_ok)
		return NULL;

	/* Accessible area: header + canary + data, rounded to pages. */
	inner = round_up(sizeof(*h) + CANARY_BYTES + round_up(n, SECMEM_ALIGN),
			 pg);
	map_len = inner + 2 * pg;
	if (inner == pg) {
		struct kept k = { 0 };

		pthread_mutex_lock(&keep_lock);
		if (keep_n > 0)
			k = keep[--keep_n];
		pthread_mutex_unlock(&keep_lock);
		if (k.base != NULL) {
			/* Wiped at free: every accessible byte is zero. */
			base = k.base;
			locked = k.locked;
			goto place;
		}
	}
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
	/* Locking can fail under a small RLIMIT_MEMLOCK; the memory is still
	 * non-dumpable and wiped, and rp_secmem_locked() reports the state. */
	locked = mlock(base + pg, inner) == 0;
place:
	user_off = pg + inner - round_up(n, SECMEM_ALIGN);
	user = base + user_off;
	h = header_of(user);
	h->map_len = map_len;
	h->user_len = n;
	h->user_off = user_off;
	h->locked = locked;
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

static void unmap(uint8_t *base, size_t map_len, bool locked)
{
	size_t pg = page_size();

	if (locked)
		(void)munlock(base + pg, map_len - 2 * pg);
	(void)munmap(base, map_len);
}

/* Whether the alignment slack after n bytes of data is still zero. */
static bool slack_clean(const uint8_t *p, size_t n)
{
	uint8_t d = 0;

	for (size_t i = n; i < round_up(n, SECMEM_ALIGN); i++)
		d |= p[i];
	return d == 0;
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
	if (!slack_clean(p, h->user_len))
		abort(); /* written past its end */
	base = (uint8_t *)p - h->user_off;
	map_len = h->map_len;
	locked = h->locked;
	/* Wipe everything accessible, header included, before unmapping. */
	rp_wipe(base + pg, map_len - 2 * pg);
	if (map_len == 3 * pg) {
		bool kept = false;

		pthread_mutex_lock(&keep_lock);
		if (keep_n < SECMEM_KEEP) {
			keep[keep_n++] = (struct kept){ base, locked };
			kept = true;
		}
		pthread_mutex_unlock(&keep_lock);
		if (kept)
			return;
	}
	unmap(base, map_len, locked);
}

void rp__secmem_trim(void)
{
	size_t pg = page_size();

	pthread_mutex_lock(&keep_lock);
	while (keep_n > 0) {
		keep_n--;
		unmap(keep[keep_n].base, 3 * pg, keep[keep_n].locked);
	}
	pthread_mutex_unlock(&keep_lock);
}
