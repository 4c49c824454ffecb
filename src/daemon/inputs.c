/*
 * inputs.c - per inputs[] entry of the config: the format its files are
 * decoded with and its field map (the top-level map and --map, then the
 * entry's own "map" over them), and which entry a followed file belongs
 * to (a Kafka input's consumer knows its entry). The tailer names a file by the
 * path it was taken up at, which one of the globs matched, so a rotated
 * api.log.1.gz still belongs to the entry of api.log*.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "daemon/daemon_impl.h"
#include "ingest/pathglob.h"

#define INPUTS_MAX 64

/* The engine's decoders borrow the maps: the table outlives the engine. */
struct kw_daemon_inputs {
	struct kw_engine_input in[INPUTS_MAX];
	struct kw_decoder_conf dconf[INPUTS_MAX];
	struct kw_field_map maps[INPUTS_MAX][KW_FIELD_MAX];
};

/* Entry i's own map over the top-level one. false after an error (logged). */
static bool merge_map(struct kw_daemon_inputs *wi, const struct kw_config *cfg,
		      size_t i, const struct kw_field_map *map, size_t nmap)
{
	const struct kw_input *in = &cfg->inputs[i];
	struct kw_field_map *m = wi->maps[i];
	struct kw_error err;
	const char *field;
	json_t *path;
	size_t n = 0;

	for (; n < nmap && n < KW_FIELD_MAX; n++)
		m[n] = map[n];
	json_object_foreach(in->map, field, path)
	{
		struct kw_field_map one;
		char spec[1024];
		size_t j;
		int w;

		w = snprintf(spec, sizeof(spec), "%s=%s", field,
			     json_is_string(path) ? json_string_value(path)
						  : "");
		kw_error_clear(&err);
		if (w < 0 || (size_t)w >= sizeof(spec))
			kw_error_set(&err, KW_EUSAGE,
				     "'%.64s': longer than %zu "
				     "bytes",
				     field, sizeof(spec) - 1);
		if (err.msg[0] ||
		    kw_field_map_parse(spec, &one, &err) != KW_OK) {
			kw_log_error(NULL, "%s: inputs[%zu].map: %s", cfg->file,
				     i, err.msg);
			return false;
		}
		for (j = 0; j < n && m[j].field != one.field; j++)
			;
		m[j] = one;
		if (j == n)
			n++;
	}
	wi->dconf[i].map = m;
	wi->dconf[i].nmap = n;
	wi->in[i].dconf = &wi->dconf[i];
	return true;
}

struct kw_daemon_inputs *kw_daemon_inputs_make(const struct kw_config *cfg,
					       const struct kw_field_map *map,
					       size_t nmap)
{
	struct kw_daemon_inputs *wi = NULL;

	if (cfg->ninputs > INPUTS_MAX) {
		kw_log_error(NULL, "%s: more than %d inputs", cfg->file,
			     INPUTS_MAX);
		return NULL;
	}
	wi = calloc(1, sizeof(*wi));
	if (!wi) {
		kw_log_error(NULL, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < cfg->ninputs; i++) {
		wi->in[i].format = cfg->inputs[i].format;
		if (cfg->inputs[i].map && !merge_map(wi, cfg, i, map, nmap)) {
			free(wi);
			return NULL;
		}
	}
	return wi;
}

const struct kw_engine_input *
kw_daemon_inputs_of(const struct kw_daemon_inputs *in,
		    const struct kw_config *cfg, const char *name)
{
	for (size_t i = 0; in && i < cfg->ninputs && i < INPUTS_MAX; i++) {
		if (cfg->inputs[i].type == KW_INPUT_FILE &&
		    kw_pathglob_match(cfg->inputs[i].path, name))
			return &in->in[i];
	}
	return NULL;
}

const struct kw_engine_input *
kw_daemon_inputs_at(const struct kw_daemon_inputs *in, size_t i)
{
	return in && i < INPUTS_MAX ? &in->in[i] : NULL;
}
