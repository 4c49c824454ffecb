/*
 * chat.c - the slots the chat and paging sinks share (see chat.h), and
 * what their messages say (struct kw_chat_msg): a title in words, the key
 * (redacted id, name, kind, mode), what happened in sentences (for an
 * incident, its totals), the top operations, IPs and countries and the
 * request ids that made it, the evidence under words rather than field
 * names, the next step for the detector and key kind, links (each request
 * where its API or gateway shows it, the runbook), and a suppress fragment
 * that ends ("until") and asks why ("reason").
 *
 * Evidence values are shown as text: strings as they are, true and false
 * as yes and no, numbers as JSON, arrays of strings joined with ", ",
 * anything else as compact JSON; each cut at a character boundary.
 */
#include "sink/chat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_dump.h"
#include "core/time.h"

#define ELLIPSIS "\xe2\x80\xa6"

void kw_sink_chat_destroy(void *self)
{
	struct kw_chat *c = self;

	if (!c)
		return;
	kw_sink_http_fini(&c->http);
	kw_sink_secret_free(c->url);
	kw_sink_secret_free(c->key);
	free(c->username);
	free(c->channel);
	free(c);
}

static enum kw_status copy_opt(const json_t *conf, const char *name, char **out,
			       struct kw_error *err)
{
	const char *v = json_string_value(json_object_get(conf, name));

	if (!v)
		return KW_OK;
	*out = strdup(v);
	return *out ? KW_OK : kw_error_set(err, KW_ENOMEM, "out of memory");
}

enum kw_status kw_sink_chat_create(const json_t *conf,
				   const struct kw_sink_env *env,
				   const char *type, kw_chat_render_fn render,
				   const char *default_url,
				   const char *key_option, void **self,
				   struct kw_error *err)
{
	struct kw_chat *c = calloc(1, sizeof(*c));
	enum kw_status st;

	if (!c)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	c->type = type;
	c->render = render;
	st = kw_sink_secret(conf, "url", !default_url, env, type, &c->url, err);
	/* Without a default, kw_sink_secret required the url. */
	if (st == KW_OK && !c->url && default_url) {
		c->url = strdup(default_url);
		if (!c->url)
			st = kw_error_set(err, KW_ENOMEM, "out of memory");
	}
	if (st == KW_OK)
		st = kw_sink_http_check_url(c->url, env, "url", err);
	if (st == KW_OK && key_option)
		st = kw_sink_secret(conf, key_option, true, env, type, &c->key,
				    err);
	if (st == KW_OK)
		st = copy_opt(conf, "username", &c->username, err);
	if (st == KW_OK)
		st = copy_opt(conf, "channel", &c->channel, err);
	c->resolve = json_is_true(json_object_get(conf, "resolve"));
	c->suppress_for = KW_CHAT_SUPPRESS_FOR;
	if (json_object_get(conf, "suppress_for"))
		kw_duration_parse(json_string_value(json_object_get(
					  conf, "suppress_for")),
				  &c->suppress_for);
	if (st == KW_OK)
		st = kw_sink_http_init(&c->http, kw_sink_http_timeout(conf),
				       err);
	if (st != KW_OK) {
		kw_sink_chat_destroy(c);
		return st;
	}
	*self = c;
	return KW_OK;
}

enum kw_sink_result kw_sink_chat_deliver(void *self, const struct kw_alert *a,
					 const char *json, size_t len,
					 struct kw_error *err)
{
	struct kw_chat *c = self;
	json_t *payload;
	char *body;
	enum kw_sink_result r;

	(void)json;
	(void)len;
	/* A closing with nothing new is not worth a message to a person;
	 * only a service that resolves (pagerduty) hears of it. */
	if (kw_sink_chat_bare_close(a) && !c->resolve)
		return KW_SINK_OK;
	payload = c->render(c, a);
	body = payload ? kw_json_dump(payload, JSON_COMPACT) : NULL;
	if (json_is_null(payload)) {
		json_decref(payload);
		return KW_SINK_OK; /* nothing for this service to tell */
	}
	json_decref(payload);
	if (!body) {
		kw_error_set(err, KW_ENOMEM,
			     "out of memory rendering the alert");
		return KW_SINK_RETRY;
	}
	r = kw_sink_http_post(&c->http, c->url, NULL, body, strlen(body), err);
	free(body);
	return r;
}

