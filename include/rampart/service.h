/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rampart service encryption: tenants, data encryption policies (DEPs) with
 * Customer Key, and per-chunk file encryption over three separate stores.
 *
 *   key store   the vault (include/rampart/vault.h): service root key,
 *               availability keys, the content-DB key, blob credential keys;
 *               customers' root keys live in their own vaults
 *   content DB  DIR/content/content.db: tenants, DEPs, sites, files, versions,
 *               wrapped keys, and each version's chunk map (encrypted)
 *   blob store  DIR/blobs/acct-NN: encrypted chunks under random ids
 *
 * Key hierarchy: root key(s) -> DEP key -> tenant key -> site key -> one
 * random key per chunk. Formats: docs/FORMAT.md. Every call is audited in
 * the vault's audit log and takes a caller like the vault API does.
 */
#ifndef RAMPART_SERVICE_H
#define RAMPART_SERVICE_H

#include <jansson.h>

#include <rampart/common.h>
#include <rampart/vault.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RP_SERVICE_ACCOUNTS_DEFAULT 4
#define RP_SERVICE_PRINCIPAL "rampart-service"
#define RP_SERVICE_VAULT "rampart-keystore"
#define RP_PATH_MAX 1024          /* file path inside a site */
#define RP_KEY_CACHE_TTL_DEFAULT 60 /* seconds an unwrapped key is kept */

typedef struct rp_service rp_service;

/*
 * rp_service_init - create the content DB and the blob accounts in data_dir
 * (whose vault store is open as ks), the service principal, and the key-store
 * vault with the service root key, the content-DB key and the blob
 * credential keys. Administrators only (call). Errors: RP_ERR_EXISTS.
 */
RP_EXPORT int rp_service_init(rp_store *ks, const struct rp_call *call,
			      const char *data_dir, uint32_t accounts);

/* rp_service_open - open the service of data_dir over the open key store. */
RP_EXPORT int rp_service_open(rp_service **ret, rp_store *ks,
			      const char *data_dir);
RP_EXPORT void rp_service_close(rp_service *svc);

/* Seconds unwrapped DEP, tenant and site keys stay cached (0: no cache). */
RP_EXPORT void rp_service_set_cache_ttl(rp_service *svc, uint32_t seconds);

/* Root-key operations made so far (customer or service root keys). */
RP_EXPORT uint64_t rp_service_root_ops(const rp_service *svc);

/* ------------------------------------------------------------------ */
/* Tenants and DEPs                                                    */
/* ------------------------------------------------------------------ */

/*
 * rp_tenant_create - a tenant owned by principal owner (NULL: the caller),
 * with a service-managed DEP "default" assigned to every workload.
 * Administrators only. Errors: RP_ERR_EXISTS, RP_ERR_NOT_FOUND (owner).
 */
RP_EXPORT int rp_tenant_create(rp_service *svc, const struct rp_call *call,
			       const char *name, const char *owner);
/* [{"name","owner","assigned":"NAME","deps":[…]}] of the tenants the caller
 * owns or is a member of (administrators: all). */
RP_EXPORT int rp_tenant_list(rp_service *svc, const struct rp_call *call,
			     json_t **ret);

/*
 * Tenant roles. A tenant's owner and its members with role "admin" manage
 * it: DEPs, members, its audit records. Members with role "user" work with
 * its files (put, get, list, versions, remove). Store administrators
 * (service operators) have no standing access to any tenant.
 *
 * rp_tenant_member_set - give principal role "user" or "admin" (replacing
 * its role if it has one). Tenant admins only. Errors: RP_ERR_INVALID (bad
 * role, or the owner), RP_ERR_NOT_FOUND (principal or tenant).
 */
RP_EXPORT int rp_tenant_member_set(rp_service *svc, const struct rp_call *call,
				   const char *tenant, const char *principal,
				   const char *role);
RP_EXPORT int rp_tenant_member_remove(rp_service *svc,
				      const struct rp_call *call,
				      const char *tenant, const char *principal);
/* [{"principal","role"["created"]}], the owner first. Tenant admins only. */
RP_EXPORT int rp_tenant_members(rp_service *svc, const struct rp_call *call,
				const char *tenant, json_t **ret);
/*
 * rp_tenant_audit - the audit records of the service's calls on tenant
 * (tenant.*, dep.*, file.*) after sequence number after, at most max
 * (capped at 10,000): [{"seq","time_us","request_id","principal","tenant",
 * "site","version","op","outcome","detail"}]. Tenant admins only.
 */
RP_EXPORT int rp_tenant_audit(rp_service *svc, const struct rp_call *call,
			      const char *tenant, uint64_t after, size_t max,
			      json_t **ret);

/*
 * rp_dep_create - a Customer Key DEP TENANT/NAME rooted in two customer
 * keys ("VAULT/KEY" each): in two different vaults, RSA >= 2048, enabled,
 * wrap and unwrap granted to the service principal, vaults with purge
 * protection on. Anything else is refused (RP_ERR_INVALID with the reason
 * in *ret_reason when given, a static string). The DEP key is wrapped under
 * each root and under a new availability key in the key store.
 * Tenant admins only (the owner and members with role admin).
 */
RP_EXPORT int rp_dep_create(rp_service *svc, const struct rp_call *call,
			    const char *tenant, const char *name,
			    const char *root1, const char *root2,
			    const char **ret_reason);
/* Put the whole tenant under DEP name: its tenant keys are re-wrapped under
 * the DEP key (no data re-encrypted) and new sites are made under it.
 * Tenant admins only. Errors: RP_ERR_REVOKED (the current DEP's roots are
 * revoked: an administrator must use rp_dep_recover). */
