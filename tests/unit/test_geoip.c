/*
 * test_geoip.c - GeoIP databases: lookups in the GeoIP2/GeoLite2 layout
 * (City, ASN, Anonymous-IP) and the flat ip-location-db layout (country,
 * city, ASN), which layout and fields each file is found to provide, the
 * merge of several files into one answer, the bounded per-IP cache, the
 * default search (kw_geoip_find), and broken databases: a truncated copy of
 * a fixture always, MaxMind's own broken test files when they are beside
 * the project (../shared/data/maxmind-test), a missing file.
 *
 * The one idea: the fixtures are built at test time by tools/mkgeoip
 * (libmaxmind-db-writer-perl) into a temporary directory, so every value
 * asserted here is one written in that script's table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "enrich/geoip.h"

#define SHARED KW_SOURCE_ROOT "/../shared/data/maxmind-test"

static char dir[64];

static int build_fixtures(void **state)
{
	char cmd[512];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kw_test_geoip_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof(cmd), "perl %s/tools/mkgeoip %s", KW_SOURCE_ROOT,
		 dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int remove_fixtures(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct kw_geoip *open_files(const char *a, const char *b, const char *c)
{
	char p[3][128];
	const char *paths[3];
	const char *names[3] = {a, b, c};
	struct kw_geoip *g = NULL;
	struct kw_error err;
	size_t n = 0;

	for (size_t i = 0; i < 3 && names[i]; i++) {
		snprintf(p[i], sizeof(p[i]), "%s/%s", dir, names[i]);
		paths[n++] = p[i];
	}
	kw_error_clear(&err);
	if (kw_geoip_open(paths, n, &g, &err) != KW_OK)
		fail_msg("%s", err.msg);
	return g;
}

static struct kw_ip ip(const char *s)
{
	struct kw_ip a;

	assert_true(kw_ip_parse(&a, s, strlen(s)));
	return a;
}

static const struct kw_geo *look(struct kw_geoip *g, const char *s)
{
	struct kw_ip a = ip(s);
	const struct kw_geo *r = kw_geoip_lookup(g, &a);

	assert_non_null(r);
	return r;
}

static void test_geoip2_layout(void **state)
{
	struct kw_geoip *g = open_files("city.mmdb", "asn.mmdb", "anon.mmdb");
	const struct kw_geo *r;
	char desc[512], want[512];

	(void)state;
	assert_int_equal(kw_geoip_count(g), 3);
	assert_int_equal(kw_geoip_layout(g, 0), KW_GEOIP_GEOIP2);
	assert_int_equal(kw_geoip_provides(g, 0),
			 KW_GEOIP_HAS_COUNTRY | KW_GEOIP_HAS_LOCATION);
	assert_int_equal(kw_geoip_provides(g, 1), KW_GEOIP_HAS_ASN);
	assert_int_equal(kw_geoip_provides(g, 2), KW_GEOIP_HAS_ANON);
	kw_geoip_describe(g, 0, desc, sizeof(desc));
	snprintf(want, sizeof(want),
		 "GeoIP2-City (built 2025-11-20, IPv6, 446 nodes, GeoIP2 "
		 "layout: country location): %s/city.mmdb",
		 dir);
	assert_string_equal(desc, want);

	r = look(g, "81.2.69.142");
	assert_string_equal(r->country, "GB");
	assert_true(r->lat == 51.5142 && r->lon == -0.0931);
	assert_int_equal(r->accuracy_km, 10);
	assert_int_equal(r->asn, 20712);
	assert_string_equal(r->org, "Andrews & Arnold Ltd");
	assert_int_equal(r->flags, KW_GEO_FOUND | KW_GEO_LOCATION);

	/* A narrower network inside a broad one, with anonymous flags. */
	r = look(g, "185.220.101.34");
	assert_string_equal(r->country, "DE");
	assert_int_equal(r->asn, 60729);
	assert_int_equal(r->flags, KW_GEO_FOUND | KW_GEO_LOCATION |
					   KW_GEO_ANONYMOUS | KW_GEO_TOR |
					   KW_GEO_HOSTING);
	r = look(g, "185.1.2.3");
	assert_int_equal(r->asn, 3320);
	assert_int_equal(r->flags, KW_GEO_FOUND | KW_GEO_LOCATION);
	r = look(g, "146.70.1.1");
	assert_int_equal(r->flags, KW_GEO_FOUND | KW_GEO_LOCATION |
					   KW_GEO_ANONYMOUS | KW_GEO_VPN |
					   KW_GEO_HOSTING);

	/* IPv6, and IPv4-mapped IPv6 (parsed as the IPv4 address). */
	r = look(g, "2001:db8:beef::7");
	assert_string_equal(r->country, "AU");
	assert_int_equal(r->asn, 64511);
	assert_string_equal(look(g, "::ffff:81.2.69.142")->country, "GB");

	/* In no database: found nothing, never NULL. */
	r = look(g, "10.1.2.3");
	assert_string_equal(r->country, "");
	assert_int_equal(r->asn, 0);
	assert_int_equal(r->flags, 0);
	kw_geoip_close(g);
}

