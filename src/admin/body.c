/* body.c - the issuer API's request bodies and queries, all untrusted and all bounded.
 * The change array of a bulk update (up to 10^6 items and more) is read in one pass by a
 * small parser of its own, with no tree: jansson would build ten million nodes for a
 * million objects and take seconds. It accepts exactly the JSON of the contract: an
 * array of flat objects whose members are "index", "first", "last" (non-negative
 * integers), "id" (an identifier list's identifier, hex) and "status" (a name or
 * 0..255); anything else is refused with the byte
 * offset and the member. The small bodies (create a list, allocate, one status) go
 * through jansson with a size cap and duplicate members refused. The text format is
 * `tsl update`'s, line by line through tsl_batch_add_line(). */
#include "admin/admin_int.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* The JSON change array                                                                */

typedef struct {
    const uint8_t *p;
    size_t n, k;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->k < c->n && (c->p[c->k] == ' ' || c->p[c->k] == '\t' || c->p[c->k] == '\n' ||
                           c->p[c->k] == '\r'))
        c->k++;
}

static bool malformed_at(tslp_refusal *r, size_t off, const char *field, const char *what)
{
    tslp_refuse(r, 400, "malformed", "offset %zu: %s", off, what);
    r->has_offset = true;
    r->offset = off;
    r->field = field;
    return false;
}

/* Bytes of the longest member name or status name kept; longer ones match nothing. */
#define NAME_MAX_BYTES 32

/* A JSON string at c (c->k at its quote) into out (NUL-terminated, at most
 * NAME_MAX_BYTES; *fits false when it was longer or held a character past ASCII, so
 * that it matches no name). Escapes are decoded. */
static bool read_string(cursor *c, char out[NAME_MAX_BYTES + 1], bool *fits,
                        const char *field, tslp_refusal *r)
{
    size_t start = c->k, len = 0;
    *fits = true;
    c->k++; /* the opening quote */
    for (;;) {
        if (c->k >= c->n)
            return malformed_at(r, start, field, "unterminated string");
        unsigned char ch = c->p[c->k];
        if (ch == '"') {
            c->k++;
            break;
        }
        if (ch < 0x20)
            return malformed_at(r, c->k, field, "control character in a string");
        unsigned v = ch;
        if (ch == '\\') {
            if (c->k + 1 >= c->n)
                return malformed_at(r, start, field, "unterminated string");
            unsigned char e = c->p[c->k + 1];
            c->k += 2;
            switch (e) {
            case '"': v = '"'; break;
            case '\\': v = '\\'; break;
            case '/': v = '/'; break;
            case 'b': v = '\b'; break;
            case 'f': v = '\f'; break;
            case 'n': v = '\n'; break;
            case 'r': v = '\r'; break;
            case 't': v = '\t'; break;
            case 'u': {
                if (c->n - c->k < 4)
                    return malformed_at(r, c->k - 2, field, "bad \\u escape");
                v = 0;
                for (int d = 0; d < 4; d++) {
                    int h = tslp_hexval(c->p[c->k + (size_t)d]);
                    if (h < 0)
                        return malformed_at(r, c->k - 2, field, "bad \\u escape");
                    v = v * 16 + (unsigned)h;
                }
                c->k += 4;
                break;
            }
            default:
                return malformed_at(r, c->k - 2, field, "bad escape in a string");
            }
        } else {
            c->k++;
        }
        if (v == 0 || v >= 0x80 || len >= NAME_MAX_BYTES)
            *fits = false;
        else
            out[len++] = (char)v;
    }
    out[len] = '\0';
    return true;
}

/* A non-negative integer at c; one over UINT64_MAX is an invalid value. */
static bool read_uint(cursor *c, const char *field, uint64_t *v, tslp_refusal *r)
{
    size_t start = c->k;
    if (c->k < c->n && c->p[c->k] == '-')
        return malformed_at(r, start, field, "a negative number where an index belongs");
    if (c->k >= c->n || c->p[c->k] < '0' || c->p[c->k] > '9')
        return malformed_at(r, start, field, "expected a non-negative integer");
    uint64_t x = 0;
    bool over = false;
    if (c->p[c->k] == '0') {
        c->k++;
    } else {
        while (c->k < c->n && c->p[c->k] >= '0' && c->p[c->k] <= '9') {
            unsigned d = (unsigned)(c->p[c->k] - '0');
            if (x > (UINT64_MAX - d) / 10)
                over = true;
            else
                x = x * 10 + d;
            c->k++;
        }
    }
    if (c->k < c->n && (c->p[c->k] == '.' || c->p[c->k] == 'e' || c->p[c->k] == 'E' ||
                        (c->p[c->k] >= '0' && c->p[c->k] <= '9')))
        return malformed_at(r, start, field, "expected an integer (no fraction, exponent "
                                             "or leading zero)");
    if (over) {
        tslp_refuse(r, 400, "invalid-value", "offset %zu: the number is over 2^64 - 1",
                    start);
        r->field = field;
        r->has_offset = true;
        r->offset = start;
        return false;
    }
    *v = x;
    return true;
}

