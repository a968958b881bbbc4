/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The direct output writer of `file get -o` (src/rampart/outfile.c). The
 * binary is linked with -Wl,--wrap=pwrite64, so every write the writer
 * makes passes through __wrap_pwrite64 below, which counts direct writes
 * and can refuse one the way a file system without direct I/O does
 * (EINVAL) or a full disk does (ENOSPC). Files are made in a temporary
 * directory under the working directory (the build tree: a disk file
 * system, where direct I/O is real).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/resource.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../../src/rampart/outfile.h"

#define MiB ((size_t)1 << 20)

ssize_t __real_pwrite64(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off);

static struct {
	int fail_errno;	       /* refuse writes with this errno ... */
	bool fail_direct_only; /* ... only those made under O_DIRECT */
	unsigned fail_after;   /* ... after this many writes went through */
	unsigned writes, direct_writes, refused;
} hook;

ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	int fl = fcntl(fd, F_GETFL);
	bool direct = fl >= 0 && (fl & O_DIRECT) != 0;

	if (hook.fail_errno != 0 && hook.writes >= hook.fail_after &&
	    (!hook.fail_direct_only || direct)) {
		hook.refused++;
		errno = hook.fail_errno;
		return -1;
	}
	hook.writes++;
	if (direct)
		hook.direct_writes++;
	return __real_pwrite64(fd, buf, n, off);
}

static char dir[] = "outfile-test.XXXXXX";
static char path[sizeof(dir) + 16];

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/out", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	(void)unlink(path);
	return rmdir(dir);
}

static int fresh_file(void)
{
	int fd;

	memset(&hook, 0, sizeof(hook));
	(void)unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	return fd;
}

/* Deterministic content: byte i of a file is a function of i. */
static void fill(uint8_t *p, size_t n, uint64_t at)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t x = (at + i) * UINT64_C(0x9E3779B97F4A7C15);

		p[i] = (uint8_t)(x >> 56);
	}
}

static void check_file(int fd, uint64_t size)
{
	static uint8_t got[MiB], want[MiB];
	struct stat st;
	uint64_t at = 0;

	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, size);
	while (at < size) {
		size_t n = size - at < MiB ? (size_t)(size - at) : MiB;

		assert_int_equal(pread(fd, got, n, (off_t)at), (ssize_t)n);
		fill(want, n, at);
		assert_memory_equal(got, want, n);
		at += n;
	}
}

/* Append size bytes in pieces of varying, mostly unaligned lengths. */
static int write_pieces(struct outfile *o, uint64_t size)
{
	static uint8_t buf[3 * MiB];
	static const size_t steps[] = {1,      4095,	4097, 65536,
				       700001, 3 * MiB, 12345};
	uint64_t at = 0;
	unsigned k = 0;

	while (at < size) {
		size_t n = steps[k++ % (sizeof(steps) / sizeof(steps[0]))];
		int r;

		if (n > size - at)
			n = (size_t)(size - at);
		fill(buf, n, at);
		r = outfile_write(o, buf, n);
		if (r < 0)
			return r;
		at += n;
	}
	return 0;
}

static bool direct_supported(void)
{
	int fd = fresh_file();
	struct outfile *o = NULL;
	bool ok;

	assert_int_equal(outfile_start(&o, fd), 0);
	ok = o != NULL;
	outfile_free(o);
	close(fd);
	return ok;
}

/* A fresh file taken by a writer, or skip where there is no direct I/O. */
static int taken_file(struct outfile **o)
{
	int fd;

	if (!direct_supported())
		skip(); /* the working directory's file system has no O_DIRECT */
	fd = fresh_file();
	assert_int_equal(outfile_start(o, fd), 0);
	assert_non_null(*o);
	return fd;
}

/* Every size class round-trips: empty, below one block, exactly one
 * block, one staging buffer exactly and one byte more, several buffers
 * with a ragged end. */
