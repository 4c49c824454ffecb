/*
 * geoip.c - MaxMind DB files: opening and checking them whole at start,
 * finding what each provides, and per-IP lookups through a bounded cache.
 *
 * Checking: MMDB_open only reads the metadata, so the search tree is walked
 * (MMDB_read_node) to a few real data records and a few well-known
 * addresses are looked up, and every record reached is decoded whole
 * (MMDB_get_entry_data_list): a broken tree or pointer is found before the
 * scan begins, and the same records tell which layout the file uses.
 *
 * Layouts: GeoIP2/GeoLite2 nest (country.iso_code, location.latitude);
 * ip-location-db is flat (country_code, latitude). ASN and anonymous-IP
 * fields have the same names in both. What a file provides comes from its
 * database_type ("GeoIP2-City", "GeoLite2-ASN", ...) and from the fields
 * its records hold, so a file of another vendor is read for what it has.
 *
 * Cache: direct-mapped, cap entries, indexed by a hash of the address; a
 * miss replaces the slot. A key's traffic comes from few addresses, so most
 * lookups are hits, and memory stays cap * sizeof(entry) whatever the log.
 */
#include "enrich/geoip.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/file.h"
#include "core/log.h"

#define WALK_MAX_NODES 4096
#define WALK_MAX_RECORDS 8

struct cache_ent {
	struct kw_ip ip; /* family 0: empty slot */
	struct kw_geo geo;
};

struct db {
	MMDB_s mmdb;
	char *path;
	enum kw_geoip_layout layout;
	unsigned provides; /* KW_GEOIP_HAS_* */
};

/* The per-IP answers of one thread, and what its lookups counted. */
struct kw_geoip_cache {
	struct cache_ent *ent;
	size_t cap, used;
	uint64_t lookups, hits, db_errors;
};

struct kw_geoip {
	struct db db[KW_GEOIP_MAX_DBS];
	size_t n;
	struct kw_geoip_cache own; /* kw_geoip_lookup's */
	/* What the caches of other threads counted, added when they go. */
	uint64_t lookups, hits, db_errors;
};

const char *const kw_geoip_default_dirs[] = {"/usr/share/GeoIP",
					     "/var/lib/GeoIP"};
const size_t kw_geoip_ndefault_dirs = 2;

/* ------------------------------------------------------- field paths */

static const char *const p_country[] = {"country", "iso_code", NULL};
static const char *const p_regcountry[] = {"registered_country", "iso_code",
					   NULL};
static const char *const p_lat[] = {"location", "latitude", NULL};
static const char *const p_radius_in_map[] = {"accuracy_radius", NULL};
static const char *const p_flat_country[] = {"country_code", NULL};
static const char *const p_flat_lat[] = {"latitude", NULL};
static const char *const p_flat_lon[] = {"longitude", NULL};
static const char *const p_asn[] = {"autonomous_system_number", NULL};
static const char *const p_org[] = {"autonomous_system_organization", NULL};
static const char *const p_anon[] = {"is_anonymous", NULL};
static const char *const p_vpn[] = {"is_anonymous_vpn", NULL};
static const char *const p_tor[] = {"is_tor_exit_node", NULL};
static const char *const p_hosting[] = {"is_hosting_provider", NULL};
static const char *const p_proxy[] = {"is_public_proxy", NULL};
static const char *const p_rproxy[] = {"is_residential_proxy", NULL};

static bool get(MMDB_entry_s *e, const char *const *path, uint32_t type,
		MMDB_entry_data_s *d)
{
	return MMDB_aget_value(e, d, path) == MMDB_SUCCESS && d->has_data &&
	       d->type == type;
}

static bool get_double(MMDB_entry_s *e, const char *const *path, double *out)
{
	MMDB_entry_data_s d;

	if (MMDB_aget_value(e, &d, path) != MMDB_SUCCESS || !d.has_data)
		return false;
	if (d.type == MMDB_DATA_TYPE_DOUBLE)
		*out = d.double_value;
	else if (d.type == MMDB_DATA_TYPE_FLOAT)
		*out = d.float_value;
	else
		return false;
	return true;
}

