/*
 * byip.c - the stage keyed by source IP behind a Kafka input (the input's
 * "repartition" topic, by default TOPIC.keywatch-byip), so that what spans
 * keys (auth.failures: one IP denied for many keys) is counted over the
 * whole topic although each instance reads only some of its partitions,
 * as Kafka Streams repartitions a stream by a new key.
 *
 * The one idea: whatever instance reads a request, the request's IP
 * decides where it is counted. The engine's cross hook (engine.h) hands
 * this module the cross-key observations of the input's partitions; each
 * becomes one small record, keyed by the IP, in repartition partition q =
 * hash(IP) mod partitions. Each instance also reads the repartition
 * partitions its own group ("GROUP.keywatch-byip") gives it, and counts
 * them in a table of (IP, window) pairs per partition (ipwin.h), whose
 * alerts go through the engine's one alert path (kw_engine_alert).
 *
 * Records (JSON, one per message; never a full key: the key is its
 * fingerprint and redacted id, and the request id and config name are
 * scrubbed of it as alerts' text is):
 *   key IP   {"t":US,"ip":IP,"status":N,"request":ID,"fp":FP,"id":ID,
 *             "kind":N,"mode":N,"conf":N,"name":NAME}   (fp "": no key)
 *   key "wm" {"wm":US,"src":P,"of":N}: input partition P of N has been
 *            read up to event time US (kw_engine_stream_done): no record
 *            of an older request will come from it (a late one is late)
 * A repartition partition gets records from every input partition, at
 * each instance's pace and again on a replay: its event time is the
 * smallest of its sources' marks (each instance sends its partitions'
 * marks to every repartition partition once a second), and a pair is
 * decided when that passes its window, so the decision does not depend on
 * the order records came in.
 * What a table knows of its sources' marks does not depend on where its
 * reading starts: a commit of q carries the marks its table had seen
 * (the offset's metadata), and the next owner starts from them, since the
 * marks that told them lie behind the offset; and with a changelog, a
 * partition's mark is at least what its restored checkpoint covers, so
 * an instance that took a partition over and has had nothing of it to
 * read since still says how far it is complete.
 *
 * Exactly once:
 *   - input partition p's offset is committed only once the records its
 *     requests made are acknowledged (kw_byip_flush, from the input's save
 *     hook, before the changelog's checkpoint);
 *   - repartition partition q's offset is committed no further than the
 *     first record of a pair still open (kw_ipwin_low), so an instance
 *     that takes q over rebuilds every open pair by reading it again (its
 *     pairs decided, and their records, stay behind);
 *   - q's alert ids are acknowledged in the input's changelog, partition
 *     q, under "byip.alert.N" keys, before any sink may deliver them, and
 *     read back when q is assigned, so an alert raised again on a replay
 *     is dropped (the daemon's admit).
 * Without a changelog the ids are kept in the local journal only.
 *
 * Threads: the hook runs on the engine's ordered stage (one thread at a
 * time, maybe not the caller's); everything else runs on the daemon's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kafka.h"
#include "core/log.h"
#include "daemon/daemon_impl.h"
#include "daemon/ipwin.h"
#include "detect/errors.h"
#include "ingest/kafka.h"

#define BYIP_STREAM 0x80000000u /* a stream id's bit: a byip partition */
#define MARK_EVERY_US (INT64_C(1000) * 1000)
#define POLL_MAX 4096	   /* records taken per poll */
#define TIMEOUT_MS 30000   /* acks */
#define CREATE_MS 10000	   /* creating the topic */
#define COMMITTED_MS 10000 /* reading the committed offsets */
#define RECORD_MAX 1024	   /* a record's bytes, at most */
#define RESEND_EVERY 5	   /* marks sent again every 5th second */
#define BAD_LOGGED_MAX 10  /* records skipped, named in the log */

struct bq {
	bool owned;
	struct kw_ipwin *t; /* NULL: not owned */
	int64_t *src;	    /* per input partition: its mark; INT64_MIN */
	int nsrc;	    /* input partitions, as the marks say */
	int64_t next;	    /* the next offset to read; -1: none yet */
	int64_t committed;
};

