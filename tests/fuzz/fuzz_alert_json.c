/*
 * fuzz_alert_json.c - libFuzzer target: keywatch's own JSON writer
 * (core/json_dump.h) against jansson's json_dumps().
 *
 * The input is cut into an alert's fields: a byte of choices, then length-
 * prefixed texts (one length byte each) for the key's id, fingerprint,
 * name, principal, parent id and parent principal, the alert's id, its
 * incident, summary, runbook and up to five request ids, all as they come
 * (invalid UTF-8, control bytes, quotes). What is left is the evidence:
 * parsed as JSON when it is JSON (any value, NULs allowed: reals, huge
 * integers, deep nesting), else kept as one string that may not be valid
 * UTF-8 at all. It goes in as the alert's evidence tree when the choice
 * byte's top bit is set, else through kw_alert_evidence_json into the
 * flat form (a scalar stays flat; a list or an object makes trees).
 *
 * Invariants: kw_alert_to_json (the alert written without a tree) gives
 * the bytes json_dumps gives for kw_alert_to_object (its tree), or both
 * give nothing; kw_json_dump gives json_dumps' bytes for the evidence
 * under each set of flags the writer does itself; every text written is
 * one line that jansson reads back.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alert.h"
#include "core/json_dump.h"
#include "fuzz.h"

struct cursor {
	const uint8_t *p;
	size_t n;
};

/* The next length-prefixed text into out (cap bytes with its NUL; cut to
 * fit, NULs inside end it as a C string would). */
static void take(struct cursor *c, char *out, size_t cap)
{
	size_t len = c->n ? c->p[0] : 0;

	if (c->n) {
		c->p++;
		c->n--;
	}
	if (len > c->n)
		len = c->n;
	memcpy(out, c->p, len < cap - 1 ? len : cap - 1);
	out[len < cap - 1 ? len : cap - 1] = '\0';
	c->p += len;
	c->n -= len;
}

static void same(const uint8_t *data, size_t size, const char *what, char *want,
		 char *got)
{
	json_t *back;

	if ((want == NULL) != (got == NULL))
		fuzz_fail(data, size, "%s: jansson %s, keywatch %s", what,
			  want ? want : "NULL", got ? got : "NULL");
	if (want && strcmp(want, got) != 0)
		fuzz_fail(data, size, "%s: jansson %s, keywatch %s", what, want,
			  got);
	if (got &&
	    (strchr(got, '\n') ||
	     !(back = json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL))))
		fuzz_fail(data, size, "%s: %s is not one line of JSON", what,
			  got);
	if (got)
		json_decref(back);
	free(want);
	free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t flag_sets[] = {
		JSON_COMPACT | JSON_ENCODE_ANY,
		JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY,
		JSON_ENCODE_ANY,
		JSON_COMPACT | JSON_PRESERVE_ORDER,
	};
	struct cursor c = {data, size};
	struct kw_alert_key k;
	struct kw_alert a;
	unsigned choice = size ? data[0] : 0;
	json_t *ev, *o;

	if (size) {
		c.p++;
		c.n--;
	}
	memset(&k, 0, sizeof(k));
	take(&c, k.id, sizeof(k.id));
	take(&c, k.fp, sizeof(k.fp));
	take(&c, k.name, sizeof(k.name));
	take(&c, k.principal, sizeof(k.principal));
	take(&c, k.parent_id, sizeof(k.parent_id));
	take(&c, k.parent_principal, sizeof(k.parent_principal));
	k.kind = (enum kw_key_kind)(choice % KW_KIND_MAX);
	k.mode = (enum kw_key_mode)((choice >> 3) % KW_MODE_MAX);
	kw_alert_init(&a, "fuzz.detector", (enum kw_severity)(choice >> 5),
		      (int64_t)choice * 86400000000, &k);
	take(&c, a.id, sizeof(a.id));
	take(&c, a.incident, sizeof(a.incident));
	take(&c, a.summary, sizeof(a.summary));
	take(&c, a.runbook, sizeof(a.runbook));
	for (unsigned i = 0; i < (choice & 7) && i < KW_ALERT_MAX_REQUESTS; i++)
		take(&c, a.requests[a.nrequests++], sizeof(a.requests[0]));
	if (a.nrequests && (choice & 0x40))
		kw_alert_add_link(&a, a.requests[0], k.name);
	ev = json_loadb((const char *)c.p, c.n,
			JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!ev)
		ev = json_stringn_nocheck((const char *)c.p, c.n);
	for (size_t i = 0; ev && i < sizeof(flag_sets) / sizeof(flag_sets[0]);
	     i++)
		same(data, size, "value", json_dumps(ev, flag_sets[i]),
		     kw_json_dump(ev, flag_sets[i]));
	if (choice & 0x80) /* else the evidence is written from flat */
		kw_alert_trees(&a);
	if (json_is_object(ev) && !a.flat.on) {
		json_decref(a.evidence);
		a.evidence = json_incref(ev);
	} else if (ev && !a.flat.on) {
		json_object_set(a.evidence, "value", ev);
	} else if (ev) {
		kw_alert_evidence_json(&a, "value", json_incref(ev));
	}
	json_decref(ev);
	o = kw_alert_to_object(&a);
	same(data, size, "alert",
	     o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL,
	     kw_alert_to_json(&a));
	json_decref(o);
	kw_alert_clear(&a);
	return 0;
}
