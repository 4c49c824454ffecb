/*
 * decoder.c - the decoder registry, format sniffing, and the field names
 * with their aliases and the --map FIELD=PATH syntax.
 *
 * The one idea: the table of field names below is the single source of the
 * spec's field/alias table (spec/input-formats.md). The keywatch decoder
 * reads its lookup order from it, --map accepts any name in it, and the
 * error for an unknown field lists its canonical names.
 */
#include "ingest/decoder.h"

#include <stdio.h>
#include <string.h>

#include "ingest/json_scan.h"

/* ---- the decoders ---- */

/* The default (keywatch) comes first: sniffing keeps the first of equal
 * scores. */
static const struct kw_decoder_ops *const decoders[] = {
	&kw_decoder_keywatch,
	&kw_decoder_cloudtrail,
	&kw_decoder_gcp_audit,
	&kw_decoder_github_audit,
	NULL,
};

const struct kw_decoder_ops *kw_decoder_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; decoders[i]; i++) {
		if (!strcmp(decoders[i]->name, name))
			return decoders[i];
	}
	return NULL;
}

const struct kw_decoder_ops *kw_decoder_sniff(const struct kw_record *rec,
					      int *score)
{
	const struct kw_decoder_ops *best = decoders[0];
	int best_score = -1;

	for (size_t i = 0; decoders[i]; i++) {
		int sc = decoders[i]->sniff(rec);

		if (sc > best_score) {
			best = decoders[i];
			best_score = sc;
		}
	}
	if (score)
		*score = best_score;
	return best;
}

const struct kw_decoder_ops *const *kw_decoder_all(void)
{
	return decoders;
}

/* ---- time ---- */

size_t kw_decoder_time_names(const char **out, size_t cap)
{
	size_t n = 0;

	if (!cap)
		return 0;
	for (const char *const *a = kw_field_aliases(KW_FIELD_CREATED);
	     *a && n + 1 < cap; a++)
		out[n++] = *a;
	for (size_t i = 0; decoders[i]; i++) {
		for (const char *const *t = decoders[i]->time_names;
		     t && *t && n + 1 < cap; t++)
			out[n++] = *t;
	}
	out[n] = NULL;
	return n;
}

int64_t kw_decoder_lateness(uint32_t formats)
{
	int64_t l = decoders[0]->lateness;

	for (uint32_t i = 0; decoders[i] && i < 32; i++) {
		if ((formats >> i & 1) && decoders[i]->lateness > l)
			l = decoders[i]->lateness;
	}
	return l;
}

const char *kw_decoder_names(char *buf, size_t cap)
{
	size_t used = 0;

	if (cap)
		buf[0] = '\0';
	for (size_t i = 0; decoders[i] && used < cap; i++) {
		int w = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "",
				 decoders[i]->name);

		if (w < 0)
			break;
		used += (size_t)w;
	}
	return buf;
}

/* ---- field names ---- */

static const char *const field_names[KW_FIELD_MAX][5] = {
	[KW_FIELD_CREATED] = {"created", "timestamp", "time", "created_at",
			      NULL},
	[KW_FIELD_API_KEY] = {"api_key", "key", "key_id", NULL},
	[KW_FIELD_METHOD] = {"method", NULL},
	[KW_FIELD_PATH] = {"path", "url", NULL},
	[KW_FIELD_STATUS] = {"status", "status_code", NULL},
	[KW_FIELD_IP] = {"ip", "ip_address", "source_ip", NULL},
	[KW_FIELD_ID] = {"id", "request_id", NULL},
	[KW_FIELD_USER_AGENT] = {"user_agent", NULL},
	[KW_FIELD_ORIGIN] = {"origin", NULL},
	[KW_FIELD_LIVEMODE] = {"livemode", NULL},
	[KW_FIELD_SOURCE] = {"source", NULL},
	[KW_FIELD_DURATION_MS] = {"duration_ms", NULL},
	[KW_FIELD_ROOT] = {"@root", NULL},
};

const char *kw_field_name(enum kw_field f)
{
	return (unsigned)f < KW_FIELD_MAX ? field_names[f][0] : NULL;
}

const char *const *kw_field_aliases(enum kw_field f)
{
	return (unsigned)f < KW_FIELD_MAX ? field_names[f] : NULL;
}

static enum kw_field field_lookup_n(const char *name, size_t n)
{
	for (unsigned f = 0; f < KW_FIELD_MAX; f++) {
		for (const char *const *a = field_names[f]; *a; a++) {
			if (strlen(*a) == n && !memcmp(*a, name, n))
				return (enum kw_field)f;
		}
	}
	return KW_FIELD_MAX;
}

enum kw_field kw_field_lookup(const char *name)
{
	if (!name)
		return KW_FIELD_MAX;
	return field_lookup_n(name, strlen(name));
}

/* A dotted path: non-empty steps separated by single dots. */
static bool path_ok(const char *p)
{
	size_t step = 0;

	for (; *p; p++) {
		if (*p == '.') {
			if (step == 0)
				return false;
			step = 0;
		} else {
			step++;
		}
	}
	return step > 0;
}

enum kw_status kw_field_map_parse(const char *spec, struct kw_field_map *out,
				  struct kw_error *err)
{
	const char *eq = spec ? strchr(spec, '=') : NULL;
	const char *bar, *path;
	size_t path_n;
	enum kw_field f;
	char names[256];
	size_t used = 0;

	memset(out, 0, sizeof(*out));
	if (!eq || eq == spec || eq[1] == '\0')
		return kw_error_set(err, KW_EUSAGE,
				    "--map '%s': expected FIELD=PATH",
				    spec ? spec : "");
	f = field_lookup_n(spec, (size_t)(eq - spec));
	if (f == KW_FIELD_MAX) {
		names[0] = '\0';
		for (unsigned i = 0; i < KW_FIELD_MAX; i++) {
			int w = snprintf(names + used, sizeof(names) - used,
					 "%s%s", i ? ", " : "",
					 field_names[i][0]);

			if (w < 0 || (size_t)w >= sizeof(names) - used)
				break;
			used += (size_t)w;
		}
		return kw_error_set(err, KW_EUSAGE,
				    "--map '%s': unknown field '%.*s' "
				    "(fields: %s)",
				    spec, (int)(eq - spec), spec, names);
	}
	path = eq + 1;
	bar = strchr(path, '|');
	path_n = bar ? (size_t)(bar - path) : strlen(path);
	if (path_n >= KW_FIELD_PATH_MAX)
		return kw_error_set(err, KW_EUSAGE,
				    "--map '%.300s': path longer than %d bytes",
				    spec, KW_FIELD_PATH_MAX - 1);
	memcpy(out->path, path, path_n);
	out->path[path_n] = '\0';
	if (!path_ok(out->path))
		return kw_error_set(err, KW_EUSAGE,
				    "--map '%s': path '%s' has an empty step",
				    spec, out->path);
	if (bar && f != KW_FIELD_API_KEY)
		return kw_error_set(err, KW_EUSAGE,
				    "--map '%s': only api_key takes a key form",
				    spec);
	if (bar && kw_keyform_parse(bar + 1, strlen(bar + 1), &out->form,
				    err) != KW_OK)
		return kw_error_prefix(err, "--map '%.300s'", spec);
	out->field = f;
	return KW_OK;
}
