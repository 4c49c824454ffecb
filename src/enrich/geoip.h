/*
 * geoip.h - MaxMind DB files (libmaxminddb): opening and checking them at
 * start, and looking up where a request came from.
 *
 * The one idea: a set of databases (a city or country database, an ASN
 * database, an anonymous-IP database, in the GeoIP2/GeoLite2 layout or the
 * flat ip-location-db layout) answers as one: kw_geoip_lookup() merges what
 * each file knows about an address into one struct kw_geo, and keeps the
 * answer in a bounded per-IP cache, because a key's traffic comes from few
 * addresses and a lookup costs hundreds of nanoseconds.
 *
 * A broken file is a clear error at start naming the file, never a crash
 * later: kw_geoip_open walks real records of every file before it returns.
 */
#ifndef KW_ENRICH_GEOIP_H
#define KW_ENRICH_GEOIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "core/status.h"

/* What the databases know about one address. */
enum {
	KW_GEO_FOUND = 1u << 0,	    /* some database had the address */
	KW_GEO_LOCATION = 1u << 1,  /* lat, lon are set */
	KW_GEO_ANONYMOUS = 1u << 2, /* is_anonymous (VPN, proxy, Tor, ...) */
	KW_GEO_VPN = 1u << 3,	    /* is_anonymous_vpn */
	KW_GEO_TOR = 1u << 4,	    /* is_tor_exit_node */
	KW_GEO_HOSTING = 1u << 5,   /* is_hosting_provider */
	KW_GEO_PROXY = 1u << 6,	    /* is_public_proxy, is_residential_proxy */
};

struct kw_geo {
	char country[3];      /* ISO 3166-1 alpha-2, "" when unknown */
	uint32_t asn;	      /* 0 when unknown */
	char org[64];	      /* AS organisation, "" when unknown; truncated */
	double lat, lon;      /* degrees, when flags & KW_GEO_LOCATION */
	uint16_t accuracy_km; /* location.accuracy_radius; 0 when unknown */
	uint8_t flags;	      /* KW_GEO_* */
};

/* What a database file provides, found from its metadata and records. */
enum kw_geoip_layout {
	KW_GEOIP_GEOIP2 = 1, /* country.iso_code, location.latitude, ... */
	KW_GEOIP_FLAT,	     /* ip-location-db: country_code, latitude */
};

enum {
	KW_GEOIP_HAS_COUNTRY = 1u << 0,
	KW_GEOIP_HAS_LOCATION = 1u << 1,
	KW_GEOIP_HAS_ASN = 1u << 2,
	KW_GEOIP_HAS_ANON = 1u << 3,
};

#define KW_GEOIP_MAX_DBS 8
#define KW_GEOIP_CACHE_DEFAULT 4096

struct kw_geoip;

struct kw_geoip_stats {
	uint64_t lookups;   /* kw_geoip_lookup calls with an address */
	uint64_t hits;	    /* answered from the cache */
	uint64_t db_errors; /* lookups a database failed (counted, not fatal) */
	size_t cache_cap;   /* entries the cache can hold */
	size_t cache_used;  /* entries in use */
};

/* Open every file in paths[0..n) (n may be 0: an empty set that finds
 * nothing) and check each whole. On failure err names the file and the
 * reason ("x.mmdb: broken database: ...", "x.mmdb: no country, location,
 * ASN or anonymous-IP data"). *out is owned by the caller. */
enum kw_status kw_geoip_open(const char *const *paths, size_t n,
			     struct kw_geoip **out, struct kw_error *err);

/* The *.mmdb files in dirs[0..ndirs), each directory in name order, at most
 * cap of them, into out[] (malloc'ed: free each). Missing directories are
 * skipped. Returns how many were found. */
size_t kw_geoip_find(const char *const *dirs, size_t ndirs, char **out,
		     size_t cap);

/* Where geoipupdate writes: /usr/share/GeoIP, /var/lib/GeoIP. */
extern const char *const kw_geoip_default_dirs[];
extern const size_t kw_geoip_ndefault_dirs;

size_t kw_geoip_count(const struct kw_geoip *g);
/* "GeoIP2-City (built 2019-11-05, IPv6, 1234 nodes, GeoIP2 layout:
 * country location): path" into buf. */
void kw_geoip_describe(const struct kw_geoip *g, size_t i, char *buf,
		       size_t cap);
/* The layout and KW_GEOIP_HAS_* of database i. */
enum kw_geoip_layout kw_geoip_layout(const struct kw_geoip *g, size_t i);
unsigned kw_geoip_provides(const struct kw_geoip *g, size_t i);

/* Resize the per-IP cache to cap entries (>= 1; it starts empty again).
 * KW_ENOMEM leaves the old cache. */
enum kw_status kw_geoip_set_cache(struct kw_geoip *g, size_t cap);

/* What the databases know about ip. NULL when g is NULL or holds no
 * database, or ip has no address; otherwise never NULL (flags 0: no database
 * has it). The result lives in the cache: valid until the next kw_geoip_lookup
 * or kw_geoip_set_cache on g. */
const struct kw_geo *kw_geoip_lookup(struct kw_geoip *g,
				     const struct kw_ip *ip);

/* A per-IP cache of one thread's own, for several threads looking up in
 * one set of databases (the databases are only read; the cache is what
 * a lookup writes). cap entries (>= 1). *out is owned by the caller. */
struct kw_geoip_cache;
enum kw_status kw_geoip_cache_create(size_t cap, struct kw_geoip_cache **out);
/* Its counters go to g's (kw_geoip_stats, the debug line at close). g may
 * be NULL. NULL-safe. */
void kw_geoip_cache_destroy(struct kw_geoip_cache *c, struct kw_geoip *g);

/* kw_geoip_lookup through cache c instead of g's own: the result lives in
 * c, valid until the next lookup through c. */
const struct kw_geo *kw_geoip_lookup_in(struct kw_geoip *g,
					struct kw_geoip_cache *c,
					const struct kw_ip *ip);

void kw_geoip_stats(const struct kw_geoip *g, struct kw_geoip_stats *out);

/* NULL-safe. */
void kw_geoip_close(struct kw_geoip *g);

#endif