/* A status: a string (a name or decimal, tsl_status_parse) or an integer 0..255. */
static bool read_status(cursor *c, unsigned *value, tslp_refusal *r)
{
    size_t start = c->k;
    if (c->k < c->n && c->p[c->k] == '"') {
        char name[NAME_MAX_BYTES + 1];
        bool fits;
        if (!read_string(c, name, &fits, "status", r))
            return false;
        if (!fits || tsl_status_parse(name, strlen(name), value, NULL) != TSL_OK) {
            malformed_at(r, start, "status", "not a status name (VALID, INVALID, SUSPENDED, "
                                             "APPLICATION_SPECIFIC) or a number 0-255");
            return false;
        }
        return true;
    }
    uint64_t v;
    if (!read_uint(c, "status", &v, r))
        return false;
    if (v > 255) {
        tslp_refuse(r, 400, "invalid-value", "offset %zu: status %llu is over 255", start,
                    (unsigned long long)v);
        r->field = "status";
        r->has_offset = true;
        r->offset = start;
        return false;
    }
    *value = (unsigned)v;
    return true;
}

/* An identifier at c: a JSON string of exactly the list's 2 * p->len hex digits (no
 * escapes: an identifier is hex only), turned into its index with the list's
 * permutation; one the list never made is an invalid value, named. */
static bool read_id(cursor *c, const tslp_idl_perm *p, uint64_t size, uint64_t *idx,
                    tslp_refusal *r)
{
    size_t start = c->k;
    if (c->k >= c->n || c->p[c->k] != '"')
        return malformed_at(r, start, "id", "expected a string of hex digits");
    c->k++;
    uint8_t id[TSL_STORE_ID_MAX];
    size_t nd = 0, want = 2 * (size_t)p->len;
    while (c->k < c->n && c->p[c->k] != '"') {
        int h = tslp_hexval(c->p[c->k]);
        if (h < 0)
            return malformed_at(r, c->k, "id", "an identifier is hex digits only");
        if (nd < want)
            id[nd / 2] = nd % 2 == 0 ? (uint8_t)(h << 4) : (uint8_t)(id[nd / 2] | h);
        nd++;
        c->k++;
    }
    if (c->k >= c->n)
        return malformed_at(r, start, "id", "unterminated string");
    c->k++;
    int found = nd == want ? tslp_idl_perm_index(p, id, size, idx) : 0;
    if (found < 0) {
        tslp_refuse(r, 500, "internal", "identifier list: AES failed");
        return false;
    }
    if (found == 0) {
        if (nd != want)
            tslp_refuse(r, 400, "invalid-value", "offset %zu: an id of %zu hex digits; the "
                        "list's identifiers are %u bytes (%zu digits)", start, nd, p->len,
                        want);
        else
            tslp_refuse(r, 400, "invalid-value", "offset %zu: id %.*s is not one of the "
                        "list's identifiers", start, (int)want, (const char *)c->p + start + 1);
        r->field = "id";
        r->has_offset = true;
        r->offset = start;
        return false;
    }
    return true;
}

enum { M_INDEX = 1, M_FIRST = 2, M_LAST = 4, M_STATUS = 8, M_ID = 16 };

/* One change object at c (c->k at its '{'): its range and value. idl is the list's
 * permutation when it is an identifier list (then "id" is a member too), else NULL. */