void kw_sink_chat_describe(void *self, char *buf, size_t cap)
{
	struct kw_chat *c = self;
	char url[256];

	kw_sink_http_redact(c->url, url, sizeof(url));
	snprintf(buf, cap, "%s %s (%stimeout %lld s)", c->type, url,
		 c->key ? "routing key set, " : "",
		 (long long)(c->http.timeout_ms / 1000));
}

void kw_sink_chat_answer(void *self, char *buf, size_t cap)
{
	kw_sink_http_answer(&((struct kw_chat *)self)->http, buf, cap);
}

int64_t kw_sink_chat_retry_after(void *self)
{
	return ((struct kw_chat *)self)->http.retry_after_ms;
}

/* ------------------------------------------------------------- rendering */

/* Copy s into buf, cut at a character boundary with an ellipsis. */
static void cut(const char *s, char *buf, size_t cap)
{
	size_t n = strlen(s);

	if (n < cap) {
		memcpy(buf, s, n + 1);
		return;
	}
	n = cap - sizeof(ELLIPSIS);
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(buf, s, n);
	memcpy(buf + n, ELLIPSIS, sizeof(ELLIPSIS));
}

/* Append printf-style to buf (cap bytes), cutting at a character
 * boundary when it does not fit. */
static void add(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add(char *buf, size_t cap, const char *fmt, ...)
{
	char tmp[2048];
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	cut(tmp, buf + used, cap - used);
}

static void value_text(const json_t *v, char *buf, size_t cap)
{
	char *s = NULL;
	size_t i;
	json_t *e;

	if (json_is_string(v)) {
		cut(json_string_value(v), buf, cap);
		return;
	}
	if (json_is_true(v) || json_is_false(v)) {
		cut(json_is_true(v) ? "yes" : "no", buf, cap);
		return;
	}
	if (json_is_array(v)) {
		bool strings = true;

		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e))
				strings = false;
		}
		if (strings) {
			buf[0] = '\0';
			json_array_foreach(v, i, e)
			{
				add(buf, cap, "%s%s", i ? ", " : "",
				    json_string_value(e));
			}
			if (!json_array_size(v))
				cut("none", buf, cap);
			return;
		}
	}
	s = kw_json_dump(v, JSON_COMPACT | JSON_ENCODE_ANY);
	cut(s ? s : "", buf, cap);
	free(s);
}

/* ------------------------------------------------------ words and steps */

/* Evidence fields as people say them. A field not listed is written with
 * its underscores as spaces. */
static const struct {
	const char *field, *words;
} words[] = {
	{"ip", "IP address"},
	{"op", "Operation"},
	{"method", "Method"},
	{"path", "Path"},
	{"status", "HTTP status"},
	{"user_agent", "User agent"},
	{"origin", "Origin"},
	{"source", "Source"},
	{"region", "Region"},
	{"country", "Country"},
	{"network", "Network (ASN)"},
	{"org", "Organisation"},
	{"flags", "Network flags"},
	{"known_countries", "Countries seen before"},
	{"known_networks", "Networks seen before"},
	{"known_network", "In a network seen before"},
	{"known_ips", "Addresses seen before"},
	{"known_ops", "Operations seen before"},
	{"learned_since", "Learning since"},
	{"requests", "Requests in the window"},
	{"baseline", "Usual requests per window"},
	{"baseline_peak", "Usual busiest window"},
	{"ratio", "Times the usual"},
	{"window_start", "Window start"},
	{"window_seconds", "Window (seconds)"},
	{"failed", "Failed requests"},
	{"denied", "Denied requests"},
	{"floor", "Alert floor"},
	{"usual", "Usual failures per window"},
	{"keys", "Keys tried"},
	{"allow_ips", "Allowed networks"},
	{"allow_countries", "Allowed countries"},
	{"expires", "Rolled at"},
	{"accepted", "Accepted by the API"},
	{"refused", "Refused by the API"},
	{"resource", "Resource"},
	{"access", "Access needed"},
	{"granted", "Access granted"},
	{"sensitive", "Why it is sensitive"},
	{"from_ip", "Previous IP address"},
	{"from_country", "Previous country"},
	{"from_time", "Previous request"},
	{"distance_km", "Distance (km)"},
	{"seconds", "Seconds between"},
	{"speed_kmh", "Speed (km/h)"},
	{"max_kmh", "Speed limit (km/h)"},
	{"repeats", "Repeats held back"},
	{"repeats_since", "Repeats since"},
	{"held", "Alerts held back"},
	{"by_detector", "By detector"},
	{"from", "From"},
	{"to", "To"},
};

