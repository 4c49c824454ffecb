/*
 * stdout.c - the stdout sink: the alert JSON one per line (-o json), or one
 * readable line per alert (-o text, coloured on a terminal). Standard
 * output carries nothing else, so `keywatch scan -o json | jq` works.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sink/sink.h"

struct stdout_sink {
	enum kw_output output;
	bool colour;
};

static enum kw_status so_create(const json_t *conf,
				const struct kw_sink_env *env, void **self,
				struct kw_error *err)
{
	struct stdout_sink *s = calloc(1, sizeof(*s));

	(void)conf;
	if (!s)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	s->output = env->output;
	s->colour = env->colour;
	*self = s;
	return KW_OK;
}

static enum kw_sink_result so_deliver(void *self, const struct kw_alert *a,
				      const char *json, size_t len,
				      struct kw_error *err)
{
	struct stdout_sink *s = self;
	char line[1024];

	switch (s->output) {
	case KW_OUTPUT_NONE:
		return KW_SINK_OK;
	case KW_OUTPUT_TEXT:
		kw_alert_to_text(a, s->colour, line, sizeof(line));
		if (puts(line) < 0)
			goto fail;
		return KW_SINK_OK;
	case KW_OUTPUT_JSON:
		if (fwrite(json, 1, len, stdout) != len || putchar('\n') == EOF)
			goto fail;
		return KW_SINK_OK;
	}
fail:
	kw_error_set(err, KW_EIO, "standard output: write failed");
	return KW_SINK_FAIL;
}

static enum kw_sink_result so_flush(void *self, struct kw_error *err)
{
	(void)self;
	if (fflush(stdout) != 0) {
		kw_error_set(err, KW_EIO, "standard output: write failed");
		return KW_SINK_FAIL;
	}
	return KW_SINK_OK;
}

static void so_describe(void *self, char *buf, size_t cap)
{
	struct stdout_sink *s = self;

	snprintf(buf, cap, "stdout (%s)",
		 s->output == KW_OUTPUT_TEXT   ? "text"
		 : s->output == KW_OUTPUT_JSON ? "json"
					       : "none");
}

static bool so_discards(void *self)
{
	return ((struct stdout_sink *)self)->output == KW_OUTPUT_NONE;
}

static void so_destroy(void *self)
{
	free(self);
}

const struct kw_sink_ops kw_sink_stdout = {
	.name = "stdout",
	.local = true,
	.flat = true, /* the JSON text, or kw_alert_to_text's plain fields */
	.options = NULL,
	.create = so_create,
	.deliver = so_deliver,
	.flush = so_flush,
	.destroy = so_destroy,
	.describe = so_describe,
	.discards = so_discards,
};