static bool read_change(cursor *c, const tslp_idl_perm *idl, uint64_t size, uint64_t *first,
                        uint64_t *last, unsigned *value, tslp_refusal *r)
{
    size_t start = c->k;
    c->k++;
    unsigned seen = 0;
    uint64_t index = 0;
    skip_ws(c);
    if (c->k < c->n && c->p[c->k] == '}') {
        c->k++;
    } else {
        for (;;) {
            skip_ws(c);
            if (c->k >= c->n || c->p[c->k] != '"')
                return malformed_at(r, c->k, NULL, "expected a member name");
            size_t at = c->k;
            char name[NAME_MAX_BYTES + 1];
            bool fits;
            if (!read_string(c, name, &fits, NULL, r))
                return false;
            unsigned m = !fits ? 0
                         : strcmp(name, "index") == 0  ? M_INDEX
                         : strcmp(name, "first") == 0  ? M_FIRST
                         : strcmp(name, "last") == 0   ? M_LAST
                         : strcmp(name, "status") == 0 ? M_STATUS
                         : strcmp(name, "id") == 0 && idl != NULL ? M_ID
                                                                  : 0;
            static const char *const names[] = {
                NULL, "index", "first", NULL, "last", NULL, NULL, NULL, "status",
                NULL, NULL,    NULL,    NULL, NULL,   NULL, NULL, "id"};
            if (m == 0)
                return malformed_at(r, at, NULL,
                                    idl != NULL ? "unknown member (expected id, index, first, "
                                                  "last or status)"
                                                : "unknown member (expected index, first, "
                                                  "last or status)");
            if (seen & m)
                return malformed_at(r, at, names[m], "duplicate member");
            seen |= m;
            skip_ws(c);
            if (c->k >= c->n || c->p[c->k] != ':')
                return malformed_at(r, c->k, names[m], "expected ':'");
            c->k++;
            skip_ws(c);
            bool ok = m == M_STATUS  ? read_status(c, value, r)
                      : m == M_ID    ? read_id(c, idl, size, &index, r)
                      : m == M_INDEX ? read_uint(c, "index", &index, r)
                      : m == M_FIRST ? read_uint(c, "first", first, r)
                                     : read_uint(c, "last", last, r);
            if (!ok)
                return false;
            skip_ws(c);
            if (c->k < c->n && c->p[c->k] == ',') {
                c->k++;
                continue;
            }
            if (c->k < c->n && c->p[c->k] == '}') {
                c->k++;
                break;
            }
            return malformed_at(r, c->k, NULL, "expected ',' or '}'");
        }
    }
    if (!(seen & M_STATUS))
        return malformed_at(r, start, "status", "a change without \"status\"");
    if ((seen & M_ID) && (seen & (M_INDEX | M_FIRST | M_LAST)))
        return malformed_at(r, start, "id", "\"id\" with \"index\", \"first\" or \"last\"");
    if (seen & (M_INDEX | M_ID)) {
        if (seen & (M_FIRST | M_LAST))
            return malformed_at(r, start, "index", "\"index\" with \"first\" or \"last\"");
        *first = *last = index;
    } else if ((seen & (M_FIRST | M_LAST)) != (M_FIRST | M_LAST)) {
        return malformed_at(r, start, (seen & M_FIRST) ? "last" : "first",
                            idl != NULL ? "a change needs \"id\", \"index\", or \"first\" "
                                          "and \"last\""
                                        : "a change needs \"index\", or \"first\" and "
                                          "\"last\"");
    }
    return true;
}

