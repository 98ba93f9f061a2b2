/* openapi.c - the OpenAPI 3.1 document of the issuer API, served at
 * GET /v1/openapi.json: api/openapi.json, compiled in by the Makefile as a byte array
 * (build/gen/openapi_json.h, made with od and awk), so that the document served is
 * always the one committed beside the code. */
#include "admin/admin_int.h"

#include "openapi_json.h" /* generated: tslp_openapi_json[], NUL-terminated */

const char *tsl_admin_openapi(size_t *len)
{
    if (len != NULL)
        *len = sizeof tslp_openapi_json - 1;
    return (const char *)tslp_openapi_json;
}
