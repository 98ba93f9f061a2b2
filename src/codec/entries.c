/* entries.c - a StatusList built from "IDX VALUE" lines (tsl_list_set_line), the input
 * of `tsl encode`: one entry per line, '#' comments and blank lines allowed, later lines
 * winning, and the list growing to the highest index under a byte bound unless its size
 * is fixed. Each refusal names its line. (`tsl update`'s batches, with ranges and the
 * store's rules, are read by tsl_batch_add_line.) */
#include "core/tsl_int.h"

#include <string.h>

tsl_status tsl_list_set_line(tsl_list *l, char *line, unsigned long lineno,
                             uint64_t max_grow_bytes, uint64_t *idx, int *set, tsl_error *err)
{
    if (l == NULL || line == NULL || idx == NULL || set == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "line: NULL argument");
    *set = 0;
    char *hash = strchr(line, '#');
    if (hash != NULL)
        *hash = '\0';
    char *save = NULL;
    /* A CR before the newline (a file from Windows) is white space here. */
    char *a = strtok_r(line, " \t\r", &save);
    if (a == NULL)
        return TSL_OK;
    char *b = strtok_r(NULL, " \t\r", &save);
    char *c = strtok_r(NULL, " \t\r", &save);
    if (b == NULL || c != NULL)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0, "line %lu: expected \"IDX VALUE\"", lineno);
    if (tsl_u64_parse(a, idx, NULL) != TSL_OK)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "line %lu: index \"%.40s\" is not a non-negative integer", lineno, a);
    unsigned value;
    if (tsl_status_parse(b, strlen(b), &value, NULL) != TSL_OK)
        return tslp_fail(err, TSL_ERR_MALFORMED, 0,
                         "line %lu: status \"%.40s\" is not a number 0-255 or a status name",
                         lineno, b);
    unsigned bits = tsl_list_bits(l);
    if (value >> bits != 0)
        return tslp_fail(err, TSL_ERR_VALUE, 0, "line %lu: value %u does not fit in %u bits",
                         lineno, value, bits);
    if (max_grow_bytes == 0 && *idx >= tsl_list_size(l))
        return tslp_fail(err, TSL_ERR_INDEX, 0, "line %lu: index %llu is out of range (size %llu)",
                         lineno, (unsigned long long)*idx,
                         (unsigned long long)tsl_list_size(l));
    if (max_grow_bytes != 0) {
        tsl_status st = tsl_list_grow(l, *idx, max_grow_bytes, err);
        if (st == TSL_ERR_LIMIT) {
            /* The grow message is replaced by one naming the line and the way out. */
            tsl_error_clear(err);
            return tslp_fail(err, TSL_ERR_LIMIT, 0,
                             "line %lu: index %llu would make the list larger than %llu MiB; "
                             "give --size to allow it",
                             lineno, (unsigned long long)*idx,
                             (unsigned long long)(max_grow_bytes >> 20));
        }
        if (st != TSL_OK)
            return st;
    }
    *set = 1;
    return tsl_list_set(l, *idx, value, err);
}

tsl_status tsl_list_set_lines(tsl_list *l, tsl_lines *r, uint64_t max_grow_bytes,
                              uint64_t *highest, int *any, tsl_error *err)
{
    if (l == NULL || r == NULL || highest == NULL || any == NULL)
        return tslp_fail(err, TSL_ERR_ARG, 0, "list lines: NULL argument");
    *highest = 0;
    *any = 0;
    char *line;
    size_t len;
    tsl_status st;
    while ((st = tsl_lines_next(r, &line, &len, err)) == TSL_OK && line != NULL) {
        uint64_t idx;
        int set;
        st = tsl_list_set_line(l, line, tsl_lines_number(r), max_grow_bytes, &idx, &set, err);
        if (st != TSL_OK)
            break;
        if (set && (!*any || idx > *highest))
            *highest = idx;
        *any |= set;
    }
    return st;
}
