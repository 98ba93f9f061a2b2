/* auth.c - who may use the issuer API, and how often. A request's "Authorization:
 * Bearer SECRET" is checked by tsl_apikey_check() (constant-time compare of a SHA-256
 * in the store); a success is remembered for at most TSLP_ADMIN_KEY_CACHE_MS under the
 * SHA-256 of the secret (never the secret), so that a burst of requests costs one store
 * read a second per key while a revoked or expired key still stops within a second.
 * Failed authentications are limited per client address (an IPv6 /64 counts as one
 * address): TSLP_ADMIN_AUTH_BURST at once, then one per TSLP_ADMIN_AUTH_REFILL_MS; a
 * limited address gets 429 even with a good key, so guessing gains nothing. Requests
 * are limited per key by a token bucket (rate, burst). The tables are fixed arrays with
 * named caps: a flood of addresses or keys replaces old buckets, it never grows one. */
#include "admin/admin_int.h"
#include "crypto/crypto.h" /* tslp_sha256 */

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

typedef struct {
    uint8_t hash[32];  /* SHA-256 of the presented secret */
    tsl_apikey_info info;
    int64_t at_ms;     /* monotonic: when the store said yes; 0: empty */
} key_slot;

typedef struct {
    uint8_t id[17];    /* a key id, or an address (family byte + 16 bytes) */
    double tokens;
    int64_t at_ms;     /* monotonic: last update; 0: empty */
} bucket;

struct tslp_auth {
    pthread_mutex_t mu;
    double rate, burst;
    key_slot keys[TSLP_ADMIN_KEY_CACHE];
    bucket per_key[TSLP_ADMIN_RATE_SLOTS];
    bucket per_addr[TSLP_ADMIN_AUTH_SLOTS];
    uint64_t failed, limited_addr, limited_key;
};

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

tsl_status tslp_auth_new(double rate, unsigned burst, tslp_auth **out, tsl_error *err)
{
    tslp_auth *au = tslp_calloc(1, sizeof *au);
    if (au == NULL)
        return tslp_fail(err, TSL_ERR_NOMEM, 0, "issuer API: out of memory");
    pthread_mutex_init(&au->mu, NULL);
    au->rate = rate;
    au->burst = burst;
    *out = au;
    return TSL_OK;
}

void tslp_auth_free(tslp_auth *au)
{
    if (au == NULL)
        return;
    pthread_mutex_destroy(&au->mu);
    tslp_wipe(au->keys, sizeof au->keys);
    tslp_free(au);
}

void tslp_auth_counts(tslp_auth *au, uint64_t *failed, uint64_t *limited_addr,
                      uint64_t *limited_key)
{
    pthread_mutex_lock(&au->mu);
    *failed = au->failed;
    *limited_addr = au->limited_addr;
    *limited_key = au->limited_key;
    pthread_mutex_unlock(&au->mu);
}

/* FNV-1a of the 17 bytes. */
static size_t hash_id(const uint8_t id[17])
{
    uint64_t h = 1469598103934665603ULL;
    for (int k = 0; k < 17; k++)
        h = (h ^ id[k]) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 32));
}

/* The bucket of id (under au->mu), refilled to now at rate per second up to burst: the
 * one holding id among TSLP_ADMIN_PROBE slots, else the least recently used of them,
 * started full. */
static bucket *bucket_of(bucket *table, size_t size, const uint8_t id[17], double rate,
                         double burst, int64_t now)
{
    size_t h = hash_id(id), oldest = h % size;
    for (size_t k = 0; k < TSLP_ADMIN_PROBE; k++) {
        bucket *b = &table[(h + k) % size];
        if (b->at_ms != 0 && memcmp(b->id, id, 17) == 0) {
            b->tokens += (double)(now - b->at_ms) / 1000.0 * rate;
            if (b->tokens > burst)
                b->tokens = burst;
            b->at_ms = now;
            return b;
        }
        if (table[oldest].at_ms != 0 && (b->at_ms == 0 || b->at_ms < table[oldest].at_ms))
            oldest = (h + k) % size;
    }
    bucket *b = &table[oldest];
    memcpy(b->id, id, 17);
    b->tokens = burst;
    b->at_ms = now;
    return b;
}