struct kw_byip {
	struct kw_daemon *d;
	const struct kw_config *cfg;
	struct kw_changelog *cl; /* borrowed; NULL: no journal in Kafka */
	struct kw_auth_conf auth;
	char *topic;
	const char *input; /* the input's topic (borrowed) */
	uint64_t stream_base;
	rd_kafka_t *producer;
	rd_kafka_t *consumer;
	struct kw_kafka_member member; /* for leaving the group */
	int nparts;		       /* of the repartition topic */
	int ninput;		       /* of the input topic */
	struct bq *q;
	int64_t *sent; /* per input partition: the last mark sent */
	int64_t next_mark;
	/* Marks are sent again now and then even when they did not move:
	 * an instance that takes a repartition partition over reads on from
	 * its first open pair, maybe past the last marks. */
	bool resend;
	unsigned ticks;
	/* Delivery reports since the last flush (the producer's thread). */
	uint64_t failed;
	rd_kafka_resp_err_t first_err;
	/* late and early: the tables' of partitions given up (with those
	 * still owned at the end); produced and produce_errors: atomic
	 * (the engine's hook). */
	struct kw_byip_stats st;
};

static uint64_t stream_of_q(const struct kw_byip *b, int32_t q)
{
	return b->stream_base | BYIP_STREAM | (uint32_t)q;
}

/* -------------------------------------------------------------- producing */

static void on_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kw_byip *b = opaque;

	(void)rk;
	/* Reports are served by whichever thread polls the producer (the
	 * hook's, waiting for room, or the daemon's). */
	if (m->err && !__atomic_fetch_add(&b->failed, 1, __ATOMIC_RELAXED))
		__atomic_store_n(&b->first_err, m->err, __ATOMIC_RELAXED);
}

static bool produce(struct kw_byip *b, int32_t q, const char *key, size_t klen,
		    const char *value, size_t vlen, int64_t ts_us)
{
	rd_kafka_resp_err_t e = kw_kafka_produce_wait(
		b->producer, b->topic, q, key, klen, value, vlen,
		ts_us > 0 ? ts_us / 1000 : 0, NULL);

	if (e) {
		if (!__atomic_fetch_add(&b->st.produce_errors, 1,
					__ATOMIC_RELAXED))
			kw_log_error("kafka",
				     "%s/%" PRId32 ": %s (counted on this "
				     "instance instead; said once)",
				     b->topic, q, rd_kafka_err2str(e));
		return false;
	}
	return true;
}

static uint64_t fnv(const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 1099511628211ull;
	return h;
}

bool kw_byip_cross(struct kw_byip *b, int32_t partition,
		   const struct kw_event *ev, const struct kw_keyent *key)
{
	const struct kw_keyconf *kc = key ? key->conf : NULL;
	char ip[64], request[KW_IPWIN_REQUEST], name[128], *text;
	json_t *o;
	size_t n;
	int32_t q;
	bool ok;

	(void)partition;
	/* Only what auth.failures counts: denied requests with an address
	 * (a request without a key comes whatever its status: taken, as
	 * there is nothing to count). */
	if (!ev->ip.family || (ev->status != 401 && ev->status != 403))
		return !key;
	kw_ip_format(&ev->ip, ip, sizeof(ip));
	kw_key_scrub(request, sizeof(request), ev->request_id, ev->key,
		     key ? kw_keyent_id(key) : "");
	name[0] = '\0';
	if (kc && kc->name)
		kw_key_scrub(name, sizeof(name), kw_str_c(kc->name), ev->key,
			     kw_keyent_id(key));
	o = json_pack(
		"{sI ss si ss ss ss si si sI ss}", "t", (json_int_t)ev->ts,
		"ip", ip, "status", ev->status, "request", request, "fp",
		key ? key->fp : "", "id", key ? kw_keyent_id(key) : "", "kind",
		key ? key->kind : 0, "mode", key ? key->mode : 0, "conf",
		(json_int_t)(kc ? (json_int_t)kc->index : -1), "name", name);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return false;
	n = strlen(ip);
	q = (int32_t)(fnv(ip, n) % (uint64_t)b->nparts);
	ok = produce(b, q, ip, n, text, strlen(text), ev->ts);
	free(text);
	if (ok)
		__atomic_fetch_add(&b->st.produced, 1, __ATOMIC_RELAXED);
	return ok;
}

bool kw_byip_flush(struct kw_byip *b)
{
	rd_kafka_resp_err_t e = rd_kafka_flush(b->producer, TIMEOUT_MS);
	uint64_t failed = __atomic_exchange_n(&b->failed, 0, __ATOMIC_RELAXED);

	if (!e && !failed)
		return true;
	kw_log_error("kafka",
		     "%s: records not acknowledged (%s): the input's offsets "
		     "wait for the next checkpoint",
		     b->topic,
		     rd_kafka_err2str(failed ? __atomic_load_n(&b->first_err,
							       __ATOMIC_RELAXED)
					     : e));
	return false;
}

struct mark_ctx {
	struct kw_byip *b;
	int64_t newest; /* of the owned partitions' marks */
	int32_t waiting[64];
	size_t nwaiting;
};