bool tslp_body_changes_json(const uint8_t *p, size_t n, unsigned bits, uint64_t size,
                            const tslp_idl_perm *idl, size_t max_items, tsl_batch *b,
                            tslp_refusal *r)
{
    cursor c = {p, n, 0};
    skip_ws(&c);
    if (c.k >= c.n || c.p[c.k] != '[')
        return malformed_at(r, c.k, NULL, "expected a JSON array of changes");
    c.k++;
    size_t items = 0;
    skip_ws(&c);
    if (c.k < c.n && c.p[c.k] == ']') {
        c.k++;
    } else {
        for (;;) {
            skip_ws(&c);
            if (c.k >= c.n || c.p[c.k] != '{')
                return malformed_at(r, c.k, NULL, "expected a change object");
            if (items >= max_items) {
                tslp_refuse(r, 413, "too-large", "more than %zu changes in one request",
                            max_items);
                return false;
            }
            size_t at = c.k;
            uint64_t first = 0, last = 0;
            unsigned value = 0;
            if (!read_change(&c, idl, size, &first, &last, &value, r))
                return false;
            items++;
            /* The list's bounds are checked here to name the index and the field; the
             * batch checks them again. */
            if (first > last) {
                tslp_refuse(r, 400, "invalid-value",
                            "change %zu: first %llu is after last %llu", items,
                            (unsigned long long)first, (unsigned long long)last);
                r->field = "last";
                r->has_index = true;
                r->index = last;
                return false;
            }
            if (last >= size) {
                uint64_t bad = first >= size ? first : size;
                tslp_refuse(r, 400, "invalid-value",
                            "change %zu: index %llu is outside the list (%llu entries)",
                            items, (unsigned long long)bad, (unsigned long long)size);
                r->field = first == last ? "index" : first >= size ? "first" : "last";
                r->has_index = true;
                r->index = bad;
                return false;
            }
            if (bits < 8 && (value >> bits) != 0) {
                tslp_refuse(r, 400, "invalid-value",
                            "change %zu: status %u does not fit in %u bits", items, value,
                            bits);
                r->field = "status";
                r->has_index = true;
                r->index = first;
                return false;
            }
            tsl_error e;
            tsl_error_clear(&e);
            tsl_status s = tsl_batch_add(b, first, last, value, items, &e);
            if (s == TSL_ERR_LIMIT) {
                tslp_refuse(r, 413, "too-large", "change %zu: %s", items, e.msg);
                return false;
            }
            if (s != TSL_OK) {
                tslp_refuse(r, s == TSL_ERR_NOMEM ? 500 : 400,
                            s == TSL_ERR_NOMEM ? "internal" : "invalid-value",
                            "change %zu: %s", items, e.msg);
                r->has_offset = true;
                r->offset = at;
                return false;
            }
            skip_ws(&c);
            if (c.k < c.n && c.p[c.k] == ',') {
                c.k++;
                continue;
            }
            if (c.k < c.n && c.p[c.k] == ']') {
                c.k++;
                break;
            }
            return malformed_at(r, c.k, NULL, "expected ',' or ']'");
        }
    }
    skip_ws(&c);
    if (c.k != c.n)
        return malformed_at(r, c.k, NULL, "data after the array");
    if (items == 0)
        return malformed_at(r, 0, NULL, "the array holds no change");
    return true;
}

/* ---------------------------------------------------------------------------------- */
/* The text format                                                                      */

bool tslp_body_changes_text(const uint8_t *p, size_t n, size_t max_items, tsl_batch *b,
                            tslp_refusal *r)
{
    size_t k = 0;
    if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
        k = 3; /* a byte order mark some editors write */
    uint64_t line = 0;
    while (k < n) {
        const uint8_t *nl = memchr(p + k, '\n', n - k);
        size_t end = nl != NULL ? (size_t)(nl - p) : n;
        line++;
        tsl_error e;
        tsl_error_clear(&e);
        size_t before = tsl_batch_count(b);
        tsl_status s = tsl_batch_add_line(b, (const char *)p + k, end - k, line, &e);
        if (s != TSL_OK) {
            const char *cls = s == TSL_ERR_INDEX || s == TSL_ERR_VALUE ? "invalid-value"
                              : s == TSL_ERR_NOMEM                     ? "internal"
                                                                       : "malformed";
            tslp_refuse(r, s == TSL_ERR_NOMEM ? 500 : 400, cls, "%s", e.msg);
            r->has_line = true;
            r->line = line;
            return false;
        }
        if (tsl_batch_count(b) > before && tsl_batch_count(b) > max_items) {
            tslp_refuse(r, 413, "too-large", "more than %zu changes in one request",
                        max_items);
            return false;
        }
        k = end + 1;
    }
    if (tsl_batch_count(b) == 0)
        return tslp_refuse(r, 400, "malformed", "the body holds no change");
    return true;
}

/* ---------------------------------------------------------------------------------- */
/* Small JSON bodies                                                                    */

