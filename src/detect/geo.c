/*
 * geo.c - the geo family: where a key is used from.
 *
 *   geo.new_ip               an address never seen for the key
 *   geo.new_network          an autonomous system (ASN) never seen for it
 *   geo.new_country          a country never seen for it
 *   geo.impossible_travel    two consecutive places farther apart than
 *                            max_kmh allows in the time between them
 *   geo.country_not_allowed  (policy) outside the key's allow_countries
 *
 * The learned four watch server-side keys (secret, restricted, AWS), and
 * publishable keys only with "geo_publishable": true, since customers'
 * browsers come from everywhere. Each key learns for cfg->learn from its
 * first event (event time) before any of them speaks.
 *
 * The one idea: memory per key is fixed. The first few IPs, networks
 * (/24, /48), ASNs, countries and places are remembered, in the order
 * first seen; past that, each kind goes into a small Bloom filter (a
 * compact summary that never forgets, and may rarely call a new thing
 * known). Addresses and networks are only ever asked "seen before?", so
 * they are kept as 32-bit hashes (a new address taken for one of eight
 * known ones about once in 500 million); the ASNs and countries are kept
 * as they are (alerts list them), and places as quantised coordinates
 * (about 300 m apart in latitude, 600 m in longitude at the equator, far
 * inside the 150 km that makes one place). The last placed request, which
 * an impossible-travel alert names, is kept whole. What a report shows of
 * a key's addresses and networks is kept by the report
 * (state/keyreport.h), only when one is asked for.
 *
 * Severity follows what is new: an address inside a network and country
 * the key already uses is servers scaling out, never above low; a new
 * network or country is more; an anonymous network, a Tor exit, or a
 * hosting provider the key never used raises it one step.
 *
 * Impossible travel compares a request's place with the key's previous
 * placed request: the distance less both accuracy radii, over the time
 * between them. A place the key already uses (within PLACE_KM) is not
 * travel, so a key that runs in two regions is not travelling between them.
 * Whether a place is known is mostly decided without trigonometry
 * (geodist.h), so the haversine runs only for a new place.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/time.h"
#include "detect/detector.h"
#include "detect/geodist.h"
#include "enrich/geoip.h"

#define GEO_IPS 8
#define GEO_NETS 8
#define GEO_ASNS 8
#define GEO_COUNTRIES 8
#define GEO_PLACES 4
#define ROAM_NETS 4    /* fewest networks, each fresh, that make a key roam */
#define PLACE_KM 150.0 /* one place: within this of its first location */
#define MIN_TRAVEL_KM 50.0 /* closer than this (beyond accuracy) is no trip */
#define DEFAULT_MAX_KMH 1000.0

enum {
	D_NEW_IP,
	D_NEW_NETWORK,
	D_NEW_COUNTRY,
	D_TRAVEL,
	D_COUNTRY_NOT_ALLOWED,
	D_MAX
};

static const char *const names[] = {
	"geo.new_ip",
	"geo.new_network",
	"geo.new_country",
	"geo.impossible_travel",
	"geo.country_not_allowed",
	NULL,
};

static const struct kw_option options[] = {
	{"max_kmh", KW_OPT_NUMBER, "1000",
	 "geo.impossible_travel: fastest believable travel, km/h", "1000000"},
	{NULL, 0, NULL, NULL},
};

struct geo {
	const struct kw_config *cfg;
	bool on[D_MAX];
	double max_kmh;
	bool said_no_db;
};

/* A place: degrees times LAT_Q and LON_Q, rounded (|value| <= Q_MAX). */
#define LAT_Q 364.0
#define LON_Q 182.0
#define Q_MAX 32760

struct geo_place {
	int16_t lat, lon;
};

/* A key's memory. Plain bytes, zeroed when the key is created. Layout
 * version 3 (state_version), 440 bytes: what every key needs (struct
 * geo_state, 72 bytes), then two overflow parts that a key table gives a
 * key only when it first needs them: what the databases said of its
 * requests (struct geo_loc, 112 bytes: nothing without a database), and
 * the Bloom filters of its lists past eight (struct geo_more, 256).
 * Version 2 had the same fields in another order, with the databases'
 * in every key's slice (struct geo_v2: upgraded); version 1 kept the
 * first IPs and networks as they are and places as floats, in 592
 * bytes. */
struct geo_state {
	uint32_t total_ips; /* distinct IPs, counting the summarised ones */
	uint8_t nips, nnets;
	uint8_t roamed; /* 1: its networks while it learnt make it roam
			   (roams_by()), decided as it learns */
	uint8_t pad;
	uint32_t ips[GEO_IPS];	 /* hashes of the first IPs (ip_hash) */
	uint32_t nets[GEO_NETS]; /* of their first networks (net_hash) */
	/* Where the parts are when the state is whole (a state file, a
	 * family driven on its own): struct geo_loc, then struct geo_more.
	 * In a key table they are apart (kw_detector_ops.parts). */
	uint8_t parts[];
};

/* What the databases (or the log's own country) said of the key's
 * requests: made at its first request whose answer has something to
 * keep (an ASN, a country, a hosting flag or a place). */
struct geo_loc {
	int64_t last_ts; /* of the last request with a place */
	float last_lat, last_lon;
	uint16_t last_acc;
	char last_country[2];
	uint8_t last_ip[16];
	uint8_t last_family; /* 0: none */
	uint8_t has_last, seen_hosting;
	uint8_t nasns, ncountries, nplaces, next_place;
	uint8_t pad;
	char countries[GEO_COUNTRIES][2];
	uint32_t asns[GEO_ASNS];
	struct geo_place places[GEO_PLACES];
};

