/* publish_int.h - the entry to the publish group (src/publish): the uri rules, the
 * HTTP header helpers and the publisher's shared rules (gzip, ETag, dates, max-age,
 * 406 body, aggregation document), all declared public in tsl.h; this header is where
 * the group's internal declarations go. */
#ifndef TSL_PUBLISH_INT_H
#define TSL_PUBLISH_INT_H

#include "core/tsl_int.h"

#endif /* TSL_PUBLISH_INT_H */
