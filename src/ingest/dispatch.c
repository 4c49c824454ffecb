/*
 * dispatch.c - the decoding stage (dispatch.h): framing, envelopes, and
 * choosing the decoder record by record.
 *
 * The one idea: the cheap case stays cheap. A record is handed to the
 * decoder that took the input's last record, in a batch, as before; only a
 * record that decoder does not recognise (it has neither the format's key
 * nor its markers) costs a second look. The decoders learn nothing about
 * each other: they only say "not mine" through the offer hook in their
 * conf, which points back here.
 */
#include "ingest/dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/time.h"
#include "ingest/json_peek.h"
#include "ingest/json_scan.h"

enum envelope { ENV_NONE = 0, ENV_DETAIL };

/* Decoder instances: one per format and field map in use (the formats
 * for 32 inputs with maps of their own, and more). */
#define MAX_INSTANCES 72

/* A CloudWatch Logs control message ("CWL CONTROL MESSAGE: Checking
 * health of destination ...") carries no log line. */
#define CONTROL_MESSAGE "CWL CONTROL MESSAGE"

struct inst {
	const struct kw_decoder_ops *ops;
	const struct kw_decoder_conf *user; /* the map it was made with */
	struct kw_decoder_conf conf;	    /* the same, with the offer hook */
	void *self;
};

struct kw_dispatch {
	struct inst inst[MAX_INSTANCES];
	size_t ninst;
	struct kw_json_paths *logev; /* "message" */
	uint32_t formats;
	/* One call. */
	struct kw_record framed[KW_DISPATCH_BATCH];
	struct kw_record inner[KW_DISPATCH_BATCH];
	uint32_t src[KW_DISPATCH_BATCH]; /* inner[k] came from recs[src[k]] */
	const struct kw_record *base;	 /* what the decoder is decoding */
	size_t nbase;
	bool taking; /* offers are accepted */
	uint32_t offered[KW_DISPATCH_BATCH];
	size_t noffered;
};

static bool on_offer(void *ctx, const struct kw_record *rec)
{
	struct kw_dispatch *d = ctx;

	if (!d->taking || rec < d->base || rec >= d->base + d->nbase)
		return false;
	d->offered[d->noffered++] = (uint32_t)(rec - d->base);
	return true;
}

enum kw_status kw_dispatch_create(struct kw_dispatch **out,
				  struct kw_error *err)
{
	static const char *const logev_paths[] = {"message"};
	struct kw_dispatch *d = calloc(1, sizeof(*d));
	enum kw_status st;

	*out = NULL;
	if (!d)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	st = kw_json_paths_create(logev_paths, 1, &d->logev, err);
	if (st != KW_OK) {
		free(d);
		return st;
	}
	*out = d;
	return KW_OK;
}

void kw_dispatch_destroy(struct kw_dispatch *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->ninst; i++)
		d->inst[i].ops->destroy(d->inst[i].self);
	kw_json_paths_destroy(d->logev);
	free(d);
}

uint32_t kw_dispatch_formats(const struct kw_dispatch *d)
{
	return d->formats;
}

uint32_t kw_dispatch_take_formats(struct kw_dispatch *d)
{
	uint32_t f = d->formats;

	d->formats = 0;
	return f;
}

void kw_dispatch_stream_init(struct kw_dispatch_stream *st,
			     const struct kw_decoder_ops *forced,
			     const struct kw_decoder_conf *conf)
{
	memset(st, 0, sizeof(*st));
	st->forced = forced;
	st->conf = conf;
	for (size_t i = 0; conf && i < conf->nmap; i++) {
		if (conf->map[i].field == KW_FIELD_ROOT)
			st->root = conf->map[i].path;
	}
}

/* The instance of ops with the field map conf, made on first use; NULL
 * (logged) when it cannot be made. */
static struct inst *instance(struct kw_dispatch *d,
			     const struct kw_decoder_ops *ops,
			     const struct kw_decoder_conf *conf)
{
	static const struct kw_decoder_conf empty = {0};
	struct inst *in;
	struct kw_error err;

	if (!conf)
		conf = &empty;
	for (size_t i = 0; i < d->ninst; i++) {
		if (d->inst[i].ops == ops && d->inst[i].user == conf)
			return &d->inst[i];
	}
	if (d->ninst == MAX_INSTANCES) {
		kw_log_error("decoder", "more than %d decoders in use",
			     MAX_INSTANCES);
		return NULL;
	}
	in = &d->inst[d->ninst];
	in->ops = ops;
	in->user = conf;
	in->conf = *conf;
	in->conf.offer = on_offer;
	in->conf.offer_ctx = d;
	kw_error_clear(&err);
	if (ops->create(&in->conf, &in->self, &err) != KW_OK) {
		kw_log_error("decoder", "%s: %s", ops->name, err.msg);
		return NULL;
	}
	d->ninst++;
	return in;
}

