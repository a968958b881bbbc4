/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret memory. The test binary is linked with -Wl,--wrap=munmap, so every
 * munmap the library makes passes through __wrap_munmap below, which checks
 * that the region being released was wiped before it goes back to the
 * kernel: the property we promise, observed on the real free path. One-page
 * mappings are kept for reuse at free (wiped, still guarded and locked) and
 * reach munmap through rp__secmem_trim.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <rampart/rampart.h>

#include "crypto/internal.h"

int __real_munmap(void *addr, size_t len);
int __wrap_munmap(void *addr, size_t len);

static struct {
	bool armed;
	uint8_t pattern;
	size_t unmaps;
	size_t nonzero_bytes;  /* accessible bytes not wiped */
	size_t pattern_bytes;  /* bytes still holding the secret */
} watch;

int __wrap_munmap(void *addr, size_t len)
{
	if (watch.armed) {
		size_t pg = (size_t)sysconf(_SC_PAGESIZE);
		const uint8_t *p = (const uint8_t *)addr + pg;

		/* Skip the guard pages at both ends (PROT_NONE). */
		watch.unmaps++;
		for (size_t i = 0; i + 2 * pg < len; i++) {
			watch.nonzero_bytes += p[i] != 0;
			watch.pattern_bytes += p[i] == watch.pattern;
		}
	}
	return __real_munmap(addr, len);
}

static void test_wiped_after_free(void **state)
{
	const size_t sizes[] = { 1, 15, 16, 32, 4000, 4096, 5000, 65536 };

	(void)state;
	rp__secmem_trim();
	for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
		uint8_t *p = rp_secmem_alloc(sizes[s]);

		assert_non_null(p);
		memset(p, 0x5c, sizes[s]);
		memset(&watch, 0, sizeof(watch));
		watch.pattern = 0x5c;
		watch.armed = true;
		rp_secmem_free(p);
		rp__secmem_trim();
		watch.armed = false;
		assert_int_equal(watch.unmaps, 1);
		assert_int_equal(watch.pattern_bytes, 0);
		assert_int_equal(watch.nonzero_bytes, 0);
	}
}

static void test_kept_mapping_reused_wiped(void **state)
{
	uint8_t *p, *q;

	(void)state;
	rp__secmem_trim();
	p = rp_secmem_alloc(200);
	assert_non_null(p);
	memset(p, 0xa5, 200);
	memset(&watch, 0, sizeof(watch));
	watch.armed = true;
	rp_secmem_free(p);
	watch.armed = false;
	assert_int_equal(watch.unmaps, 0); /* kept, not unmapped */
	/* The kept page is still mapped: every byte of the data is wiped. */
	for (size_t i = 0; i < 200; i++)
		assert_int_equal(p[i], 0);
	/* A smaller request reuses it, aligned to the upper guard again. */
	q = rp_secmem_alloc(32);
	assert_non_null(q);
	assert_int_equal(((uintptr_t)q + 32) & 4095, 0);
	assert_int_equal(((uintptr_t)q & ~(uintptr_t)4095),
			 ((uintptr_t)p & ~(uintptr_t)4095));
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(q[i], 0);
	rp_secmem_free(q);
}

static void test_zeroed_aligned_and_usable(void **state)
{
	uint8_t *p;

	(void)state;
	p = rp_secmem_alloc(100);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 16, 0);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(p[i], 0);
	memset(p, 0xff, 100);
	rp_secmem_free(p);
	rp_secmem_free(NULL); /* accepted */
}

static void test_limits(void **state)
{
	(void)state;
	assert_null(rp_secmem_alloc(0));
	assert_null(rp_secmem_alloc(RP_SECMEM_MAX_BYTES + 1));
	assert_false(rp_secmem_locked(NULL));
}

static void test_locked_when_allowed(void **state)
{
	uint8_t *p = rp_secmem_alloc(64);
	unsigned char vec = 0;

	(void)state;
	assert_non_null(p);
	/* Root in CI may lock; an unprivileged user may not: either way the
	 * page must be resident and the report consistent with mlock. */
	assert_int_equal(mincore((void *)((uintptr_t)p & ~(uintptr_t)4095),
				 4096, &vec),
			 0);
	assert_true(vec & 1);
	if (rp_secmem_locked(p))
		assert_true(vec & 1);
	rp_secmem_free(p);
}

/*
 * Runs fn in a child. Returns the signal that ended it, -1 if it exited with
 * a failure status (a sanitizer that catches the fault reports it and
 * exits), or 0 if fn returned normally.
 */