/* One owned input partition: its mark to every repartition partition,
 * when it moved. */
static void mark_one(void *ctx, const struct kw_kafka_partition_info *pi)
{
	struct mark_ctx *m = ctx;
	struct kw_byip *b = m->b;
	int32_t p = pi->partition;
	int64_t done;
	char text[96];
	int n;

	if (p < 0 || p >= b->ninput)
		return;
	/* With a changelog, a partition restored and not read since is
	 * complete as far as its checkpoint covers: its last owner read
	 * it and handed its records on before writing the checkpoint. */
	done = b->cl ? kw_changelog_done(b->cl, p)
		     : kw_engine_stream_done(b->d->engine,
					     b->stream_base | (uint32_t)p);
	if (done == INT64_MIN) {
		/* Nothing read from it yet. Empty (nothing ever written to
		 * it), it holds nothing back: it takes the others' mark
		 * below. One restored at an offset waits for its records. */
		if (pi->lag == 0 && pi->offset <= 0 && m->nwaiting < 64)
			m->waiting[m->nwaiting++] = p;
		return;
	}
	if (done > m->newest)
		m->newest = done;
	if (done < b->sent[p] || (done == b->sent[p] && !b->resend))
		return;
	b->sent[p] = done;
	n = snprintf(text, sizeof(text),
		     "{\"wm\":%" PRId64 ",\"src\":%" PRId32 ",\"of\":%d}", done,
		     p, b->ninput);
	for (int32_t q = 0; q < b->nparts; q++) {
		if (produce(b, q, "wm", 2, text, (size_t)n, done))
			b->st.marks++;
	}
}

static void send_marks(struct kw_byip *b, struct kw_kafka_input *in)
{
	struct mark_ctx m = {.b = b, .newest = INT64_MIN};

	b->resend = ++b->ticks % RESEND_EVERY == 0;
	kw_kafka_input_foreach(in, mark_one, &m);
	for (size_t i = 0; i < m.nwaiting && m.newest != INT64_MIN; i++) {
		int32_t p = m.waiting[i];
		char text[96];
		int n;

		if (m.newest < b->sent[p] ||
		    (m.newest == b->sent[p] && !b->resend))
			continue;
		kw_log_debug("kafka",
			     "%s: partition %" PRId32 " has had no request: "
			     "marked with the newest of the others",
			     b->input, p);
		b->sent[p] = m.newest;
		n = snprintf(text, sizeof(text),
			     "{\"wm\":%" PRId64 ",\"src\":%" PRId32
			     ",\"of\":%d}",
			     m.newest, p, b->ninput);
		for (int32_t q = 0; q < b->nparts; q++) {
			if (produce(b, q, "wm", 2, text, (size_t)n, m.newest))
				b->st.marks++;
		}
	}
	rd_kafka_poll(b->producer, 0); /* delivery reports */
}

/* -------------------------------------------------------------- counting */

struct fire_ctx {
	struct kw_byip *b;
	int32_t q;
};

static void collect(void *ctx, struct kw_alert *a)
{
	struct fire_ctx *f = ctx;

	a->stream = stream_of_q(f->b, f->q);
	f->b->st.alerts++;
	kw_engine_alert(f->b->d->engine, a);
}

static void fire(void *ctx, const struct kw_ipwin_rec *r, unsigned nkeys,
		 unsigned denied)
{
	struct fire_ctx *f = ctx;
	struct kw_emit emit = {.fn = collect, .ctx = f};
	struct kw_event ev;
	struct kw_keyent key;

	memset(&ev, 0, sizeof(ev));
	memset(&key, 0, sizeof(key));
	ev.ts = r->ts;
	ev.ip = r->ip;
	ev.status = r->status;
	ev.request_id = kw_str_c(r->request);
	memcpy(key.fp, r->fp, sizeof(key.fp));
	if (strlen(r->id) < sizeof(key.id))
		memcpy(key.id, r->id, strlen(r->id) + 1);
	else
		key.id_long = r->id;
	key.kind = r->kind;
	key.mode = r->mode;
	if (r->conf >= 0 && (size_t)r->conf < f->b->cfg->nkeys)
		key.conf = &f->b->cfg->keys[r->conf];
	kw_auth_alert(&f->b->auth, &ev, &key, nkeys, denied, &emit);
}

static void bad(struct kw_byip *b, const rd_kafka_message_t *m, const char *why)
{
	if (++b->st.bad <= BAD_LOGGED_MAX)
		kw_log_warn(
			"kafka", "%s/%" PRId32 "@%" PRId64 ": %s: skipped%s",
			b->topic, m->partition, m->offset, why,
			b->st.bad == BAD_LOGGED_MAX ? " (more are only counted)"
						    : "");
}

