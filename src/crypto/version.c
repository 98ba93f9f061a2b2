/* version.c - the version of the OpenSSL library libtsl runs with, for
 * tsl_dependencies() (store/versions.c): only src/crypto sees OpenSSL's headers. */
#include "crypto/crypto.h"

#include <openssl/crypto.h>

const char *tslp_crypto_version(void)
{
    /* The running libcrypto's "3.0.19", not the header's OPENSSL_VERSION_TEXT: a
     * security update of libssl3 changes this without a rebuild of libtsl. */
    return OpenSSL_version(OPENSSL_VERSION_STRING);
}
