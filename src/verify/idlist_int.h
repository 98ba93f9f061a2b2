/* idlist_int.h - the verifier's check of an mdoc's identifier list (idlist_check.c),
 * called by verify.c; never installed. */
#ifndef TSL_VERIFY_IDLIST_INT_H
#define TSL_VERIFY_IDLIST_INT_H

#include "core/tsl_int.h"

/* Verified identifier lists by uri (and the certificate they were verified with), each
 * used until its ttl / exp as Status List Tokens are (spec section 13.7). Own mutex. */
typedef struct tslp_idl_cache tslp_idl_cache;
tslp_idl_cache *tslp_idl_cache_new(void);
void tslp_idl_cache_free(tslp_idl_cache *c);

/* Adds l (adopted, freed on failure too) as a list supplied offline: used, once it
 * verifies, for the mdocs whose identifier_list uri is its sub, instead of fetching. */
tsl_status tslp_idl_add_offline(tslp_idl_cache *c, tsl_idlist *l, tsl_error *err);

/* Resolves r's identifier list (a list supplied offline, the memory cache, then the disk
 * cache in the directory disk_fd when it is not -1, else a fetch with Accept:
 * application/identifierlist+cwt), verifies it with o's policy (sub = the MSO's uri; the
 * MSO's certificate when it names one) and sets *listed when r's id is in it. A fetched
 * list that passed is written to the disk cache. res->from_cache / res->fetched are set as
 * for a status list; *stage names the step that failed (TSL_STAGE_FETCH or
 * TSL_STAGE_LIST_TOKEN). */
tsl_status tslp_idl_check(tslp_idl_cache *c, int disk_fd, const tsl_verifier_opts *o,
                          const tsl_ref *r, int64_t now, int *listed, tsl_check_result *res,
                          tsl_check_stage *stage, tsl_error *err);

#endif /* TSL_VERIFY_IDLIST_INT_H */