/* What summarises a list once it is full, which most keys never need:
 * Bloom filters of the IPs, networks, ASNs and countries past the first
 * eight of each. */
struct geo_more {
	uint8_t bloom_ips[128], bloom_nets[64], bloom_asns[32],
		bloom_countries[32];
};

/* The overflow parts, in the order of their places. */
enum { PART_LOC, PART_MORE };

#define LOC_AT sizeof(struct geo_state)
#define MORE_AT (LOC_AT + sizeof(struct geo_loc))
/* The state's size: unchanged from layout version 2. */
#define GEO_STATE_SIZE 440
_Static_assert(sizeof(struct geo_state) == 72 && sizeof(struct geo_loc) == 112,
	       "layout version 3");
_Static_assert(MORE_AT + sizeof(struct geo_more) == GEO_STATE_SIZE,
	       "the whole state is the slice and both parts in order");

/* Layout version 2, which a state file may hold: the fields above in one
 * struct, the filters (struct geo_more) at more. */
struct geo_v2 {
	int64_t last_ts;
	float last_lat, last_lon;
	uint32_t total_ips;
	uint16_t last_acc;
	char last_country[2];
	uint8_t last_ip[16];
	uint8_t last_family;
	uint8_t has_last, seen_hosting;
	uint8_t roamed;
	uint8_t nips, nnets, nasns, ncountries, nplaces, next_place;
	char countries[GEO_COUNTRIES][2];
	uint32_t ips[GEO_IPS];
	uint32_t nets[GEO_NETS];
	uint32_t asns[GEO_ASNS];
	struct geo_place places[GEO_PLACES];
	uint8_t more[];
};

_Static_assert(offsetof(struct geo_v2, more) == 180 &&
		       offsetof(struct geo_v2, more) +
				       sizeof(struct geo_more) <=
			       GEO_STATE_SIZE,
	       "layout version 2");

/* ------------------------------------------------------------ the family */

static enum kw_status geo_create(const struct kw_detector_env *env, void **self,
				 struct kw_error *err)
{
	struct geo *g = calloc(1, sizeof(*g));
	const json_t *o = kw_detect_options(env->cfg, "geo.impossible_travel");
	const json_t *v = o ? json_object_get(o, "max_kmh") : NULL;

	if (!g)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	g->cfg = env->cfg;
	for (int i = 0; i < D_MAX; i++)
		g->on[i] = kw_detect_enabled(env->cfg, names[i]);
	g->max_kmh = v ? json_number_value(v) : DEFAULT_MAX_KMH;
	if (g->max_kmh <= 0) {
		free(g);
		return kw_error_set(err, KW_ECONFIG,
				    "%s: detectors.geo.impossible_travel."
				    "max_kmh: must be above 0",
				    env->cfg->file);
	}
	*self = g;
	return KW_OK;
}

static void geo_destroy(void *self)
{
	free(self);
}

/* ------------------------------------------------------------ the memory */

static uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325u ^ seed;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3u;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdu;
	return h ^ (h >> 33);
}

/* A Bloom filter of nbytes, three bits per item. */
static bool bloom_has(const uint8_t *bloom, size_t nbytes, uint64_t h)
{
	for (int i = 0; i < 3; i++) {
		size_t bit = (size_t)((h >> (i * 20)) % (nbytes * 8));

		if (!(bloom[bit / 8] & (1u << (bit % 8))))
			return false;
	}
	return true;
}

static void bloom_add(uint8_t *bloom, size_t nbytes, uint64_t h)
{
	for (int i = 0; i < 3; i++) {
		size_t bit = (size_t)((h >> (i * 20)) % (nbytes * 8));

		bloom[bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
}

static size_t ip_len(const struct kw_ip *ip)
{
	return ip->family == 4 ? 4 : 16;
}

/* The hashes a list keeps (the low half) and a Bloom filter takes. */
static uint32_t low(uint64_t h)
{
	return (uint32_t)h;
}

static uint64_t ip_hash(const struct kw_ip *ip)
{
	return hash_bytes(ip->addr, ip_len(ip), ip->family);
}

static bool has_in(const uint32_t *list, size_t n, uint32_t h)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == h)
			return true;
	}
	return false;
}

/* The functions below take the key's overflow part as m: NULL when no
 * list of the key is full (the filters are empty), or when there was no
 * memory for it (the filters forget). */

static inline bool has_ip(const struct geo_state *s, const struct geo_more *m,
			  const struct kw_ip *ip)
{
	uint64_t h = ip_hash(ip);

	return has_in(s->ips, s->nips, low(h)) ||
	       (s->nips == GEO_IPS && m &&
		bloom_has(m->bloom_ips, sizeof(m->bloom_ips), h));
}

static void add_ip(struct geo_state *s, struct geo_more *m,
		   const struct kw_ip *ip)
{
	uint64_t h = ip_hash(ip);

	if (s->total_ips < UINT32_MAX)
		s->total_ips++;
	if (s->nips < GEO_IPS) {
		s->ips[s->nips++] = low(h);
		return;
	}
	if (m)
		bloom_add(m->bloom_ips, sizeof(m->bloom_ips), h);
}

/* The hash of the /24 (IPv4) or /48 (IPv6) an address is in. */
static uint64_t net_hash(const struct kw_ip *ip)
{
	uint8_t net[8] = {0};

	net[0] = ip->family;
	memcpy(net + 1, ip->addr, ip->family == 4 ? 3 : 6);
	return hash_bytes(net, 8, 1);
}