static void field_words(const char *field, char *buf, size_t cap)
{
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (!strcmp(words[i].field, field)) {
			cut(words[i].words, buf, cap);
			return;
		}
	}
	cut(field, buf, cap);
	for (char *p = buf; *p; p++)
		if (*p == '_')
			*p = ' ';
	if (buf[0] >= 'a' && buf[0] <= 'z')
		buf[0] = (char)(buf[0] - 'a' + 'A');
}

/* What each detector means in a few words, and what to do next. */
static const struct {
	const char *detector, *title, *next;
} steps[] = {
	{"key.honey", "Decoy key used",
	 "Whoever holds this decoy took it from where it was planted: find "
	 "that place and what else was exposed there. Leave the decoy as it "
	 "is; it must never work."},
	{"key.client_exposed", "Server-side key sent by a browser",
	 "Roll this key now (create a new one, deploy it, then revoke this "
	 "one): it is in a web page or app, where anyone can copy it. Move "
	 "these calls to your server."},
	{"key.expired_used", "Rolled key still in use",
	 "Revoke the key for good if the API still accepts it, and find who "
	 "still sends it."},
	{"ops.not_permitted", "Operation outside the key's permissions",
	 "Check who made this call; if it was not you, roll the key."},
	{"ops.sensitive", "Sensitive operation",
	 "Check who made this call and undo it if it was not yours (a "
	 "payout, a webhook endpoint, a new key or user); then roll the "
	 "key."},
	{"ops.harvest", "Harvesting of secrets or probing",
	 "Check whether this reading comes from a job of yours (a secrets "
	 "sync, a migration); if not, roll the key and rotate every secret "
	 "or password named in the alert."},
	{"key.instance_outside", "Instance credentials used off the instance",
	 "Revoke the role's active sessions (deny tokens issued before now), "
	 "find how they left the instance (SSRF, a shell, IMDSv1) and "
	 "require IMDSv2."},
	{"ops.first_seen", "First use of an operation",
	 "Check whether this new operation comes from a change of yours; if "
	 "not, roll the key."},
	{"geo.new_ip", "New IP address",
	 "Check whether this address is yours (a new server, a VPN, a "
	 "partner); if not, roll the key."},
	{"geo.new_network", "New network",
	 "Check whether this network is yours (a new cloud or office); if "
	 "not, roll the key."},
	{"geo.new_country", "New country",
	 "Check whether the key is meant to be used from this country; if "
	 "not, roll the key."},
	{"geo.impossible_travel", "Impossible travel",
	 "Two places too far apart for the time between them: one is "
	 "probably not yours. Check both; roll the key if either is "
	 "unknown."},
	{"geo.ip_not_allowed", "IP address outside the allowlist",
	 "If this address is yours, add it to the key's allow_ips; if not, "
	 "roll the key."},
	{"geo.country_not_allowed", "Country outside the allowlist",
	 "If this country is expected, add it to the key's "
	 "allow_countries; if not, roll the key."},
	{"rate.spike", "Request rate spike",
	 "Check whether this traffic is yours (a job, a launch, a retry "
	 "loop); if not, roll the key and check what its top operations "
	 "did."},
	{"rate.errors", "Burst of failed requests",
	 "Denied requests in a burst mean someone is guessing or a rolled "
	 "key is still deployed: check the addresses and where the key is "
	 "used."},
	{"auth.failures", "Someone trying keys",
	 "One address tried several keys: block it at your edge, and check "
	 "that none of the keys it tried worked."},
	{"router.digest", "Alerts held back by the rate limit",
	 "Read the held-back alerts in the alert log (the file sink or "
	 "stdout)."},
	{"keywatch.test", "Test message from keywatch test-sink",
	 "Nothing to do: this message only checks that keywatch's alerts "
	 "reach this place."},
};

static size_t step_of(const char *detector)
{
	size_t n = sizeof(steps) / sizeof(steps[0]);

	for (size_t i = 0; i < n; i++) {
		if (!strcmp(steps[i].detector, detector))
			return i;
	}
	return n;
}

static const char *detector_title(const char *detector)
{
	size_t i = step_of(detector);

	return i < sizeof(steps) / sizeof(steps[0]) ? steps[i].title : detector;
}

