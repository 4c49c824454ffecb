/*
 * alert.h - the alert: what a detector raises, what the router routes and
 * what every sink renders. The JSON layout is the contract of
 * doc/alerts.md ("keywatch.alert/1"); kw_alert_to_json() is the only place
 * that writes it, so the stdout, file and webhook outputs are the same bytes.
 * It writes a plain alert straight into a buffer, without a jansson tree;
 * kw_alert_to_object() builds the same layout as a tree, and
 * tests/unit/test_json_dump.c holds the two to the same bytes.
 *
 * An alert owns its memory. Its evidence, suppress fields and request links
 * are first kept flat, in the alert itself (struct kw_alert_flat: a table of
 * named strings, integers and booleans over one text area, no allocation),
 * and written into its JSON from there; jansson trees (a->evidence,
 * a->suppress, a->links) are made from them only for code that reads trees:
 * kw_alert_trees(), which kw_alert_copy() calls for a queue, a detector
 * handing in a JSON list or object, or a flat form that is full. At scale
 * nearly every key raises once, and the trees were most of an alert's cost
 * for the sinks that read only its JSON. Nothing
 * in an alert ever holds a full key: the key is carried as its redacted id
 * and fingerprint only, and every string that goes in (summary, evidence,
 * suppress, request ids) is redacted by value on the way: each occurrence
 * of the request's key (a->secret, borrowed while the alert is built) is
 * replaced by its redacted id. Each string taken from a request is cut to
 * KW_ALERT_TEXT_MAX bytes, so however large a request, its alert is small.
 * The cost is paid only by events that raise an alert.
 */
#ifndef KW_CORE_ALERT_H
#define KW_CORE_ALERT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/event.h"
#include "core/status.h"

enum kw_severity {
	KW_SEV_INFO = 0,
	KW_SEV_LOW,
	KW_SEV_MEDIUM,
	KW_SEV_HIGH,
	KW_SEV_CRITICAL,
	KW_SEV_MAX
};

const char *kw_severity_name(enum kw_severity s);
/* false when s is NULL or not one of the five names (in any case:
 * "HIGH"). */
bool kw_severity_parse(const char *s, enum kw_severity *out);

#define KW_ALERT_ID_LEN 20 /* "kwa_" + 16 hex digits; "kwi_" for incidents */
#define KW_ALERT_MAX_REQUESTS 5
/* Longest evidence or suppress string, in bytes (a longer one is cut at a
 * UTF-8 boundary and ends in "…"); doc/alerts.md states it. */
#define KW_ALERT_TEXT_MAX 256
/* The summary and each request id are bounded the same way by their
 * buffers: 511 and 63 bytes. */

struct kw_alert_key {
	char id[64]; /* redacted id, "sk_live_…4242" */
	char fp[17]; /* fingerprint, 16 hex digits */
	enum kw_key_kind kind;
	enum kw_key_mode mode;
	char name[128]; /* the config's name for the key; "" when none */
	/* An AWS key learnt on the principal it acts for: the principal's
	 * label ("123456789012:role/ci"); the key that handed this one out
	 * (its redacted id and principal label). "" when none. */
	char principal[128];
	char parent_id[64];
	char parent_principal[128];
};

/* The three parts of an alert a detector fills by name. */
enum kw_alert_part {
	KW_ALERT_EVIDENCE = 0,
	KW_ALERT_SUPPRESS,
	KW_ALERT_LINKS, /* name: the request id, value: its URL */
};

#define KW_ALERT_FLAT_FIELDS 20
#define KW_ALERT_FLAT_TEXT 768

/* The flat form (on) of the three parts: the fields in the order they were
 * first set, as their objects keep them; names (NUL-terminated) and
 * string values in text. Never read outside alert.c: kw_alert_trees()
 * and the getters below are the ways in. */
struct kw_alert_flat {
	struct kw_alert_field {
		uint8_t part; /* enum kw_alert_part */
		uint8_t type; /* alert.c's FLAT_STR, FLAT_INT, FLAT_BOOL */
		uint16_t name, off, len; /* in text; len: a string's bytes */
		int64_t i;		 /* an integer's or a boolean's value */
	} f[KW_ALERT_FLAT_FIELDS];
	uint16_t used; /* bytes of text */
	uint8_t n;
	bool on; /* the parts are here, and the trees are NULL */
	char text[KW_ALERT_FLAT_TEXT];
};