RP_EXPORT int rp_dep_assign(rp_service *svc, const struct rp_call *call,
			    const char *tenant, const char *name);
/* DEPs of a tenant with their roots, versions and state. */
RP_EXPORT int rp_dep_show(rp_service *svc, const struct rp_call *call,
			  const char *tenant, json_t **ret);
/*
 * rp_dep_roll - after a root key was rotated, re-wrap the DEP key under the
 * roots' current versions. O(1): no data is re-encrypted.
 */
RP_EXPORT int rp_dep_roll(rp_service *svc, const struct rp_call *call,
			  const char *tenant, const char *name);
/*
 * rp_dep_purge - crypto-shred a Customer Key DEP: only when both root keys
 * are revoked, and only with confirm equal to "TENANT/NAME". Destroys every
 * wrapped form of the DEP key and the availability key, then deletes the
 * blobs of every file under it; a tenant assigned to it goes back to its
 * service-managed DEP for new data. Errors: RP_ERR_STATE (roots not revoked),
 * RP_ERR_INVALID (no or wrong confirmation).
 */
RP_EXPORT int rp_dep_purge(rp_service *svc, const struct rp_call *call,
			   const char *tenant, const char *name,
			   const char *confirm);
/*
 * rp_dep_recover - with the availability key, re-wrap every tenant key under
 * DEP name to DEP to (of the same tenant), so data survives lost customer
 * keys; the tenant is assigned to DEP to if it was on name.
 * Administrators only.
 */
RP_EXPORT int rp_dep_recover(rp_service *svc, const struct rp_call *call,
			     const char *tenant, const char *name,
			     const char *to);

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

/* Read up to cap bytes into buf; return the count, 0 at end, or < 0. */
typedef ssize_t (*rp_read_fn)(void *ctx, uint8_t *buf, size_t cap);
/* Write all len bytes; return 0 or a negative rp_err. */
typedef int (*rp_write_fn)(void *ctx, const uint8_t *buf, size_t len);

struct rp_file_ref {
	char tenant[RP_NAME_MAX + 1];
	char site[RP_NAME_MAX + 1];
	char path[RP_PATH_MAX + 1];
};
/* "TENANT/SITE/PATH" (PATH may contain '/'; no "..", no empty segment). */
RP_EXPORT RP_WUR int rp_file_ref_parse(const char *s, struct rp_file_ref *ret);

/*
 * rp_file_put - store a new version of a file from read() (streamed: memory
 * stays bounded). Chunks that did not change since the previous version are
 * reused; new chunks get new keys. The blobs are durable before the version
 * is committed. *ret_version (may be NULL) gets the new version number.
 * Tenant users and admins; the site is created on first use.
 */
RP_EXPORT int rp_file_put(rp_service *svc, const struct rp_call *call,
			  const struct rp_file_ref *ref, rp_read_fn read,
			  void *rctx, uint32_t *ret_version);
/*
 * rp_file_get - write version (0: latest) to write(), chunk by chunk, each
 * authenticated before a byte of it is written. On RP_ERR_AUTH or
 * RP_ERR_CORRUPT part of the file may have been written: callers writing to
 * a file write to a temporary one and discard it on failure.
 */
RP_EXPORT int rp_file_get(rp_service *svc, const struct rp_call *call,
			  const struct rp_file_ref *ref, uint32_t version,
			  rp_write_fn write, void *wctx);
/*
 * rp_file_stat - the number and size of version (0: the latest), so that a
 * caller can announce a length before streaming it with that exact version.
 */
RP_EXPORT int rp_file_stat(rp_service *svc, const struct rp_call *call,
			   const struct rp_file_ref *ref, uint32_t version,
			   uint32_t *ret_version, uint64_t *ret_size);
/*
 * rp_file_get_range - like rp_file_get, for bytes [offset, offset + length)
 * only (clamped to the file). Chunks outside the range are not read; those
 * that overlap it are authenticated whole before any of their bytes is
 * written.
 */
RP_EXPORT int rp_file_get_range(rp_service *svc, const struct rp_call *call,
				const struct rp_file_ref *ref, uint32_t version,
				uint64_t offset, uint64_t length,
				rp_write_fn write, void *wctx);
/* Files under TENANT/SITE[/prefix]: [{"path","versions","size","updated"}] */
RP_EXPORT int rp_file_list(rp_service *svc, const struct rp_call *call,
			   const char *tenant, const char *site,
			   const char *prefix, json_t **ret);
RP_EXPORT int rp_file_versions(rp_service *svc, const struct rp_call *call,
			       const struct rp_file_ref *ref, json_t **ret);
/*
 * rp_file_remove - remove a file and every version. Its maps, and with them
 * every wrapped chunk key, are deleted at once (SQLite secure_delete
 * overwrites them), so its content is unreadable from then on. Its blobs
 * are left for rp_service_check with collect, which only administrators
 * run: request handling uses read and write blob credentials only, never
 * list or delete.
 */
RP_EXPORT int rp_file_remove(rp_service *svc, const struct rp_call *call,
			     const struct rp_file_ref *ref);

/*
 * rp_service_check - consistency of the content DB, blobs and keys: every
 * map's blobs exist with the right size, every blob belongs to a map
 * (orphans from a crash before commit are reported, and deleted when
 * collect is set). deep also decrypts and authenticates every chunk.
 * Administrators only. Returns 0 when consistent (orphans collected count
 * as consistent), RP_ERR_CORRUPT otherwise, with a report in *ret.
 */
RP_EXPORT int rp_service_check(rp_service *svc, const struct rp_call *call,
			       bool deep, bool collect, json_t **ret);

#ifdef __cplusplus
}
#endif
#endif /* RAMPART_SERVICE_H */
