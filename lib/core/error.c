/* SPDX-License-Identifier: Apache-2.0 */
#include <rampart/common.h>

#ifndef RAMPART_VERSION
#error "RAMPART_VERSION must be defined by the build"
#endif

static const char *const messages[] = {
	[0] = "success",
	[-RP_ERR_INVALID] = "invalid argument",
	[-RP_ERR_NOMEM] = "out of memory",
	[-RP_ERR_CRYPTO] = "cryptographic provider failure",
	[-RP_ERR_AUTH] = "authentication failed",
	[-RP_ERR_UNSUPPORTED] = "algorithm or parameter not supported",
	[-RP_ERR_FIPS] = "not allowed in FIPS mode",
	[-RP_ERR_BUFFER] = "output buffer too small",
	[-RP_ERR_TOO_LARGE] = "input too large",
	[-RP_ERR_PARSE] = "malformed input",
	[-RP_ERR_WEAK_KEY] = "weak key rejected",
	[-RP_ERR_IO] = "input/output error",
	[-RP_ERR_STATE] = "operation not valid in this state",
	[-RP_ERR_NOT_FOUND] = "not found",
	[-RP_ERR_EXISTS] = "already exists",
	[-RP_ERR_DENIED] = "permission denied",
	[-RP_ERR_SELFTEST] = "known-answer self-test failed",
	[-RP_ERR_UNAUTHENTICATED] = "not authenticated: missing or unknown token",
	[-RP_ERR_CORRUPT] = "stored data failed its integrity check",
	[-RP_ERR_REVOKED] = "customer key revoked",
	[-RP_ERR_UPGRADED] = ("the store was upgraded by a newer release of "
			      "rampart: restart with it"),
};

RP_EXPORT const char *rp_strerror(int err)
{
	if (err > 0 || err < RP_ERR_MIN || messages[-err] == NULL)
		return "unknown error";
	return messages[-err];
}

RP_EXPORT const char *rp_version(void)
{
	return RAMPART_VERSION;
}