static bool load_object(const uint8_t *p, size_t n, json_t **out, tslp_refusal *r)
{
    if (n > TSLP_ADMIN_SMALL_BODY)
        return tslp_refuse(r, 413, "too-large", "the body is over %zu bytes",
                           TSLP_ADMIN_SMALL_BODY);
    tsl_limits lim;
    tsl_limits_default(&lim);
    lim.max_input = TSLP_ADMIN_SMALL_BODY;
    lim.max_depth = 4;
    tsl_error e;
    tsl_error_clear(&e);
    void *v = NULL;
    tsl_status s = tslp_json_load((const char *)p, n, &lim, &v, "body", &e);
    if (s == TSL_ERR_NOMEM)
        return tslp_refuse(r, 500, "internal", "out of memory");
    if (s != TSL_OK) {
        tslp_refuse(r, 400, "malformed", "%s", e.msg);
        r->has_offset = true;
        r->offset = e.offset;
        return false;
    }
    if (!json_is_object((json_t *)v)) {
        json_decref(v);
        return tslp_refuse(r, 400, "malformed", "the body is not a JSON object");
    }
    *out = v;
    return true;
}

/* Refuses a member not in names (NULL-terminated). */
static bool only_members(json_t *o, const char *const *names, tslp_refusal *r)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        bool known = false;
        for (size_t k = 0; names[k] != NULL && !known; k++)
            known = strcmp(key, names[k]) == 0;
        if (!known) {
            char shown[40];
            snprintf(shown, sizeof shown, "%s", key);
            return tslp_refuse(r, 400, "malformed", "unknown member \"%s\"", shown);
        }
    }
    return true;
}

static bool field_fail(tslp_refusal *r, unsigned status, const char *cls, const char *field,
                       const char *what)
{
    tslp_refuse(r, status, cls, "\"%s\": %s", field, what);
    r->field = field;
    return false;
}

/* An integer member: absent -> *present false; else in [min, max]. */
static bool int_member(json_t *o, const char *name, uint64_t min, uint64_t max, bool *present,
                       uint64_t *v, tslp_refusal *r)
{
    json_t *j = json_object_get(o, name);
    *present = j != NULL;
    if (j == NULL)
        return true;
    if (!json_is_integer(j))
        return field_fail(r, 400, "malformed", name, "must be an integer");
    json_int_t x = json_integer_value(j);
    if (x < 0 || (uint64_t)x < min || (uint64_t)x > max) {
        tslp_refuse(r, 400, "invalid-value", "\"%s\": %lld is outside %llu to %llu", name,
                    (long long)x, (unsigned long long)min, (unsigned long long)max);
        r->field = name;
        return false;
    }
    *v = (uint64_t)x;
    return true;
}

static bool str_member(json_t *o, const char *name, const char **v, tslp_refusal *r)
{
    json_t *j = json_object_get(o, name);
    *v = NULL;
    if (j == NULL || json_is_null(j))
        return true;
    if (!json_is_string(j))
        return field_fail(r, 400, "malformed", name, "must be a string");
    if (strlen(json_string_value(j)) != json_string_length(j))
        return field_fail(r, 400, "malformed", name, "holds a NUL character");
    *v = json_string_value(j);
    return true;
}

bool tslp_body_count(const uint8_t *p, size_t n, uint64_t *count, tslp_refusal *r)
{
    json_t *o = NULL;
    if (!load_object(p, n, &o, r))
        return false;
    static const char *const names[] = {"count", NULL};
    bool present = false, ok = only_members(o, names, r) &&
                               int_member(o, "count", 1, TSL_ALLOC_MAX_PER_OP, &present,
                                          count, r);
    if (ok && !present)
        ok = field_fail(r, 400, "malformed", "count", "missing");
    json_decref(o);
    return ok;
}

bool tslp_body_status(const uint8_t *p, size_t n, unsigned *value, tslp_refusal *r)
{
    json_t *o = NULL;
    if (!load_object(p, n, &o, r))
        return false;
    static const char *const names[] = {"status", NULL};
    bool ok = only_members(o, names, r);
    json_t *j = json_object_get(o, "status");
    if (ok && j == NULL)
        ok = field_fail(r, 400, "malformed", "status", "missing");
    if (ok && json_is_string(j)) {
        if (tsl_status_parse(json_string_value(j), json_string_length(j), value, NULL) !=
            TSL_OK)
            ok = field_fail(r, 400, "malformed", "status",
                            "not a status name (VALID, INVALID, SUSPENDED, "
                            "APPLICATION_SPECIFIC) or a number 0-255");
    } else if (ok && json_is_integer(j)) {
        json_int_t x = json_integer_value(j);
        if (x < 0 || x > 255)
            ok = field_fail(r, 400, "invalid-value", "status", "outside 0 to 255");
        else
            *value = (unsigned)x;
    } else if (ok) {
        ok = field_fail(r, 400, "malformed", "status", "must be a name or an integer");
    }
    json_decref(o);
    return ok;
}