static void test_flat_layout(void **state)
{
	struct kw_geoip *g =
		open_files("flat-city.mmdb", "flat-asn.mmdb", "flat-anon.mmdb");
	struct kw_geoip *c = open_files("flat-country.mmdb", NULL, NULL);
	const struct kw_geo *r;

	(void)state;
	assert_int_equal(kw_geoip_layout(g, 0), KW_GEOIP_FLAT);
	assert_int_equal(kw_geoip_provides(g, 0),
			 KW_GEOIP_HAS_COUNTRY | KW_GEOIP_HAS_LOCATION);
	assert_int_equal(kw_geoip_provides(g, 1), KW_GEOIP_HAS_ASN);
	assert_int_equal(kw_geoip_provides(g, 2), KW_GEOIP_HAS_ANON);
	r = look(g, "175.16.199.7");
	assert_string_equal(r->country, "CN");
	assert_true(r->lat == 43.88 && r->lon == 125.3228);
	assert_int_equal(r->accuracy_km, 0); /* the flat layout has none */
	assert_int_equal(r->asn, 4837);
	assert_string_equal(r->org, "CHINA UNICOM China169 Backbone");
	assert_int_equal(r->flags, KW_GEO_FOUND | KW_GEO_LOCATION);
	r = look(g, "185.220.101.35");
	assert_int_equal(r->flags, KW_GEO_FOUND | KW_GEO_LOCATION |
					   KW_GEO_ANONYMOUS | KW_GEO_TOR |
					   KW_GEO_HOSTING);

	/* Country only: no place, no network. */
	assert_int_equal(kw_geoip_layout(c, 0), KW_GEOIP_FLAT);
	assert_int_equal(kw_geoip_provides(c, 0), KW_GEOIP_HAS_COUNTRY);
	r = look(c, "2001:db8::1");
	assert_string_equal(r->country, "IE");
	assert_int_equal(r->asn, 0);
	assert_int_equal(r->flags, KW_GEO_FOUND);
	kw_geoip_close(c);
	kw_geoip_close(g);
}

/* ip-location-db ships IPv4 and IPv6 in separate files: an IPv4-only tree
 * answers IPv4 addresses and is skipped, not an error, for IPv6 ones. */
static void test_ipv4_only(void **state)
{
	struct kw_geoip *g = open_files("flat-country-v4.mmdb", NULL, NULL);
	struct kw_geoip_stats st;
	const struct kw_geo *r;
	char desc[512], want[512];

	(void)state;
	kw_geoip_describe(g, 0, desc, sizeof(desc));
	snprintf(want, sizeof(want),
		 "ip-location-db-country-ipv4 (built 2025-11-20, IPv4, 251 "
		 "nodes, flat layout: country): %s/flat-country-v4.mmdb",
		 dir);
	assert_string_equal(desc, want);
	assert_int_equal(kw_geoip_layout(g, 0), KW_GEOIP_FLAT);
	r = look(g, "81.2.69.142");
	assert_string_equal(r->country, "GB");
	assert_int_equal(r->flags, KW_GEO_FOUND);
	r = look(g, "2001:db8:beef::7");
	assert_string_equal(r->country, "");
	assert_int_equal(r->flags, 0);
	kw_geoip_stats(g, &st);
	assert_int_equal(st.db_errors, 0);
	kw_geoip_close(g);
}

/* Several files answer as one; the first that knows a field gives it. */
static void test_merge(void **state)
{
	struct kw_geoip *g =
		open_files("flat-country.mmdb", "city.mmdb", "asn.mmdb");
	const struct kw_geo *r = look(g, "216.160.83.56");

	(void)state;
	assert_string_equal(r->country, "US");
	assert_true(r->lat == 47.2513);
	assert_int_equal(r->accuracy_km, 22);
	assert_int_equal(r->asn, 209);
	kw_geoip_close(g);
}

