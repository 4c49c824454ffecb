/*
 * test_config.c - the JSON config: defaults, every option loaded from a
 * string, every error message (unknown keys with and without a suggestion
 * at the top level and in keys[i], suppress[i], inputs[i]; wrong types;
 * required fields; bad values; JSON syntax with line:column), loading from
 * a file, CIDR parsing and matching at the v4/v6 edges, permissions
 * lookup, first-match key lookup, and "env:", "file:" and "cred:" secrets.
 *
 * The one idea: error messages are user interface, so every one is
 * compared as a whole string, file name and JSON path included.
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

#include "core/config.h"
#include "core/time.h"
#include "stderr_capture.h"

#define HOUR (INT64_C(3600) * 1000000)

static struct kw_config *load_ok(const char *text)
{
	struct kw_config *c = NULL;
	struct kw_error err;

	kw_error_clear(&err);
	if (kw_config_load_string(text, "t.json", &c, &err) != KW_OK)
		fail_msg("load failed: %s", err.msg);
	assert_non_null(c);
	return c;
}

static void load_err(const char *text, const char *want)
{
	struct kw_config *c = (struct kw_config *)&c;
	struct kw_error err;

	kw_error_clear(&err);
	assert_int_equal(kw_config_load_string(text, "t.json", &c, &err),
			 KW_ECONFIG);
	assert_null(c);
	assert_int_equal(err.status, KW_ECONFIG);
	assert_string_equal(err.msg, want);
}

/* ---- defaults and every option ------------------------------------------- */

static void test_defaults(void **state)
{
	struct kw_config *c = NULL;
	struct kw_error err;

	(void)state;
	assert_int_equal(kw_config_defaults(&c, &err), KW_OK);
	assert_string_equal(c->file, "(defaults)");
	assert_int_equal(c->nmodels, 4);
	assert_string_equal(c->models[0], "stripe");
	assert_string_equal(c->models[1], "aws");
	assert_string_equal(c->models[2], "gcp");
	assert_string_equal(c->models[3], "github");
	assert_null(c->models[4]);
	assert_int_equal(c->ngeoip, 0);
	assert_int_equal(c->ninputs, 0);
	assert_null(c->state_dir);
	assert_int_equal(c->learn, 72 * HOUR);
	assert_int_equal(c->nkeys, 0);
	assert_true(json_is_object(c->detectors));
	assert_int_equal(json_object_size(c->detectors), 0);
	assert_int_equal(c->nsuppress, 0);
	assert_true(json_is_array(c->sinks));
	assert_int_equal(json_array_size(c->sinks), 0);
	assert_true(json_is_object(c->map));
	assert_int_equal(c->max_keys, 1000000);
	assert_int_equal(c->max_line, 1048576);
	assert_int_equal(c->dedup_window, HOUR);
	assert_int_equal(c->lateness, 0); /* by the formats read */
	assert_int_equal(c->max_open_inputs, 256);
	assert_false(c->geo_publishable);
	kw_config_free(c);
	kw_config_free(NULL);

	/* An empty object is the defaults under another name. */
	c = load_ok("{}");
	assert_string_equal(c->file, "t.json");
	assert_int_equal(c->nmodels, 4);
	assert_int_equal(c->learn, 72 * HOUR);
	kw_config_free(c);
}

static const char full_config[] =
	"{\n"
	"  \"models\": [\"stripe\"],\n"
	"  \"geoip\": [\"/g/city.mmdb\", \"/g/asn.mmdb\"],\n"
	"  \"inputs\": [\n"
	"    {\"path\": \"/var/log/api/*.jsonl\", \"format\": \"keywatch\",\n"
	"     \"map\": {\"api_key\": \"headers.x-api-key\"}},\n"
	"    {\"path\": \"/var/log/ct/*.json.gz\"}\n"
	"  ],\n"
	"  \"state_dir\": \"/var/lib/keywatch\",\n"
	"  \"learn\": \"7d\",\n"
	"  \"keys\": [\n"
	"    {\"match\": \"rk_live_*a1b2\", \"name\": \"analytics\",\n"
	"     \"permissions\": {\"charges\": \"read\", \"customers\": "
	"\"write\", \"refunds\": \"none\"},\n"
	"     \"allow_ips\": [\"203.0.113.77/24\", \"2001:db8::/32\", "
	"\"198.51.100.7\"],\n"
	"     \"allow_countries\": [\"US\", \"IE\"]},\n"
	"    {\"match\": \"sk_live_*dead\", \"expires\": "
	"\"2026-11-01T00:00:00Z\"},\n"
	"    {\"match\": \"sk_live_*beef\", \"name\": \"decoy\", \"honey\": "
	"true}\n"
	"  ],\n"
	"  \"detectors\": {\"geo.new_ip\": {\"enabled\": false}},\n"
	"  \"suppress\": [\n"
	"    {\"detector\": \"geo.new_country\", \"key\": \"sk_live_*4242\", "
	"\"country\": \"SG\",\n"
	"     \"until\": \"2027-01-31T00:00:00Z\", \"reason\": \"launch\", "
	"\"owner\": \"p@example.com\"},\n"
	"    {\"op\": \"balance.retrieve\", \"ip\": \"203.0.113.9\", "
	"\"network\": \"AS64500\"}\n"
	"  ],\n"
	"  \"sinks\": [{\"type\": \"stdout\"}, {\"type\": \"file\", \"path\": "
	"\"/tmp/a.jsonl\"}],\n"
	"  \"map\": {\"api_key\": \"auth.key\"},\n"
	"  \"max_keys\": 5000,\n"
	"  \"max_line\": 64,\n"
	"  \"dedup_window\": \"15m\",\n"
	"  \"lateness\": \"20m\",\n"
	"  \"max_open_inputs\": 64,\n"
	"  \"geo_publishable\": true,\n"
	"  \"trusted_accounts\": [\"111122223333\", \"444455556666\"]\n"
	"}\n";