bool tslp_body_list_spec(const uint8_t *p, size_t n, tsl_list_spec *spec, void **owner,
                         tslp_refusal *r)
{
    json_t *o = NULL;
    *owner = NULL;
    if (!load_object(p, n, &o, r))
        return false;
    static const char *const names[] = {"id", "uri", "bits", "size", "key", "alg", "kid",
                                        "x5c", "lifetime", "ttl", "formats", "decoys",
                                        "final_invalid", "aggregation_uri", "id_length",
                                        NULL};
    memset(spec, 0, sizeof *spec);
    const char *alg = NULL, *formats = NULL;
    uint64_t bits = 0, size = 0, lifetime = 0, ttl = 0, decoys = 0, id_length = 0;
    bool has_bits, has_size, has_life, has_ttl, has_decoys, has_id_length;
    bool ok = only_members(o, names, r) && str_member(o, "id", &spec->id, r) &&
              str_member(o, "uri", &spec->uri, r) && str_member(o, "key", &spec->key_path, r) &&
              str_member(o, "alg", &alg, r) && str_member(o, "kid", &spec->kid, r) &&
              str_member(o, "x5c", &spec->x5c_path, r) &&
              str_member(o, "formats", &formats, r) &&
              str_member(o, "aggregation_uri", &spec->aggregation_uri, r) &&
              int_member(o, "bits", 1, 8, &has_bits, &bits, r) &&
              int_member(o, "size", 1, TSL_STORE_MAX_SIZE, &has_size, &size, r) &&
              int_member(o, "lifetime", 1, (uint64_t)INT64_MAX, &has_life, &lifetime, r) &&
              int_member(o, "ttl", 0, (uint64_t)INT64_MAX, &has_ttl, &ttl, r) &&
              int_member(o, "decoys", 0, TSL_STORE_MAX_SIZE, &has_decoys, &decoys, r) &&
              int_member(o, "id_length", TSL_STORE_ID_MIN, TSL_STORE_ID_MAX, &has_id_length,
                         &id_length, r);
    static const char *const required[] = {"id", "uri", "bits", "size", "key"};
    for (size_t k = 0; ok && k < sizeof required / sizeof required[0]; k++)
        if (json_object_get(o, required[k]) == NULL)
            ok = field_fail(r, 400, "malformed", required[k], "missing");
    if (ok && alg != NULL && (spec->alg = tsl_alg_from_name(alg)) == TSL_ALG_UNKNOWN)
        ok = field_fail(r, 400, "invalid-value", "alg", "not a signing algorithm");
    if (ok && formats != NULL &&
        tsl_publish_formats_parse(formats, &spec->formats, NULL) != TSL_OK)
        ok = field_fail(r, 400, "invalid-value", "formats",
                        "must be jwt, cwt, jwt,cwt or idlist");
    json_t *fi = json_object_get(o, "final_invalid");
    if (ok && fi != NULL && !json_is_boolean(fi))
        ok = field_fail(r, 400, "malformed", "final_invalid", "must be true or false");
    if (!ok) {
        json_decref(o);
        return false;
    }
    spec->bits = (unsigned)bits;
    spec->size = size;
    spec->lifetime = (int64_t)lifetime;
    spec->ttl = (int64_t)ttl;
    spec->decoys = decoys;
    spec->id_bytes = (unsigned)id_length; /* only for formats idlist: the store checks */
    spec->final_invalid = fi == NULL || json_is_true(fi) ? 1 : -1;
    *owner = o;
    return true;
}

void tslp_body_spec_free(void *owner)
{
    json_decref((json_t *)owner);
}

/* ---------------------------------------------------------------------------------- */
/* Queries                                                                              */