static bool has_net(const struct geo_state *s, const struct geo_more *m,
		    uint64_t h)
{
	return has_in(s->nets, s->nnets, low(h)) ||
	       (s->nnets == GEO_NETS && m &&
		bloom_has(m->bloom_nets, sizeof(m->bloom_nets), h));
}

static void add_net(struct geo_state *s, struct geo_more *m, uint64_t h)
{
	if (has_net(s, m, h))
		return;
	if (s->nnets < GEO_NETS)
		s->nets[s->nnets++] = low(h);
	else if (m)
		bloom_add(m->bloom_nets, sizeof(m->bloom_nets), h);
}

static bool has_asn(const struct geo_loc *l, const struct geo_more *m,
		    uint32_t asn)
{
	for (size_t i = 0; i < l->nasns; i++) {
		if (l->asns[i] == asn)
			return true;
	}
	return l->nasns == GEO_ASNS && m &&
	       bloom_has(m->bloom_asns, sizeof(m->bloom_asns),
			 hash_bytes(&asn, sizeof(asn), 2));
}

static void add_asn(struct geo_loc *l, struct geo_more *m, uint32_t asn)
{
	if (!asn || has_asn(l, m, asn))
		return;
	if (l->nasns < GEO_ASNS)
		l->asns[l->nasns++] = asn;
	else if (m)
		bloom_add(m->bloom_asns, sizeof(m->bloom_asns),
			  hash_bytes(&asn, sizeof(asn), 2));
}

static bool has_country(const struct geo_loc *l, const struct geo_more *m,
			const char *cc)
{
	for (size_t i = 0; i < l->ncountries; i++) {
		if (!memcmp(l->countries[i], cc, 2))
			return true;
	}
	return l->ncountries == GEO_COUNTRIES && m &&
	       bloom_has(m->bloom_countries, sizeof(m->bloom_countries),
			 hash_bytes(cc, 2, 3));
}

static void add_country(struct geo_loc *l, struct geo_more *m, const char *cc)
{
	if (!cc[0] || has_country(l, m, cc))
		return;
	if (l->ncountries < GEO_COUNTRIES)
		memcpy(l->countries[l->ncountries++], cc, 2);
	else if (m)
		bloom_add(m->bloom_countries, sizeof(m->bloom_countries),
			  hash_bytes(cc, 2, 3));
}

/* The key's filters, made now when one of its lists is full: only then
 * does any of the functions above read or write a filter. l is NULL for
 * a request without an answer, which only the IP and network lists see. */
static inline struct geo_more *more_of(struct geo_state *s,
				       const struct geo_loc *l,
				       struct kw_keyent *key,
				       const struct kw_emit *emit)
{
	if (s->nips < GEO_IPS && s->nnets < GEO_NETS &&
	    (!l || (l->nasns < GEO_ASNS && l->ncountries < GEO_COUNTRIES)))
		return NULL;
	return kw_detect_overflow(emit, &kw_detect_geo, PART_MORE, key, s,
				  true);
}

/* What a key without a struct geo_loc reads: zeroes, as the part would. */
static const struct geo_loc no_loc;

/* Whether an answer has anything struct geo_loc keeps. */
static bool loc_keeps(const struct kw_geo *g)
{
	return g->asn || g->country[0] ||
	       (g->flags & (KW_GEO_HOSTING | KW_GEO_LOCATION));
}

static int16_t quantise(double deg, double q)
{
	double v = round(deg * q);

	return (int16_t)(v > Q_MAX ? Q_MAX : v < -Q_MAX ? -Q_MAX : v);
}

/* A place the key uses within PLACE_KM (plus the accuracy radius) of g. */
static inline bool has_place(const struct geo_loc *l, const struct kw_geo *g)
{
	for (size_t i = 0; i < l->nplaces; i++) {
		if (kw_detect_geodist_within(l->places[i].lat / LAT_Q,
					     l->places[i].lon / LON_Q, g->lat,
					     g->lon, PLACE_KM + g->accuracy_km))
			return true;
	}
	return false;
}

/* The newest place replaces the oldest once all slots are used. */
static void add_place(struct geo_loc *l, const struct kw_geo *g)
{
	struct geo_place *p;

	if (has_place(l, g))
		return;
	p = &l->places[l->next_place];
	p->lat = quantise(g->lat, LAT_Q);
	p->lon = quantise(g->lon, LON_Q);
	l->next_place = (uint8_t)((l->next_place + 1) % GEO_PLACES);
	if (l->nplaces < GEO_PLACES)
		l->nplaces++;
}

/* ----------------------------------------------------------- the alerts */

static enum kw_severity step(enum kw_severity s, int by)
{
	int v = (int)s + by;

	if (v < KW_SEV_INFO)
		v = KW_SEV_INFO;
	if (v > KW_SEV_CRITICAL)
		v = KW_SEV_CRITICAL;
	return (enum kw_severity)v;
}

/* Test-mode keys are one step lower, as for the policy detectors. */
static enum kw_severity for_key(enum kw_severity s, const struct kw_keyent *key)
{
	return key->mode == KW_MODE_TEST ? step(s, -1) : s;
}

static bool anonymous(const struct kw_geo *g)
{
	return g && (g->flags & (KW_GEO_ANONYMOUS | KW_GEO_VPN | KW_GEO_TOR |
				 KW_GEO_PROXY));
}

/* A hosting provider the key never used before (l: NULL when g is). */
static bool new_hosting(const struct geo_loc *l, const struct kw_geo *g)
{
	return g && (g->flags & KW_GEO_HOSTING) && !l->seen_hosting;
}