static void test_every_option(void **state)
{
	struct kw_config *c;
	const struct kw_keyconf *k;
	const struct kw_suppress *s;
	char buf[64];
	int64_t t;

	(void)state;
	c = load_ok(full_config);
	assert_int_equal(c->nmodels, 1);
	assert_string_equal(c->models[0], "stripe");
	assert_null(c->models[1]);
	assert_int_equal(c->ngeoip, 2);
	assert_string_equal(c->geoip[0], "/g/city.mmdb");
	assert_string_equal(c->geoip[1], "/g/asn.mmdb");

	assert_int_equal(c->ninputs, 2);
	assert_string_equal(c->inputs[0].path, "/var/log/api/*.jsonl");
	assert_string_equal(c->inputs[0].format, "keywatch");
	assert_string_equal(
		json_string_value(json_object_get(c->inputs[0].map, "api_key")),
		"headers.x-api-key");
	assert_string_equal(c->inputs[1].path, "/var/log/ct/*.json.gz");
	assert_null(c->inputs[1].format);
	assert_null(c->inputs[1].map);

	assert_string_equal(c->state_dir, "/var/lib/keywatch");
	assert_int_equal(c->learn, 7 * 24 * HOUR);

	assert_int_equal(c->nkeys, 3);
	k = &c->keys[0];
	assert_int_equal(k->index, 0);
	assert_string_equal(k->match, "rk_live_*a1b2");
	assert_string_equal(k->name, "analytics");
	assert_true(k->has_perms);
	assert_int_equal(k->nperms, 3);
	assert_string_equal(k->perms[0].resource, "charges");
	assert_int_equal(k->perms[0].access, KW_ACCESS_READ);
	assert_string_equal(k->perms[1].resource, "customers");
	assert_int_equal(k->perms[1].access, KW_ACCESS_WRITE);
	assert_string_equal(k->perms[2].resource, "refunds");
	assert_int_equal(k->perms[2].access, KW_ACCESS_NONE);
	assert_int_equal(k->nallow_ips, 3);
	/* Networks are stored masked. */
	assert_string_equal(
		kw_ip_format(&k->allow_ips[0].net, buf, sizeof(buf)),
		"203.0.113.0");
	assert_int_equal(k->allow_ips[0].bits, 24);
	assert_string_equal(
		kw_ip_format(&k->allow_ips[1].net, buf, sizeof(buf)),
		"2001:db8::");
	assert_int_equal(k->allow_ips[1].bits, 32);
	assert_string_equal(
		kw_ip_format(&k->allow_ips[2].net, buf, sizeof(buf)),
		"198.51.100.7");
	assert_int_equal(k->allow_ips[2].bits, 32);
	assert_int_equal(k->nallow_countries, 2);
	assert_string_equal(k->allow_countries[0], "US");
	assert_string_equal(k->allow_countries[1], "IE");
	assert_false(k->has_expires);
	assert_false(k->honey);

	k = &c->keys[1];
	assert_int_equal(k->index, 1);
	assert_null(k->name);
	assert_false(k->has_perms);
	assert_null(k->perms);
	assert_int_equal(k->nallow_ips, 0);
	assert_true(k->has_expires);
	assert_true(kw_time_parse("2026-11-01T00:00:00Z", 20, &t));
	assert_int_equal(k->expires, t);
	assert_false(k->honey);
	k = &c->keys[2];
	assert_string_equal(k->name, "decoy");
	assert_true(k->honey);

	assert_false(json_is_true(json_object_get(
		json_object_get(c->detectors, "geo.new_ip"), "enabled")));

	assert_int_equal(c->nsuppress, 2);
	s = &c->suppress[0];
	assert_string_equal(s->detector, "geo.new_country");
	assert_string_equal(s->key, "sk_live_*4242");
	assert_int_equal(json_object_size(s->subject), 1);
	assert_string_equal(
		json_string_value(json_object_get(s->subject, "country")),
		"SG");
	assert_true(s->has_until);
	assert_true(kw_time_parse("2027-01-31T00:00:00Z", 20, &t));
	assert_int_equal(s->until, t);
	assert_string_equal(s->reason, "launch");
	assert_string_equal(s->owner, "p@example.com");
	s = &c->suppress[1];
	assert_null(s->detector);
	assert_null(s->key);
	assert_false(s->has_until);
	assert_null(s->reason);
	assert_null(s->owner);
	assert_int_equal(json_object_size(s->subject), 3);
	assert_string_equal(
		json_string_value(json_object_get(s->subject, "op")),
		"balance.retrieve");
	assert_string_equal(
		json_string_value(json_object_get(s->subject, "ip")),
		"203.0.113.9");
	assert_string_equal(
		json_string_value(json_object_get(s->subject, "network")),
		"AS64500");

	assert_int_equal(json_array_size(c->sinks), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(c->sinks, 1), "path")),
			    "/tmp/a.jsonl");
	assert_string_equal(
		json_string_value(json_object_get(c->map, "api_key")),
		"auth.key");
	assert_int_equal(c->max_keys, 5000);
	assert_int_equal(c->max_line, 64);
	assert_int_equal(c->dedup_window, 15 * 60 * INT64_C(1000000));
	assert_int_equal(c->lateness, 20 * 60 * INT64_C(1000000));
	assert_int_equal(c->max_open_inputs, 64);
	assert_true(c->geo_publishable);
	assert_int_equal(c->ntrusted_accounts, 2);
	assert_string_equal(c->trusted_accounts[1], "444455556666");
	kw_config_free(c);

	c = load_ok("{\"models\": [], \"geo_publishable\": false}");
	assert_int_equal(c->nmodels, 0);
	assert_null(c->models[0]);
	assert_false(c->geo_publishable);
	kw_config_free(c);
}

/* ---- errors -------------------------------------------------------------- */

static void test_unknown_keys(void **state)
{
	(void)state;
	/* Top level. */
	load_err("{\"sinkz\": []}",
		 "t.json: unknown key 'sinkz' (did you mean 'sinks'?)");
	load_err("{\"lern\": \"1h\"}",
		 "t.json: unknown key 'lern' (did you mean 'learn'?)");
	load_err("{\"geo\": []}",
		 "t.json: unknown key 'geo' (did you mean 'geoip'?)");
	load_err("{\"max_key\": 5}",
		 "t.json: unknown key 'max_key' (did you mean 'max_keys'?)");
	load_err("{\"frobnicate\": 1}", "t.json: unknown key 'frobnicate'");
	/* keys[i] */
	load_err("{\"keys\": [{\"match\": \"a*\"}, {\"match\": \"b*\", "
		 "\"allow_ip\": []}]}",
		 "t.json: keys[1]: unknown key 'allow_ip' (did you mean "
		 "'allow_ips'?)");
	load_err("{\"keys\": [{\"match\": \"a*\", \"colour\": \"red\"}]}",
		 "t.json: keys[0]: unknown key 'colour'");
	/* suppress[i] */
	load_err("{\"suppress\": [{\"detector\": \"x\", \"reasons\": \"y\"}]}",
		 "t.json: suppress[0]: unknown key 'reasons' (did you mean "
		 "'reason'?)");
	load_err("{\"suppress\": [{\"detector\": \"x\", \"asn\": \"y\"}]}",
		 "t.json: suppress[0]: unknown key 'asn'");
	/* inputs[i] */
	load_err("{\"inputs\": [{\"path\": \"a\"}, {\"path\": \"b\", "
		 "\"formt\": \"keywatch\"}]}",
		 "t.json: inputs[1]: unknown key 'formt' (did you mean "
		 "'format'?)");
	load_err("{\"inputs\": [{\"path\": \"a\", \"fmt\": \"keywatch\"}]}",
		 "t.json: inputs[0]: unknown key 'fmt'");
}

