/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backend seam of the CLI: one be_* function per library call the
 * commands make, with the library's signature except that the open store
 * (or service) and the caller are replaced by the command's cli_ctx.
 *
 * In embedded mode (cx->remote == NULL) each calls librampart on cx->store
 * or cx->svc with &cx->call. In remote mode (--server) each makes the
 * rampartd API call of docs/api/http.md and returns what the library would
 * have: the same JSON shape, the same rp_err, secrets in the same kind of
 * memory. Where the server's answer differs from the library's, it is
 * adapted here so that the commands print one way in both modes.
 *
 * Remote mode adds the CLI_ERR_* transport codes of cli.h to the errors.
 */
#ifndef RAMPART_CLI_BACKEND_H
#define RAMPART_CLI_BACKEND_H

#include <signal.h>

#include <jansson.h>

#include <rampart/service.h>
#include <rampart/vault.h>

#include "cli.h"

/* ---- principals, groups, vaults, audit ---------------------------- */

int be_principal_create(struct cli_ctx *cx, const char *name, bool admin,
			char **ret_token);
int be_principal_list(struct cli_ctx *cx, json_t **ret);
int be_principal_whoami(struct cli_ctx *cx, json_t **ret);
int be_group_create(struct cli_ctx *cx, const char *name);
int be_group_add(struct cli_ctx *cx, const char *group, const char *principal);
int be_group_remove(struct cli_ctx *cx, const char *group,
		    const char *principal);
int be_group_list(struct cli_ctx *cx, json_t **ret);

int be_vault_create(struct cli_ctx *cx, const char *name,
		    const struct rp_vault_opts *opts);
int be_vault_list(struct cli_ctx *cx, json_t **ret);
int be_vault_show(struct cli_ctx *cx, const char *name, json_t **ret);
int be_vault_update(struct cli_ctx *cx, const char *name,
		    uint32_t retention_days, bool purge_protection);
int be_vault_grant(struct cli_ctx *cx, const char *vault, const char *subject,
		   uint32_t perms);
int be_vault_revoke(struct cli_ctx *cx, const char *vault, const char *subject,
		    uint32_t perms);
int be_vault_maintain(struct cli_ctx *cx, json_t **ret);

int be_audit_read(struct cli_ctx *cx, uint64_t after, size_t max, json_t **ret);
int be_audit_verify(struct cli_ctx *cx, json_t **ret);
/*
 * be_audit_stream - remote mode only: the records after `after` as the
 * server writes them, each handed to rec() (which must not keep it),
 * until the server ends the stream (0), *stop is set (0 too) or rec()
 * fails. RP_ERR_UNSUPPORTED in embedded mode (poll be_audit_read there).
 */
int be_audit_stream(struct cli_ctx *cx, uint64_t after,
		    int (*rec)(void *ctx, json_t *rec), void *ctx,
		    volatile sig_atomic_t *stop);

/* ---- keys ---------------------------------------------------------- */

int be_key_create(struct cli_ctx *cx, const char *vault, const char *name,
		  rp_kty kty, const struct rp_key_attrs *attrs, json_t **ret);
int be_key_import(struct cli_ctx *cx, const char *vault, const char *name,
		  rp_import_format format, const uint8_t *data, size_t len,
		  rp_kty kty, const struct rp_key_ref *kek,
		  const struct rp_key_attrs *attrs, json_t **ret);
int be_key_show(struct cli_ctx *cx, const struct rp_key_ref *ref, json_t **ret);
int be_key_list(struct cli_ctx *cx, const char *vault, bool deleted,
		json_t **ret);
int be_key_versions(struct cli_ctx *cx, const struct rp_key_ref *ref,
		    json_t **ret);
int be_key_set(struct cli_ctx *cx, const struct rp_key_ref *ref,
	       const struct rp_key_attrs *attrs);
int be_key_rotate(struct cli_ctx *cx, const struct rp_key_ref *ref,
		  json_t **ret);
int be_key_delete(struct cli_ctx *cx, const struct rp_key_ref *ref);
int be_key_recover(struct cli_ctx *cx, const struct rp_key_ref *ref);
int be_key_purge(struct cli_ctx *cx, const struct rp_key_ref *ref);
/* *ret is malloc'ed (free()). */
int be_key_backup(struct cli_ctx *cx, const struct rp_key_ref *ref,
		  uint8_t **ret, size_t *ret_len);
int be_key_restore(struct cli_ctx *cx, const char *vault, const uint8_t *blob,
		   size_t len, json_t **ret);
/* As rp_key_op; free *ret_out with rp_key_op_free(op, …). */
int be_key_op(struct cli_ctx *cx, uint32_t op, const struct rp_key_ref *ref,
	      rp_alg alg, const uint8_t *in, size_t in_len, const uint8_t *sig,
	      size_t sig_len, uint8_t **ret_out, size_t *ret_len,
	      uint32_t *ret_version);

/* ---- tenants, members, DEPs ---------------------------------------- */

/* Open the service over the store (embedded mode; nothing remotely). */
int be_service_open(struct cli_ctx *cx);

int be_tenant_create(struct cli_ctx *cx, const char *name, const char *owner);
int be_tenant_list(struct cli_ctx *cx, json_t **ret);
int be_tenant_member_set(struct cli_ctx *cx, const char *tenant,
			 const char *principal, const char *role);
int be_tenant_member_remove(struct cli_ctx *cx, const char *tenant,
			    const char *principal);
int be_tenant_members(struct cli_ctx *cx, const char *tenant, json_t **ret);
int be_tenant_audit(struct cli_ctx *cx, const char *tenant, uint64_t after,
		    size_t max, json_t **ret);

/* *ret_reason: a static string (embedded) or the server's message, valid
 * until the next call (remote). */
int be_dep_create(struct cli_ctx *cx, const char *tenant, const char *name,
		  const char *root1, const char *root2,
		  const char **ret_reason);
int be_dep_assign(struct cli_ctx *cx, const char *tenant, const char *name);
int be_dep_show(struct cli_ctx *cx, const char *tenant, json_t **ret);
int be_dep_roll(struct cli_ctx *cx, const char *tenant, const char *name);
int be_dep_purge(struct cli_ctx *cx, const char *tenant, const char *name,
		 const char *confirm);
int be_dep_recover(struct cli_ctx *cx, const char *tenant, const char *name,
		   const char *to);

/* ---- files and the store check ------------------------------------- */

/* size: the length read() will give, or -1 when unknown (sent chunked). */
int be_file_put(struct cli_ctx *cx, const struct rp_file_ref *ref,
		rp_read_fn read, void *rctx, int64_t size,
		uint32_t *ret_version);
int be_file_get(struct cli_ctx *cx, const struct rp_file_ref *ref,
		uint32_t version, rp_write_fn write, void *wctx);
/* A version's number (0: the latest) and size, as its sealed map holds. */
int be_file_stat(struct cli_ctx *cx, const struct rp_file_ref *ref,
		 uint32_t version, uint32_t *ret_version, uint64_t *ret_size);
int be_file_list(struct cli_ctx *cx, const char *tenant, const char *site,
		 const char *prefix, json_t **ret);
int be_file_versions(struct cli_ctx *cx, const struct rp_file_ref *ref,
		     json_t **ret);
int be_file_remove(struct cli_ctx *cx, const struct rp_file_ref *ref);

int be_service_check(struct cli_ctx *cx, bool deep, bool collect, json_t **ret);

#endif
