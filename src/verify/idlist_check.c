/* idlist_check.c - the relying party's check of an mdoc's identifier list (ISO/IEC
 * 18013-5 second edition): fetch status.identifier_list.uri with Accept:
 * application/identifierlist+cwt, verify the list (the trust and time rules of a
 * Status List Token; with the MSO's certificate when it names one), then look the id
 * up. A verified list is kept in memory for as long as its ttl (else exp) allows, cut
 * by the verifier's max_cache and raised by min_cache as a status list is, and in the
 * verifier's disk cache when it has one (key "idlist " + uri; a loaded list is verified
 * again, with the MSO's certificate of the check that loads it). */
#include "verify/disk_cache.h"
#include "verify/idlist_int.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

typedef struct idl_entry {
    struct idl_entry *next;
    char *uri;
    uint8_t *cert; /* the certificate it was verified with, or NULL */
    size_t cert_len;
    tsl_idlist *list;
    int64_t valid_until;
} idl_entry;

/* A list supplied offline (tsl_verifier_add_list_token): parsed once, verified at each
 * use. Only ever prepended, and freed with the cache. */
typedef struct idl_offline {
    struct idl_offline *next;
    tsl_idlist *list;
} idl_offline;

struct tslp_idl_cache {
    pthread_mutex_t mu;
    idl_entry *head;
    idl_offline *offline;
};

tslp_idl_cache *tslp_idl_cache_new(void)
{
    tslp_idl_cache *c = tslp_calloc(1, sizeof *c);
    if (c != NULL && pthread_mutex_init(&c->mu, NULL) != 0) {
        tslp_free(c);
        c = NULL;
    }
    return c;
}

static void entry_free(idl_entry *e)
{
    tsl_idlist_free(e->list);
    tslp_free(e->uri);
    tslp_free(e->cert);
    tslp_free(e);
}

void tslp_idl_cache_free(tslp_idl_cache *c)
{
    if (c == NULL)
        return;
    for (idl_entry *e = c->head, *n; e != NULL; e = n) {
        n = e->next;
        entry_free(e);
    }
    for (idl_offline *f = c->offline, *n; f != NULL; f = n) {
        n = f->next;
        tsl_idlist_free(f->list);
        tslp_free(f);
    }
    pthread_mutex_destroy(&c->mu);
    tslp_free(c);
}

tsl_status tslp_idl_add_offline(tslp_idl_cache *c, tsl_idlist *l, tsl_error *err)
{
    idl_offline *f = tslp_calloc(1, sizeof *f);
    if (f == NULL) {
        tsl_idlist_free(l);
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "verifier: out of memory");
    }
    f->list = l;
    pthread_mutex_lock(&c->mu);
    f->next = c->offline;
    c->offline = f;
    pthread_mutex_unlock(&c->mu);
    return TSL_OK;
}

static bool same_cert(const idl_entry *e, const uint8_t *cert, size_t len)
{
    if (e->cert == NULL || cert == NULL)
        return e->cert == NULL && cert == NULL;
    return e->cert_len == len && memcmp(e->cert, cert, len) == 0;
}

/* How long a list fetched at `fetched` may be used: ttl, else exp - fetched, within
 * [min_cache, max_cache], never past exp (verify.c's rule for Status List Tokens). */
static int64_t valid_until(const tsl_verifier_opts *o, const tsl_idlist *l, int64_t fetched)
{
    int64_t ttl, exp = tsl_idlist_exp(l);
    int64_t life = tsl_idlist_ttl(l, &ttl) ? ttl : exp - fetched;
    if (life < o->min_cache)
        life = o->min_cache;
    if (life > o->max_cache)
        life = o->max_cache;
    if (life < 0)
        life = 0;
    int64_t until = fetched + life;
    return exp < until ? exp : until;
}