static void test_wrong_types(void **state)
{
	(void)state;
	load_err("{\"models\": \"stripe\"}",
		 "t.json: models: expected an array of strings");
	load_err("{\"models\": [\"stripe\", 1]}",
		 "t.json: models: expected an array of strings");
	load_err("{\"geoip\": {}}",
		 "t.json: geoip: expected an array of strings");
	load_err("{\"inputs\": {}}", "t.json: inputs: expected an array");
	load_err("{\"state_dir\": 1}", "t.json: state_dir: expected a string");
	load_err("{\"learn\": \"72\"}",
		 "t.json: learn: expected a duration such as \"15m\", \"72h\" "
		 "or \"7d\"");
	load_err("{\"learn\": 72}",
		 "t.json: learn: expected a duration such as \"15m\", \"72h\" "
		 "or \"7d\"");
	load_err("{\"learn\": \"0s\"}",
		 "t.json: learn: expected a duration such as \"15m\", \"72h\" "
		 "or \"7d\"");
	load_err("{\"keys\": {}}", "t.json: keys: expected an array");
	load_err("{\"detectors\": []}",
		 "t.json: detectors: expected an object");
	load_err("{\"suppress\": null}", "t.json: suppress: expected an array");
	load_err("{\"sinks\": {\"type\": \"stdout\"}}",
		 "t.json: sinks: expected an array");
	load_err("{\"map\": \"x\"}", "t.json: map: expected an object");
	load_err("{\"max_keys\": -1}",
		 "t.json: max_keys: expected a non-negative integer");
	load_err("{\"max_keys\": 1.5}",
		 "t.json: max_keys: expected a non-negative integer");
	load_err("{\"max_line\": \"1MB\"}",
		 "t.json: max_line: expected a non-negative integer");
	load_err("{\"dedup_window\": \"1 hour\"}",
		 "t.json: dedup_window: expected a duration such as \"15m\", "
		 "\"72h\" or \"7d\"");
	load_err("{\"geo_publishable\": \"yes\"}",
		 "t.json: geo_publishable: expected true or false");
	load_err("{\"keys\": [{\"match\": \"a*\", \"honey\": 1}]}",
		 "t.json: keys[0].honey: expected true or false");
	load_err("{\"keys\": [{\"match\": 5}]}",
		 "t.json: keys[0].match: expected a string");
	load_err("{\"keys\": [{\"match\": \"a*\", \"permissions\": []}]}",
		 "t.json: keys[0].permissions: expected an object");
	load_err(
		"{\"keys\": [{\"match\": \"a*\", \"allow_ips\": \"1.2.3.4\"}]}",
		"t.json: keys[0].allow_ips: expected an array of strings");
	load_err("{\"keys\": [{\"match\": \"a*\", \"expires\": "
		 "\"2026-11-01\"}]}",
		 "t.json: keys[0].expires: expected an RFC 3339 time such as "
		 "\"2026-11-01T00:00:00Z\"");
	load_err("{\"suppress\": [{\"detector\": \"x\", \"until\": \"soon\"}]}",
		 "t.json: suppress[0].until: expected an RFC 3339 time such "
		 "as \"2026-11-01T00:00:00Z\"");
	load_err("{\"suppress\": [{\"country\": 1}]}",
		 "t.json: suppress[0].country: expected a string");
	load_err("{\"inputs\": [{\"path\": [\"a\"]}]}",
		 "t.json: inputs[0].path: expected a string");
	load_err("{\"inputs\": [{\"path\": \"a\", \"map\": 1}]}",
		 "t.json: inputs[0].map: expected an object");
	/* Array elements that are not objects. */
	load_err("{\"keys\": [{\"match\": \"a*\"}, 1]}",
		 "t.json: keys[1]: expected an object");
	load_err("{\"suppress\": [\"x\"]}",
		 "t.json: suppress[0]: expected an object");
	load_err("{\"inputs\": [null]}",
		 "t.json: inputs[0]: expected an object");
	load_err("{\"sinks\": [{\"type\": \"stdout\"}, []]}",
		 "t.json: sinks[1]: expected an object");
	load_err("[]", "t.json: the config must be a JSON object");
}