static void add_network_evidence(struct kw_alert *a, const struct kw_geo *g)
{
	json_t *flags;
	char asn[16];

	if (!g)
		return;
	if (g->country[0])
		kw_alert_evidence_str(a, "country", kw_str_c(g->country));
	if (g->asn) {
		snprintf(asn, sizeof(asn), "AS%u", (unsigned)g->asn);
		kw_alert_evidence_str(a, "network", kw_str_c(asn));
		kw_alert_evidence_str(a, "org", kw_str_c(g->org));
	}
	if (!(g->flags & (KW_GEO_ANONYMOUS | KW_GEO_VPN | KW_GEO_TOR |
			  KW_GEO_HOSTING | KW_GEO_PROXY)))
		return;
	flags = json_array();
	if (g->flags & KW_GEO_ANONYMOUS)
		kw_alert_list_add(&flags, json_string("anonymous"));
	if (g->flags & KW_GEO_VPN)
		kw_alert_list_add(&flags, json_string("vpn"));
	if (g->flags & KW_GEO_TOR)
		kw_alert_list_add(&flags, json_string("tor"));
	if (g->flags & KW_GEO_PROXY)
		kw_alert_list_add(&flags, json_string("proxy"));
	if (g->flags & KW_GEO_HOSTING)
		kw_alert_list_add(&flags, json_string("hosting"));
	kw_alert_evidence_json(a, "flags", flags);
}

/* " via a Tor exit", " via an anonymous network", " from a hosting
 * provider", or "". */
static const char *flag_note(const struct kw_geo *g)
{
	if (!g)
		return "";
	if (g->flags & KW_GEO_TOR)
		return " via a Tor exit node";
	if (g->flags & (KW_GEO_ANONYMOUS | KW_GEO_VPN | KW_GEO_PROXY))
		return " via an anonymous network";
	if (g->flags & KW_GEO_HOSTING)
		return " from a hosting provider";
	return "";
}

static json_t *country_list(const struct geo_loc *l)
{
	json_t *arr = json_array();
	char cc[3] = "";

	for (size_t i = 0; arr && i < l->ncountries; i++) {
		memcpy(cc, l->countries[i], 2);
		kw_alert_list_add(&arr, json_string(cc));
	}
	return arr;
}

/* "US, IE" (and " and more" past the exact list). */
static void country_text(const struct geo_loc *l, char *buf, size_t cap)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->ncountries && off < cap; i++)
		off += (size_t)snprintf(buf + off, cap - off, "%s%.2s",
					i ? ", " : "", l->countries[i]);
	if (l->ncountries == GEO_COUNTRIES && off < cap)
		snprintf(buf + off, cap - off, " and more");
	if (!l->ncountries)
		snprintf(buf, cap, "none");
}

static void finish(struct kw_alert *a, const char *subject,
		   const struct kw_emit *emit)
{
	kw_alert_set_id(a, subject);
	kw_emit(emit, a);
}

/* A key that, while it learnt, used every network its state can list
 * (GEO_NETS /24s or /48s), or at least ROAM_NETS networks with hardly two
 * addresses in each (each use from a fresh network: CI runners, serverless
 * functions, a role's many sessions, a laptop on the move), comes from
 * everywhere. A new network is its normal; without a database to tell a
 * provider from a stranger, its new IPs are low. A key that learnt a few
 * networks, or a fleet's many addresses in a few networks, and is then
 * used from many (leaked) does not roam. Decided anew at each address it
 * meets while it learns (the second rule can turn back as a network fills
 * up), and kept once it has learnt; a state file from before the second
 * rule says 1 only for the first, so such a key at worst does not roam. */
static bool roams_by(const struct geo_state *s)
{
	return s->nnets == GEO_NETS ||
	       (s->nnets >= ROAM_NETS && s->total_ips <= 2u * s->nnets);
}

static bool roams(const struct geo_state *s)
{
	return s->roamed;
}

/* A console session: a person's browser holding a temporary key. */
static bool console(const struct kw_event *ev)
{
	return ev->cloud && ev->cloud->console;
}

static void alert_new_ip(const struct geo_state *s, const struct geo_loc *l,
			 const struct kw_event *ev, struct kw_keyent *key,
			 bool same_net, bool scale_out,
			 const struct kw_emit *emit)
{
	const struct kw_geo *g = ev->geo;
	enum kw_severity sev = scale_out ? KW_SEV_LOW : KW_SEV_MEDIUM;
	struct kw_alert a;
	char ip[64], label[256], subject[80], where[96] = "";

	/* Servers scaling out stay low whatever the network is. */
	if (!scale_out && (anonymous(g) || new_hosting(l, g)))
		sev = step(sev, 1);
	if (kw_detect_alert(&a, emit, "geo.new_ip", for_key(sev, key), ev,
			    key) != KW_OK)
		return;
	kw_ip_format(&ev->ip, ip, sizeof(ip));
	if (g && g->asn)
		snprintf(where, sizeof(where), " (%s%sAS%u %s)", g->country,
			 g->country[0] ? ", " : "", (unsigned)g->asn, g->org);
	else if (g && g->country[0])
		snprintf(where, sizeof(where), " (%s)", g->country);
	kw_alert_summary(&a,
			 "%s called from a new IP %s%s%s; %s, %u IP%s seen "
			 "before",
			 kw_detect_key_label(key, label, sizeof(label)), ip,
			 where, flag_note(g),
			 scale_out && g ? "inside a network and country it uses"
			 : same_net	? "inside a network it uses"
			 : console(ev)	? "a new network, from the console (a "
					  "person's browser moves between "
					  "networks)"
			 : scale_out	? "a new network, but it uses many"
					: "outside the networks it uses",
			 (unsigned)s->total_ips, s->total_ips == 1 ? "" : "s");
	kw_alert_evidence_str(&a, "ip", kw_str_c(ip));
	add_network_evidence(&a, g);
	kw_alert_evidence_json(&a, "known_network", json_boolean(same_net));
	kw_alert_evidence_int(&a, "known_ips", s->total_ips);
	kw_alert_evidence_time(&a, "learned_since", key->first_seen);
	kw_alert_suppress_str(&a, "ip", kw_str_c(ip));
	snprintf(subject, sizeof(subject), "ip=%s", ip);
	finish(&a, subject, emit);
}

