/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Direct output writer for `file get -o`: the decrypted data goes from two
 * aligned staging buffers straight to the disk (O_DIRECT), written by a
 * thread of its own while the next buffer fills, instead of through the
 * page cache. A large output then costs one copy into a buffer that stays
 * in cache, not a copy into fresh page-cache pages, and the final fsync
 * has no dirty pages left to write. Where the file system refuses direct
 * I/O the same writer writes through the page cache.
 */
#ifndef RAMPART_OUTFILE_H
#define RAMPART_OUTFILE_H

#include <stddef.h>
#include <stdint.h>

struct outfile;

/*
 * outfile_start - take over writing fd, an empty regular file open for
 * writing, from offset 0. *ret is NULL (and fd untouched) when direct
 * writes cannot be set up: the caller writes fd itself. Returns 0, or
 * -ENOMEM.
 */
int outfile_start(struct outfile **ret, int fd);

/* outfile_write - append len bytes. Returns 0 or -errno (the first error
 * of any write so far; nothing more is written after one). */
int outfile_write(struct outfile *o, const uint8_t *buf, size_t len);

/* outfile_finish - write what is staged; the file then holds exactly the
 * bytes appended. Durability is the caller's fsync. Returns 0 or -errno
 * (-EFBIG past RLIMIT_FSIZE: no SIGXFSZ is raised). */
int outfile_finish(struct outfile *o);

/* outfile_direct - whether every write but the last partial block
 * bypassed the page cache: false once a file system refused a direct write
 * and the writer fell back. Only after outfile_finish. */
int outfile_direct(const struct outfile *o);

/* outfile_free - stop the writer thread, wipe the buffers (they held
 * plaintext) and release everything. The fd stays open, without O_DIRECT.
 * Accepts NULL. */
void outfile_free(struct outfile *o);

#endif