static bool get_text(const json_t *o, const char *name, char *out, size_t cap)
{
	const char *s = json_string_value(json_object_get(o, name));

	if (!s || strlen(s) >= cap)
		return false;
	memcpy(out, s, strlen(s) + 1);
	return true;
}

/* A record into rec; false (with why) when it is not one keywatch
 * writes. */
static bool parse_rec(struct kw_byip *b, const json_t *o,
		      struct kw_ipwin_rec *r, const char **why)
{
	char ip[64], name[128];
	json_int_t kind, mode, conf;

	memset(r, 0, sizeof(*r));
	*why = "a record that is not one keywatch writes";
	if (!json_is_integer(json_object_get(o, "t")) ||
	    !json_is_integer(json_object_get(o, "status")) ||
	    !json_is_integer(json_object_get(o, "kind")) ||
	    !json_is_integer(json_object_get(o, "mode")) ||
	    !json_is_integer(json_object_get(o, "conf")) ||
	    !get_text(o, "ip", ip, sizeof(ip)) ||
	    !get_text(o, "request", r->request, sizeof(r->request)) ||
	    !get_text(o, "fp", r->fp, sizeof(r->fp)) ||
	    !get_text(o, "id", r->id, sizeof(r->id)) ||
	    !get_text(o, "name", name, sizeof(name)))
		return false;
	r->ts = json_integer_value(json_object_get(o, "t"));
	r->status = (int)json_integer_value(json_object_get(o, "status"));
	kind = json_integer_value(json_object_get(o, "kind"));
	mode = json_integer_value(json_object_get(o, "mode"));
	conf = json_integer_value(json_object_get(o, "conf"));
	if (!kw_ip_parse(&r->ip, ip, strlen(ip))) {
		*why = "a record whose ip is not an address";
		return false;
	}
	if (kind < 0 || kind >= KW_KIND_MAX || mode < 0 ||
	    mode >= KW_MODE_MAX || conf < -1 || conf > INT32_MAX ||
	    (r->fp[0] && strlen(r->fp) != KW_KEY_FP_SIZE - 1))
		return false;
	r->kind = (uint8_t)kind;
	r->mode = (uint8_t)mode;
	r->conf = (int32_t)conf;
	/* The config entry it names, if this instance's config names it
	 * the same. */
	if (r->conf >= 0) {
		const struct kw_keyconf *kc = (size_t)r->conf < b->cfg->nkeys
						      ? &b->cfg->keys[r->conf]
						      : NULL;

		if (!kc || strcmp(kc->name ? kc->name : "", name) != 0)
			r->conf = -1;
	}
	return true;
}

static void close_q(struct kw_byip *b, int32_t q)
{
	struct bq *bq = &b->q[q];
	struct fire_ctx f = {b, q};
	int64_t wm = INT64_MAX;

	if (!bq->nsrc)
		return;
	for (int i = 0; i < bq->nsrc; i++) {
		if (bq->src[i] < wm)
			wm = bq->src[i];
	}
	if (wm != INT64_MIN)
		kw_ipwin_close(bq->t, wm, fire, &f);
}

static void take_mark(struct kw_byip *b, const rd_kafka_message_t *m,
		      const json_t *o)
{
	struct bq *bq = &b->q[m->partition];
	const json_t *wm = json_object_get(o, "wm");
	json_int_t src = json_integer_value(json_object_get(o, "src"));
	json_int_t of = json_integer_value(json_object_get(o, "of"));

	if (!json_is_integer(wm) || of < 1 || of > KW_KAFKA_PARTITIONS_MAX ||
	    src < 0 || src >= of) {
		bad(b, m, "a mark that is not one keywatch writes");
		return;
	}
	if (of != bq->nsrc) {
		int64_t *v = realloc(bq->src, (size_t)of * sizeof(*v));

		if (!v) {
			bad(b, m, "out of memory");
			return;
		}
		for (json_int_t i = bq->nsrc; i < of; i++)
			v[i] = INT64_MIN;
		bq->src = v;
		bq->nsrc = (int)of;
	}
	if (json_integer_value(wm) > bq->src[src]) {
		bq->src[src] = json_integer_value(wm);
		close_q(b, m->partition);
	}
}