/* The next step; an operation outside the permissions depends on the
 * key's kind. */
static const char *next_step(const struct kw_alert *a)
{
	size_t i = step_of(a->detector);

	if (!strcmp(a->detector, "ops.not_permitted")) {
		if (a->key.kind == KW_KIND_RESTRICTED)
			return "Check the restricted key's permissions: grant "
			       "this operation if it is expected; if not, "
			       "roll the key.";
		if (a->key.kind == KW_KIND_PUBLISHABLE)
			return "A publishable key is public, so anyone may "
			       "have sent this: check which page or app "
			       "calls it, and that the API refused it.";
	}
	return i < sizeof(steps) / sizeof(steps[0])
		       ? steps[i].next
		       : "Check whether this was you; if not, roll the key.";
}

/* ------------------------------------------------------------ the parts */

static void upper(const char *s, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < cap; i++)
		buf[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A'
							   : s[i]);
	buf[i] = '\0';
}

static const char *kind_words(enum kw_key_kind k)
{
	switch (k) {
	case KW_KIND_PUBLISHABLE:
		return "a publishable key";
	case KW_KIND_SECRET:
		return "a secret key";
	case KW_KIND_RESTRICTED:
		return "a restricted key";
	case KW_KIND_LONG_TERM:
		return "a long-term AWS access key";
	case KW_KIND_TEMPORARY:
		return "a temporary AWS access key";
	default:
		return "a key of unknown kind";
	}
}

static void key_line(const struct kw_alert *a, char *buf, size_t cap)
{
	const struct kw_alert_key *k = &a->key;

	buf[0] = '\0';
	add(buf, cap, "%s", k->id);
	if (k->name[0])
		add(buf, cap, " (%s)", k->name);
	add(buf, cap, ": %s", kind_words(k->kind));
	if (k->mode != KW_MODE_UNKNOWN)
		add(buf, cap, ", %s mode", kw_key_mode_name(k->mode));
}

/* "a (3), b (2)" from [{field: name, count: n}] (a count of 1 is not
 * worth showing when nothing counts more), and how many listed. */
static size_t list_text(const json_t *list, const char *field,
			const char *count, char *buf, size_t cap)
{
	bool counts = false;
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
	{
		if (json_integer_value(json_object_get(e, count)) > 1)
			counts = true;
	}
	buf[0] = '\0';
	json_array_foreach(list, i, e)
	{
		const char *name = json_string_value(json_object_get(e, field));
		json_int_t n = json_integer_value(json_object_get(e, count));

		if (!name)
			continue;
		add(buf, cap, "%s%s", i ? ", " : "", name);
		if (counts)
			add(buf, cap, " (%lld)", (long long)n);
	}
	return json_array_size(list);
}

static struct kw_chat_field *new_field(struct kw_chat_msg *m, const char *name)
{
	struct kw_chat_field *f;

	if (m->nfields == KW_CHAT_MAX_FIELDS)
		return NULL;
	f = &m->fields[m->nfields++];
	cut(name, f->name, sizeof(f->name));
	f->value[0] = '\0';
	return f;
}

static void requests_field(const struct kw_alert *a, struct kw_chat_msg *m)
{
	struct kw_chat_field *f;

	if (!a->nrequests || !(f = new_field(m, "Requests")))
		return;
	for (unsigned i = 0; i < a->nrequests; i++)
		add(f->value, sizeof(f->value), "%s%s", i ? ", " : "",
		    a->requests[i]);
}

/* One of a rate.spike's top lists, named after the requests it counted. */
static void top_field(struct kw_chat_msg *m, const json_t *list,
		      const char *field, const char *label, json_int_t of)
{
	struct kw_chat_field *f;
	char name[64];

	if (of)
		snprintf(name, sizeof(name), "%s (of the last %lld requests)",
			 label, (long long)of);
	else
		snprintf(name, sizeof(name), "%s", label);
	if (list && (f = new_field(m, name)))
		list_text(list, field, "requests", f->value, sizeof(f->value));
}

/* An alert's own top lists ("top_ops", "top_ips" of a rate.spike). */
static void alert_lists(const struct kw_alert *a, struct kw_chat_msg *m)
{
	const json_t *ev = a->evidence;
	json_int_t of =
		json_integer_value(json_object_get(ev, "top_of_requests"));

	top_field(m, json_object_get(ev, "top_ops"), "op", "Operations", of);
	top_field(m, json_object_get(ev, "top_ips"), "ip", "IP addresses", of);
}