static void alert_new_network(const struct geo_loc *l,
			      const struct kw_event *ev, struct kw_keyent *key,
			      const struct kw_emit *emit)
{
	const struct kw_geo *g = ev->geo;
	enum kw_severity sev = KW_SEV_MEDIUM;
	struct kw_alert a;
	json_t *known;
	char ip[64], label[256], asn[16], subject[80], seen[160] = "";
	size_t off = 0;

	if (anonymous(g) || new_hosting(l, g))
		sev = step(sev, 1);
	if (kw_detect_alert(&a, emit, "geo.new_network", for_key(sev, key), ev,
			    key) != KW_OK)
		return;
	kw_ip_format(&ev->ip, ip, sizeof(ip));
	snprintf(asn, sizeof(asn), "AS%u", (unsigned)g->asn);
	known = json_array();
	for (size_t i = 0; i < l->nasns; i++) {
		char one[16];

		snprintf(one, sizeof(one), "AS%u", (unsigned)l->asns[i]);
		kw_alert_list_add(&known, json_string(one));
		if (off < sizeof(seen))
			off += (size_t)snprintf(seen + off, sizeof(seen) - off,
						"%s%s", i ? ", " : "", one);
	}
	if (!l->nasns)
		snprintf(seen, sizeof(seen), "none");
	kw_alert_summary(&a,
			 "%s called from network %s (%s) for the first "
			 "time%s; seen before: %s",
			 kw_detect_key_label(key, label, sizeof(label)), asn,
			 g->org[0] ? g->org : "unknown organisation",
			 flag_note(g), seen);
	kw_alert_evidence_str(&a, "ip", kw_str_c(ip));
	add_network_evidence(&a, g);
	kw_alert_evidence_json(&a, "known_networks", known);
	kw_alert_evidence_time(&a, "learned_since", key->first_seen);
	kw_alert_suppress_str(&a, "network", kw_str_c(asn));
	snprintf(subject, sizeof(subject), "network=%s", asn);
	finish(&a, subject, emit);
}

static void alert_new_country(const struct geo_loc *l,
			      const struct kw_event *ev, struct kw_keyent *key,
			      const struct kw_emit *emit)
{
	const struct kw_geo *g = ev->geo;
	enum kw_severity sev = KW_SEV_HIGH;
	struct kw_alert a;
	char ip[64], label[256], subject[80], seen[96];

	if (anonymous(g))
		sev = step(sev, 1);
	if (kw_detect_alert(&a, emit, "geo.new_country", for_key(sev, key), ev,
			    key) != KW_OK)
		return;
	kw_ip_format(&ev->ip, ip, sizeof(ip));
	country_text(l, seen, sizeof(seen));
	kw_alert_summary(&a,
			 "%s called from %s for the first time%s; seen "
			 "before: %s",
			 kw_detect_key_label(key, label, sizeof(label)),
			 g->country, flag_note(g), seen);
	kw_alert_evidence_str(&a, "ip", kw_str_c(ip));
	add_network_evidence(&a, g);
	kw_alert_evidence_json(&a, "known_countries", country_list(l));
	kw_alert_evidence_time(&a, "learned_since", key->first_seen);
	kw_alert_suppress_str(&a, "country", kw_str_c(g->country));
	snprintf(subject, sizeof(subject), "country=%s", g->country);
	finish(&a, subject, emit);
}

static void alert_travel(const struct geo *self, const struct geo_loc *l,
			 const struct kw_event *ev, struct kw_keyent *key,
			 double km, double kmh, const struct kw_emit *emit)
{
	const struct kw_geo *g = ev->geo;
	enum kw_severity sev = KW_SEV_HIGH;
	struct kw_alert a;
	struct kw_ip from;
	char ip[64], from_ip[64], label[256], subject[80], from_cc[3] = "";
	int64_t secs = (ev->ts - l->last_ts) / 1000000;

	if (anonymous(g))
		sev = step(sev, 1);
	if (kw_detect_alert(&a, emit, "geo.impossible_travel",
			    for_key(sev, key), ev, key) != KW_OK)
		return;
	kw_ip_format(&ev->ip, ip, sizeof(ip));
	memset(&from, 0, sizeof(from));
	from.family = l->last_family;
	memcpy(from.addr, l->last_ip, sizeof(from.addr));
	kw_ip_format(&from, from_ip, sizeof(from_ip));
	memcpy(from_cc, l->last_country, 2);
	kw_alert_summary(&a,
			 "%s called from %s (%s) %lld s after a request from "
			 "%s (%s): %.0f km apart, %.0f km/h (at most %.0f "
			 "km/h believable)%s",
			 kw_detect_key_label(key, label, sizeof(label)), ip,
			 g->country[0] ? g->country : "?", (long long)secs,
			 from_ip, from_cc[0] ? from_cc : "?", km, kmh,
			 self->max_kmh, flag_note(g));
	kw_alert_evidence_str(&a, "ip", kw_str_c(ip));
	add_network_evidence(&a, g);
	kw_alert_evidence_str(&a, "from_ip", kw_str_c(from_ip));
	kw_alert_evidence_str(&a, "from_country", kw_str_c(from_cc));
	kw_alert_evidence_time(&a, "from_time", l->last_ts);
	kw_alert_evidence_int(&a, "distance_km", (int64_t)(km + 0.5));
	kw_alert_evidence_int(&a, "seconds", secs);
	kw_alert_evidence_int(&a, "speed_kmh",
			      kmh > 1e9 ? (int64_t)1e9 : (int64_t)(kmh + 0.5));
	kw_alert_evidence_int(&a, "max_kmh", (int64_t)self->max_kmh);
	kw_alert_suppress_str(&a, "country", kw_str_c(g->country));
	snprintf(subject, sizeof(subject), "travel=%s-%s",
		 from_cc[0] ? from_cc : "?", g->country[0] ? g->country : "?");
	finish(&a, subject, emit);
}