static void test_cache_bound(void **state)
{
	struct kw_geoip *g = open_files("city.mmdb", NULL, NULL);
	struct kw_geoip_stats st;
	const struct kw_geo *r1, *r2;
	char a[32];

	(void)state;
	kw_geoip_stats(g, &st);
	assert_int_equal(st.cache_cap, KW_GEOIP_CACHE_DEFAULT);
	assert_int_equal(st.cache_used, 0);
	/* The same address twice: one database lookup, the same answer. */
	r1 = look(g, "81.2.69.142");
	r2 = look(g, "81.2.69.142");
	assert_ptr_equal(r1, r2);
	kw_geoip_stats(g, &st);
	assert_int_equal(st.lookups, 2);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.cache_used, 1);
	/* Many more addresses than the cache holds: it stays at its cap,
	 * and every answer is still right. */
	assert_int_equal(kw_geoip_set_cache(g, 16), KW_OK);
	for (int i = 0; i < 1000; i++) {
		snprintf(a, sizeof(a), "52.%d.%d.1", i / 256, i % 256);
		assert_string_equal(look(g, a)->country, "US");
	}
	kw_geoip_stats(g, &st);
	assert_int_equal(st.cache_cap, 16);
	assert_true(st.cache_used <= 16 && st.cache_used >= 8);
	assert_int_equal(st.lookups, 1002);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.db_errors, 0);
	assert_int_equal(kw_geoip_set_cache(g, 0), KW_EINVAL);
	/* One entry, so every address takes it: an answer is given again
	 * only for the same family and all of the address's bytes (an IPv6
	 * address that starts with an IPv4 one's bytes, or two that differ
	 * in their last byte, are looked up afresh). */
	assert_int_equal(kw_geoip_set_cache(g, 1), KW_OK);
	assert_string_equal(look(g, "81.2.69.142")->country, "GB");
	assert_string_not_equal(look(g, "5102:458e::")->country, "GB");
	assert_string_equal(look(g, "81.2.69.142")->country, "GB");
	assert_string_equal(look(g, "2001:db8:beef::7")->country, "AU");
	look(g, "2001:db8:beef::6");
	look(g, "2001:db8:beef::7");
	kw_geoip_stats(g, &st);
	assert_int_equal(st.hits, 1);
	/* the same address again, and IPv4 written as IPv6 */
	assert_string_equal(look(g, "2001:db8:beef::7")->country, "AU");
	assert_string_equal(look(g, "81.2.69.142")->country, "GB");
	assert_string_equal(look(g, "::ffff:81.2.69.142")->country, "GB");
	kw_geoip_stats(g, &st);
	assert_int_equal(st.hits, 3);
	kw_geoip_close(g);
}

static void test_no_answer(void **state)
{
	struct kw_geoip *g = NULL;
	struct kw_ip none;
	struct kw_ip a = ip("81.2.69.142");
	struct kw_error err;

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_null(kw_geoip_lookup(NULL, &a));
	/* An empty set (no database given) answers nothing. */
	assert_int_equal(kw_geoip_open(NULL, 0, &g, &err), KW_OK);
	assert_int_equal(kw_geoip_count(g), 0);
	assert_null(kw_geoip_lookup(g, &a));
	kw_geoip_close(g);
	g = open_files("city.mmdb", NULL, NULL);
	assert_null(kw_geoip_lookup(g, &none));
	kw_geoip_close(g);
	kw_geoip_close(NULL);
}

static void assert_open_fails(const char *path, enum kw_status want,
			      const char *msg)
{
	struct kw_geoip *g = (struct kw_geoip *)1;
	struct kw_error err;

	kw_error_clear(&err);
	assert_int_equal(kw_geoip_open(&path, 1, &g, &err), want);
	assert_null(g);
	assert_string_equal(err.msg, msg);
}

static void copy_prefix(const char *from, const char *to, long n)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[65536];
	size_t got;

	assert_non_null(in);
	assert_non_null(out);
	got = fread(buf, 1, sizeof(buf), in);
	assert_true(got > (size_t)n);
	assert_int_equal(fwrite(buf, 1, (size_t)n, out), (size_t)n);
	fclose(in);
	fclose(out);
}