static void take(struct kw_byip *b, const rd_kafka_message_t *m)
{
	struct bq *bq;
	json_t *o;
	json_error_t jerr;
	struct kw_ipwin_rec r;
	const char *why;

	if (m->partition < 0 || m->partition >= b->nparts ||
	    !b->q[m->partition].t)
		return; /* not ours (any more) */
	bq = &b->q[m->partition];
	bq->next = m->offset + 1;
	b->st.taken++;
	o = m->len <= RECORD_MAX ? json_loadb(m->payload, m->len, 0, &jerr)
				 : NULL;
	if (!json_is_object(o)) {
		bad(b, m, "a record that is not a JSON object");
	} else if (json_object_get(o, "wm")) {
		take_mark(b, m, o);
	} else if (!parse_rec(b, o, &r, &why)) {
		bad(b, m, why);
	} else {
		struct fire_ctx f = {b, m->partition};

		kw_ipwin_add(bq->t, &r, m->offset, fire, &f);
	}
	json_decref(o);
}

/* ------------------------------------------------------------ the group */

/* The marks a commit of q carries (its offset's metadata): what its
 * committer's table knew of every input partition's time, so that the
 * next owner, reading on from that offset, knows it too (the marks that
 * told it are behind the offset). "kwbyip1 N V0 ... VN-1" (microseconds,
 * "-" for none), or "kwbyip1 N min V" (every partition at least V: the
 * smallest) where that would not fit in COMMIT_META_MAX. */
#define COMMIT_META_MAX 2048

static size_t marks_text(const struct bq *bq, char *buf, size_t cap)
{
	int64_t min = INT64_MAX;
	size_t n;

	if (!bq->nsrc)
		return 0;
	for (int i = 0; i < bq->nsrc; i++)
		min = bq->src[i] < min ? bq->src[i] : min;
	n = (size_t)snprintf(buf, cap, "kwbyip1 %d", bq->nsrc);
	for (int i = 0; i < bq->nsrc && n < cap; i++)
		n += bq->src[i] == INT64_MIN
			     ? (size_t)snprintf(buf + n, cap - n, " -")
			     : (size_t)snprintf(buf + n, cap - n, " %" PRId64,
						bq->src[i]);
	if (n < cap)
		return n;
	if (min == INT64_MIN)
		return 0; /* the smallest says nothing */
	n = (size_t)snprintf(buf, cap, "kwbyip1 %d min %" PRId64, bq->nsrc,
			     min);
	return n < cap ? n : 0;
}

/* bq's marks from a commit's metadata (marks_text); false, leaving them
 * as they were, when it is not one. */
static bool marks_parse(struct bq *bq, const char *text, size_t len)
{
	char buf[COMMIT_META_MAX + 1], *p, *end;
	int64_t *v = NULL, min = INT64_MIN;
	long nsrc = 0, i;
	bool ok = false;

	if (len > COMMIT_META_MAX || len < 8 || memcmp(text, "kwbyip1 ", 8))
		goto cleanup;
	memcpy(buf, text, len);
	buf[len] = '\0';
	nsrc = strtol(buf + 8, &end, 10);
	if (end == buf + 8 || nsrc < 1 || nsrc > KW_KAFKA_PARTITIONS_MAX)
		goto cleanup;
	p = end;
	if (!strncmp(p, " min ", 5)) {
		min = strtoll(p + 5, &end, 10);
		if (end == p + 5 || min == INT64_MIN)
			goto cleanup;
		p = end;
	}
	v = malloc((size_t)nsrc * sizeof(*v));
	if (!v)
		goto cleanup;
	for (i = 0; i < nsrc; i++) {
		if (min != INT64_MIN) {
			v[i] = min;
		} else if (!strncmp(p, " -", 2) && (!p[2] || p[2] == ' ')) {
			v[i] = INT64_MIN;
			p += 2;
		} else if (*p == ' ' && p[1] != ' ' && p[1]) {
			v[i] = strtoll(p + 1, &end, 10);
			if (end == p + 1)
				goto cleanup;
			p = end;
		} else {
			goto cleanup;
		}
	}
	if (*p)
		goto cleanup;
	free(bq->src);
	bq->src = v;
	bq->nsrc = (int)nsrc;
	v = NULL;
	ok = true;
cleanup:
	free(v);
	return ok;
}

/* q is ours from its committed position at (NULL: not known; the
 * consumer reads from the group's committed offset), whose marks the
 * table starts from. */