static void country_policy(const struct kw_event *ev, struct kw_keyent *key,
			   const struct kw_emit *emit)
{
	const struct kw_keyconf *kc = kw_detect_keyconf(key);
	const struct kw_geo *g = ev->geo;
	struct kw_alert a;
	json_t *allow;
	char ip[64], label[256], subject[80], list[128] = "";
	size_t off = 0;

	if (!g || !g->country[0])
		return;
	for (size_t i = 0; i < kc->nallow_countries; i++) {
		if (!strcmp(kc->allow_countries[i], g->country))
			return;
	}
	if (kw_detect_alert(&a, emit, "geo.country_not_allowed",
			    for_key(KW_SEV_HIGH, key), ev, key) != KW_OK)
		return;
	kw_ip_format(&ev->ip, ip, sizeof(ip));
	allow = json_array();
	for (size_t i = 0; i < kc->nallow_countries; i++) {
		kw_alert_list_add(&allow, json_string(kc->allow_countries[i]));
		if (off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off,
						"%s%s", i ? ", " : "",
						kc->allow_countries[i]);
	}
	kw_alert_summary(&a,
			 "%s was used from %s (%s), outside its allowed "
			 "countries (%s)%s",
			 kw_detect_key_label(key, label, sizeof(label)),
			 g->country, ip, list, flag_note(g));
	kw_alert_evidence_str(&a, "ip", kw_str_c(ip));
	add_network_evidence(&a, g);
	kw_alert_evidence_json(&a, "allow_countries", allow);
	kw_alert_evidence_str(&a, "op", ev->op);
	if (ev->status)
		kw_alert_evidence_int(&a, "status", ev->status);
	kw_alert_suppress_str(&a, "country", kw_str_c(g->country));
	snprintf(subject, sizeof(subject), "country=%s", g->country);
	finish(&a, subject, emit);
}

/* ------------------------------------------------------------- observe */

/* Without a database, say once what is off: a warning when the config
 * asks for a country allowlist that cannot be checked, otherwise a note. */
static void no_database(struct geo *self, const struct kw_emit *emit)
{
	size_t n = 0;

	if (self->said_no_db)
		return;
	self->said_no_db = true;
	for (size_t i = 0; i < self->cfg->nkeys; i++)
		n += self->cfg->keys[i].nallow_countries > 0;
	if (n && self->on[D_COUNTRY_NOT_ALLOWED])
		kw_emit_note(emit, KW_LOG_WARN, "geo",
			     "no GeoIP database: allow_countries (%zu key%s) "
			     "cannot be checked, and only geo.new_ip runs, on "
			     "addresses alone (give one with --geoip FILE)",
			     n, n == 1 ? "" : "s");
	else if (self->on[D_NEW_NETWORK] || self->on[D_NEW_COUNTRY] ||
		 self->on[D_TRAVEL])
		kw_emit_note(emit, KW_LOG_INFO, "geo",
			     "no GeoIP database: only geo.new_ip runs, on "
			     "addresses alone (give one with --geoip FILE)");
}

unsigned kw_detect_geo_needs(const char *detector)
{
	static const struct {
		const char *name;
		unsigned needs;
	} table[] = {
		{"geo.new_ip", 0},
		{"geo.new_network", KW_GEOIP_HAS_ASN},
		{"geo.new_country", KW_GEOIP_HAS_COUNTRY},
		{"geo.impossible_travel", KW_GEOIP_HAS_LOCATION},
		{"geo.country_not_allowed", KW_GEOIP_HAS_COUNTRY},
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (!strcmp(table[i].name, detector))
			return table[i].needs;
	}
	return 0;
}

static bool watched(const struct geo *self, const struct kw_keyent *key)
{
	return kw_detect_server_key(key) ||
	       (key->kind == KW_KIND_PUBLISHABLE && self->cfg->geo_publishable);
}

static void travel(struct geo *self, const struct geo_loc *l,
		   const struct kw_event *ev, struct kw_keyent *key,
		   bool known_place, const struct kw_emit *emit)
{
	const struct kw_geo *g = ev->geo;
	double km, slack, hours, kmh;

	if (!l->has_last || known_place || ev->ts < l->last_ts)
		return;
	km = kw_detect_geodist_km(l->last_lat, l->last_lon, g->lat, g->lon);
	slack = km - l->last_acc - g->accuracy_km;
	if (slack < MIN_TRAVEL_KM)
		return;
	hours = (double)(ev->ts - l->last_ts) / 3.6e9;
	kmh = hours > 0 ? slack / hours : HUGE_VAL;
	if (kmh > self->max_kmh)
		alert_travel(self, l, ev, key, km, kmh, emit);
}