static void test_round_trip(void **state)
{
	static const uint64_t sizes[] = {
		0, 1, 4095, 4096, 4097, 4 * MiB, 4 * MiB + 1, 9 * MiB + 4321};

	(void)state;
	if (!direct_supported())
		skip(); /* the working directory's file system has no O_DIRECT */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int fd = fresh_file();
		struct outfile *o = NULL;

		assert_int_equal(outfile_start(&o, fd), 0);
		assert_non_null(o);
		assert_int_equal(write_pieces(o, sizes[i]), 0);
		assert_int_equal(outfile_finish(o), 0);
		/* Nothing fell back: every whole buffer and the aligned head
		 * of the last went direct, only a tail of under 4096 bytes
		 * through the page cache. */
		assert_true(outfile_direct(o));
		{
			uint64_t last = sizes[i] % (4 * MiB);
			unsigned direct = (unsigned)(sizes[i] / (4 * MiB)) +
					  (last >= 4096 ? 1u : 0u);

			assert_int_equal(hook.direct_writes, direct);
			assert_int_equal(hook.writes,
					 direct + (last % 4096 != 0 ? 1u : 0u));
		}
		outfile_free(o);
		check_file(fd, sizes[i]);
		close(fd);
	}
}

/* A file system that refuses a direct write (EINVAL) mid-file gets the
 * rest through the page cache, and the file is still exact. */
static void test_fallback(void **state)
{
	const uint64_t size = 10 * MiB + 77;
	struct outfile *o = NULL;
	int fd = taken_file(&o);

	(void)state;
	hook.fail_errno = EINVAL;
	hook.fail_direct_only = true;
	hook.fail_after = 1; /* the first buffer goes direct */
	assert_int_equal(write_pieces(o, size), 0);
	assert_int_equal(outfile_finish(o), 0);
	assert_false(outfile_direct(o));
	assert_int_equal(hook.direct_writes, 1);
	assert_int_equal(hook.refused, 1);
	assert_true(hook.writes > hook.direct_writes);
	outfile_free(o);
	assert_int_equal(fcntl(fd, F_GETFL) & O_DIRECT, 0);
	check_file(fd, size);
	close(fd);
}

/* A write that fails (a full disk) is reported by a later write or by
 * finish, and nothing is written after it. */
static void test_write_error(void **state)
{
	const uint64_t size = 20 * MiB;
	struct outfile *o = NULL;
	int fd = taken_file(&o), r;
	unsigned before;

	(void)state;
	hook.fail_errno = ENOSPC;
	hook.fail_after = 2;
	r = write_pieces(o, size);
	if (r == 0)
		r = outfile_finish(o);
	assert_int_equal(r, -ENOSPC);
	before = hook.writes + hook.refused;
	/* Failed for good: more data and finish are refused at once. */
	assert_int_equal(outfile_write(o, (const uint8_t *)"x", 1), -EIO);
	assert_int_equal(outfile_finish(o), -EIO);
	outfile_free(o);
	assert_int_equal(hook.writes + hook.refused, before);
	assert_int_equal(hook.writes, 2);
	close(fd);
}

/* A file-size limit the data crosses: an error (EFBIG), not SIGXFSZ,
 * and the file never holds more than the limit, nor padding past the
 * data when the data fits. */
static void test_size_limit(void **state)
{
	struct rlimit old, lim;
	struct outfile *o = NULL;
	struct stat st;
	int fd = taken_file(&o), r;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	/* 8 MiB + 1000 bytes fits; a padded last block would not. */
	lim.rlim_cur = 8 * MiB + 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(write_pieces(o, 8 * MiB + 1000), 0);
	r = outfile_finish(o);
	outfile_free(o);
	assert_int_equal(r, 0);
	check_file(fd, 8 * MiB + 1000);
	close(fd);

	o = NULL;
	fd = taken_file(&o);
	r = write_pieces(o, 9 * MiB);
	if (r == 0)
		r = outfile_finish(o);
	outfile_free(o);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(r, -EFBIG);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true((uint64_t)st.st_size <= 8 * MiB + 1024);
	close(fd);
}

/* Not a fresh regular file: the caller writes it itself. */
static void test_not_taken(void **state)
{
	struct outfile *o = (struct outfile *)1;
	int p[2], fd;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(outfile_start(&o, p[1]), 0);
	assert_null(o);
	close(p[0]);
	close(p[1]);

	fd = fresh_file();
	assert_int_equal(write(fd, "x", 1), 1);
	o = (struct outfile *)1;
	assert_int_equal(outfile_start(&o, fd), 0);
	assert_null(o);
	/* Left as it was: no O_DIRECT set on a file it did not take. */
	assert_int_equal(fcntl(fd, F_GETFL) & O_DIRECT, 0);
	close(fd);
	outfile_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_not_taken),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
