/*
 * geoip.h - MaxMind DB files (libmaxminddb). This part opens and checks the
 * databases named by --geoip and the config, so that a broken file is a
 * clear error at start naming the file, never a crash later. Lookups and
 * the geo detectors that use them build on this.
 */
#ifndef KW_ENRICH_GEOIP_H
#define KW_ENRICH_GEOIP_H

#include <stddef.h>

#include "core/status.h"

struct kw_geoip;

/* Open every file in paths[0..n). On failure err names the file and
 * libmaxminddb's reason. *out is owned by the caller. */
enum kw_status kw_geoip_open(const char *const *paths, size_t n,
			     struct kw_geoip **out, struct kw_error *err);

size_t kw_geoip_count(const struct kw_geoip *g);
/* "GeoIP2-City (built 2019-11-05, IPv6, 1234 nodes): path" into buf. */
void kw_geoip_describe(const struct kw_geoip *g, size_t i, char *buf,
		       size_t cap);

/* NULL-safe. */
void kw_geoip_close(struct kw_geoip *g);

#endif