static void own_q(struct kw_byip *b, int32_t q,
		  const rd_kafka_topic_partition_t *at)
{
	struct bq *bq = &b->q[q];

	if (bq->t)
		return;
	if (kw_ipwin_create(b->auth.window, b->auth.keys, &bq->t) != KW_OK) {
		kw_log_error("kafka", "%s/%" PRId32 ": out of memory", b->topic,
			     q);
		return;
	}
	bq->next = -1;
	bq->committed = -1;
	if (at && !at->err && at->offset >= 0 && at->metadata &&
	    marks_parse(bq, at->metadata, at->metadata_size)) {
		/* What was decided before the offset stays decided. */
		bq->committed = at->offset;
		close_q(b, q);
		kw_log_info("kafka",
			    "%s: stage keyed by IP, partition %" PRId32
			    ": reading on from offset %" PRId64
			    " with the marks of its last commit",
			    b->input, q, at->offset);
	}
	/* Its alerts already delivered, so that a replay drops them. */
	if (b->cl)
		kw_changelog_restore_journal(b->cl, q);
	b->st.assigned++;
}

static void drop_q(struct kw_byip *b, int32_t q)
{
	struct bq *bq = &b->q[q];

	if (bq->t) {
		b->st.late += kw_ipwin_stats(bq->t)->late;
		b->st.early += kw_ipwin_stats(bq->t)->early;
	}
	kw_ipwin_destroy(bq->t);
	free(bq->src);
	memset(bq, 0, sizeof(*bq));
}

/* The offset q may be committed at: past what was read, but not past the
 * first record of a pair still open. -1: nothing to commit. */
static int64_t commit_at(const struct bq *bq)
{
	int64_t low;

	if (!bq->t || bq->next < 0)
		return -1;
	low = kw_ipwin_low(bq->t);
	return low >= 0 && low < bq->next ? low : bq->next;
}

/* An asynchronous commit's answer (served by kw_byip_poll): an offset
 * refused is not committed, so that the next commit makes it again even
 * where nothing was read since (librdkafka logs the refusal). */
static void on_committed(rd_kafka_t *rk, rd_kafka_resp_err_t e,
			 rd_kafka_topic_partition_list_t *l, void *opaque)
{
	struct kw_byip *b = opaque;

	(void)rk;
	for (int i = 0; l && i < l->cnt; i++) {
		int32_t q = l->elems[i].partition;

		if ((e || l->elems[i].err) && q >= 0 && q < b->nparts &&
		    b->q[q].committed == l->elems[i].offset)
			b->q[q].committed = -1;
	}
}

/* c committed asynchronously, answered on the consumer's queue (which
 * kw_byip_poll serves) to on_committed. */
static rd_kafka_resp_err_t commit_async(struct kw_byip *b,
					rd_kafka_topic_partition_list_t *c)
{
	rd_kafka_queue_t *cq = rd_kafka_queue_get_consumer(b->consumer);
	rd_kafka_resp_err_t e;

	if (!cq) /* none only without a group, which the consumer has */
		return rd_kafka_commit(b->consumer, c, 1);
	e = rd_kafka_commit_queue(b->consumer, c, cq, on_committed, b);
	rd_kafka_queue_destroy(cq);
	return e;
}

