/* gate_int.h - the pure parts of the connection gate (gate.c), for its unit tests: where
 * a request head ends in the bytes received so far, and the judgement of a whole head. */
#ifndef TSL_GATE_INT_H
#define TSL_GATE_INT_H

#include "core/tsl_int.h"

/* What the gate learnt from a head, for its answer and the access log. Pointers go into
 * the head bytes. */
typedef struct {
    const char *method, *target;
    size_t mlen, tlen;
    bool is_head;
} tslp_head_info;

/* The end of the head in p[0..n) (the offset after its empty line), or 0 when it has
 * not all arrived. *start is set past the empty lines allowed before a request line. */
size_t tslp_gate_head_end(const char *p, size_t n, size_t *start);

/* Judges the head p[start..end) (end from tslp_gate_head_end): 0 to hand it on, else
 * the HTTP status to answer and *why, a line of static text. A body declared over
 * body_max for GET, HEAD or OPTIONS is 413. */
unsigned tslp_gate_parse(const char *p, size_t start, size_t end, uint64_t body_max,
                         tslp_head_info *hi, const char **why);

#endif /* TSL_GATE_INT_H */