static bool get_uint(MMDB_entry_s *e, const char *const *path, uint32_t *out)
{
	MMDB_entry_data_s d;

	if (MMDB_aget_value(e, &d, path) != MMDB_SUCCESS || !d.has_data)
		return false;
	if (d.type == MMDB_DATA_TYPE_UINT16)
		*out = d.uint16;
	else if (d.type == MMDB_DATA_TYPE_UINT32)
		*out = d.uint32;
	else
		return false;
	return true;
}

static bool get_bool(MMDB_entry_s *e, const char *const *path)
{
	MMDB_entry_data_s d;

	return get(e, path, MMDB_DATA_TYPE_BOOLEAN, &d) && d.boolean;
}

/* A two-letter code into out (upper case); false when it is not one. */
static bool get_country(MMDB_entry_s *e, const char *const *path, char out[3])
{
	MMDB_entry_data_s d;
	const char *s;

	if (!get(e, path, MMDB_DATA_TYPE_UTF8_STRING, &d) || d.data_size != 2)
		return false;
	s = d.utf8_string;
	for (int i = 0; i < 2; i++) {
		char c = s[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			return false;
		out[i] = c;
	}
	out[2] = '\0';
	return true;
}

static void get_org(MMDB_entry_s *e, char *out, size_t cap)
{
	MMDB_entry_data_s d;
	size_t n;

	if (!get(e, p_org, MMDB_DATA_TYPE_UTF8_STRING, &d))
		return;
	n = d.data_size < cap - 1 ? d.data_size : cap - 1;
	/* Cut at a character boundary, and keep control bytes out. */
	while (n > 0 && n < d.data_size &&
	       ((unsigned char)d.utf8_string[n] & 0xc0) == 0x80)
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d.utf8_string[i];

		out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	out[n] = '\0';
}

/* ------------------------------------------------------------ checking */

/* What one record holds: KW_GEOIP_HAS_* and whether it is flat. */
static unsigned record_provides(MMDB_entry_s *e, bool *flat)
{
	MMDB_entry_data_s d;
	unsigned has = 0;
	double x;
	char cc[3];

	if (get_country(e, p_country, cc) || get_country(e, p_regcountry, cc))
		has |= KW_GEOIP_HAS_COUNTRY;
	if (get_double(e, p_lat, &x))
		has |= KW_GEOIP_HAS_LOCATION;
	if (get_country(e, p_flat_country, cc)) {
		has |= KW_GEOIP_HAS_COUNTRY;
		*flat = true;
	}
	if (get_double(e, p_flat_lat, &x)) {
		has |= KW_GEOIP_HAS_LOCATION;
		*flat = true;
	}
	if (MMDB_aget_value(e, &d, p_asn) == MMDB_SUCCESS && d.has_data)
		has |= KW_GEOIP_HAS_ASN;
	if (get(e, p_anon, MMDB_DATA_TYPE_BOOLEAN, &d) ||
	    get(e, p_tor, MMDB_DATA_TYPE_BOOLEAN, &d) ||
	    get(e, p_hosting, MMDB_DATA_TYPE_BOOLEAN, &d) ||
	    get(e, p_vpn, MMDB_DATA_TYPE_BOOLEAN, &d))
		has |= KW_GEOIP_HAS_ANON;
	return has;
}

static unsigned type_provides(const char *type)
{
	unsigned has = 0;

	if (!type)
		return 0;
	if (strstr(type, "City"))
		has |= KW_GEOIP_HAS_COUNTRY | KW_GEOIP_HAS_LOCATION;
	if (strstr(type, "Country"))
		has |= KW_GEOIP_HAS_COUNTRY;
	if (strstr(type, "ASN") || strstr(type, "ISP"))
		has |= KW_GEOIP_HAS_ASN;
	if (strstr(type, "Anonymous"))
		has |= KW_GEOIP_HAS_ANON;
	return has;
}

/* Decode a record whole; a broken pointer or type shows here. */
static enum kw_status check_record(struct db *d, MMDB_entry_s *e, unsigned *has,
				   bool *flat, struct kw_error *err)
{
	MMDB_entry_data_list_s *list = NULL;
	int rc = MMDB_get_entry_data_list(e, &list);

	MMDB_free_entry_data_list(list);
	if (rc != MMDB_SUCCESS)
		return kw_error_set(err, KW_ECORRUPT, "%s: broken database: %s",
				    d->path, MMDB_strerror(rc));
	*has |= record_provides(e, flat);
	return KW_OK;
}

/* Depth-first from the root to the first few data records. */
static enum kw_status walk(struct db *d, unsigned *has, bool *flat,
			   struct kw_error *err)
{
	uint32_t stack[256];
	size_t sp = 0, visited = 0, records = 0;
	enum kw_status st;

	stack[sp++] = 0;
	while (sp && visited < WALK_MAX_NODES && records < WALK_MAX_RECORDS) {
		MMDB_search_node_s node;
		uint32_t num = stack[--sp];
		int rc;

		visited++;
		rc = MMDB_read_node(&d->mmdb, num, &node);
		if (rc != MMDB_SUCCESS)
			return kw_error_set(err, KW_ECORRUPT,
					    "%s: broken database: %s", d->path,
					    MMDB_strerror(rc));
		for (int side = 1; side >= 0; side--) {
			uint8_t type = side ? node.right_record_type
					    : node.left_record_type;
			uint64_t rec =
				side ? node.right_record : node.left_record;
			MMDB_entry_s *e = side ? &node.right_record_entry
					       : &node.left_record_entry;

			if (type == MMDB_RECORD_TYPE_INVALID)
				return kw_error_set(
					err, KW_ECORRUPT,
					"%s: broken database: invalid record "
					"in node %u",
					d->path, (unsigned)num);
			if (type == MMDB_RECORD_TYPE_DATA) {
				st = check_record(d, e, has, flat, err);
				if (st != KW_OK)
					return st;
				records++;
			} else if (type == MMDB_RECORD_TYPE_SEARCH_NODE &&
				   sp < sizeof(stack) / sizeof(stack[0])) {
				stack[sp++] = (uint32_t)rec;
			}
		}
	}
	return KW_OK;
}

static enum kw_status probe(struct db *d, unsigned *has, bool *flat,
			    struct kw_error *err)
{
	static const char *const probes[] = {"1.1.1.1", "81.2.69.160",
					     "2001:218::1", "175.16.199.7"};
	int gai, mmerr;

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		MMDB_lookup_result_s r;
		enum kw_status st;

		if (d->mmdb.metadata.ip_version == 4 && strchr(probes[i], ':'))
			continue;
		r = MMDB_lookup_string(&d->mmdb, probes[i], &gai, &mmerr);
		if (gai != 0)
			continue;
		if (mmerr != MMDB_SUCCESS)
			return kw_error_set(err, KW_ECORRUPT,
					    "%s: broken database: %s", d->path,
					    MMDB_strerror(mmerr));
		if (!r.found_entry)
			continue;
		st = check_record(d, &r.entry, has, flat, err);
		if (st != KW_OK)
			return st;
	}
	return KW_OK;
}

