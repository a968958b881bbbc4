/* SPDX-License-Identifier: Apache-2.0 */
/*
 * outfile.c - direct, double-buffered output of `file get -o`.
 *
 * The caller fills one staging buffer while the writer thread writes the
 * other with pwrite() at its place in the file; a full buffer waits only
 * for the previous one to be written. Buffers and their lengths are
 * multiples of OUTFILE_ALIGN, which satisfies direct I/O on every Linux
 * file system that offers it (the largest logical block in use is 4096
 * bytes). The last, partial buffer is written in two parts: its aligned
 * head directly, then, with O_DIRECT dropped, its tail of under
 * OUTFILE_ALIGN bytes through the page cache, so the file never grows past
 * its size (a padded block could cross a file-size limit or a quota that
 * the real size fits in). A file system that refuses a direct write with
 * EINVAL gets the rest through the page cache. Every write is made by the
 * writer thread, which blocks all signals: a write over RLIMIT_FSIZE fails
 * with EFBIG instead of raising SIGXFSZ, so the command can still remove
 * its temporary file.
 */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <rampart/crypto.h>

#define OUTFILE_BUF   ((size_t)4 << 20)
#define OUTFILE_ALIGN ((size_t)4096)

struct outfile {
	int fd;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *buf[2];
	unsigned cur;	  /* the buffer being filled */
	size_t fill;	  /* bytes in it */
	uint64_t cur_off; /* file offset of its first byte */
	/* The job handed to the writer thread (under mu). */
	bool pending;
	unsigned job_buf;
	size_t job_len;
	uint64_t job_off;
	bool quit;
	int err;      /* the first error, -errno (under mu) */
	bool direct;  /* O_DIRECT set on fd (changed by the writer thread) */
	bool refused; /* a direct write was refused: fell back for good */
	bool failed;  /* an error was returned: nothing more is written */
};

/* Set or clear O_DIRECT on o->fd. Returns 0 or -errno. */
static int set_direct(struct outfile *o, bool on)
{
	int fl = fcntl(o->fd, F_GETFL);

	if (fl < 0 ||
	    fcntl(o->fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) < 0)
		return -errno;
	o->direct = on;
	return 0;
}

/* Write len bytes at off; on EINVAL under O_DIRECT, drop O_DIRECT and
 * go on through the page cache. Returns 0 or -errno. */