/* The evidence fields not already shown, in words. */
static void evidence_fields(const struct kw_alert *a, struct kw_chat_msg *m,
			    bool incident)
{
	static const char *const shown[] = {"top_ops", "top_ips",
					    "top_of_requests", NULL};
	const char *k;
	json_t *v;

	json_object_foreach(a->evidence, k, v)
	{
		struct kw_chat_field *f;
		char name[64];
		size_t i;

		for (i = 0; shown[i] && strcmp(shown[i], k); i++)
			;
		if (shown[i] ||
		    (incident && (!strcmp(k, "ip") || !strcmp(k, "op") ||
				  !strcmp(k, "country"))))
			continue;
		field_words(k, name, sizeof(name));
		f = new_field(m, name);
		if (!f)
			return;
		value_text(v, f->value, sizeof(f->value));
	}
}

static const char *ordinal(json_int_t n, char *buf, size_t cap)
{
	const char *sfx = n % 10 == 1 && n % 100 != 11	 ? "st"
			  : n % 10 == 2 && n % 100 != 12 ? "nd"
			  : n % 10 == 3 && n % 100 != 13 ? "rd"
							 : "th";

	snprintf(buf, cap, "%lld%s", (long long)n, sfx);
	return buf;
}

/* An incident's event line, its sentence of totals and its lists. */
static void incident_parts(const struct kw_alert *a, struct kw_chat_msg *m)
{
	const json_t *u = a->update;
	const char *ev = kw_sink_chat_event(a);
	json_int_t alerts = json_integer_value(json_object_get(u, "alerts"));
	json_int_t fresh = json_integer_value(json_object_get(u, "new_alerts"));
	json_int_t nips = json_integer_value(json_object_get(u, "ip_count"));
	json_int_t msg = json_integer_value(json_object_get(u, "message"));
	const char *opened = json_string_value(json_object_get(u, "opened"));
	const char *last = json_string_value(json_object_get(u, "last_alert"));
	const char *closed = json_string_value(json_object_get(u, "closed"));
	size_t ncountries = json_array_size(json_object_get(u, "countries"));
	struct kw_chat_field *f;
	const char *name;
	json_t *n;
	char nth[16];
	size_t i = 0;

	if (!strcmp(ev, "opened"))
		snprintf(m->event, sizeof(m->event), "Incident opened");
	else if (!strcmp(ev, "closed"))
		snprintf(m->event, sizeof(m->event), "Incident closed");
	else
		snprintf(m->event, sizeof(m->event),
			 "Incident update (%s message)",
			 ordinal(msg, nth, sizeof(nth)));
	if (alerts > 1) {
		add(m->what, sizeof(m->what), "\n%lld alerts since %s",
		    (long long)alerts, opened ? opened : "?");
		if (nips > 1)
			add(m->what, sizeof(m->what),
			    ", from %lld IP addresses", (long long)nips);
		if (ncountries > 1)
			add(m->what, sizeof(m->what), " in %zu countries",
			    ncountries);
		if (strcmp(ev, "opened") != 0)
			add(m->what, sizeof(m->what),
			    "; %lld new since the last message",
			    (long long)fresh);
		add(m->what, sizeof(m->what), ".");
	}
	if (closed)
		add(m->what, sizeof(m->what),
		    "\nClosed at %s: no alert on this key since %s.", closed,
		    last ? last : "?");
	if (alerts > 1 && (f = new_field(m, "Alerts"))) {
		add(f->value, sizeof(f->value), "%lld:", (long long)alerts);
		json_object_foreach(json_object_get(u, "detectors"), name, n)
		{
			add(f->value, sizeof(f->value), "%s %s %lld",
			    i++ ? "," : "", detector_title(name),
			    (long long)json_integer_value(n));
		}
	}
	if (json_array_size(json_object_get(u, "operations")) &&
	    (f = new_field(m, "Operations")))
		list_text(json_object_get(u, "operations"), "op", "alerts",
			  f->value, sizeof(f->value));
	if (json_array_size(json_object_get(u, "ips")) &&
	    (f = new_field(m, "IP addresses"))) {
		size_t shown = list_text(json_object_get(u, "ips"), "ip",
					 "alerts", f->value, sizeof(f->value));

		if ((json_int_t)shown < nips)
			add(f->value, sizeof(f->value), " and %lld more",
			    (long long)(nips - (json_int_t)shown));
	}
	if (ncountries && (f = new_field(m, "Countries")))
		list_text(json_object_get(u, "countries"), "country", "alerts",
			  f->value, sizeof(f->value));
	if (alerts > 1 && (f = new_field(m, "First and last alert")))
		snprintf(f->value, sizeof(f->value), "%s, %s",
			 opened ? opened : "?", last ? last : "?");
}