static void test_broken(void **state)
{
	char from[128], to[128], msg[512];
	static const char *const shared[] = {
		SHARED "/GeoIP2-City-Test-Broken-Double-Format.mmdb",
		SHARED "/MaxMind-DB-test-broken-pointers-24.mmdb",
	};

	(void)state;
	snprintf(from, sizeof(from), "%s/city.mmdb", dir);
	/* Cut before the metadata: MMDB_open says so. */
	snprintf(to, sizeof(to), "%s/truncated-city.mmdb", dir);
	copy_prefix(from, to, 2000);
	snprintf(msg, sizeof(msg),
		 "%s: The MaxMind DB file contains invalid metadata", to);
	assert_open_fails(to, KW_ECORRUPT, msg);
	unlink(to);
	snprintf(to, sizeof(to), "%s/missing.mmdb", dir);
	snprintf(msg, sizeof(msg), "%s: cannot open: No such file or directory",
		 to);
	assert_open_fails(to, KW_ENOTFOUND, msg);
	/* A FIFO would block libmaxminddb's open() forever: refused. */
	snprintf(to, sizeof(to), "%s/fifo.mmdb", dir);
	assert_int_equal(mkfifo(to, 0600), 0);
	snprintf(msg, sizeof(msg), "%s: not a regular file (a named pipe)", to);
	assert_open_fails(to, KW_EINVAL, msg);
	unlink(to);
	/* Not a database at all. */
	snprintf(to, sizeof(to), "%s/notes.mmdb", dir);
	{
		FILE *f = fopen(to, "w");

		assert_non_null(f);
		fputs("not a database\n", f);
		fclose(f);
	}
	snprintf(msg, sizeof(msg),
		 "%s: The MaxMind DB file contains invalid metadata", to);
	assert_open_fails(to, KW_ECORRUPT, msg);
	unlink(to);

	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
		if (access(shared[i], R_OK) != 0) {
			print_message("skipped: %s is not here\n", shared[i]);
			continue;
		}
		snprintf(msg, sizeof(msg),
			 "%s: broken database: The MaxMind DB file's data "
			 "section contains bad data (unknown data type or "
			 "corrupt data)",
			 shared[i]);
		assert_open_fails(shared[i], KW_ECORRUPT, msg);
	}
}

/* A set is all or nothing: one bad file fails the open, naming it. */
static void test_one_bad_of_several(void **state)
{
	char a[128], b[128], msg[256];
	const char *paths[2] = {a, b};
	struct kw_geoip *g = NULL;
	struct kw_error err;

	(void)state;
	snprintf(a, sizeof(a), "%s/city.mmdb", dir);
	snprintf(b, sizeof(b), "%s/nothing-here.mmdb", dir);
	kw_error_clear(&err);
	assert_int_equal(kw_geoip_open(paths, 2, &g, &err), KW_ENOTFOUND);
	assert_null(g);
	snprintf(msg, sizeof(msg), "%s: cannot open: No such file or directory",
		 b);
	assert_string_equal(err.msg, msg);
}

static void test_find(void **state)
{
	char *found[16];
	char want[128];
	const char *dirs[2] = {"/nonexistent-kw-geoip", dir};
	size_t n;

	(void)state;
	n = kw_geoip_find(dirs, 2, found, 16);
	assert_int_equal(n, 8);
	snprintf(want, sizeof(want), "%s/anon.mmdb", dir);
	assert_string_equal(found[0], want);
	snprintf(want, sizeof(want), "%s/flat-country.mmdb", dir);
	assert_string_equal(found[7], want);
	for (size_t i = 0; i < n; i++)
		free(found[i]);
	/* At most cap. */
	n = kw_geoip_find(dirs, 2, found, 2);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		free(found[i]);
	assert_string_equal(kw_geoip_default_dirs[0], "/usr/share/GeoIP");
	assert_string_equal(kw_geoip_default_dirs[1], "/var/lib/GeoIP");
	assert_int_equal(kw_geoip_ndefault_dirs, 2);
}

/* The databases committed for the golden cases and the demo are the ones
 * tools/mkgeoip makes. */
static void test_committed_fixtures(void **state)
{
	static const char *const names[] = {
		"anon.mmdb",	     "asn.mmdb",
		"city.mmdb",	     "flat-anon.mmdb",
		"flat-asn.mmdb",     "flat-city.mmdb",
		"flat-country.mmdb", "flat-country-v4.mmdb",
	};
	static char a[1 << 16], b[1 << 16];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char pa[256], pb[256];
		FILE *fa, *fb;
		size_t na, nb;

		snprintf(pa, sizeof(pa), "%s/%s", dir, names[i]);
		snprintf(pb, sizeof(pb), "%s/tests/fixtures/geoip/%s",
			 KW_SOURCE_ROOT, names[i]);
		fa = fopen(pa, "rb");
		fb = fopen(pb, "rb");
		assert_non_null(fa);
		assert_non_null(fb);
		na = fread(a, 1, sizeof(a), fa);
		nb = fread(b, 1, sizeof(b), fb);
		fclose(fa);
		fclose(fb);
		if (na != nb || memcmp(a, b, na) != 0)
			fail_msg("%s differs from what tools/mkgeoip makes: "
				 "run tools/mkgeoip tests/fixtures/geoip",
				 pb);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geoip2_layout),
		cmocka_unit_test(test_flat_layout),
		cmocka_unit_test(test_ipv4_only),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_cache_bound),
		cmocka_unit_test(test_no_answer),
		cmocka_unit_test(test_broken),
		cmocka_unit_test(test_one_bad_of_several),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_committed_fixtures),
	};

	return cmocka_run_group_tests(tests, build_fixtures, remove_fixtures);
}