static void test_bad_values(void **state)
{
	(void)state;
	load_err(
		"{\"max_keys\": 0}",
		"t.json: max_keys must be at least 1 and max_line at least 64");
	load_err(
		"{\"max_line\": 63}",
		"t.json: max_keys must be at least 1 and max_line at least 64");
	load_err("{\"keys\": [{\"name\": \"x\"}]}",
		 "t.json: keys[0]: 'match' is required (a glob such as "
		 "\"sk_live_*4242\")");
	load_err("{\"keys\": [{\"match\": \"\"}]}",
		 "t.json: keys[0]: 'match' is required (a glob such as "
		 "\"sk_live_*4242\")");
	load_err("{\"keys\": [{\"match\": \"a*\", \"permissions\": "
		 "{\"charges\": \"admin\"}}]}",
		 "t.json: keys[0].permissions.charges: expected \"none\", "
		 "\"read\" or \"write\"");
	load_err("{\"keys\": [{\"match\": \"a*\", \"permissions\": "
		 "{\"charges\": \"read\", \"refunds\": true}}]}",
		 "t.json: keys[0].permissions.refunds: expected \"none\", "
		 "\"read\" or \"write\"");
	load_err("{\"keys\": [{\"match\": \"a*\", \"allow_ips\": "
		 "[\"10.0.0.0/8\", \"nope\"]}]}",
		 "t.json: keys[0].allow_ips[1]: 'nope' is not an address or "
		 "CIDR network");
	load_err("{\"keys\": [{\"match\": \"a*\", \"allow_ips\": "
		 "[\"10.0.0.0/33\"]}]}",
		 "t.json: keys[0].allow_ips[0]: '10.0.0.0/33' is not an "
		 "address or CIDR network");
	load_err("{\"keys\": [{\"match\": \"a*\", \"allow_countries\": "
		 "[\"US\", \"us\"]}]}",
		 "t.json: keys[0].allow_countries[1]: 'us' is not a two-letter "
		 "country code such as \"US\"");
	load_err("{\"keys\": [{\"match\": \"a*\", \"allow_countries\": "
		 "[\"USA\"]}]}",
		 "t.json: keys[0].allow_countries[0]: 'USA' is not a "
		 "two-letter country code such as \"US\"");
	load_err("{\"trusted_accounts\": [\"111122223333\", \"1234\"]}",
		 "t.json: trusted_accounts[1]: '1234' is not an AWS account id "
		 "(12 digits)");
	load_err("{\"trusted_accounts\": [\"11112222333x\"]}",
		 "t.json: trusted_accounts[0]: '11112222333x' is not an AWS "
		 "account id (12 digits)");
	load_err("{\"suppress\": [{}]}",
		 "t.json: suppress[0]: a suppression needs at least a "
		 "detector, a key or a subject");
	load_err("{\"suppress\": [{\"detector\": \"x\"}, {\"reason\": \"r\", "
		 "\"until\": \"2027-01-01T00:00:00Z\"}]}",
		 "t.json: suppress[1]: a suppression needs at least a "
		 "detector, a key or a subject");
	load_err("{\"inputs\": [{\"format\": \"keywatch\"}]}",
		 "t.json: inputs[0]: 'path' is required");
	/* Every number has a documented maximum: past it is an error naming
	 * the key, never "out of memory" later. */
	load_err("{\"max_line\": 1000000000000000}",
		 "t.json: max_line: at most 268435456");
	load_err("{\"max_keys\": 100000001}",
		 "t.json: max_keys: at most 100000000");
	load_err("{\"spool_max\": 1099511627777}",
		 "t.json: spool_max: at most 1099511627776");
	load_err("{\"learn\": \"3651d\"}", "t.json: learn: at most 3650d");
	load_err("{\"dedup_window\": \"366d\"}",
		 "t.json: dedup_window: at most 365d");
	load_err("{\"lateness\": \"2d\"}", "t.json: lateness: at most 1d");
	load_err("{\"max_open_inputs\": 65537}",
		 "t.json: max_open_inputs: at most 65536");
	load_err("{\"max_open_inputs\": 1}",
		 "t.json: max_open_inputs must be at least 2");
	load_err("{\"drain_timeout\": \"25h\"}",
		 "t.json: drain_timeout: at most 1d");
	load_err("{\"checkpoint_interval\": \"2d\"}",
		 "t.json: checkpoint_interval: at most 1d");
	load_err("{\"retry_max\": 86401}", "t.json: retry_max: at most 86400");
	{
		struct kw_config *c = NULL;
		struct kw_error err;

		assert_int_equal(
			kw_config_load_string("{\"max_line\": 268435456, "
					      "\"learn\": \"3650d\"}",
					      "t.json", &c, &err),
			KW_OK);
		assert_int_equal(c->max_line, 268435456);
		kw_config_free(c);
	}
	load_err("{\"links\": {\"request\": \"https://gw.example/{id}\"}}",
		 "t.json: links.request: expected an http:// or https:// URL "
		 "with {request_id} (and optionally {region})");
	load_err("{\"links\": {\"request\": \"gw/{request_id}\"}}",
		 "t.json: links.request: expected an http:// or https:// URL "
		 "with {request_id} (and optionally {region})");
	load_err("{\"links\": {\"requests\": \"x\"}}",
		 "t.json: links: unknown key 'requests' (did you mean "
		 "'request'?)");
	load_err("{\"keys\": [{\"match\": \"a*\", \"runbook_url\": "
		 "\"wiki/keys\"}]}",
		 "t.json: keys[0].runbook_url: expected an http:// or https:// "
		 "URL");
	load_err("{\"incidents\": {\"digest\": \"2h\", \"digest_max\": "
		 "\"1h\"}}",
		 "t.json: incidents.digest_max must be at least "
		 "incidents.digest");
	load_err("{\"incidents\": {\"close_after\": \"0s\"}}",
		 "t.json: incidents.close_after: expected a duration such as "
		 "\"15m\", \"72h\" or \"7d\"");
	load_err("{\"incidents\": {\"max_open\": 0}}",
		 "t.json: incidents.max_open must be at least 1");
	load_err("{\"incidents\": {\"max_open\": 1000001}}",
		 "t.json: incidents.max_open: at most 1000000");
	load_err("{\"incidents\": {\"digest\": \"31d\"}}",
		 "t.json: incidents.digest: at most 30d");
	load_err("{\"incidents\": {\"close\": \"1h\"}}",
		 "t.json: incidents: unknown key 'close' (did you mean "
		 "'close_after'?)");
}

