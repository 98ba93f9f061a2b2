/* version.c - `tsl --version`: the command's version, then one line per library it
 * runs with, "NAME VERSION": libtsl's own dependencies (tsl_dependencies()), then the
 * two only the command links, libmicrohttpd and GnuTLS (tsl serve). A version marked
 * "(compiled)" is the one built against: that library has no call that tells. */
#include "cli.h"

#include <gnutls/gnutls.h>
#include <microhttpd.h>

int cli_version(void)
{
    printf("tsl %s\n", TSL_VERSION);
    /* The command links libtsl statically, so this is the same version; printed
     * anyway, as a program linked to libtsl.so would print it. */
    printf("libtsl %s\n", tsl_version());
    size_t n = 0;
    const tsl_dependency *d = tsl_dependencies(&n);
    for (size_t k = 0; k < n; k++)
        printf("%s %s%s\n", d[k].name, d[k].version, d[k].compiled ? " (compiled)" : "");
    const char *mhd = MHD_get_version();
    const char *gt = gnutls_check_version(NULL);
    printf("libmicrohttpd %s\n", mhd != NULL ? mhd : "unknown");
    printf("GnuTLS %s\n", gt != NULL ? gt : "unknown");
    return cli_flush("--version", EXIT_OK, true, "");
}