static void link_parts(const struct kw_alert *a, struct kw_chat_msg *m)
{
	for (unsigned i = 0; i < a->nrequests && m->nlinks < KW_CHAT_MAX_LINKS;
	     i++) {
		const char *url = kw_alert_link(a, a->requests[i]);

		if (!url)
			continue;
		snprintf(m->links[m->nlinks].text,
			 sizeof(m->links[m->nlinks].text), "Request %s",
			 a->requests[i]);
		cut(url, m->links[m->nlinks].url,
		    sizeof(m->links[m->nlinks].url));
		m->nlinks++;
	}
	if (a->runbook[0] && m->nlinks < KW_CHAT_MAX_LINKS) {
		snprintf(m->links[m->nlinks].text,
			 sizeof(m->links[m->nlinks].text), "Runbook");
		cut(a->runbook, m->links[m->nlinks].url,
		    sizeof(m->links[m->nlinks].url));
		m->nlinks++;
	}
}

/* The fragment that silences this alert, with an "until" suppress_for
 * past its time (a suppression should end) and a reason to fill in. */
static void suppress_text(const struct kw_alert *a, int64_t suppress_for,
			  char *buf, size_t cap)
{
	json_t *o = a->suppress ? json_deep_copy(a->suppress) : json_object();
	char until[32];
	char *s;

	kw_time_format(a->time + suppress_for, until, sizeof(until));
	if (o) {
		json_object_set_new(o, "until", json_string(until));
		json_object_set_new(o, "reason",
				    json_string("<why this is expected>"));
	}
	s = o ? kw_json_dump(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	cut(s ? s : "{}", buf, cap);
	free(s);
	json_decref(o);
}

void kw_sink_chat_message(const struct kw_alert *a, int64_t suppress_for,
			  struct kw_chat_msg *m)
{
	char sev[16], t[32];
	const char *alert_id = json_string_value(
		json_object_get(json_object_get(a->update, "alert"), "id"));

	memset(m, 0, sizeof(*m));
	upper(kw_severity_name(a->severity), sev, sizeof(sev));
	snprintf(m->title, sizeof(m->title), "%s \xc2\xb7 %s", sev,
		 detector_title(a->detector));
	key_line(a, m->key, sizeof(m->key));
	cut(a->summary, m->what, sizeof(m->what));
	if (a->update)
		incident_parts(a, m);
	alert_lists(a, m);
	requests_field(a, m);
	evidence_fields(a, m, a->update != NULL);
	cut(next_step(a), m->next, sizeof(m->next));
	link_parts(a, m);
	suppress_text(a, suppress_for, m->suppress, sizeof(m->suppress));
	kw_time_format(a->time, t, sizeof(t));
	if (a->update)
		snprintf(m->ids, sizeof(m->ids),
			 "incident %s \xc2\xb7 worst alert %s \xc2\xb7 %s",
			 a->id, alert_id ? alert_id : "?", t);
	else
		snprintf(m->ids, sizeof(m->ids), "alert %s \xc2\xb7 %s", a->id,
			 t);
}

const char *kw_sink_chat_event(const struct kw_alert *a)
{
	return json_string_value(json_object_get(a->update, "event"));
}

bool kw_sink_chat_bare_close(const struct kw_alert *a)
{
	const char *ev = kw_sink_chat_event(a);

	return ev && !strcmp(ev, "closed") &&
	       json_integer_value(json_object_get(a->update, "new_alerts")) ==
		       0;
}

unsigned kw_sink_chat_colour(enum kw_severity s)
{
	static const unsigned colours[KW_SEV_MAX] = {
		0x9e9e9e, /* info */
		0x4a90d9, /* low */
		0xf2c744, /* medium */
		0xe8590c, /* high */
		0xd00000, /* critical */
	};

	return (unsigned)s < KW_SEV_MAX ? colours[s] : colours[0];
}