/* l: where the key keeps what the answer (ev->geo) says; NULL when there
 * is no answer, or nothing in it to keep (or no memory for it). */
static void remember(struct geo_state *s, struct geo_loc *l, struct geo_more *m,
		     const struct kw_event *ev)
{
	const struct kw_geo *g = ev->geo;

	add_ip(s, m, &ev->ip);
	add_net(s, m, net_hash(&ev->ip));
	if (!g || !l)
		return;
	add_asn(l, m, g->asn);
	add_country(l, m, g->country);
	if (g->flags & KW_GEO_HOSTING)
		l->seen_hosting = 1;
	if (g->flags & KW_GEO_LOCATION)
		add_place(l, g);
}

static void geo_observe(void *self_, const struct kw_event *ev,
			struct kw_keyent *key, void *state,
			const struct kw_emit *emit)
{
	struct geo *self = self_;
	struct geo_state *s = state;
	const struct kw_keyconf *kc = kw_detect_keyconf(key);
	const struct kw_geo *g = ev->geo;
	bool learning, ip_known, same_net, known_place = false;
	bool located;
	const struct geo_loc *l;
	struct geo_loc *lw; /* l to write to; NULL: nothing to keep */
	struct geo_more *m;

	if (!ev->ip.family || !kw_detect_geo_wants(self->cfg, key))
		return;
	/* Without a database (g NULL) only geo.new_ip runs, on addresses
	 * alone: a new IP in a /24 or /48 the key uses is servers scaling
	 * out (low), elsewhere medium; from a key that roams or a console
	 * session (a person at a browser, at home, at the office, on the
	 * phone) low, since only a database can tell a stranger's network
	 * from theirs. */
	if (!g) {
		no_database(self, emit);
		if (!watched(self, key))
			return;
		m = more_of(s, NULL, key, emit);
		ip_known = has_ip(s, m, &ev->ip);
		if (!ip_known && self->on[D_NEW_IP] &&
		    ev->ts - key->first_seen >= self->cfg->learn) {
			same_net = has_net(s, m, net_hash(&ev->ip));
			alert_new_ip(s, NULL, ev, key, same_net,
				     same_net || roams(s) || console(ev), emit);
		}
		if (!ip_known) {
			remember(s, NULL, m, ev);
			if (ev->ts - key->first_seen < self->cfg->learn)
				s->roamed = roams_by(s);
		}
		return;
	}
	if (self->on[D_COUNTRY_NOT_ALLOWED] && kc && kc->nallow_countries)
		country_policy(ev, key, emit);
	if (!watched(self, key))
		return;
	located = g->flags & KW_GEO_LOCATION;
	learning = ev->ts - key->first_seen < self->cfg->learn;
	lw = kw_detect_overflow(emit, &kw_detect_geo, PART_LOC, key, s,
				loc_keeps(g));
	l = lw ? lw : &no_loc;
	m = more_of(s, l, key, emit);
	ip_known = has_ip(s, m, &ev->ip);
	if (located)
		known_place = has_place(l, g);
	if (!learning && !ip_known) {
		same_net = has_net(s, m, net_hash(&ev->ip)) ||
			   (g->asn && has_asn(l, m, g->asn));
		if (self->on[D_NEW_IP])
			alert_new_ip(s, l, ev, key, same_net,
				     same_net &&
					     (!g->country[0] ||
					      has_country(l, m, g->country)),
				     emit);
		if (self->on[D_NEW_NETWORK] && g->asn && !has_asn(l, m, g->asn))
			alert_new_network(l, ev, key, emit);
		if (self->on[D_NEW_COUNTRY] && g->country[0] &&
		    !has_country(l, m, g->country))
			alert_new_country(l, ev, key, emit);
	}
	if (!learning && self->on[D_TRAVEL] && located)
		travel(self, l, ev, key, known_place, emit);
	if (!ip_known)
		remember(s, lw, m, ev);
	else if (located && !known_place && lw)
		add_place(lw, g);
	/* The previous place is the newest one: a late event does not
	 * move it back in time. */
	if (located && lw && (!lw->has_last || ev->ts >= lw->last_ts)) {
		lw->has_last = 1;
		lw->last_ts = ev->ts;
		lw->last_lat = (float)g->lat;
		lw->last_lon = (float)g->lon;
		lw->last_acc = g->accuracy_km;
		memcpy(lw->last_country, g->country, 2);
		lw->last_family = ev->ip.family;
		memcpy(lw->last_ip, ev->ip.addr, sizeof(lw->last_ip));
	}
}

/* ------------------------------------------------------------ describe */

/* The struct geo_loc of a whole state (describe, validate). */
static const struct geo_loc *whole_loc(const void *state)
{
	return (const struct geo_loc *)(const void *)((const unsigned char *)
							      state +
						      LOC_AT);
}

static void geo_describe(void *self_, const struct kw_keyent *key,
			 const void *state, struct kw_detect_profile *out)
{
	const struct geo *self = self_;
	const struct geo_state *s = state;
	const struct geo_loc *l = whole_loc(state);

	/* The addresses and networks are the report's (keyreport.h). */
	out->geo_watched = watched(self, key);
	out->total_ips = s->total_ips;
	for (size_t i = 0; i < l->nasns && i < KW_DETECT_PROFILE_GEO; i++)
		out->asns[out->nasns++] = l->asns[i];
	for (size_t i = 0; i < l->ncountries && i < KW_DETECT_PROFILE_GEO;
	     i++) {
		memcpy(out->countries[i], l->countries[i], 2);
		out->countries[i][2] = '\0';
		out->ncountries++;
	}
}