bool tslp_query_parse(const char *q, tslp_query *out, tslp_refusal *r)
{
    out->n = 0;
    out->text[0] = '\0';
    if (q == NULL)
        return true;
    size_t len = strlen(q);
    if (len > TSLP_ADMIN_QUERY_MAX)
        return tslp_refuse(r, 400, "malformed", "the query is over %d bytes",
                           TSLP_ADMIN_QUERY_MAX);
    memcpy(out->text, q, len + 1);
    char *s = out->text;
    while (*s != '\0') {
        char *amp = strchr(s, '&');
        if (amp != NULL)
            *amp = '\0';
        if (*s != '\0') {
            if (out->n == TSLP_ADMIN_QUERY_PARAMS)
                return tslp_refuse(r, 400, "malformed",
                                   "more than %d query parameters", TSLP_ADMIN_QUERY_PARAMS);
            char *eq = strchr(s, '=');
            char *value = s + strlen(s); /* "" when there is no '=' */
            if (eq != NULL) {
                *eq = '\0';
                value = eq + 1;
            }
            for (char *t = s; *t != '\0'; t++)
                if (*t == '+')
                    *t = ' ';
            for (char *t = value; *t != '\0'; t++)
                if (*t == '+')
                    *t = ' ';
            tsl_http_unescape(s);
            tsl_http_unescape(value);
            for (size_t k = 0; k < out->n; k++)
                if (strcmp(out->name[k], s) == 0) /* the name shown cut to 39 bytes */
                    return tslp_refuse(r, 400, "malformed",
                                       "query parameter \"%.39s\" given twice", s);
            out->name[out->n] = s;
            out->value[out->n] = value;
            out->n++;
        }
        if (amp == NULL)
            break;
        s = amp + 1;
    }
    return true;
}

const char *tslp_query_get(const tslp_query *q, const char *name)
{
    for (size_t k = 0; k < q->n; k++)
        if (strcmp(q->name[k], name) == 0)
            return q->value[k];
    return NULL;
}

bool tslp_query_only(const tslp_query *q, const char *const *allowed, tslp_refusal *r)
{
    for (size_t k = 0; k < q->n; k++) {
        bool known = false;
        for (size_t j = 0; allowed[j] != NULL && !known; j++)
            known = strcmp(q->name[k], allowed[j]) == 0;
        if (!known) {
            char shown[40];
            snprintf(shown, sizeof shown, "%s", q->name[k]);
            return tslp_refuse(r, 400, "malformed", "unknown query parameter \"%s\"", shown);
        }
    }
    return true;
}

bool tslp_query_bool(const tslp_query *q, const char *name, bool dflt, bool *v,
                     tslp_refusal *r)
{
    const char *s = tslp_query_get(q, name);
    if (s == NULL)
        *v = dflt;
    else if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *v = true;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *v = false;
    else {
        tslp_refuse(r, 400, "malformed", "query parameter \"%s\" must be true or false",
                    name);
        r->field = name;
        return false;
    }
    return true;
}

/* Decimal digits only (at most 20, no sign), within UINT64_MAX. */
static bool parse_u64(const char *s, size_t n, uint64_t *v)
{
    if (n == 0 || n > 20)
        return false;
    uint64_t x = 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return false;
        unsigned d = (unsigned)(s[k] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

bool tslp_query_u64(const tslp_query *q, const char *name, uint64_t min, uint64_t max,
                    uint64_t dflt, uint64_t *v, tslp_refusal *r)
{
    const char *s = tslp_query_get(q, name);
    if (s == NULL) {
        *v = dflt;
        return true;
    }
    uint64_t x;
    if (!parse_u64(s, strlen(s), &x) || x < min || x > max) {
        tslp_refuse(r, 400, "malformed", "query parameter \"%s\" must be a number from %llu "
                                         "to %llu", name, (unsigned long long)min,
                    (unsigned long long)max);
        r->field = name;
        return false;
    }
    *v = x;
    return true;
}

bool tslp_idx_list(const char *s, uint64_t *idx, size_t max, size_t *n, tslp_refusal *r)
{
    *n = 0;
    size_t k = 0, len = strlen(s);
    while (k <= len) {
        const char *comma = memchr(s + k, ',', len - k);
        size_t end = comma != NULL ? (size_t)(comma - s) : len;
        if (*n == max)
            return tslp_refuse(r, 413, "too-large", "more than %zu indices in one read", max);
        if (!parse_u64(s + k, end - k, &idx[*n])) {
            tslp_refuse(r, 400, "malformed", "idx: element %zu is not a decimal index",
                        *n + 1);
            r->field = "idx";
            return false;
        }
        (*n)++;
        if (comma == NULL)
            break;
        k = end + 1;
    }
    return true;
}

bool tslp_parse_index(const char *s, uint64_t *v)
{
    size_t n = strlen(s);
    if (n > 1 && s[0] == '0')
        return false;
    return parse_u64(s, n, v);
}
