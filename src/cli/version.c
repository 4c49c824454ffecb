/*
 * version.c - `keywatch version`: the version and the libraries it runs on.
 */
#include <jansson.h>
#include <maxminddb.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <zlib.h>

#include "cli/cli.h"
#include "kw_config.h"

#if KW_HAVE_ZSTD
#include <zstd.h>
#endif

int kw_cli_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("keywatch %s\n", KW_VERSION);
	printf("zlib %s, jansson %s, libmaxminddb %s, %s", zlibVersion(),
	       jansson_version_str(), MMDB_lib_version(),
	       OpenSSL_version(OPENSSL_VERSION));
#if KW_HAVE_ZSTD
	printf(", zstd %s", ZSTD_versionString());
#endif
	putchar('\n');
	return KW_EXIT_OK;
}