/* Seconds until a bucket has a token again (at least 1). */
static unsigned retry_after(const bucket *b, double rate)
{
    double s = rate > 0 ? (1.0 - b->tokens) / rate : 60;
    unsigned u = (unsigned)s;
    if ((double)u < s)
        u++;
    return u < 1 ? 1 : u;
}

/* The failed-auth bucket's id of a peer: IPv4 (or IPv4-mapped IPv6) whole, IPv6 by
 * its /64; no peer: one shared id. */
static void addr_id(const tsl_admin_request *rq, uint8_t id[17])
{
    memset(id, 0, 17);
    if (rq->peer == NULL)
        return;
    if (rq->peer->sa_family == AF_INET && rq->peer_len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)rq->peer;
        id[0] = 4;
        memcpy(id + 1, &v4->sin_addr, 4);
    } else if (rq->peer->sa_family == AF_INET6 &&
               rq->peer_len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)rq->peer;
        const uint8_t *a = v6->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            id[0] = 4;
            memcpy(id + 1, a + 12, 4);
        } else {
            id[0] = 6;
            memcpy(id + 1, a, 8); /* the /64: one host's addresses */
        }
    }
}

static bool ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t k = 0; k < n; k++)
        d |= (uint8_t)(a[k] ^ b[k]);
    return d == 0;
}

static void unauthorized(tsl_admin_response *out, const char *why)
{
    tslp_admin_fail(out, 401, "unauthorized", "%s", why);
}

