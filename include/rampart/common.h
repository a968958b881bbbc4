/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampart — common definitions: export and attribute macros, the error model.
 *
 * Every fallible function in librampart returns an int: 0 on success, a
 * negative rp_err code on failure. Output parameters are named ret_… and are
 * left untouched on failure. Library code never prints and never exits.
 */
#ifndef RAMPART_COMMON_H
#define RAMPART_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(RAMPART_BUILDING)
#define RP_EXPORT __attribute__((visibility("default")))
#else
#define RP_EXPORT
#endif

/* Results of decrypt, verify, unwrap and parse functions must be checked. */
#define RP_WUR __attribute__((warn_unused_result))
#define RP_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))

/*
 * Error codes. Values are stable ABI: new codes are appended, none is ever
 * renumbered. RP_OK is the only non-negative result.
 */
typedef enum rp_err {
	RP_OK = 0,
	RP_ERR_INVALID = -1,     /* an argument is invalid (NULL, size, range) */
	RP_ERR_NOMEM = -2,       /* memory could not be allocated */
	RP_ERR_CRYPTO = -3,      /* the cryptographic provider failed */
	RP_ERR_AUTH = -4,        /* authentication failed: tag, MAC, signature, unwrap check */
	RP_ERR_UNSUPPORTED = -5, /* algorithm, key size or feature not supported */
	RP_ERR_FIPS = -6,        /* not allowed while FIPS mode is on */
	RP_ERR_BUFFER = -7,      /* output buffer too small */
	RP_ERR_TOO_LARGE = -8,   /* input exceeds a documented limit */
	RP_ERR_PARSE = -9,       /* malformed encoding */
	RP_ERR_WEAK_KEY = -10,   /* key rejected as weak (e.g. XTS halves equal) */
	RP_ERR_IO = -11,         /* an operating-system I/O call failed */
	RP_ERR_STATE = -12,      /* call not valid in the current state */
	RP_ERR_NOT_FOUND = -13,  /* the named object does not exist */
	RP_ERR_EXISTS = -14,     /* the object already exists */
	RP_ERR_DENIED = -15,     /* permission denied */
	RP_ERR_SELFTEST = -16,   /* a known-answer self-test failed */
	RP_ERR_UNAUTHENTICATED = -17, /* no valid credential was presented */
	RP_ERR_CORRUPT = -18,    /* stored data failed an integrity check */
	RP_ERR_REVOKED = -19,    /* the customer's root keys are revoked */
	RP_ERR_UPGRADED = -20,   /* a newer release upgraded the store: restart */
} rp_err;

/* Lowest (most negative) code currently defined; for iteration in tests. */
#define RP_ERR_MIN RP_ERR_UPGRADED

/*
 * rp_strerror - describe an error code.
 * Returns a static, NUL-terminated English string; never NULL. Unknown codes
 * yield "unknown error".
 */
RP_EXPORT const char *rp_strerror(int err);

/* rp_version - the library version as "MAJOR.MINOR.PATCH". */
RP_EXPORT const char *rp_version(void);

#ifdef __cplusplus
}
#endif
#endif /* RAMPART_COMMON_H */