static void test_json_syntax(void **state)
{
	char path[] = "/tmp/kw_test_config_XXXXXX";
	struct kw_config *c = NULL;
	struct kw_error err;
	FILE *f;
	int fd;

	(void)state;
	load_err("{\"a\": }",
		 "t.json:1:7: invalid JSON: unexpected token near '}'");
	load_err("{\n  \"learn\": \"1h\",\n  \"learn\": \"2h\"\n}",
		 "t.json:3:9: invalid JSON: duplicate object key near "
		 "'\"learn\"'");
	load_err("{\"learn\": \"72h\",\n \"keys\": [\n {\"match\": tru}\n]}",
		 "t.json:3:14: invalid JSON: invalid token near 'tru'");
	load_err("", "t.json:1:0: invalid JSON: '[' or '{' expected near end "
		     "of file");
	load_err("{} x", "t.json:1:4: invalid JSON: end of file expected near "
			 "'x'");

	/* From a file: the same messages with the file's name. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("{\n  \"learn\": \"1h\",\n  \"max_keys\": ,\n}\n", f);
	fclose(f);
	kw_error_clear(&err);
	assert_int_equal(kw_config_load(path, &c, &err), KW_ECONFIG);
	assert_null(c);
	{
		char want[256];

		snprintf(want, sizeof(want),
			 "%s:3:15: invalid JSON: unexpected token near ','",
			 path);
		assert_string_equal(err.msg, want);
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"learn\": \"2h\", \"keys\": [{\"match\": \"sk_*\", \"hony\": "
	      "true}]}",
	      f);
	fclose(f);
	assert_int_equal(kw_config_load(path, &c, &err), KW_ECONFIG);
	{
		char want[256];

		snprintf(want, sizeof(want),
			 "%s: keys[0]: unknown key 'hony' (did you mean "
			 "'honey'?)",
			 path);
		assert_string_equal(err.msg, want);
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"learn\": \"2h\"}", f);
	fclose(f);
	assert_int_equal(kw_config_load(path, &c, &err), KW_OK);
	assert_string_equal(c->file, path);
	assert_int_equal(c->learn, 2 * HOUR);
	kw_config_free(c);
	/* An empty file: no position to name. */
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(kw_config_load(path, &c, &err), KW_ECONFIG);
	{
		char want[256];

		snprintf(want, sizeof(want),
			 "%s: '[' or '{' expected near end of file", path);
		assert_string_equal(err.msg, want);
	}
	unlink(path);
	assert_int_equal(kw_config_load(path, &c, &err), KW_ENOTFOUND);
	{
		char want[256];

		snprintf(want, sizeof(want),
			 "%s: cannot open: No such file or directory", path);
		assert_string_equal(err.msg, want);
	}
	/* A FIFO as the config is refused at once, not waited on. */
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(kw_config_load(path, &c, &err), KW_EINVAL);
	{
		char want[256];

		snprintf(want, sizeof(want),
			 "%s: not a regular file (a named pipe)", path);
		assert_string_equal(err.msg, want);
	}
	unlink(path);
}

static void test_check_object_and_suggest(void **state)
{
	static const struct kw_option opts[] = {
		{"window", KW_OPT_DURATION, "1m", "w"},
		{"min_count", KW_OPT_INT, "30", "m"},
		{"max_kmh", KW_OPT_NUMBER, NULL, "k"},
		{"level", KW_OPT_SEVERITY, NULL, "l"},
		{"secret", KW_OPT_SECRET, NULL, "s"},
		{NULL, 0, NULL, NULL},
	};
	static const char *const names[] = {"rate.spike", "rate.errors",
					    "geo.new_ip", NULL};
	struct kw_error err;
	json_t *o;

	(void)state;
	o = json_pack("{s:s, s:i, s:f, s:s, s:s}", "window", "5m", "min_count",
		      3, "max_kmh", 900.5, "level", "high", "secret", "env:X");
	assert_int_equal(kw_config_check_object(o, opts, "c.json",
						"detectors.rate.spike", &err),
			 KW_OK);
	json_object_set_new(o, "level", json_string("severe"));
	assert_int_equal(kw_config_check_object(o, opts, "c.json",
						"detectors.rate.spike", &err),
			 KW_ECONFIG);
	assert_string_equal(
		err.msg, "c.json: detectors.rate.spike.level: expected one of "
			 "info, low, medium, high, critical");
	json_object_set_new(o, "level", json_string("low"));
	json_object_set_new(o, "max_kmh", json_string("fast"));
	kw_config_check_object(o, opts, "c.json", "d", &err);
	assert_string_equal(err.msg, "c.json: d.max_kmh: expected a number");
	json_object_set_new(o, "max_kmh", json_integer(1000));
	json_object_set_new(o, "windows", json_string("1m"));
	kw_config_check_object(o, opts, "c.json", "d", &err);
	assert_string_equal(err.msg,
			    "c.json: d: unknown key 'windows' (did you "
			    "mean 'window'?)");
	json_decref(o);
	o = json_array();
	assert_int_equal(kw_config_check_object(o, opts, "c.json", "d", &err),
			 KW_ECONFIG);
	assert_string_equal(err.msg, "c.json: d: expected an object");
	json_decref(o);

	assert_string_equal(kw_config_suggest("rate.spik", names),
			    "rate.spike");
	assert_string_equal(kw_config_suggest("rate.eror", names),
			    "rate.errors");
	assert_string_equal(kw_config_suggest("geo.new_ips", names),
			    "geo.new_ip");
	/* A prefix of 3 or more characters. */
	assert_string_equal(kw_config_suggest("rat", names), "rate.spike");
	assert_null(kw_config_suggest("ra", names));
	assert_null(kw_config_suggest("completely.else", names));
	assert_null(kw_config_suggest("x", names));
}

/* ---- CIDRs --------------------------------------------------------------- */

static bool in(const char *cidr, const char *ip)
{
	struct kw_cidr c;
	struct kw_ip a;

	if (!kw_cidr_parse(cidr, &c))
		fail_msg("bad CIDR %s", cidr);
	if (!kw_ip_parse(&a, ip, strlen(ip)))
		fail_msg("bad IP %s", ip);
	return kw_cidr_contains(&c, &a);
}

static void test_cidr_parse(void **state)
{
	struct kw_cidr c;
	char buf[64];

	(void)state;
	assert_true(kw_cidr_parse("203.0.113.77/24", &c));
	assert_int_equal(c.net.family, 4);
	assert_int_equal(c.bits, 24);
	assert_string_equal(kw_ip_format(&c.net, buf, sizeof(buf)),
			    "203.0.113.0");
	assert_true(kw_cidr_parse("10.255.1.1/9", &c));
	assert_string_equal(kw_ip_format(&c.net, buf, sizeof(buf)),
			    "10.128.0.0");
	assert_true(kw_cidr_parse("1.2.3.4", &c));
	assert_int_equal(c.bits, 32);
	assert_true(kw_cidr_parse("1.2.3.4/0", &c));
	assert_int_equal(c.bits, 0);
	assert_string_equal(kw_ip_format(&c.net, buf, sizeof(buf)), "0.0.0.0");
	assert_true(kw_cidr_parse("2001:db8:abcd::1/35", &c));
	assert_int_equal(c.net.family, 6);
	assert_int_equal(c.bits, 35);
	assert_string_equal(kw_ip_format(&c.net, buf, sizeof(buf)),
			    "2001:db8:a000::");
	assert_true(kw_cidr_parse("::1", &c));
	assert_int_equal(c.bits, 128);
	assert_true(kw_cidr_parse("2001:db8::/128", &c));

	assert_false(kw_cidr_parse("", &c));
	assert_false(kw_cidr_parse("/24", &c));
	assert_false(kw_cidr_parse("1.2.3.4/", &c));
	assert_false(kw_cidr_parse("1.2.3.4/33", &c));
	assert_false(kw_cidr_parse("1.2.3.4/-1", &c));
	assert_false(kw_cidr_parse("1.2.3.4/+8", &c));
	assert_false(kw_cidr_parse("1.2.3.4/ 8", &c));
	assert_false(kw_cidr_parse("1.2.3.4/8x", &c));
	assert_false(kw_cidr_parse("1.2.3.4/8/8", &c));
	assert_false(kw_cidr_parse("1.2.3.4/99999999999999999999999", &c));
	assert_false(kw_cidr_parse("::/129", &c));
	assert_false(kw_cidr_parse("1.2.3/24", &c));
	assert_false(kw_cidr_parse("example.com/24", &c));
}

