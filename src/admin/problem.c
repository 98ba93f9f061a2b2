/* problem.c - the issuer API's answers: RFC 9457 problem details with a stable type per
 * class ("urn:tsl:problem:malformed"), the offending field, index, line or offset as
 * members of their own, and JSON answers. Every answer carries Cache-Control: no-store:
 * what the API says (indices, statuses) is about one moment and one client. A detail
 * is built from messages that never hold a secret (tsl_error's rule), never from the
 * Authorization header. */
#include "admin/admin_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The stable classes and their titles. */
static const struct {
    const char *cls, *title;
} classes[] = {
    {"unauthorized", "Authentication required"},
    {"forbidden", "Not allowed for this key"},
    {"not-found", "Not found"},
    {"method-not-allowed", "Method not allowed"},
    {"malformed", "Malformed request"},
    {"invalid-value", "Invalid value"},
    {"final-invalid", "INVALID is final"},
    {"idempotency-key-missing", "Idempotency-Key required"},
    {"idempotency-key-reused", "Idempotency-Key reused for another request"},
    {"conflict", "Conflict"},
    {"too-large", "Request too large"},
    {"unsupported-media-type", "Unsupported media type"},
    {"rate-limited", "Too many requests"},
    {"unavailable", "Store unavailable"},
    {"timeout", "Timed out"},
    {"internal", "Internal error"},
};

static const char *title_of(const char *cls)
{
    for (size_t k = 0; k < sizeof classes / sizeof classes[0]; k++)
        if (strcmp(classes[k].cls, cls) == 0)
            return classes[k].title;
    return "Error";
}

bool tslp_refuse(tslp_refusal *r, unsigned status, const char *cls, const char *fmt, ...)
{
    memset(r, 0, sizeof *r);
    r->status = status;
    r->cls = cls;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
    return false;
}

void tslp_admin_header(tsl_admin_response *out, const char *name, const char *value)
{
    if (out->nheaders < TSL_ADMIN_MAX_HEADERS) {
        out->headers[out->nheaders].name = name;
        out->headers[out->nheaders].value = value;
        out->nheaders++;
    }
}

void tslp_admin_response_init(tsl_admin_response *out)
{
    memset(out, 0, sizeof *out);
    tslp_admin_header(out, "Cache-Control", "no-store");
}

tsl_status tslp_json_str(tslp_buf *b, const char *s, size_t n, tsl_error *err)
{
    static const char hex[] = "0123456789abcdef";
    tsl_status r = tslp_buf_reserve(b, n + 2, err);
    if (r != TSL_OK)
        return r;
    b->data[b->len++] = '"';
    size_t run = 0; /* bytes copied as they are, in one append */
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if ((r = tslp_buf_append(b, s + run, k - run, err)) != TSL_OK)
            return r;
        char esc[7] = {'\\', (char)c, 0};
        size_t el = 2;
        if (c < 0x20) {
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        if ((r = tslp_buf_append(b, esc, el, err)) != TSL_OK)
            return r;
        run = k + 1;
    }
    if ((r = tslp_buf_append(b, s + run, n - run, err)) != TSL_OK)
        return r;
    return tslp_buf_append(b, "\"", 1, err);
}

uint8_t *tslp_buf_take_text(tslp_buf *b, size_t *len)
{
    /* take() keeps len bytes only: the NUL goes inside them, then out of the count. */
    if (tslp_buf_append(b, "", 1, NULL) != TSL_OK)
        return NULL;
    uint8_t *p = tslp_buf_take(b, len);
    if (p != NULL)
        (*len)--;
    return p;
}

void tslp_admin_json(tsl_admin_response *out, unsigned status, tslp_buf *b)
{
    size_t len = 0;
    uint8_t *p = tslp_buf_take_text(b, &len);
    if (p == NULL) {
        tslp_admin_fail(out, 500, "internal", "out of memory");
        return;
    }
    out->status = status;
    out->content_type = "application/json";
    out->body = (char *)p;
    out->body_len = len;
}