/* A record whose decoder could not be made (logged by instance()). */
static void not_decoded(const struct kw_decoder_ops *ops,
			const struct kw_record *rec, struct kw_skips *skips,
			const char *file)
{
	kw_skips_add(skips, KW_SKIP_NO_MEMORY, file, rec->line,
		     "not decoded: the %s decoder could not be made (above)",
		     ops->name);
}

/* ---- framing ---- */

static bool frame_logevent(struct kw_dispatch *d, const struct kw_record *rec,
			   struct kw_record *out, struct kw_arena *arena,
			   struct kw_skips *skips, const char *file)
{
	struct kw_json_value v;
	struct kw_error err;
	enum kw_status st;

	err.msg[0] = '\0';
	st = kw_json_scan(d->logev, rec->p, rec->n, &v, arena, &err);
	if (st == KW_ENOMEM) {
		kw_skips_add(skips, KW_SKIP_TOO_LONG, file, rec->line,
			     "record does not fit the decoder's scratch "
			     "memory");
		return false;
	}
	if (st != KW_OK) {
		kw_skips_add(skips, KW_SKIP_BAD_JSON, file, rec->line, "%s",
			     err.msg);
		return false;
	}
	if (v.type != KW_JSON_STRING) {
		kw_skips_add(skips, KW_SKIP_BAD_FIELD, file, rec->line,
			     "logEvents element has no string 'message'");
		return false;
	}
	if (v.n >= sizeof(CONTROL_MESSAGE) - 1 &&
	    !memcmp(v.p, CONTROL_MESSAGE, sizeof(CONTROL_MESSAGE) - 1)) {
		kw_skips_add(skips, KW_SKIP_NOT_DATA, file, rec->line,
			     "CloudWatch Logs control message");
		return false;
	}
	*out = (struct kw_record){
		.p = v.p, .n = v.n, .line = rec->line, .kind = KW_REC_OBJECT};
	return true;
}

/* "2026-11-20T10:00:00.123Z {json}": the JSON. Any other text stays as it
 * is (the decoder reports it is not JSON). */
static void frame_text(const struct kw_record *rec, struct kw_record *out)
{
	const char *sp = memchr(rec->p, ' ', rec->n < 40 ? rec->n : 40);
	int64_t ts;
	size_t i;

	*out = *rec;
	if (!sp || !kw_time_parse(rec->p, (size_t)(sp - rec->p), &ts))
		return;
	i = (size_t)(sp - rec->p);
	while (i < rec->n && (rec->p[i] == ' ' || rec->p[i] == '\t'))
		i++;
	if (i < rec->n && rec->p[i] == '{') {
		out->p = rec->p + i;
		out->n = rec->n - i;
		out->kind = KW_REC_OBJECT;
	}
}

static bool frame(struct kw_dispatch *d, const struct kw_record *rec,
		  struct kw_record *out, struct kw_arena *arena,
		  struct kw_skips *skips, const char *file)
{
	if (rec->kind == KW_REC_LOGEVENTS)
		return frame_logevent(d, rec, out, arena, skips, file);
	if (rec->kind == KW_REC_TEXT)
		frame_text(rec, out);
	else
		*out = *rec;
	return true;
}

/* ---- envelopes and recognition ---- */

/* An EventBridge event's detail, when rec is one. */
static bool eventbridge_detail(const struct kw_record *rec,
			       struct kw_record *out)
{
	static const char *const type[] = {"detail-type"};
	static const char *const detail[] = {"detail"};
	struct kw_str v;

	if (kw_json_peek(rec->p, rec->n, type, 1, &v) < 0 ||
	    kw_json_peek(rec->p, rec->n, detail, 1, &v) < 0 || v.n < 2 ||
	    v.p[0] != '{')
		return false;
	*out = (struct kw_record){
		.p = v.p, .n = v.n, .line = rec->line, .kind = KW_REC_OBJECT};
	return true;
}

/* The decoder for a framed record and its envelope. */
static const struct kw_decoder_ops *recognise(const struct kw_record *rec,
					      int *env)
{
	struct kw_record inner;
	const struct kw_decoder_ops *ops;
	int score = 0;

	*env = ENV_NONE;
	if (eventbridge_detail(rec, &inner)) {
		ops = kw_decoder_sniff(&inner, &score);
		if (ops != kw_decoder_all()[0]) {
			*env = ENV_DETAIL;
			return ops;
		}
	}
	return kw_decoder_sniff(rec, &score);
}

/* The record inside its envelope; false (counted) when a configured root
 * is not there. */