static enum kw_status open_one(struct db *d, const char *path,
			       struct kw_error *err)
{
	unsigned has = 0;
	bool flat = false;
	enum kw_status st;
	int rc;

	/* libmaxminddb opens the path itself, blocking on a FIFO: only a
	 * regular file gets that far. */
	st = kw_file_check_regular(path, err);
	if (st != KW_OK)
		return st;
	rc = MMDB_open(path, MMDB_MODE_MMAP, &d->mmdb);
	if (rc != MMDB_SUCCESS)
		return kw_error_set(
			err, rc == MMDB_FILE_OPEN_ERROR ? KW_EIO : KW_ECORRUPT,
			"%s: %s", path, MMDB_strerror(rc));
	d->path = strdup(path);
	if (!d->path) {
		MMDB_close(&d->mmdb);
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	}
	st = probe(d, &has, &flat, err);
	if (st == KW_OK)
		st = walk(d, &has, &flat, err);
	if (st == KW_OK && !has)
		has = type_provides(d->mmdb.metadata.database_type);
	else if (st == KW_OK && !flat)
		has |= type_provides(d->mmdb.metadata.database_type);
	if (st == KW_OK && !has)
		st = kw_error_set(err, KW_ECORRUPT,
				  "%s: no country, location, ASN or "
				  "anonymous-IP data (database type '%s')",
				  path, d->mmdb.metadata.database_type);
	d->layout = flat ? KW_GEOIP_FLAT : KW_GEOIP_GEOIP2;
	d->provides = has;
	if (st != KW_OK) {
		MMDB_close(&d->mmdb);
		free(d->path);
		d->path = NULL;
	}
	return st;
}