/* Looks the id up in a cached list still fresh at now: 1 listed, 0 not, -1 no entry. */
static int cache_lookup(tslp_idl_cache *c, const char *uri, const uint8_t *cert,
                        size_t cert_len, const uint8_t *id, size_t id_len, int64_t now)
{
    int found = -1;
    pthread_mutex_lock(&c->mu);
    for (idl_entry *e = c->head; e != NULL; e = e->next)
        if (strcmp(e->uri, uri) == 0 && same_cert(e, cert, cert_len) && now < e->valid_until)
            found = tsl_idlist_contains(e->list, id, id_len);
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* Adopts l under uri and cert, replacing that key's entry and dropping expired ones.
 * On failure l is freed: the check's answer does not depend on the cache. */
static void cache_put(tslp_idl_cache *c, const char *uri, const uint8_t *cert,
                      size_t cert_len, tsl_idlist *l, int64_t until, int64_t now)
{
    idl_entry *e = tslp_calloc(1, sizeof *e);
    if (e == NULL || (e->uri = tslp_strndup(uri, strlen(uri))) == NULL ||
        (cert != NULL && (e->cert = tslp_malloc(cert_len)) == NULL)) {
        if (e != NULL)
            tslp_free(e->uri);
        tslp_free(e);
        tsl_idlist_free(l);
        return;
    }
    if (cert != NULL)
        memcpy(e->cert, cert, cert_len);
    e->cert_len = cert_len;
    e->list = l;
    e->valid_until = until;
    pthread_mutex_lock(&c->mu);
    for (idl_entry **pp = &c->head; *pp != NULL;) {
        idl_entry *old = *pp;
        if (old->valid_until <= now ||
            (strcmp(old->uri, uri) == 0 && same_cert(old, cert, cert_len))) {
            *pp = old->next;
            entry_free(old);
        } else {
            pp = &old->next;
        }
    }
    e->next = c->head;
    c->head = e;
    pthread_mutex_unlock(&c->mu);
}

/* The media type of a Content-Type value must be the identifier list's. */
static bool media_ok(const char *ct)
{
    if (ct == NULL)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    return n == strlen(TSL_MEDIA_IDLIST) && strncasecmp(ct, TSL_MEDIA_IDLIST, n) == 0;
}

/* Verifies l for uri (its sub) at now, with cert (the MSO's, or NULL). */
static tsl_status verify_for(const tsl_verifier_opts *o, const tsl_idlist *l, const char *uri,
                             const uint8_t *cert, size_t cert_len, int64_t now,
                             tsl_error *err)
{
    tsl_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    vo.policy = o->policy;
    vo.policy.now = now;
    vo.sub = uri; /* the list's sub must be the uri the MSO names */
    tsl_status st = tsl_idlist_verify(l, &vo, cert, cert_len, err);
    if (st != TSL_OK)
        tslp_error_prefix(err, "identifier list");
    return st;
}

/* Parses body as an identifier list and verifies it (verify_for). */
static tsl_status parse_verified(const tsl_verifier_opts *o, const uint8_t *body, size_t len,
                                 const char *uri, const uint8_t *cert, size_t cert_len,
                                 int64_t now, tsl_idlist **out, tsl_error *err)
{
    tsl_idlist *l = NULL;
    tsl_status st = tsl_idlist_parse(body, len, &o->limits, &l, err);
    if (st == TSL_OK)
        st = verify_for(o, l, uri, cert, cert_len, now, err);
    if (st != TSL_OK) {
        tsl_idlist_free(l);
        return st;
    }
    *out = l;
    return TSL_OK;
}

/* The disk cache's key of the list at uri: apart from every Status List Token's (whose
 * key is its URL). */
static char *disk_key(const char *uri)
{
    size_t n = strlen(uri);
    char *k = tslp_malloc(sizeof "idlist " + n);
    if (k != NULL) {
        memcpy(k, "idlist ", sizeof "idlist " - 1);
        memcpy(k + sizeof "idlist " - 1, uri, n + 1);
    }
    return k;
}

/* The list from the disk cache, verified again and still fresh at now, or NULL. */
static tsl_idlist *disk_list(int disk_fd, const tsl_verifier_opts *o, const char *key,
                             const char *uri, const uint8_t *cert, size_t cert_len,
                             int64_t now, int64_t *until)
{
    size_t len = 0;
    int64_t fetched = 0;
    uint8_t *raw = tslp_disk_load(disk_fd, key, o->max_body, &len, &fetched);
    if (raw == NULL)
        return NULL;
    tsl_idlist *l = NULL;
    if (parse_verified(o, raw, len, uri, cert, cert_len, now, &l, NULL) == TSL_OK &&
        now >= (*until = valid_until(o, l, fetched))) {
        tsl_idlist_free(l);
        l = NULL;
    }
    tslp_free(raw);
    return l;
}

tsl_status tslp_idl_check(tslp_idl_cache *c, int disk_fd, const tsl_verifier_opts *o,
                          const tsl_ref *r, int64_t now, int *listed, tsl_check_result *res,
                          tsl_check_stage *stage, tsl_error *err)
{
    const char *uri = tsl_ref_idlist_uri(r);
    size_t id_len = 0, cert_len = 0;
    const uint8_t *id = tsl_ref_idlist_id(r, &id_len);
    const uint8_t *cert = tsl_ref_idlist_cert(r, &cert_len);
    res->idlist = 1;
    /* 1. Lists supplied offline whose sub is the uri: the first that verifies answers;
     * when some match and none verifies, the last one's error (nothing is fetched). */
    pthread_mutex_lock(&c->mu);
    idl_offline *off = c->offline;
    pthread_mutex_unlock(&c->mu);
    bool matched = false;
    tsl_status ost = TSL_OK;
    for (idl_offline *f = off; f != NULL; f = f->next) {
        if (strcmp(tsl_idlist_sub(f->list), uri) != 0)
            continue;
        matched = true;
        *stage = TSL_STAGE_LIST_TOKEN;
        if (err != NULL)
            tsl_error_clear(err);
        ost = verify_for(o, f->list, uri, cert, cert_len, now, err);
        if (ost == TSL_OK) {
            *listed = tsl_idlist_contains(f->list, id, id_len);
            return TSL_OK;
        }
    }
    if (matched)
        return ost;
    *stage = TSL_STAGE_FETCH;
    int hit = cache_lookup(c, uri, cert, cert_len, id, id_len, now);
    if (hit >= 0) {
        res->from_cache = 1;
        *listed = hit;
        return TSL_OK;
    }
    char *key = disk_fd >= 0 ? disk_key(uri) : NULL;
    if (key != NULL) {
        int64_t until = 0;
        tsl_idlist *dl = disk_list(disk_fd, o, key, uri, cert, cert_len, now, &until);
        if (dl != NULL) {
            res->from_cache = 1;
            *listed = tsl_idlist_contains(dl, id, id_len);
            cache_put(c, uri, cert, cert_len, dl, until, now);
            tslp_free(key);
            return TSL_OK;
        }
    }
    uint8_t *body = NULL;
    size_t len = 0;
    char *ct = NULL;
    res->fetched = 1;
    tsl_status st = o->fetch(o->fetch_ctx, uri, TSL_MEDIA_IDLIST, &body, &len, &ct, err);
    if (st == TSL_OK && len > o->max_body)
        st = tslp_fail(err, TSL_ERR_LIMIT, 0, "fetch: body of %zu bytes over %zu", len,
                       o->max_body);
    if (st == TSL_OK && !media_ok(ct))
        st = tslp_fail(err, TSL_ERR_UNSUPPORTED, 0, "fetch: Content-Type \"%.100s\" is not "
                       "%s", ct ? ct : "", TSL_MEDIA_IDLIST);
    tsl_idlist *l = NULL;
    if (st == TSL_OK) {
        *stage = TSL_STAGE_LIST_TOKEN;
        st = parse_verified(o, body, len, uri, cert, cert_len, now, &l, err);
    }
    /* Only a list that passed every check is written, as fetched now. */
    if (st == TSL_OK && key != NULL)
        tslp_disk_store(disk_fd, key, body, len, now);
    tslp_free(key);
    tsl_free(body);
    tsl_free(ct);
    if (st != TSL_OK)
        return st;
    *listed = tsl_idlist_contains(l, id, id_len);
    cache_put(c, uri, cert, cert_len, l, valid_until(o, l, now), now);
    return TSL_OK;
}