struct kw_alert {
	char id[KW_ALERT_ID_LEN + 1];
	int64_t time;	      /* event time, microseconds */
	const char *detector; /* static string: "ops.not_permitted" */
	enum kw_severity severity;
	struct kw_alert_key key;
	char summary[512];
	/* The three parts, either flat (flat.on: the trees are NULL) or as
	 * trees (kw_alert_trees). */
	struct kw_alert_flat flat;
	json_t *evidence; /* object, owned */
	char requests[KW_ALERT_MAX_REQUESTS][64];
	unsigned nrequests;
	json_t *suppress; /* object, owned: {"detector", "key", subject...} */
	/* Where a person reads more: per request id a link to where the
	 * request is shown (array of {"request", "url"}, owned; NULL when
	 * none), and the config's runbook for the key or detector ("" when
	 * none). */
	json_t *links;
	char runbook[256];
	/* The incident the alert joined (alert/incident.h); "" when none. */
	char incident[KW_ALERT_ID_LEN + 1];
	/* Set only on an incident message (what sinks for people get instead
	 * of each alert): an object, owned, with "event" (opened, updated,
	 * closed) and the incident's totals; the alert's other fields are
	 * then the incident's (id, severity, time of the message) and those
	 * of its worst alert (detector, summary, evidence, suppress).
	 * NULL on a plain alert. */
	json_t *update;
	/* The key as written in the log, borrowed from the event while the
	 * alert is built, so that what is copied in is redacted by value.
	 * Never rendered, never copied; empty when there is none (an alert
	 * about a closed window). The engine clears it when the alert is
	 * emitted. */
	struct kw_str secret;
	/* Memory ran out while the alert was built or copied: some evidence,
	 * suppress field, request link or copied part is missing. Such an
	 * alert is still routed and delivered with what it holds (losing it
	 * would lose more); the router counts it, and scan fails with it. */
	bool incomplete;
	/* Nothing reads this alert but the router's counts (a scan whose
	 * only sink is -o none, with no report and no state: kw_router_reads
	 * says so, and the detector's kw_emit carries it). Only what the
	 * router counts and matches by is filled: detector, severity, time,
	 * key, id and the suppress fields. The summary, evidence, request
	 * and link setters return at once, and a detector may skip what it
	 * makes only for them. Set after kw_alert_init (which clears it). */
	bool unread;
	/* Set by the engine: the event-time stream whose event last fed the
	 * alert's key (engine.h, struct kw_engine_input); 0 for files and
	 * for alerts not about one key. Never rendered. */
	uint64_t stream;
};

/* Start an alert: sets detector, severity, time, key, empty evidence and
 * suppress fields holding the detector and the key glob derived from the key
 * id ("sk_live_…4242" -> "sk_live_*4242"), or, for a key learnt on its
 * principal, the principal (its sessions' keys change). Always KW_OK: when
 * memory runs out the alert keeps what it could get and is marked
 * incomplete. The setters below mark it so too when one of them cannot
 * store its value. */
enum kw_status kw_alert_init(struct kw_alert *a, const char *detector,
			     enum kw_severity sev, int64_t time,
			     const struct kw_alert_key *key);

/* Set the stable id from detector, key fingerprint and subject (what the
 * alert is about: "op=refunds.create", "ip=203.0.113.9"). The same three
 * always give the same id. */
void kw_alert_set_id(struct kw_alert *a, const char *subject);

/* Summary, printf-style, redacted by value, cut to fit (marked "…").
 * This and the setters of evidence, requests and links do nothing on an
 * unread alert (a->unread). */
