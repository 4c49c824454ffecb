/*
 * event.h - one API request, decoded.
 *
 * Strings are borrowed: they point into the record buffer of the batch that
 * produced the event, into the decoder's per-batch arena, or into a loaded
 * model. They are valid until the next batch is read. Anything kept longer
 * (a key id, an IP in a per-key set) must be copied into the key's own state.
 *
 * The decoder fills the raw fields (ts .. livemode, and op/access for formats
 * that name the operation, such as CloudTrail). Enrichment (enrich/model.h)
 * fills key_kind, key_mode, op, resource, access and flags from the model.
 */
#ifndef KW_CORE_EVENT_H
#define KW_CORE_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/str.h"

struct kw_geo;	   /* enrich/geoip.h */
struct kw_op_info; /* enrich/model.h */
struct kw_verdict; /* enrich/model.h */
struct kw_handout; /* state/handouts.h */

enum kw_key_kind {
	KW_KIND_UNKNOWN = 0,
	KW_KIND_PUBLISHABLE, /* pk_: meant for browsers */
	KW_KIND_SECRET,	     /* sk_: full access, servers only */
	KW_KIND_RESTRICTED,  /* rk_: held to its permissions */
	KW_KIND_LONG_TERM,   /* AWS AKIA */
	KW_KIND_TEMPORARY,   /* AWS ASIA */
	KW_KIND_MAX
};

enum kw_key_mode {
	KW_MODE_UNKNOWN = 0,
	KW_MODE_LIVE,
	KW_MODE_TEST,
	KW_MODE_MAX
};

enum kw_access {
	KW_ACCESS_UNKNOWN = 0,
	KW_ACCESS_NONE, /* only in permissions */
	KW_ACCESS_READ,
	KW_ACCESS_WRITE,
	KW_ACCESS_MAX
};

/* Names as they appear in alerts and config: "secret", "live", "read". */
const char *kw_key_kind_name(enum kw_key_kind k);
const char *kw_key_mode_name(enum kw_key_mode m);
const char *kw_access_name(enum kw_access a);
/* Parse "none"/"read"/"write"; KW_ACCESS_UNKNOWN when not one of them. */
enum kw_access kw_access_parse(const char *s);

/* An IPv4 or IPv6 address in network byte order. IPv4 uses addr[0..3]. */
struct kw_ip {
	uint8_t family; /* 0: none, 4 or 6 */
	uint8_t addr[16];
};

/* Parse s[0..n) (not NUL-terminated; nothing is copied) into ip; false
 * (ip zeroed) when it is not an address. Exactly inet_pton's acceptance,
 * IPv4 tried first, plus an IPv6 zone ("fe80::1%eth0": 1 to
 * KW_IP_ZONE_MAX bytes of [A-Za-z0-9._~-]), which is dropped; an IPv4
 * address takes no zone. An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * becomes the IPv4 address. (ip.c) */
#define KW_IP_ZONE_MAX 32
bool kw_ip_parse(struct kw_ip *ip, const char *s, size_t n);
/* Format into buf (at least 46 bytes); returns buf. */
char *kw_ip_format(const struct kw_ip *ip, char *buf, size_t cap);

/* What a CloudTrail record says beyond the common fields, for the model's
 * parameter matchers and the engine's principals. Objects are their raw
 * JSON text as written in the record; strings are unescaped. Borrowed like
 * the event's other strings; an absent field is empty. The text of
 * identity, response and params holds credentials (access key ids, session
 * tokens): never show it whole. */
struct kw_event_cloud {
	struct kw_str params;	  /* requestParameters (object text) */
	struct kw_str response;	  /* responseElements (object text) */
	struct kw_str additional; /* additionalEventData (object text) */
	struct kw_str identity;	  /* userIdentity (object text) */
	struct kw_str account;	  /* recipientAccountId */
	struct kw_str id_type;	  /* userIdentity.type: "IAMUser", "Root" */
	struct kw_str arn;	  /* userIdentity.arn */
	struct kw_str issuer;	  /* ...sessionContext.sessionIssuer.arn */
	struct kw_str invoked_by; /* userIdentity.invokedBy: a service */
	struct kw_str issued_key; /* responseElements.credentials.accessKeyId:
				     SECRET like the key */
	bool console;  /* sessionCredentialFromConsole is "true", or the
			  record is a console sign-in (eventType
			  AwsConsoleSignIn) */
	bool instance; /* ...sessionContext.ec2RoleDelivery is present: the
			  credentials of an EC2 instance's role */
};