void tslp_admin_problem(tsl_admin_response *out, const tslp_refusal *r)
{
    tslp_buf b;
    tslp_buf_init(&b, (size_t)64 << 10, "problem");
    tsl_error e;
    tsl_error_clear(&e);
    tsl_status s = tslp_buf_printf(&b, &e, "{\"type\":\"urn:tsl:problem:%s\",\"title\":",
                                   r->cls);
    const char *title = title_of(r->cls);
    if (s == TSL_OK)
        s = tslp_json_str(&b, title, strlen(title), &e);
    if (s == TSL_OK)
        s = tslp_buf_printf(&b, &e, ",\"status\":%u,\"detail\":", r->status);
    /* A detail may quote input (a parser's message): bytes past ASCII become '?', so
     * that the body stays valid UTF-8 whatever the client sent. */
    char detail[sizeof r->detail];
    size_t dl = 0;
    for (; r->detail[dl] != '\0' && dl < sizeof detail - 1; dl++)
        detail[dl] = (unsigned char)r->detail[dl] < 0x80 ? r->detail[dl] : '?';
    detail[dl] = '\0';
    if (s == TSL_OK)
        s = tslp_json_str(&b, detail, dl, &e);
    if (s == TSL_OK && r->field != NULL) {
        s = tslp_buf_printf(&b, &e, ",\"field\":");
        if (s == TSL_OK)
            s = tslp_json_str(&b, r->field, strlen(r->field), &e);
    }
    /* An index past INT64_MAX (outside every list anyway) stays in the detail only:
     * most JSON readers (jansson, Java's long) cannot take it as a number. */
    if (s == TSL_OK && r->has_index && r->index <= (uint64_t)INT64_MAX)
        s = tslp_buf_printf(&b, &e, ",\"index\":%llu", (unsigned long long)r->index);
    if (s == TSL_OK && r->has_line)
        s = tslp_buf_printf(&b, &e, ",\"line\":%llu", (unsigned long long)r->line);
    if (s == TSL_OK && r->has_offset)
        s = tslp_buf_printf(&b, &e, ",\"offset\":%zu", r->offset);
    if (s == TSL_OK)
        s = tslp_buf_append(&b, "}", 1, &e);
    size_t len = 0;
    uint8_t *p = s == TSL_OK ? tslp_buf_take_text(&b, &len) : NULL;
    tslp_buf_free(&b);
    tsl_free(out->body);
    out->body = NULL;
    out->body_len = 0;
    out->content_type = "application/problem+json";
    if (p == NULL) { /* out of memory: the status alone */
        out->status = 500;
        return;
    }
    out->status = r->status;
    out->body = (char *)p;
    out->body_len = len;
    if (r->retry_after > 0) {
        snprintf(out->hbuf_, sizeof out->hbuf_, "%u", r->retry_after);
        tslp_admin_header(out, "Retry-After", out->hbuf_);
    }
    if (r->status == 401)
        tslp_admin_header(out, "WWW-Authenticate", "Bearer");
}

void tslp_admin_fail(tsl_admin_response *out, unsigned status, const char *cls,
                     const char *fmt, ...)
{
    tslp_refusal r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.cls = cls;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.detail, sizeof r.detail, fmt, ap);
    va_end(ap);
    if (status == 503 || status == 429)
        r.retry_after = 1;
    tslp_admin_problem(out, &r);
}

void tslp_admin_store_fail(tsl_admin_response *out, tsl_status code, const tsl_error *err)
{
    const char *msg = err != NULL && err->msg[0] != '\0' ? err->msg : tsl_strerror(code);
    switch (code) {
    case TSL_ERR_IO:
        tslp_admin_fail(out, 503, "unavailable", "%s", msg);
        break;
    case TSL_ERR_NOT_FOUND:
        tslp_admin_fail(out, 404, "not-found", "%s", msg);
        break;
    case TSL_ERR_NOMEM:
        tslp_admin_fail(out, 500, "internal", "out of memory");
        break;
    default:
        tslp_admin_fail(out, 500, "internal", "%s", msg);
        break;
    }
}