static void commit(struct kw_byip *b,
		   const rd_kafka_topic_partition_list_t *only, bool sync)
{
	rd_kafka_topic_partition_list_t *c =
		rd_kafka_topic_partition_list_new(b->nparts);

	for (int32_t q = 0; q < b->nparts; q++) {
		int64_t at = commit_at(&b->q[q]);
		bool listed = !only;

		for (int i = 0; only && i < only->cnt; i++)
			listed = listed || only->elems[i].partition == q;
		rd_kafka_topic_partition_t *tp;
		char meta[COMMIT_META_MAX];
		size_t n;

		/* A revocation's commit is this owner's last word: it is made
		 * even where the offset has not moved since the last one (that
		 * one may have been refused at a rebalance), so that the next
		 * owner starts from the marks this table knew last. */
		if (!listed || at < 0 || (!only && at == b->q[q].committed))
			continue;
		tp = rd_kafka_topic_partition_list_add(c, b->topic, q);
		tp->offset = at;
		n = marks_text(&b->q[q], meta, sizeof(meta));
		if (n && (tp->metadata = malloc(n)) != NULL) {
			memcpy(tp->metadata, meta, n);
			tp->metadata_size = n;
		}
		b->q[q].committed = at;
	}
	if (c->cnt) {
		rd_kafka_resp_err_t e =
			sync ? rd_kafka_commit(b->consumer, c, 0)
			     : commit_async(b, c);

		if (e) {
			kw_log_warn("kafka",
				    "%s: cannot commit offsets: %s (a "
				    "takeover reads more again)",
				    b->topic, rd_kafka_err2str(e));
			/* Not committed: the next commit tries again. */
			for (int i = 0; i < c->cnt; i++)
				b->q[c->elems[i].partition].committed = -1;
		}
	}
	rd_kafka_topic_partition_list_destroy(c);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
			 rd_kafka_topic_partition_list_t *l, void *opaque)
{
	struct kw_byip *b = opaque;
	char parts[256];

	kw_kafka_partitions_text(l, parts, sizeof(parts));
	if (l->cnt)
		kw_log_info("kafka", "%s: stage keyed by IP: %s %s", b->input,
			    e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
				    ? "assigned"
			    : rd_kafka_assignment_lost(rk) ? "lost"
							   : "revoked",
			    parts);
	if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		rd_kafka_topic_partition_list_t *at = NULL;

		b->member.assigned = true;
		/* Where each is read from, with the marks its committer
		 * knew; read from there (a later commit by an owner that
		 * has not heard it lost the partition changes nothing). */
		if (l->cnt && !b->member.closing) {
			at = rd_kafka_topic_partition_list_copy(l);
			if (rd_kafka_committed(rk, at, COMMITTED_MS)) {
				kw_log_warn("kafka",
					    "%s: the committed offsets of %s "
					    "could not be read: read from the "
					    "group's, without their marks",
					    b->topic, parts);
				rd_kafka_topic_partition_list_destroy(at);
				at = NULL;
			}
		}
		/* Leaving: taken by no one here, read by the next owner. */
		for (int i = 0; i < l->cnt && !b->member.closing; i++) {
			int32_t q = l->elems[i].partition;
			const rd_kafka_topic_partition_t *c =
				at ? &at->elems[i] : NULL;

			if (q < 0 || q >= b->nparts)
				continue;
			if (c && !c->err && c->offset >= 0)
				l->elems[i].offset = c->offset;
			own_q(b, q, c);
		}
		if (at)
			rd_kafka_topic_partition_list_destroy(at);
	} else {
		bool lost = rd_kafka_assignment_lost(rk);

		if (!lost)
			commit(b, l, true);
		for (int i = 0; i < l->cnt; i++) {
			int32_t q = l->elems[i].partition;

			if (q >= 0 && q < b->nparts && b->q[q].t) {
				drop_q(b, q);
				if (lost)
					b->st.lost++;
				else
					b->st.revoked++;
			}
		}
	}
	kw_kafka_rebalance_apply(rk, e, l, b->topic);
}

void kw_byip_poll(struct kw_byip *b, struct kw_kafka_input *in, int64_t now_us)
{
	rd_kafka_message_t *m;

	if (now_us >= b->next_mark) {
		b->next_mark = now_us + MARK_EVERY_US;
		send_marks(b, in);
	}
	for (int i = 0; i < POLL_MAX; i++) {
		m = rd_kafka_consumer_poll(b->consumer, 0);
		if (!m)
			break;
		if (!m->err)
			take(b, m);
		else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			kw_log_warn("kafka", "%s: %s", b->topic,
				    rd_kafka_message_errstr(m));
		rd_kafka_message_destroy(m);
	}
}

void kw_byip_commit(struct kw_byip *b, bool sync)
{
	commit(b, NULL, sync);
}

void kw_byip_journal(struct kw_byip *b, int32_t q, const char *id, int64_t time)
{
	if (b->cl)
		kw_changelog_alert(b->cl, q, KW_CHANGELOG_RING_BYIP, id, time);
}

bool kw_byip_stream(uint64_t stream, int32_t *q)
{
	if (!((uint32_t)stream & BYIP_STREAM))
		return false;
	*q = (int32_t)((uint32_t)stream & ~BYIP_STREAM);
	return true;
}

/* ------------------------------------------------------------ life */

static const char *const producer_defaults[] = {
	"linger.ms", "5", "compression.type", "lz4", NULL,
};

static const char *const consumer_defaults[] = {
	"partition.assignment.strategy",
	"cooperative-sticky",
	"auto.offset.reset",
	"earliest",
	NULL,
};

enum kw_status kw_byip_create(struct kw_daemon *d, const struct kw_config *cfg,
			      size_t entry, struct kw_changelog *cl,
			      struct kw_byip **out, struct kw_error *err)
{
	const struct kw_input *ci = &cfg->inputs[entry];
	char where[32], group[300];
	struct kw_kafka_client pc = {
		.brokers = ci->brokers,
		.top = cfg->kafka,
		.own = ci->kafka,
		.file = cfg->file,
		.where = where,
		.defaults = producer_defaults,
	};
	struct kw_kafka_client cc = pc;
	struct kw_byip *b = calloc(1, sizeof(*b));
	enum kw_status st = KW_ENOMEM;