void kw_alert_summary(struct kw_alert *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same for a text already made: whole, never cut before (a key cut
 * there would keep the piece before the cut). */
void kw_alert_summary_text(struct kw_alert *a, struct kw_str text);

/* Evidence and suppress fields. Strings are copied, redacted by value and
 * cut to KW_ALERT_TEXT_MAX; a NULL or empty value is left out. A JSON value
 * (kw_alert_evidence_json) gets the same for every string inside it. */
void kw_alert_evidence_str(struct kw_alert *a, const char *name,
			   struct kw_str v);
void kw_alert_evidence_int(struct kw_alert *a, const char *name, int64_t v);
void kw_alert_evidence_time(struct kw_alert *a, const char *name, int64_t us);
void kw_alert_evidence_json(struct kw_alert *a, const char *name,
			    json_t *v); /* steals v */
void kw_alert_suppress_str(struct kw_alert *a, const char *name,
			   struct kw_str v);
/* Append v (stolen) to *list, a JSON array a detector builds for its
 * evidence. When v is NULL or cannot be stored (memory ran out), the list
 * is freed and *list set to NULL, so that kw_alert_evidence_json marks the
 * alert incomplete rather than carry a list with an element missing; a
 * NULL *list stays NULL (v is freed). */
void kw_alert_list_add(json_t **list, json_t *v);

/* Add a request id (up to KW_ALERT_MAX_REQUESTS, duplicates ignored),
 * redacted by value and cut to 63 bytes. */
void kw_alert_add_request(struct kw_alert *a, struct kw_str rid);

/* Add a link to where request (one of a->requests) is shown; copied. */
void kw_alert_add_link(struct kw_alert *a, const char *request,
		       const char *url);

/* The link of request id rid, or NULL (borrowed from a). */
const char *kw_alert_link(const struct kw_alert *a, const char *rid);

/* The string value of evidence field name, its length in *len, or NULL
 * when there is none or it is not a string (borrowed from a). */
const char *kw_alert_evidence_text(const struct kw_alert *a, const char *name,
				   size_t *len);

/* Whether the suppress fields hold every field of want (a JSON object of
 * a config's suppress rule) with an equal value. */
bool kw_alert_suppress_has(const struct kw_alert *a, const json_t *want);

/* Make a->evidence, a->suppress and a->links (NULL when no link) from the
 * flat form, for code that reads the trees; nothing when they are trees
 * already. Memory running out marks the alert incomplete. */
void kw_alert_trees(struct kw_alert *a);

/* A part as a tree: a new reference (the caller's), whichever form a
 * holds; NULL for KW_ALERT_LINKS without a link, or when memory ran out.
 * The tree of a tree-form alert is shared, not copied: neither side may
 * change it. */
json_t *kw_alert_tree(const struct kw_alert *a, enum kw_alert_part part);

/* dst = src, member by member, without the unused tails of its fixed
 * arrays: each text up to its NUL, the flat form's used fields and text,
 * the requests it has (an alert is some 2.9 KB, of which a few hundred
 * bytes mean something). Owned parts move with it: src must then be
 * forgotten (kw_alert_forget) or dst's parts take a reference of their
 * own. */
void kw_alert_move(struct kw_alert *dst, const struct kw_alert *src);

/* Deep copy (for queues), with its parts as trees. Always KW_OK: a part
 * that cannot be copied for lack of memory is left out and dst is marked
 * incomplete. */
enum kw_status kw_alert_copy(struct kw_alert *dst, const struct kw_alert *src);

/* A copy of src's plain fields, without its JSON trees (evidence,
 * suppress, update and links are NULL; a flat form is copied): for a
 * queue whose sink reads only the JSON text and those fields (sink.h,
 * "flat"). Cannot fail. */
void kw_alert_copy_flat(struct kw_alert *dst, const struct kw_alert *src);

/* A copy that shares src's JSON trees (their counts raised; freed by
 * kw_alert_clear of each) or copies its flat form: for an alert kept
 * after its routing, which changes none of them. Neither copy may change
 * a shared tree, and a queue for another thread takes kw_alert_copy.
 * Cannot fail. */
void kw_alert_share(struct kw_alert *dst, const struct kw_alert *src);

/* Free what the alert owns; safe on a zeroed or already cleared alert. */
void kw_alert_clear(struct kw_alert *a);

/* The alert owns nothing from now on, and a is not read: its trees are
 * NULL and its flat form empty, as kw_alert_clear leaves them; every
 * other byte stays as it was. For memory that holds no alert (fresh from
 * malloc, or cleared), to be written whole later (kw_alert_share,
 * kw_alert_from_object) without being zeroed first, and safe to clear
 * until then. Anything a owned is leaked. */
void kw_alert_forget(struct kw_alert *a);

/* The alert as one line of compact JSON (no newline), malloc'ed: the caller
 * frees it. NULL on allocation failure. An incident message (a->update set)
 * is written as "keywatch.incident/1" (doc/alerts.md). */
char *kw_alert_to_json(const struct kw_alert *a);

/* The alert (never an incident message) as a JSON object in the layout of
 * doc/alerts.md: a new reference, NULL on allocation failure. */
json_t *kw_alert_to_object(const struct kw_alert *a);

/* Rebuild an alert or an incident message from its JSON object (either
 * schema of doc/alerts.md). The alert's detector points into detector_buf
 * (cap bytes), which must outlive it. KW_EINVAL when o is not one;
 * the alert is then left empty (kw_alert_clear is safe). */
enum kw_status kw_alert_from_object(const json_t *o, struct kw_alert *a,
				    char *detector_buf, size_t cap);

/* A stable id into out (KW_ALERT_ID_LEN + 1 bytes): prefix ("kwa_",
 * "kwi_") and the first 16 hex digits of SHA-256 over the n parts, each
 * followed by a NUL byte but the last. At most KW_ALERT_ID_PARTS parts
 * (the callers give 3); past them, parts are left out. */
#define KW_ALERT_ID_PARTS 8
void kw_alert_make_id(char *out, const char *prefix, const char *const *parts,
		      size_t n);

/* One readable line (no newline) into buf; colour adds ANSI colours. */
void kw_alert_to_text(const struct kw_alert *a, bool colour, char *buf,
		      size_t cap);

#endif