enum kw_status kw_geoip_open(const char *const *paths, size_t n,
			     struct kw_geoip **out, struct kw_error *err)
{
	struct kw_geoip *g = calloc(1, sizeof(*g));
	enum kw_status st = KW_OK;

	*out = NULL;
	if (!g)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	if (n > KW_GEOIP_MAX_DBS) {
		st = kw_error_set(err, KW_ETOOBIG,
				  "at most %d GeoIP databases can be used",
				  KW_GEOIP_MAX_DBS);
		goto cleanup;
	}
	st = kw_geoip_set_cache(g, KW_GEOIP_CACHE_DEFAULT);
	if (st != KW_OK) {
		kw_error_set(err, st, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		st = open_one(&g->db[i], paths[i], err);
		if (st != KW_OK)
			goto cleanup;
		g->n++;
	}
cleanup:
	if (st != KW_OK)
		kw_geoip_close(g);
	else
		*out = g;
	return st;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t kw_geoip_find(const char *const *dirs, size_t ndirs, char **out,
		     size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < ndirs && n < cap; i++) {
		DIR *dir = opendir(dirs[i]);
		struct dirent *de;
		size_t first = n;

		if (!dir)
			continue;
		while (n < cap && (de = readdir(dir))) {
			size_t len = strlen(de->d_name);
			char path[4096];

			if (de->d_name[0] == '.' || len < 6 ||
			    strcmp(de->d_name + len - 5, ".mmdb") != 0)
				continue;
			if ((size_t)snprintf(path, sizeof(path), "%s/%s",
					     dirs[i],
					     de->d_name) >= sizeof(path))
				continue;
			out[n] = strdup(path);
			if (out[n])
				n++;
		}
		closedir(dir);
		qsort(out + first, n - first, sizeof(*out), by_name);
	}
	return n;
}

size_t kw_geoip_count(const struct kw_geoip *g)
{
	return g ? g->n : 0;
}

enum kw_geoip_layout kw_geoip_layout(const struct kw_geoip *g, size_t i)
{
	return g->db[i].layout;
}

unsigned kw_geoip_provides(const struct kw_geoip *g, size_t i)
{
	return g->db[i].provides;
}

void kw_geoip_describe(const struct kw_geoip *g, size_t i, char *buf,
		       size_t cap)
{
	const struct db *d = &g->db[i];
	const MMDB_metadata_s *m = &d->mmdb.metadata;
	time_t built = (time_t)m->build_epoch;
	struct tm tm;
	char date[16] = "?";

	if (gmtime_r(&built, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	snprintf(buf, cap,
		 "%s (built %s, IPv%u, %u nodes, %s layout:%s%s%s%s): %s",
		 m->database_type, date, (unsigned)m->ip_version,
		 (unsigned)m->node_count,
		 d->layout == KW_GEOIP_FLAT ? "flat" : "GeoIP2",
		 d->provides & KW_GEOIP_HAS_COUNTRY ? " country" : "",
		 d->provides & KW_GEOIP_HAS_LOCATION ? " location" : "",
		 d->provides & KW_GEOIP_HAS_ASN ? " asn" : "",
		 d->provides & KW_GEOIP_HAS_ANON ? " anonymous" : "", d->path);
}

/* ------------------------------------------------------------- lookups */

enum kw_status kw_geoip_set_cache(struct kw_geoip *g, size_t cap)
{
	struct cache_ent *c;

	if (cap < 1)
		return KW_EINVAL;
	c = calloc(cap, sizeof(*c));
	if (!c)
		return KW_ENOMEM;
	free(g->own.ent);
	g->own.ent = c;
	g->own.cap = cap;
	g->own.used = 0;
	return KW_OK;
}

enum kw_status kw_geoip_cache_create(size_t cap, struct kw_geoip_cache **out)
{
	struct kw_geoip_cache *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c || cap < 1) {
		free(c);
		return c ? KW_EINVAL : KW_ENOMEM;
	}
	c->ent = calloc(cap, sizeof(*c->ent));
	if (!c->ent) {
		free(c);
		return KW_ENOMEM;
	}
	c->cap = cap;
	*out = c;
	return KW_OK;
}

void kw_geoip_cache_destroy(struct kw_geoip_cache *c, struct kw_geoip *g)
{
	if (!c)
		return;
	if (g) {
		g->lookups += c->lookups;
		g->hits += c->hits;
		g->db_errors += c->db_errors;
	}
	free(c->ent);
	free(c);
}

/* The bytes of an IPv4 (4) or IPv6 (16) address as two words, zero past
 * the four of IPv4 whatever addr holds there. */
static inline void ip_words(const struct kw_ip *ip, uint64_t w[2])
{
	if (ip->family == 4) {
		uint32_t v;

		memcpy(&v, ip->addr, 4);
		w[0] = v;
		w[1] = 0;
	} else {
		memcpy(w, ip->addr, 16);
	}
}

/* A hash of the address's words (and family) that spreads them over the
 * cache: two multiply-xorshift rounds. */
static inline uint64_t ip_hash(const uint64_t w[2], uint8_t family)
{
	uint64_t h = (w[0] ^ family) * UINT64_C(0x9e3779b97f4a7c15);

	h = (h ^ (h >> 32) ^ w[1]) * UINT64_C(0xbf58476d1ce4e5b9);
	return h ^ (h >> 29);
}

/* Latitude, longitude and radius. In the GeoIP2 layout they share the
 * "location" map: it is found once and read from there, since every
 * MMDB_aget_value from the record's root decodes the maps before it. */
static void get_location(MMDB_entry_s *e, bool flat, struct kw_geo *geo)
{
	static const char *const p_location[] = {"location", NULL};
	MMDB_entry_s loc = *e;
	MMDB_entry_data_s d;
	uint32_t u = 0;
	bool ok;

	if (!flat) {
		if (!get(e, p_location, MMDB_DATA_TYPE_MAP, &d))
			return;
		loc.offset = d.offset;
	}
	ok = get_double(&loc, p_flat_lat, &geo->lat) &&
	     get_double(&loc, p_flat_lon, &geo->lon) && geo->lat >= -90 &&
	     geo->lat <= 90 && geo->lon >= -180 && geo->lon <= 180;
	if (!ok)
		return;
	geo->flags |= KW_GEO_LOCATION;
	if (!flat && get_uint(&loc, p_radius_in_map, &u))
		geo->accuracy_km = u > UINT16_MAX ? UINT16_MAX : (uint16_t)u;
}

static void from_db(struct db *d, MMDB_entry_s *e, struct kw_geo *geo)
{
	bool flat = d->layout == KW_GEOIP_FLAT;
	uint32_t u;

	geo->flags |= KW_GEO_FOUND;
	if ((d->provides & KW_GEOIP_HAS_COUNTRY) && !geo->country[0]) {
		if (flat)
			get_country(e, p_flat_country, geo->country);
		else if (!get_country(e, p_country, geo->country))
			get_country(e, p_regcountry, geo->country);
	}
	if ((d->provides & KW_GEOIP_HAS_LOCATION) &&
	    !(geo->flags & KW_GEO_LOCATION))
		get_location(e, flat, geo);
	if ((d->provides & KW_GEOIP_HAS_ASN) && !geo->asn &&
	    get_uint(e, p_asn, &u)) {
		geo->asn = u;
		get_org(e, geo->org, sizeof(geo->org));
	}
	if (d->provides & KW_GEOIP_HAS_ANON) {
		if (get_bool(e, p_anon))
			geo->flags |= KW_GEO_ANONYMOUS;
		if (get_bool(e, p_vpn))
			geo->flags |= KW_GEO_VPN;
		if (get_bool(e, p_tor))
			geo->flags |= KW_GEO_TOR;
		if (get_bool(e, p_hosting))
			geo->flags |= KW_GEO_HOSTING;
		if (get_bool(e, p_proxy) || get_bool(e, p_rproxy))
			geo->flags |= KW_GEO_PROXY;
	}
}

static void lookup_all(struct kw_geoip *g, struct kw_geoip_cache *c,
		       const struct kw_ip *ip, struct kw_geo *geo)
{
	struct sockaddr_storage ss;
	int mmerr;

	memset(&ss, 0, sizeof(ss));
	if (ip->family == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, ip->addr, 4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, ip->addr, 16);
	}
	memset(geo, 0, sizeof(*geo));
	for (size_t i = 0; i < g->n; i++) {
		MMDB_lookup_result_s r;

		if (ip->family == 6 && g->db[i].mmdb.metadata.ip_version == 4)
			continue;
		r = MMDB_lookup_sockaddr(&g->db[i].mmdb,
					 (const struct sockaddr *)&ss, &mmerr);
		if (mmerr != MMDB_SUCCESS) {
			c->db_errors++;
			continue;
		}
		if (r.found_entry)
			from_db(&g->db[i], &r.entry, geo);
	}
}

const struct kw_geo *kw_geoip_lookup_in(struct kw_geoip *g,
					struct kw_geoip_cache *cache,
					const struct kw_ip *ip)
{
	struct cache_ent *c;
	uint64_t w[2], cw[2];

	if (!g || !g->n || !ip || (ip->family != 4 && ip->family != 6))
		return NULL;
	cache->lookups++;
	ip_words(ip, w);
	c = &cache->ent[ip_hash(w, ip->family) % cache->cap];
	if (c->ip.family == ip->family) {
		ip_words(&c->ip, cw);
		if (cw[0] == w[0] && cw[1] == w[1]) {
			cache->hits++;
			return &c->geo;
		}
	}
	if (!c->ip.family)
		cache->used++;
	memset(&c->ip, 0, sizeof(c->ip));
	c->ip.family = ip->family;
	memcpy(c->ip.addr, ip->addr, ip->family == 4 ? 4 : 16);
	lookup_all(g, cache, ip, &c->geo);
	return &c->geo;
}

const struct kw_geo *kw_geoip_lookup(struct kw_geoip *g, const struct kw_ip *ip)
{
	return g ? kw_geoip_lookup_in(g, &g->own, ip) : NULL;
}

void kw_geoip_stats(const struct kw_geoip *g, struct kw_geoip_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!g)
		return;
	out->lookups = g->lookups + g->own.lookups;
	out->hits = g->hits + g->own.hits;
	out->db_errors = g->db_errors + g->own.db_errors;
	out->cache_cap = g->own.cap;
	out->cache_used = g->own.used;
}

void kw_geoip_close(struct kw_geoip *g)
{
	struct kw_geoip_stats st;

	if (!g)
		return;
	kw_geoip_stats(g, &st);
	if (st.lookups)
		kw_log_debug("geoip",
			     "%llu lookups, %llu from the cache (%.1f%%), %llu "
			     "failed in a database",
			     (unsigned long long)st.lookups,
			     (unsigned long long)st.hits,
			     100.0 * (double)st.hits / (double)st.lookups,
			     (unsigned long long)st.db_errors);
	for (size_t i = 0; i < g->n; i++) {
		MMDB_close(&g->db[i].mmdb);
		free(g->db[i].path);
	}
	free(g->own.ent);
	free(g);
}