static void test_cidr_contains(void **state)
{
	(void)state;
	/* /0 holds every address of its family, and only of its family. */
	assert_true(in("0.0.0.0/0", "1.2.3.4"));
	assert_true(in("0.0.0.0/0", "255.255.255.255"));
	assert_false(in("0.0.0.0/0", "::1"));
	assert_true(in("::/0", "2001:db8::1"));
	assert_true(in("::/0", "::"));
	assert_false(in("::/0", "1.2.3.4"));
	/* An IPv4-mapped IPv6 address is its IPv4 address. */
	assert_true(in("203.0.113.0/24", "::ffff:203.0.113.5"));
	assert_false(in("198.51.100.0/24", "::ffff:203.0.113.5"));
	/* /32 and /128: only the address itself. */
	assert_true(in("198.51.100.7/32", "198.51.100.7"));
	assert_false(in("198.51.100.7/32", "198.51.100.6"));
	assert_false(in("198.51.100.7/32", "198.51.100.8"));
	assert_true(in("198.51.100.7", "198.51.100.7"));
	assert_true(in("2001:db8::7/128", "2001:db8::7"));
	assert_false(in("2001:db8::7/128", "2001:db8::6"));
	assert_false(in("2001:db8::7/128", "2001:db9::7"));
	/* /127: two addresses. */
	assert_true(in("2001:db8::/127", "2001:db8::"));
	assert_true(in("2001:db8::/127", "2001:db8::1"));
	assert_false(in("2001:db8::/127", "2001:db8::2"));
	assert_true(in("2001:db8::3/127", "2001:db8::2"));
	/* /31 */
	assert_true(in("10.0.0.4/31", "10.0.0.5"));
	assert_false(in("10.0.0.4/31", "10.0.0.6"));
	assert_false(in("10.0.0.4/31", "10.0.0.3"));
	/* Byte-aligned edges. */
	assert_true(in("203.0.113.0/24", "203.0.113.0"));
	assert_true(in("203.0.113.0/24", "203.0.113.255"));
	assert_false(in("203.0.113.0/24", "203.0.114.0"));
	assert_false(in("203.0.113.0/24", "203.0.112.255"));
	assert_true(
		in("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(in("2001:db8::/32", "2001:db9::"));
	assert_false(in("2001:db8::/32", "2001:db7:ffff::"));
	/* Non-byte prefixes. */
	assert_true(in("10.0.0.0/9", "10.0.0.0"));
	assert_true(in("10.0.0.0/9", "10.127.255.255"));
	assert_false(in("10.0.0.0/9", "10.128.0.0"));
	assert_false(in("10.0.0.0/9", "11.0.0.0"));
	assert_true(in("172.16.0.0/12", "172.31.255.255"));
	assert_false(in("172.16.0.0/12", "172.32.0.0"));
	assert_false(in("172.16.0.0/12", "172.15.255.255"));
	assert_true(in("128.0.0.0/1", "255.0.0.1"));
	assert_false(in("128.0.0.0/1", "127.255.255.255"));
	assert_true(in("2001:db8:a000::/35", "2001:db8:bfff::1"));
	assert_false(in("2001:db8:a000::/35", "2001:db8:c000::"));
	assert_false(in("2001:db8:a000::/35", "2001:db8:9fff::"));
	assert_true(in("8000::/1", "ffff::"));
	assert_false(in("8000::/1", "7fff::"));
	/* An address with no family is in nothing. */
	{
		struct kw_cidr c;
		struct kw_ip none;

		memset(&none, 0, sizeof(none));
		assert_true(kw_cidr_parse("0.0.0.0/0", &c));
		assert_false(kw_cidr_contains(&c, &none));
	}
}

/* ---- keys: access and lookup --------------------------------------------- */

static void test_keyconf_access(void **state)
{
	struct kw_config *c;
	const struct kw_keyconf *k;

	(void)state;
	c = load_ok("{\"keys\": [{\"match\": \"rk_*\", \"permissions\": "
		    "{\"charges\": \"read\", \"customers\": \"write\", "
		    "\"refunds\": \"none\"}}, {\"match\": \"rk2_*\", "
		    "\"permissions\": {}}]}");
	k = &c->keys[0];
	assert_int_equal(kw_keyconf_access(k, "charges", 7), KW_ACCESS_READ);
	assert_int_equal(kw_keyconf_access(k, "customers", 9), KW_ACCESS_WRITE);
	assert_int_equal(kw_keyconf_access(k, "refunds", 7), KW_ACCESS_NONE);
	/* Unlisted resources are none; the length bounds the name. */
	assert_int_equal(kw_keyconf_access(k, "payouts", 7), KW_ACCESS_NONE);
	assert_int_equal(kw_keyconf_access(k, "chargesX", 7), KW_ACCESS_READ);
	assert_int_equal(kw_keyconf_access(k, "charge", 6), KW_ACCESS_NONE);
	assert_int_equal(kw_keyconf_access(k, "charges", 8), KW_ACCESS_NONE);
	assert_int_equal(kw_keyconf_access(k, "", 0), KW_ACCESS_NONE);
	/* Empty permissions: held to them, everything is none. */
	k = &c->keys[1];
	assert_true(k->has_perms);
	assert_int_equal(k->nperms, 0);
	assert_int_equal(kw_keyconf_access(k, "charges", 7), KW_ACCESS_NONE);
	kw_config_free(c);
}

static void test_config_key_first_match(void **state)
{
	struct kw_config *c;
	const struct kw_keyconf *k;
	const char *key;

	(void)state;
	c = load_ok("{\"keys\": [{\"match\": \"sk_live_*4242\", \"name\": "
		    "\"a\"}, {\"match\": \"sk_live_*\", \"name\": \"b\"}, "
		    "{\"match\": \"sk_live_*4242\", \"name\": \"never\"}, "
		    "{\"match\": \"*\", \"name\": \"c\"}]}");
	key = "sk_live_51Habcdefghijklmnop4242";
	k = kw_config_key(c, key, strlen(key));
	assert_non_null(k);
	assert_string_equal(k->name, "a");
	assert_int_equal(k->index, 0);
	key = "sk_live_51Habcdefghijklmnop4243";
	k = kw_config_key(c, key, strlen(key));
	assert_string_equal(k->name, "b");
	assert_int_equal(k->index, 1);
	key = "pk_live_x";
	k = kw_config_key(c, key, strlen(key));
	assert_string_equal(k->name, "c");
	assert_int_equal(k->index, 3);
	/* The length bounds the key: "...4242" cut before its end. */
	key = "sk_live_51Habcdefghijklmnop4242";
	k = kw_config_key(c, key, strlen(key) - 1);
	assert_string_equal(k->name, "b");
	kw_config_free(c);

	c = load_ok("{\"keys\": [{\"match\": \"sk_live_*4242\"}]}");
	key = "rk_live_4242";
	assert_null(kw_config_key(c, key, strlen(key)));
	kw_config_free(c);
	c = load_ok("{}");
	assert_null(kw_config_key(c, "x", 1));
	kw_config_free(c);
}

/* kw_config_key tries only the keys whose match ends in the key's last
 * byte or in '*': random configs of short globs over "ab*" (some of them
 * ending in '*', some without one, "*" itself) and random keys (the empty
 * one among them), against the first match of a walk of every key. */
static void test_config_key_as_a_walk(void **state)
{
	static const char pat_alpha[] = "ab*";
	unsigned seed = 77;
	char json[8192], key[16];

	(void)state;
#define NEXT(m) (seed = seed * 1103515245u + 12345u, (seed >> 16) % (m))
	for (int round = 0; round < 300; round++) {
		size_t nkeys = 1 + NEXT(40), o = 0;
		struct kw_config *c;

		o += (size_t)snprintf(json + o, sizeof(json) - o,
				      "{\"keys\": [");
		for (size_t i = 0; i < nkeys; i++) {
			size_t len = 1 + NEXT(5);

			o += (size_t)snprintf(json + o, sizeof(json) - o,
					      "%s{\"match\": \"",
					      i ? ", " : "");
			for (size_t k = 0; k < len; k++)
				json[o++] = pat_alpha[NEXT(3)];
			o += (size_t)snprintf(json + o, sizeof(json) - o,
					      "\"}");
		}
		o += (size_t)snprintf(json + o, sizeof(json) - o, "]}");
		assert_true(o < sizeof(json));
		c = load_ok(json);
		for (int t = 0; t < 200; t++) {
			size_t n = NEXT(7), want = c->nkeys;
			const struct kw_keyconf *got;

			for (size_t k = 0; k < n; k++)
				key[k] = "ab"[NEXT(2)];
			for (size_t i = 0; i < c->nkeys && want == c->nkeys;
			     i++) {
				if (kw_glob_match(c->keys[i].match, key, n))
					want = i;
			}
			got = kw_config_key(c, key, n);
			if (want == c->nkeys)
				assert_null(got);
			else {
				assert_non_null(got);
				assert_int_equal(got->index, want);
			}
		}
		kw_config_free(c);
	}
#undef NEXT
}

/* A key's name is shown in every alert about that key: a word of it that
 * holds a whole key, at its start or run into other text, is shown as that
 * word's redacted id, with one warning per word; other words are kept. */
static void test_name_holding_a_key(void **state)
{
	static const struct {
		const char *name, *shown, *ids[2];
	} cases[] = {
		{"backend sk_live_51HxBackendServerKeyQq1234 (old)",
		 "backend sk_live_…1234 (old)",
		 {"sk_live_…1234"}},
		/* Run into a word: the fuzzer's finding. */
		{"backensk_test_51HxLaptopScriptKeyAbCd9876l",
		 "backensk_test_…876l",
		 {"backensk_test_…876l"}},
		{"ci-AKIAIOSFODNN7EXAMPLE/ro",
		 "ci-AKIA…MPLE/ro",
		 {"AKIA…MPLE"}},
		{"xxAKIAIOSFODNN7EXAMPLE", "…MPLE", {"…MPLE"}},
		{"a rk_test_0123456789abcdefXYZ and "
		 "pk_live_0123456789abcdefWXYZ",
		 "a rk_test_…fXYZ and pk_live_…WXYZ",
		 {"rk_test_…fXYZ", "pk_live_…WXYZ"}},
		/* Not keys: a mode with too short a body, no prefix, too
		 * short an AWS id. */
		{"sk_live_short and _live_0123456789abcdefgh",
		 "sk_live_short and _live_0123456789abcdefgh",
		 {NULL}},
		{"AKIAIOSFODNN7EXAMPL, checkout",
		 "AKIAIOSFODNN7EXAMPL, checkout",
		 {NULL}},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[512], want[1024] = "", got[2048];
		struct kw_config *c;
		struct capture cap;

		snprintf(
			text, sizeof(text),
			"{\"keys\": [{\"match\": \"sk_*\", \"name\": \"%s\"}]}",
			cases[i].name);
		for (size_t k = 0; k < 2 && cases[i].ids[k]; k++) {
			size_t w = strlen(want);

			snprintf(want + w, sizeof(want) - w,
				 "keywatch: warning: t.json: keys[0].name "
				 "holds what looks like a whole key (shown as "
				 "%s); the name is shown in alerts, so it is "
				 "shown redacted\n",
				 cases[i].ids[k]);
		}
		capture_begin(&cap);
		c = load_ok(text);
		capture_end(&cap, got, sizeof(got));
		assert_string_equal(c->keys[0].name, cases[i].shown);
		assert_string_equal(got, want);
		kw_config_free(c);
	}
}

/* ---- secrets ------------------------------------------------------------- */

static void test_secret(void **state)
{
	struct kw_error err;
	char *v = (char *)&v;

	(void)state;
	setenv("KW_TEST_SECRET_H7", "hunter2-value", 1);
	kw_error_clear(&err);
	assert_int_equal(kw_config_secret("env:KW_TEST_SECRET_H7", &v, &err),
			 KW_OK);
	assert_string_equal(v, "hunter2-value");
	assert_string_equal(err.msg, "");
	free(v);
	/* Not "env:": the value itself. */
	assert_int_equal(
		kw_config_secret("https://hooks.example.com/x", &v, &err),
		KW_OK);
	assert_string_equal(v, "https://hooks.example.com/x");
	free(v);
	assert_int_equal(kw_config_secret("ENV:KW_TEST_SECRET_H7", &v, &err),
			 KW_OK);
	assert_string_equal(v, "ENV:KW_TEST_SECRET_H7");
	free(v);
	/* Unset and empty variables are errors naming the variable only. */
	unsetenv("KW_TEST_SECRET_H7");
	assert_int_equal(kw_config_secret("env:KW_TEST_SECRET_H7", &v, &err),
			 KW_ECONFIG);
	assert_null(v);
	assert_string_equal(
		err.msg, "environment variable KW_TEST_SECRET_H7 is not set");
	setenv("KW_TEST_SECRET_H7", "", 1);
	kw_error_clear(&err);
	v = (char *)&v;
	assert_int_equal(kw_config_secret("env:KW_TEST_SECRET_H7", &v, &err),
			 KW_ECONFIG);
	assert_null(v);
	assert_string_equal(
		err.msg, "environment variable KW_TEST_SECRET_H7 is not set");
	unsetenv("KW_TEST_SECRET_H7");
}

/* "file:PATH" and "cred:NAME": the file's contents without one trailing
 * newline; every problem an error naming the path or the credential. */
static void test_secret_files(void **state)
{
	char dir[] = "/tmp/kw_secret_XXXXXX";
	char path[256], spec[300], want[512];
	struct kw_error err;
	char *v = NULL;
	char *big;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("s3cr3t-value\n", f);
	fclose(f);
	snprintf(spec, sizeof(spec), "file:%s", path);
	kw_error_clear(&err);
	assert_int_equal(kw_config_secret(spec, &v, &err), KW_OK);
	assert_string_equal(v, "s3cr3t-value");
	free(v);
	/* CRLF goes too; only one newline; inner ones stay. */
	f = fopen(path, "w");
	fputs("line one\nline two\r\n", f);
	fclose(f);
	assert_int_equal(kw_config_secret(spec, &v, &err), KW_OK);
	assert_string_equal(v, "line one\nline two");
	free(v);
	f = fopen(path, "w");
	fputs("no newline", f);
	fclose(f);
	assert_int_equal(kw_config_secret(spec, &v, &err), KW_OK);
	assert_string_equal(v, "no newline");
	free(v);

	/* Empty (a newline only), NUL byte, too big. */
	f = fopen(path, "w");
	fputs("\n", f);
	fclose(f);
	v = (char *)&v;
	assert_int_equal(kw_config_secret(spec, &v, &err), KW_ECONFIG);
	assert_null(v);
	snprintf(want, sizeof(want), "secret file %s: empty", path);
	assert_string_equal(err.msg, want);
	f = fopen(path, "w");
	fwrite("ab\0cd", 1, 5, f);
	fclose(f);
	assert_int_equal(kw_config_secret(spec, &v, &err), KW_ECONFIG);
	snprintf(want, sizeof(want), "secret file %s: holds a NUL byte", path);
	assert_string_equal(err.msg, want);
	big = malloc(KW_SECRET_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, 'k', KW_SECRET_FILE_MAX + 1);
	f = fopen(path, "w");
	fwrite(big, 1, KW_SECRET_FILE_MAX + 1, f);
	fclose(f);
	free(big);
	assert_int_equal(kw_config_secret(spec, &v, &err), KW_ECONFIG);
	snprintf(want, sizeof(want),
		 "secret file %s: 65537 bytes, larger than the 65536 this kind "
		 "of file may have",
		 path);
	assert_string_equal(err.msg, want);

	/* Missing; a directory; a FIFO (refused, not blocked on). */
	snprintf(spec, sizeof(spec), "file:%s/missing", dir);
	assert_int_equal(kw_config_secret(spec, &v, &err), KW_ECONFIG);
	snprintf(want, sizeof(want),
		 "secret file %s/missing: cannot open: No such file or "
		 "directory",
		 dir);
	assert_string_equal(err.msg, want);
	snprintf(spec, sizeof(spec), "file:%s", dir);
	assert_int_equal(kw_config_secret(spec, &v, &err), KW_ECONFIG);
	snprintf(want, sizeof(want),
		 "secret file %s: not a regular file (a directory)", dir);
	assert_string_equal(err.msg, want);
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(spec, sizeof(spec), "file:%s", path);
	assert_int_equal(kw_config_secret(spec, &v, &err), KW_ECONFIG);
	snprintf(want, sizeof(want),
		 "secret file %s: not a regular file (a named pipe)", path);
	assert_string_equal(err.msg, want);
	unlink(path);

	/* cred:NAME under $CREDENTIALS_DIRECTORY. */
	snprintf(path, sizeof(path), "%s/slack-url", dir);
	f = fopen(path, "w");
	fputs("https://hooks.slack.com/services/T0/B0/x\n", f);
	fclose(f);
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(kw_config_secret("cred:slack-url", &v, &err),
			 KW_ECONFIG);
	assert_string_equal(err.msg,
			    "credential slack-url: $CREDENTIALS_DIRECTORY is "
			    "not set (systemd sets it for a unit with "
			    "LoadCredential=)");
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	assert_int_equal(kw_config_secret("cred:slack-url", &v, &err), KW_OK);
	assert_string_equal(v, "https://hooks.slack.com/services/T0/B0/x");
	free(v);
	assert_int_equal(kw_config_secret("cred:nope", &v, &err), KW_ECONFIG);
	snprintf(want, sizeof(want),
		 "credential nope: %s/nope: cannot open: No such file or "
		 "directory",
		 dir);
	assert_string_equal(err.msg, want);
	assert_int_equal(kw_config_secret("cred:../token", &v, &err),
			 KW_ECONFIG);
	assert_string_equal(err.msg, "credential ../token: expected the name "
				     "of a credential (no '/')");
	unsetenv("CREDENTIALS_DIRECTORY");
	unlink(path);
	snprintf(path, sizeof(path), "%s/token", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_json_syntax),
		cmocka_unit_test(test_check_object_and_suggest),
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_cidr_contains),
		cmocka_unit_test(test_keyconf_access),
		cmocka_unit_test(test_config_key_as_a_walk),
		cmocka_unit_test(test_config_key_first_match),
		cmocka_unit_test(test_name_holding_a_key),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_secret_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