/* Event flags, set by enrichment from the model. */
enum {
	KW_EV_SENSITIVE = 1u << 0, /* the model marks the operation sensitive */
	KW_EV_PK_ALLOWED = 1u << 1, /* a publishable key may perform it */
	KW_EV_MODELLED = 1u << 2,   /* the operation came from a model entry */
	KW_EV_BY_PRINCIPAL = 1u << 3, /* the key's prefix says: learn it on
					 the principal it acts for */
	KW_EV_JUDGE = 1u << 4,	      /* the model judges this use further (its
					 matchers, counts or identity rules) */
};

struct kw_event {
	int64_t ts;	   /* event time, microseconds since the epoch, UTC */
	struct kw_str key; /* the key as written in the log: SECRET */
	struct kw_str method; /* "POST"; empty when the format has none */
	struct kw_str path;   /* "/v1/refunds", query string removed */
	struct kw_ip ip;      /* family 0 when absent or not an address */
	struct kw_str source; /* a non-IP source, e.g. "ec2.amazonaws.com" */
	int status;	      /* HTTP status; 0 when unknown */
	struct kw_str user_agent;
	struct kw_str origin;
	struct kw_str request_id;
	struct kw_str region; /* CloudTrail's awsRegion; empty otherwise */
	int8_t livemode;      /* -1 unknown, 0 test, 1 live */

	/* Filled by the decoder (CloudTrail) or by enrichment. */
	struct kw_str op;	/* "refunds.create", "iam:CreateUser" */
	struct kw_str resource; /* "refunds", "iam" */
	enum kw_access access;
	/* A model's prefix sets it; else the decoder's, for a format whose
	 * keys have none (GCP: long-term; GitHub: by the token's type). */
	enum kw_key_kind key_kind;
	enum kw_key_mode key_mode;
	uint32_t flags; /* KW_EV_* */
	/* Set by enrichment: the model's entry for the operation (tier,
	 * tactic, matchers); NULL when no entry lists it. */
	const struct kw_op_info *info;
	/* Set by the engine after enrichment when the operation has
	 * matchers: what they make of this use (tier, severity, the matcher
	 * that held). NULL: the entry's own tier applies. */
	const struct kw_verdict *verdict;
	/* Who the key acts for, when the log says: the role or user ARN of
	 * an AWS session. The engine learns such a key on it (when the
	 * key's prefix says so). Empty when unknown. */
	struct kw_str principal;
	/* CloudTrail's extra fields; NULL for other formats. */
	const struct kw_event_cloud *cloud;
	/* Set by the engine: the key that handed this key out (an AWS
	 * session's parent), when it is known; NULL otherwise. */
	const struct kw_handout *parent;
	/* Set by GeoIP enrichment: NULL without a database, without an
	 * address, or for a key nothing judges by place
	 * (kw_detect_geo_wants); valid only while the event is analysed. */
	const struct kw_geo *geo;
	/* The caller's country as the log itself places its address
	 * (GitHub's actor_location.country_code): ISO 3166-1 alpha-2, upper
	 * case; "" when the log says nothing. The engine gives it to the
	 * geo detectors where no GeoIP database knows the address's
	 * country. */
	char country[3];

	/* The decoder that made it ("cloudtrail", "gcp-audit": its --format
	 * name, static), so that a model that declares the format names the
	 * operations its decoder wrote. */
	const char *format;

	/* Where it came from, for messages. `file` lives as long as the scan.
	 */
	const char *file;
	uint64_t line;
};

#endif
