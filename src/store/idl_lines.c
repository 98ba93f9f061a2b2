/* idl_lines.c - `tsl update`'s reader for a stored list (tsl_store_batch_add_lines): the
 * lines of tsl_batch_add_lines, and for an identifier list also "HEX STATUS" lines
 * naming an entry by its identifier. The list's permutation key is derived once for the
 * whole input (idl_perm.c), so a file of 10^6 revocations costs 10^6 inversions, not
 * 10^6 store reads; each identifier line is rewritten as "INDEX STATUS..." and parsed
 * by tsl_batch_add_line, so statuses, comments and limits follow one rule. */
#include "store/idl_perm.h"

#include <stdio.h>
#include <string.h>

/* The first field of a line (after blanks): [*at, *at + *n). */
static void first_field(const char *line, size_t len, size_t *at, size_t *n)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t j = i;
    while (j < len && line[j] != ' ' && line[j] != '\t' && line[j] != '#' && line[j] != '\r')
        j++;
    *at = i;
    *n = j - i;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* One line of an identifier list: an identifier field becomes its index. */
static tsl_status idl_line(const tslp_idl_perm *p, uint64_t size, tsl_batch *b,
                           const char *line, size_t len, unsigned long lineno,
                           char buf[TSL_BATCH_MAX_LINE + 32], tsl_error *err)
{
    size_t at, n;
    first_field(line, len, &at, &n);
    /* 2L >= 16 characters: never an index (at most 11 digits), so a digits-only
     * identifier is not misread as one. */
    if (n != 2 * (size_t)p->len || len > TSL_BATCH_MAX_LINE)
        return tsl_batch_add_line(b, line, len, lineno, err);
    uint8_t id[TSL_STORE_ID_MAX];
    for (size_t k = 0; k < p->len; k++) {
        int hi = hexval(line[at + 2 * k]), lo = hexval(line[at + 2 * k + 1]);
        if (hi < 0 || lo < 0)
            return tsl_batch_add_line(b, line, len, lineno, err);
        id[k] = (uint8_t)(hi << 4 | lo);
    }
    uint64_t idx = 0;
    int found = tslp_idl_perm_index(p, id, size, &idx);
    if (found < 0)
        return tslp_fail(err, TSL_ERR_CRYPTO, 0, "identifier list: AES failed");
    if (found == 0)
        return tslp_fail(err, TSL_ERR_NOT_FOUND, 0, "line %lu: %.*s is not one of the "
                         "list's identifiers", lineno, (int)n, line + at);
    int w = snprintf(buf, TSL_BATCH_MAX_LINE + 32, "%llu", (unsigned long long)idx);
    memcpy(buf + w, line + at + n, len - at - n);
    return tsl_batch_add_line(b, buf, (size_t)w + (len - at - n), lineno, err);
}

tsl_status tsl_store_batch_add_lines(tsl_store *st, const char *list, tsl_batch *b,
                                     tsl_lines *r, tsl_progress *pg, uint64_t *lines,
                                     tsl_error *err)
{
    if (st == NULL || list == NULL || b == NULL || r == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "batch: NULL argument");
    tsl_status s = tslp_store_begin(st, false, err);
    if (s != TSL_OK)
        return s;
    tslp_list_row row;
    s = tslp_store_read_row(st, list, &row, err);
    tslp_store_rollback(st);
    if (s != TSL_OK)
        return s;
    bool idl = row.info.formats == TSL_PUBLISH_IDLIST;
    unsigned len = row.info.id_bytes;
    uint64_t size = row.info.size;
    tsl_list_info_free(&row.info);
    tslp_idl_perm p;
    memset(&p, 0, sizeof p);
    if (idl)
        s = tslp_idl_perm_init(&p, row.perm_key, len, err);
    tslp_cleanse(row.perm_key, sizeof row.perm_key);
    if (s != TSL_OK || !idl) {
        tslp_idl_perm_free(&p);
        return s != TSL_OK ? s : tsl_batch_add_lines(b, r, pg, lines, err);
    }
    char buf[TSL_BATCH_MAX_LINE + 32];
    uint64_t bytes = 0;
    char *line;
    size_t n;
    while ((s = tsl_lines_next(r, &line, &n, err)) == TSL_OK && line != NULL) {
        bytes += n + 1;
        unsigned long lineno = tsl_lines_number(r);
        /* A UTF-8 byte order mark opening the input, as tsl_batch_add_lines skips it. */
        if (lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            n -= 3;
        }
        if ((s = idl_line(&p, size, b, line, n, lineno, buf, err)) != TSL_OK)
            break;
        tsl_progress_lines(pg, lineno, bytes);
    }
    tslp_idl_perm_free(&p);
    if (s == TSL_OK && lines != NULL)
        *lines = tsl_lines_number(r);
    return s;
}
