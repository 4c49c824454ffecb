/*
 * geoip.c - opening MaxMind DB files and checking them whole at start:
 * MMDB_open only reads the metadata, so the data section is walked with
 * MMDB_get_entry_data_list on a lookup of a few addresses to catch a broken
 * search tree or pointers before the scan begins.
 */
#include "enrich/geoip.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_DBS 8

struct kw_geoip {
	MMDB_s db[MAX_DBS];
	char *path[MAX_DBS];
	size_t n;
};

static enum kw_status probe(MMDB_s *db, const char *path, struct kw_error *err)
{
	static const char *const probes[] = {"1.1.1.1", "81.2.69.160",
					     "2001:218::1", "175.16.199.7"};
	MMDB_entry_data_list_s *list = NULL;
	int gai, mmerr;

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		MMDB_lookup_result_s r;

		if (db->metadata.ip_version == 4 && strchr(probes[i], ':'))
			continue;
		r = MMDB_lookup_string(db, probes[i], &gai, &mmerr);
		if (gai != 0)
			continue;
		if (mmerr != MMDB_SUCCESS)
			return kw_error_set(err, KW_ECORRUPT,
					    "%s: broken database: %s", path,
					    MMDB_strerror(mmerr));
		if (!r.found_entry)
			continue;
		mmerr = MMDB_get_entry_data_list(&r.entry, &list);
		MMDB_free_entry_data_list(list);
		list = NULL;
		if (mmerr != MMDB_SUCCESS)
			return kw_error_set(err, KW_ECORRUPT,
					    "%s: broken database: %s", path,
					    MMDB_strerror(mmerr));
	}
	return KW_OK;
}

enum kw_status kw_geoip_open(const char *const *paths, size_t n,
			     struct kw_geoip **out, struct kw_error *err)
{
	struct kw_geoip *g = calloc(1, sizeof(*g));
	enum kw_status st = KW_OK;
	int rc;

	*out = NULL;
	if (!g)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	if (n > MAX_DBS) {
		st = kw_error_set(err, KW_ETOOBIG,
				  "at most %d GeoIP databases can be used",
				  MAX_DBS);
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		rc = MMDB_open(paths[i], MMDB_MODE_MMAP, &g->db[i]);
		if (rc != MMDB_SUCCESS) {
			st = kw_error_set(
				err,
				rc == MMDB_FILE_OPEN_ERROR ? KW_EIO
							   : KW_ECORRUPT,
				"%s: %s", paths[i], MMDB_strerror(rc));
			goto cleanup;
		}
		g->path[i] = strdup(paths[i]);
		g->n++;
		if (!g->path[i]) {
			st = kw_error_set(err, KW_ENOMEM, "out of memory");
			goto cleanup;
		}
		st = probe(&g->db[i], paths[i], err);
		if (st != KW_OK)
			goto cleanup;
	}
cleanup:
	if (st != KW_OK)
		kw_geoip_close(g);
	else
		*out = g;
	return st;
}

size_t kw_geoip_count(const struct kw_geoip *g)
{
	return g ? g->n : 0;
}

void kw_geoip_describe(const struct kw_geoip *g, size_t i, char *buf,
		       size_t cap)
{
	const MMDB_metadata_s *m = &g->db[i].metadata;
	time_t built = (time_t)m->build_epoch;
	struct tm tm;
	char date[16] = "?";

	if (gmtime_r(&built, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	snprintf(buf, cap, "%s (built %s, IPv%u, %u nodes): %s",
		 m->database_type, date, (unsigned)m->ip_version,
		 (unsigned)m->node_count, g->path[i]);
}

void kw_geoip_close(struct kw_geoip *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++) {
		MMDB_close(&g->db[i]);
		free(g->path[i]);
	}
	free(g);
}