/* unwrap with a record root (--map @root): the object there. */
static bool unwrap_root(const struct kw_dispatch_stream *st,
			const struct kw_record *framed, struct kw_record *out,
			struct kw_skips *skips, const char *file)
{
	struct kw_str v;

	if (!kw_json_peek_path(framed->p, framed->n, st->root, &v) || v.n < 2 ||
	    v.p[0] != '{') {
		kw_skips_add(skips, KW_SKIP_BAD_FIELD, file, framed->line,
			     "no object at the record root '%.100s' "
			     "(--map @root)",
			     st->root);
		return false;
	}
	*out = (struct kw_record){.p = v.p,
				  .n = v.n,
				  .line = framed->line,
				  .kind = KW_REC_OBJECT};
	return true;
}

/* Inline: without a root or an envelope (the usual log) it is a copy. */
static inline bool unwrap(const struct kw_dispatch_stream *st, int env,
			  const struct kw_record *framed, struct kw_record *out,
			  struct kw_skips *skips, const char *file)
{
	*out = *framed;
	if (st->root)
		return unwrap_root(st, framed, out, skips, file);
	if (env == ENV_DETAIL)
		eventbridge_detail(framed, out);
	return true;
}

static void note_format(struct kw_dispatch *d, const struct kw_decoder_ops *o)
{
	const struct kw_decoder_ops *const *all = kw_decoder_all();

	for (uint32_t i = 0; all[i] && i < 32; i++) {
		if (all[i] == o)
			d->formats |= 1u << i;
	}
}

/* Decode what the first decoder offered back, one record at a time. */
static size_t decode_offered(struct kw_dispatch *d,
			     struct kw_dispatch_stream *st, size_t n,
			     struct kw_event *out, struct kw_arena *arena,
			     struct kw_skips *skips, const char *file)
{
	size_t got = 0;

	for (size_t j = 0; j < d->noffered; j++) {
		uint32_t k = d->offered[j];
		const struct kw_record *fr = &d->framed[k];
		/* (a configured root was found: d->inner[k]) */
		const struct kw_record *rooted = st->root ? &d->inner[k] : fr;
		struct kw_record one;
		int env = ENV_NONE;
		const struct kw_decoder_ops *ops = recognise(rooted, &env);
		struct inst *in;
		size_t e;

		if (st->forced)
			ops = st->forced;
		if (st->root) {
			env = ENV_NONE;
			one = *rooted;
		} else if (!unwrap(st, env, fr, &one, skips, file)) {
			continue;
		}
		in = instance(d, ops, st->conf);
		if (!in) {
			not_decoded(ops, &one, skips, file);
			continue;
		}
		e = in->ops->decode(in->self, &one, 1, &out[got], arena, skips,
				    file);
		if (e)
			note_format(d, ops);
		got += e;
		if (d->src[k] == n - 1) {
			/* The input went on in the other format. */
			st->cur = ops;
			st->envelope = env;
		}
	}
	return got;
}

size_t kw_dispatch_decode(struct kw_dispatch *d, struct kw_dispatch_stream *st,
			  const struct kw_record *recs, size_t n,
			  struct kw_event *out, struct kw_arena *arena,
			  struct kw_skips *skips, const char *file)
{
	const struct kw_decoder_ops *ops;
	struct inst *in;
	size_t k = 0, got;

	if (n > KW_DISPATCH_BATCH)
		n = KW_DISPATCH_BATCH;
	for (size_t i = 0; i < n; i++) {
		if (!frame(d, &recs[i], &d->framed[k], arena, skips, file))
			continue;
		if (!st->cur && !st->root)
			st->cur = recognise(&d->framed[k], &st->envelope);
		if (!unwrap(st, st->envelope, &d->framed[k], &d->inner[k],
			    skips, file))
			continue;
		if (!st->cur) /* with a root: what is at the root */
			st->cur = recognise(&d->inner[k], &st->envelope);
		st->envelope = st->root ? ENV_NONE : st->envelope;
		d->src[k++] = (uint32_t)i;
	}
	if (k == 0)
		return 0;
	ops = st->forced ? st->forced : st->cur;
	in = instance(d, ops, st->conf);
	if (!in) {
		for (size_t j = 0; j < k; j++)
			not_decoded(ops, &recs[d->src[j]], skips, file);
		return 0;
	}
	d->base = d->inner;
	d->nbase = k;
	d->noffered = 0;
	d->taking = true;
	got = in->ops->decode(in->self, d->inner, k, out, arena, skips, file);
	d->taking = false;
	if (got)
		note_format(d, ops);
	if (d->noffered)
		got += decode_offered(d, st, n, out + got, arena, skips, file);
	return got;
}