/* ------------------------------------------------------------- upgrade */

/* Layout version 2 (any bytes: validate() judges the result) into 3:
 * each field where version 3 keeps it, the filters as they are. */
static void geo_upgrade(const void *old, void *now)
{
	struct geo_v2 v;
	struct geo_state *s = now;
	struct geo_loc *l =
		(struct geo_loc *)(void *)((unsigned char *)now + LOC_AT);

	memcpy(&v, old, sizeof(v));
	s->total_ips = v.total_ips;
	s->nips = v.nips;
	s->nnets = v.nnets;
	s->roamed = v.roamed;
	memcpy(s->ips, v.ips, sizeof(s->ips));
	memcpy(s->nets, v.nets, sizeof(s->nets));
	l->last_ts = v.last_ts;
	memcpy(&l->last_lat, &v.last_lat, sizeof(l->last_lat));
	memcpy(&l->last_lon, &v.last_lon, sizeof(l->last_lon));
	l->last_acc = v.last_acc;
	memcpy(l->last_country, v.last_country, sizeof(l->last_country));
	memcpy(l->last_ip, v.last_ip, sizeof(l->last_ip));
	l->last_family = v.last_family;
	l->has_last = v.has_last;
	l->seen_hosting = v.seen_hosting;
	l->nasns = v.nasns;
	l->ncountries = v.ncountries;
	l->nplaces = v.nplaces;
	l->next_place = v.next_place;
	memcpy(l->countries, v.countries, sizeof(l->countries));
	memcpy(l->asns, v.asns, sizeof(l->asns));
	memcpy(l->places, v.places, sizeof(l->places));
	memcpy((unsigned char *)now + MORE_AT,
	       (const unsigned char *)old + offsetof(struct geo_v2, more),
	       sizeof(struct geo_more));
}

/* ------------------------------------------------------------ validate */

static bool family_ok(uint8_t family, bool empty_ok)
{
	return family == 4 || family == 6 || (empty_ok && family == 0);
}

/* A country code as the databases give it: two letters or digits, or
 * none at all. */
static bool country_ok(const char cc[2])
{
	for (int i = 0; i < 2; i++) {
		char c = cc[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9')))
			return !cc[0] && !cc[1];
	}
	return true;
}

static bool latlon_ok(float lat, float lon)
{
	return isfinite(lat) && isfinite(lon) && lat >= -90 && lat <= 90 &&
	       lon >= -180 && lon <= 180;
}

static bool place_ok(const struct geo_place *p)
{
	return p->lat >= -Q_MAX && p->lat <= Q_MAX && p->lon >= -Q_MAX &&
	       p->lon <= Q_MAX;
}

/* Each list within its array and its ring index within the ring; the
 * last address of a known family; places on the globe. */
static bool geo_validate(const void *state, char *why, size_t cap)
{
	const struct geo_state *s = state;
	const struct geo_loc *l = whole_loc(state);

	if (s->nips > GEO_IPS || s->nnets > GEO_NETS || l->nasns > GEO_ASNS ||
	    l->ncountries > GEO_COUNTRIES || l->nplaces > GEO_PLACES) {
		snprintf(why, cap,
			 "geo: remembered %u IPs, %u networks, %u ASNs, %u "
			 "countries, %u places (at most %d, %d, %d, %d, %d)",
			 s->nips, s->nnets, l->nasns, l->ncountries, l->nplaces,
			 GEO_IPS, GEO_NETS, GEO_ASNS, GEO_COUNTRIES,
			 GEO_PLACES);
		return false;
	}
	if (l->next_place >= GEO_PLACES ||
	    (l->nplaces < GEO_PLACES && l->next_place != l->nplaces)) {
		snprintf(why, cap, "geo: place ring index %u with %u places",
			 l->next_place, l->nplaces);
		return false;
	}
	if (s->total_ips < s->nips || l->has_last > 1 || l->seen_hosting > 1 ||
	    s->roamed > 1) {
		snprintf(why, cap, "geo: counters out of range");
		return false;
	}
	if (!family_ok(l->last_family, true))
		goto bad_addr;
	for (size_t i = 0; i < l->ncountries; i++) {
		if (!l->countries[i][0] || !country_ok(l->countries[i]))
			goto bad_country;
	}
	if (!country_ok(l->last_country))
		goto bad_country;
	for (size_t i = 0; i < l->nplaces; i++) {
		if (!place_ok(&l->places[i]))
			goto bad_place;
	}
	if (l->has_last &&
	    (!latlon_ok(l->last_lat, l->last_lon) || l->last_ts < KW_TIME_MIN ||
	     l->last_ts > KW_TIME_MAX))
		goto bad_place;
	return true;
bad_addr:
	snprintf(why, cap, "geo: an address of no known family");
	return false;
bad_country:
	snprintf(why, cap, "geo: a country that is not a code");
	return false;
bad_place:
	snprintf(why, cap, "geo: a place or time off the globe or calendar");
	return false;
}

const struct kw_detector_ops kw_detect_geo = {
	.name = "geo",
	.kind = KW_DETECTOR_LEARNED,
	.detectors = names,
	.options = options,
	.state_size = GEO_STATE_SIZE,
	.state_version = 3,
	.state_size_v1 = 592,
	.parts = {{LOC_AT, sizeof(struct geo_loc)},
		  {MORE_AT, sizeof(struct geo_more)}},
	.upgrade_size = GEO_STATE_SIZE,
	.upgrade = geo_upgrade,
	.create = geo_create,
	.observe = geo_observe,
	.describe = geo_describe,
	.destroy = geo_destroy,
	.validate = geo_validate,
};