bool tslp_auth_check(tsl_admin *a, const tsl_admin_request *rq, int64_t now, bool spend,
                     tsl_apikey_info *key, tsl_admin_response *out)
{
    tslp_auth *au = a->auth;
    uint8_t aid[17];
    addr_id(rq, aid);
    int64_t t = mono_ms();
    /* A limited address is refused before its key is even looked at. */
    pthread_mutex_lock(&au->mu);
    bucket *ab = bucket_of(au->per_addr, TSLP_ADMIN_AUTH_SLOTS, aid,
                           1000.0 / TSLP_ADMIN_AUTH_REFILL_MS, TSLP_ADMIN_AUTH_BURST, t);
    if (ab->tokens < 1.0) {
        unsigned ra = retry_after(ab, 1000.0 / TSLP_ADMIN_AUTH_REFILL_MS);
        au->limited_addr++;
        pthread_mutex_unlock(&au->mu);
        tslp_refusal r;
        tslp_refuse(&r, 429, "rate-limited", "too many failed authentications from this "
                                             "address; retry in %u s", ra);
        r.retry_after = ra;
        tslp_admin_problem(out, &r);
        return false;
    }
    pthread_mutex_unlock(&au->mu);

    const char *h = rq->authorization;
    const char *why = NULL;
    size_t len = 0;
    const char *secret = NULL;
    if (h == NULL) {
        why = "an Authorization: Bearer header is required";
    } else {
        len = strnlen(h, TSLP_ADMIN_AUTH_MAX + 1);
        if (len > TSLP_ADMIN_AUTH_MAX || len < 7 || strncasecmp(h, "Bearer ", 7) != 0) {
            why = "the Authorization header is not \"Bearer\" and a key";
        } else {
            secret = h + 7;
            len -= 7;
            while (len > 0 && *secret == ' ') {
                secret++;
                len--;
            }
            while (len > 0 && (secret[len - 1] == ' ' || secret[len - 1] == '\t'))
                len--;
            if (len == 0)
                why = "the Authorization header is not \"Bearer\" and a key";
        }
    }
    bool ok = false;
    if (why == NULL) {
        uint8_t hash[32];
        if (tslp_sha256((const uint8_t *)secret, len, hash) != TSL_OK) {
            tslp_admin_fail(out, 500, "internal", "cannot hash the key");
            return false;
        }
        size_t slot = ((size_t)hash[0] << 8 | hash[1]) % TSLP_ADMIN_KEY_CACHE;
        pthread_mutex_lock(&au->mu);
        key_slot *ks = &au->keys[slot];
        if (ks->at_ms != 0 && t - ks->at_ms < TSLP_ADMIN_KEY_CACHE_MS &&
            ct_equal(ks->hash, hash, 32) && (ks->info.expires == 0 || ks->info.expires > now)) {
            *key = ks->info;
            ok = true;
        }
        pthread_mutex_unlock(&au->mu);
        if (!ok) {
            tslp_reader *rd = tslp_reader_get(a);
            tsl_error e;
            tsl_error_clear(&e);
            tsl_status s = tsl_apikey_check(rd->st, secret, len, now, key, &e);
            tslp_reader_put(rd);
            if (s == TSL_OK) {
                ok = true;
                pthread_mutex_lock(&au->mu);
                memcpy(ks->hash, hash, 32);
                ks->info = *key;
                ks->at_ms = t;
                pthread_mutex_unlock(&au->mu);
            } else if (s == TSL_ERR_DENIED) {
                /* The store's message says which of unknown/wrong, expired, revoked,
                 * and never holds the secret. */
                why = e.msg[0] != '\0' ? e.msg : "unknown or wrong key";
                unauthorized(out, why);
                why = "";
            } else {
                tslp_wipe(hash, sizeof hash);
                tslp_admin_store_fail(out, s == TSL_ERR_NOMEM ? s : TSL_ERR_IO, &e);
                return false;
            }
        }
        tslp_wipe(hash, sizeof hash);
    }
    if (!ok) {
        if (why != NULL && why[0] != '\0')
            unauthorized(out, why);
        pthread_mutex_lock(&au->mu);
        ab = bucket_of(au->per_addr, TSLP_ADMIN_AUTH_SLOTS, aid,
                       1000.0 / TSLP_ADMIN_AUTH_REFILL_MS, TSLP_ADMIN_AUTH_BURST, mono_ms());
        ab->tokens -= 1.0;
        au->failed++;
        pthread_mutex_unlock(&au->mu);
        return false;
    }
    /* The key's own rate. */
    uint8_t kid[17];
    memset(kid, 0, sizeof kid);
    memcpy(kid, key->id, strnlen(key->id, TSL_APIKEY_ID_LEN));
    pthread_mutex_lock(&au->mu);
    bucket *kb = bucket_of(au->per_key, TSLP_ADMIN_RATE_SLOTS, kid, au->rate, au->burst, t);
    bool limited = kb->tokens < 1.0;
    if (!limited && spend)
        kb->tokens -= 1.0;
    unsigned ra = limited ? retry_after(kb, au->rate) : 0;
    if (limited)
        au->limited_key++;
    pthread_mutex_unlock(&au->mu);
    memcpy(out->key_id, key->id, sizeof out->key_id);
    out->key_id[sizeof out->key_id - 1] = '\0';
    if (limited) {
        tslp_refusal r;
        tslp_refuse(&r, 429, "rate-limited", "this key's request rate is exceeded; retry "
                                             "in %u s", ra);
        r.retry_after = ra;
        tslp_admin_problem(out, &r);
        return false;
    }
    return true;
}

bool tslp_auth_allow(const tsl_apikey_info *key, unsigned scope, const char *list_id,
                     tsl_admin_response *out)
{
    if ((key->scopes & scope) != scope) {
        char want[64];
        tsl_scopes_name(scope, want, sizeof want);
        tslp_admin_fail(out, 403, "forbidden", "this key lacks the scope \"%s\"", want);
        return false;
    }
    if (scope == TSL_SCOPE_CREATE && key->list_id[0] != '\0') {
        tslp_admin_fail(out, 403, "forbidden", "only a key for every list may create lists");
        return false;
    }
    if (list_id != NULL && key->list_id[0] != '\0' && strcmp(key->list_id, list_id) != 0) {
        tslp_admin_fail(out, 403, "forbidden", "this key is not for list \"%s\"", list_id);
        return false;
    }
    return true;
}