static int child_signal(void (*fn)(void))
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		/* cmocka's handlers would turn the fault into a test failure
		 * and carry on with the suite in this child. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		fn();
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	return WEXITSTATUS(status) != 0 ? -1 : 0;
}

static bool faulted(int sig, int want)
{
	return sig == want || sig == -1;
}

static void overflow(void)
{
	volatile uint8_t *p = rp_secmem_alloc(32);

	/* 32 is a multiple of 16: the byte after the buffer is the guard. */
	p[32] = 1;
}

static void overflow_reused(void)
{
	volatile uint8_t *p;

	rp_secmem_free(rp_secmem_alloc(100));
	p = rp_secmem_alloc(32);
	p[32] = 1; /* the reused mapping kept its guard */
}

static void alloc_in_child(void)
{
	/* The parent's kept mappings are not in this child (MADV_DONTFORK). */
	uint8_t *p = rp_secmem_alloc(64);

	if (p == NULL)
		_exit(1);
	memset(p, 1, 64);
	rp_secmem_free(p);
}

static void underflow(void)
{
	uint8_t *p = rp_secmem_alloc(32);

	p[-1] ^= 1; /* damages the canary */
	rp_secmem_free(p);
}

/* 20 bytes end 12 bytes short of the guard: the overflow lands in the
 * alignment slack, which must be caught at free like a damaged canary. */
static void overflow_into_slack(void)
{
	uint8_t *p = rp_secmem_alloc(20);

	p[20] = 1;
	rp_secmem_free(p);
}

static void overflow_into_slack_last_byte(void)
{
	uint8_t *p = rp_secmem_alloc(1);

	p[15] = 1;
	rp_secmem_free(p);
}

static void test_slack_overflow_aborts(void **state)
{
	(void)state;
	assert_true(faulted(child_signal(overflow_into_slack), SIGABRT));
	assert_true(faulted(child_signal(overflow_into_slack_last_byte),
			    SIGABRT));
}

static void test_guard_page_faults(void **state)
{
	(void)state;
	assert_true(faulted(child_signal(overflow), SIGSEGV));
	assert_true(faulted(child_signal(overflow_reused), SIGSEGV));
}

static void test_fork_child_allocates(void **state)
{
	void *kept[4];

	(void)state;
	for (size_t i = 0; i < 4; i++)
		assert_non_null(kept[i] = rp_secmem_alloc(48));
	for (size_t i = 0; i < 4; i++)
		rp_secmem_free(kept[i]);
	assert_int_equal(child_signal(alloc_in_child), 0);
}

static void test_canary_aborts(void **state)
{
	(void)state;
	assert_true(faulted(child_signal(underflow), SIGABRT));
}

static void test_wipe_and_ct_equal(void **state)
{
	uint8_t a[33], b[33];

	(void)state;
	memset(a, 7, sizeof(a));
	rp_wipe(a, sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(a[i], 0);
	memset(b, 0, sizeof(b));
	assert_true(rp_ct_equal(a, b, sizeof(a)));
	for (size_t i = 0; i < sizeof(a); i++) {
		b[i] = 0x80;
		assert_false(rp_ct_equal(a, b, sizeof(a)));
		b[i] = 0;
	}
	assert_true(rp_ct_equal(a, b, 0));
}

/* The wiping allocator hooks behave as free and realloc do. */
static void test_wipe_free_and_realloc(void **state)
{
	uint8_t *p, *q;

	(void)state;
	rp_wipe_free(NULL);
	p = rp_wipe_realloc(NULL, 100);
	assert_non_null(p);
	for (size_t i = 0; i < 100; i++)
		p[i] = (uint8_t)i;
	/* Shrinking stays in place. */
	q = rp_wipe_realloc(p, 50);
	assert_ptr_equal(q, p);
	/* Growing keeps the bytes. */
	q = rp_wipe_realloc(p, 1 << 20);
	assert_non_null(q);
	for (size_t i = 0; i < 50; i++)
		assert_int_equal(q[i], i);
	q[(1 << 20) - 1] = 1;
	rp_wipe_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wiped_after_free),
		cmocka_unit_test(test_kept_mapping_reused_wiped),
		cmocka_unit_test(test_fork_child_allocates),
		cmocka_unit_test(test_zeroed_aligned_and_usable),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_locked_when_allowed),
		cmocka_unit_test(test_guard_page_faults),
		cmocka_unit_test(test_canary_aborts),
		cmocka_unit_test(test_slack_overflow_aborts),
		cmocka_unit_test(test_wipe_and_ct_equal),
		cmocka_unit_test(test_wipe_free_and_realloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