	*out = NULL;
	snprintf(where, sizeof(where), "inputs[%zu]", entry);
	cc.defaults = consumer_defaults;
	if (!b || !(b->topic = strdup(ci->repartition))) {
		st = kw_error_set(err, st, "out of memory");
		goto cleanup;
	}
	b->d = d;
	b->cfg = cfg;
	b->cl = cl;
	b->input = ci->topic;
	b->stream_base = (uint64_t)(entry + 1) << 32;
	kw_auth_conf(cfg, &b->auth);
	st = kw_kafka_client_new(&pc, NULL, b, on_report, NULL, &b->producer,
				 err);
	if (st != KW_OK)
		goto cleanup;
	st = kw_kafka_ensure_topic(b->producer, ci->topic, b->topic,
				   "repartition", cfg->file, where, &b->ninput,
				   &b->nparts, err);
	if (st != KW_OK)
		goto cleanup;
	snprintf(group, sizeof(group), "%s" KW_REPARTITION_GROUP_SUFFIX,
		 ci->group);
	st = kw_kafka_client_new(&cc, group, b, NULL, on_rebalance,
				 &b->consumer, err);
	if (st != KW_OK)
		goto cleanup;
	b->q = calloc((size_t)b->nparts, sizeof(*b->q));
	b->sent = malloc((size_t)b->ninput * sizeof(*b->sent));
	if (!b->q || !b->sent) {
		st = kw_error_set(err, KW_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (int i = 0; i < b->ninput; i++)
		b->sent[i] = INT64_MIN;
	*out = b;
	b = NULL;
cleanup:
	kw_byip_destroy(b);
	return st;
}

enum kw_status kw_byip_start(struct kw_byip *b, struct kw_error *err)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t e;

	rd_kafka_topic_partition_list_add(l, b->topic, RD_KAFKA_PARTITION_UA);
	e = rd_kafka_subscribe(b->consumer, l);
	rd_kafka_topic_partition_list_destroy(l);
	b->member.subscribed = !e;
	b->member.rebalance = on_rebalance;
	if (e)
		return kw_error_set(err, KW_EIO, "%s: cannot subscribe: %s",
				    b->topic, rd_kafka_err2str(e));
	kw_log_info("kafka",
		    "%s: counting auth.failures by source IP through %s (%d "
		    "partitions)",
		    b->input, b->topic, b->nparts);
	return KW_OK;
}

const char *kw_byip_topic(const struct kw_byip *b)
{
	return b->topic;
}

void kw_byip_stats(const struct kw_byip *b, struct kw_byip_stats *out)
{
	*out = b->st;
	out->produced = __atomic_load_n(&b->st.produced, __ATOMIC_RELAXED);
	out->produce_errors =
		__atomic_load_n(&b->st.produce_errors, __ATOMIC_RELAXED);
	out->owned = 0;
	for (int q = 0; b->q && q < b->nparts; q++) {
		if (!b->q[q].t)
			continue;
		out->late += kw_ipwin_stats(b->q[q].t)->late;
		out->early += kw_ipwin_stats(b->q[q].t)->early;
		out->owned++;
	}
}

void kw_byip_log(const char *topic, const struct kw_byip_stats *st)
{
	kw_log_info("kafka",
		    "%s: %" PRIu64 " records and %" PRIu64
		    " marks written (%" PRIu64 " refused); %" PRIu64
		    " records read (%" PRIu64 " skipped, %" PRIu64
		    " late for a window decided), %" PRIu64
		    " pairs decided early (the table full), %" PRIu64
		    " alerts; partitions %" PRIu32 " owned, %" PRIu64
		    " assigned, %" PRIu64 " revoked, %" PRIu64 " lost",
		    topic, st->produced, st->marks, st->produce_errors,
		    st->taken, st->bad, st->late, st->early, st->alerts,
		    st->owned, st->assigned, st->revoked, st->lost);
}

void kw_byip_destroy(struct kw_byip *b)
{
	if (!b)
		return;
	if (b->consumer) {
		/* Leaving the group revokes what is owned: committed no
		 * further than its open pairs (on_rebalance). */
		if (kw_kafka_consumer_leave(b->consumer, &b->member, b->topic))
			rd_kafka_destroy(b->consumer);
	}
	for (int q = 0; b->q && q < b->nparts; q++)
		drop_q(b, q);
	if (b->q)
		kw_byip_log(b->topic, &b->st);
	if (b->producer) {
		rd_kafka_flush(b->producer, TIMEOUT_MS);
		rd_kafka_destroy(b->producer);
	}
	free(b->q);
	free(b->sent);
	free(b->topic);
	free(b);
}