static int write_at(struct outfile *o, const uint8_t *p, size_t len,
		    uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(o->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL && o->direct) {
			int r = set_direct(o, false);

			if (r < 0)
				return r;
			o->refused = true;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* One job: a full buffer, or the last one (head direct, tail not). */
static int write_job(struct outfile *o, const uint8_t *p, size_t len,
		     uint64_t off)
{
	size_t head = len & ~(OUTFILE_ALIGN - 1);
	int r = 0;

	if (!o->direct || head == len)
		return write_at(o, p, len, off);
	if (head > 0)
		r = write_at(o, p, head, off);
	if (r == 0 && o->direct)
		r = set_direct(o, false);
	if (r == 0)
		r = write_at(o, p + head, len - head, off + head);
	return r;
}

static void *writer_main(void *arg)
{
	struct outfile *o = arg;

	pthread_mutex_lock(&o->mu);
	for (;;) {
		unsigned b;
		size_t len;
		uint64_t off;
		int r;

		while (!o->pending && !o->quit)
			pthread_cond_wait(&o->cv, &o->mu);
		if (!o->pending)
			break;
		b = o->job_buf;
		len = o->job_len;
		off = o->job_off;
		pthread_mutex_unlock(&o->mu);
		r = write_job(o, o->buf[b], len, off);
		pthread_mutex_lock(&o->mu);
		if (r < 0 && o->err == 0)
			o->err = r;
		o->pending = false;
		pthread_cond_broadcast(&o->cv);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

/* Whether the file system can take direct writes of our alignment, as far
 * as statx tells; true when it does not say (a refused write falls back). */
static bool direct_ok(int fd)
{
#ifdef STATX_DIOALIGN
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) != 0)
		return sx.stx_dio_mem_align != 0 &&
		       sx.stx_dio_mem_align <= OUTFILE_ALIGN &&
		       sx.stx_dio_offset_align != 0 &&
		       sx.stx_dio_offset_align <= OUTFILE_ALIGN;
#else
	(void)fd;
#endif
	return true;
}

int outfile_start(struct outfile **ret, int fd)
{
	struct outfile *o;
	struct stat st;
	sigset_t all, old;
	int fl, r;

	*ret = NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != 0 ||
	    !direct_ok(fd))
		return 0;
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return -ENOMEM;
	o->fd = fd;
	for (unsigned i = 0; i < 2; i++) {
		void *p = NULL;

		if (posix_memalign(&p, OUTFILE_ALIGN, OUTFILE_BUF) != 0) {
			free(o->buf[0]);
			free(o);
			return -ENOMEM;
		}
		o->buf[i] = p;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) < 0) {
		/* Not on this file system: the caller writes. */
		free(o->buf[0]);
		free(o->buf[1]);
		free(o);
		return 0;
	}
	o->direct = true;
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	/* Signals are for the command's own thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&o->thread, NULL, writer_main, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		(void)fcntl(fd, F_SETFL, fl);
		pthread_mutex_destroy(&o->mu);
		pthread_cond_destroy(&o->cv);
		free(o->buf[0]);
		free(o->buf[1]);
		free(o);
		return 0;
	}
	*ret = o;
	return 0;
}

/* Wait until the writer is idle; returns its first error, if any. */
static int writer_idle(struct outfile *o)
{
	int r;

	pthread_mutex_lock(&o->mu);
	while (o->pending)
		pthread_cond_wait(&o->cv, &o->mu);
	r = o->err;
	pthread_mutex_unlock(&o->mu);
	return r;
}

/* Hand the full current buffer to the writer and switch to the other,
 * which the writer finished before it took this one. */
static int hand_over(struct outfile *o)
{
	int r;

	pthread_mutex_lock(&o->mu);
	while (o->pending)
		pthread_cond_wait(&o->cv, &o->mu);
	r = o->err;
	if (r == 0) {
		o->job_buf = o->cur;
		o->job_len = o->fill;
		o->job_off = o->cur_off;
		o->pending = true;
		pthread_cond_broadcast(&o->cv);
	}
	pthread_mutex_unlock(&o->mu);
	if (r < 0)
		return r;
	o->cur ^= 1u;
	o->cur_off += o->fill;
	o->fill = 0;
	return 0;
}

int outfile_write(struct outfile *o, const uint8_t *buf, size_t len)
{
	if (o->failed)
		return -EIO;
	while (len > 0) {
		size_t n = OUTFILE_BUF - o->fill;

		if (n > len)
			n = len;
		memcpy(o->buf[o->cur] + o->fill, buf, n);
		o->fill += n;
		buf += n;
		len -= n;
		if (o->fill == OUTFILE_BUF) {
			int r = hand_over(o);

			if (r < 0) {
				o->failed = true;
				return r;
			}
		}
	}
	return 0;
}

int outfile_finish(struct outfile *o)
{
	int r;

	if (o->failed)
		return -EIO;
	/* The last buffer goes to the writer like the others. */
	r = o->fill > 0 ? hand_over(o) : 0;
	if (r == 0)
		r = writer_idle(o);
	if (r < 0)
		o->failed = true;
	return r;
}

int outfile_direct(const struct outfile *o)
{
	return o != NULL && !o->refused;
}

void outfile_free(struct outfile *o)
{
	if (o == NULL)
		return;
	pthread_mutex_lock(&o->mu);
	o->quit = true;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
	pthread_join(o->thread, NULL);
	if (o->direct)
		(void)set_direct(o, false);
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
	for (unsigned i = 0; i < 2; i++) {
		rp_wipe(o->buf[i], OUTFILE_BUF);
		free(o->buf[i]);
	}
	free(o);
}
