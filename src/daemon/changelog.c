/*
 * changelog.c - the state of each partition of a Kafka input in a
 * compacted topic, the changelog (as Kafka Streams keeps its state
 * stores), so that it moves with the partition: an instance that takes a
 * partition over, on another machine with an empty state_dir, reads the
 * partition's state from the changelog before its messages.
 *
 * The one idea: input partition p's state lives in changelog partition p
 * (the topics have as many partitions), so restoring one partition reads
 * one changelog partition, and the changelog's own order says what is
 * consistent. Its records:
 *   key FP (16 hex digits: a key fingerprint, never a key)
 *       one key's state: the state file's record (state/snapshot.h,
 *       kw_snapshot_encode), as the engine exports it, with a header
 *       "keywatch.layout": the layout it is in (kw_engine_layout: the
 *       state's size and each detector family's section), so that a
 *       keywatch of another layout reads it as it reads a state file of
 *       that layout (families moved, upgraded or learning again) and an
 *       upgrade rolled over the instances one by one loses no learning.
 *       A record without the header (from a keywatch before it) is read
 *       in this keywatch's layout.
 *   key "meta"
 *       "KWCL" u32 version (2), u64 the input offset the records before
 *       it cover (the next offset to read), i64 how far the partition's
 *       event time was complete there (kw_engine_stream_done; INT64_MIN:
 *       not known): the checkpoint's mark. Version 1 (without the time)
 *       is read too.
 *   key "alert.N" (N: 0 to KW_CHANGELOG_ALERTS - 1, a ring)
 *       "SEQ TIME ID": an alert about the partition's keys that passed
 *       the router (the journal), written and acknowledged before any
 *       sink may deliver it
 *   key "byip.alert.N" (a ring of its own, the same form)
 *       an alert of repartition partition p of the stage keyed by IP
 *       (byip.c), read back by whichever instance that partition goes to
 *       (kw_changelog_restore_journal)
 * A checkpoint of a partition (before its input offset is committed, and
 * when it is revoked) exports the keys changed since the last one,
 * produces them and then the meta record (an idempotent producer, acks
 * from every in-sync replica, one partition: they stay in order), waits
 * for every acknowledgement, and only then lets the offset be committed.
 * On restore the meta record's offset is the authority: the input is read
 * from there whatever the group committed (a kill between the changelog
 * and the commit counts nothing twice), and key records after the last
 * meta record (a checkpoint cut short) are left out, since they cover
 * messages past it. Every alert record is taken: its id goes into the
 * daemon's ring of recent alerts (admit drops it when the messages after
 * the mark raise it again) and the router's memory (its dedup).
 *
 * Bounded: a restore holds at most the config's max_keys records between
 * two meta records, no record larger than the state's record bound
 * (larger ones are errors naming the topic, partition and offset), and a
 * changelog partition's alerts are a ring of KW_CHANGELOG_ALERTS. A key
 * evicted from the table keeps its last record (as a state file keeps an
 * evicted key's learning); records are never deleted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/kafka.h"
#include "core/le.h"
#include "core/log.h"
#include "core/time.h"
#include "state/snapshot.h"
#include "daemon/daemon_impl.h"

#define KW_CHANGELOG_ALERTS 256 /* alert records per partition (a ring) */
#define META_KEY "meta"
#define META_MAGIC "KWCL"
#define META_VERSION 2
#define META_V1_SIZE 16
#define META_SIZE 24
#define ALERT_PREFIX "alert."
#define BYIP_ALERT_PREFIX "byip.alert."
#define LAYOUT_HEADER "keywatch.layout" /* a key record's */
#define TIMEOUT_MS 30000		/* acks, a restore's reads */
#define QUEUE_RETRIES 300		/* 100 ms waits for room in the queue */
#define RESTORE_POLL_MS 200 /* one wait for the next changelog message */
#define CREATE_MS 10000	    /* creating the topic */

struct cl_part {
	/* The next alert record's sequence number, per ring (enum
	 * kw_changelog_ring). */
	uint64_t next_seq[2];
	/* How far its event time was complete at the restored mark:
	 * whoever read it before read and handed on everything up to there,
	 * though this instance may not have read a message of it since.
	 * INT64_MIN: not known (not restored, or dropped). */
	int64_t restored_done;
	bool full; /* the next checkpoint exports every key (the
		      last one failed, or none yet) */
};

struct kw_changelog {
	struct kw_daemon *d;
	char *topic;
	const char *input; /* the input's topic, for messages (borrowed) */
	uint64_t stream_base;
	rd_kafka_t *producer;
	rd_kafka_t *reader; /* no group: assign() one partition at a time */
	struct cl_part *parts;
	int nparts;
	/* Delivery reports since the last wait: failures and the first
	 * one's reason. */
	uint64_t failed;
	rd_kafka_resp_err_t first_err;
	struct kw_changelog_stats st;
};

static uint64_t stream_of(const struct kw_changelog *cl, int32_t partition)
{
	return cl->stream_base | (uint32_t)partition;
}

/* ------------------------------------------------------------ producing */

static void on_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kw_changelog *cl = opaque;

	(void)rk;
	if (!m->err)
		return;
	if (!cl->failed++)
		cl->first_err = m->err;
}

/* One record to partition p (value NULL: a tombstone), with header h
 * (NULL: none); waits for room in the queue. false when librdkafka
 * refuses it (logged). */
static bool produce(struct kw_changelog *cl, int32_t p, const char *key,
		    size_t klen, const void *value, size_t vlen,
		    const struct kw_kafka_header *h)
{
	rd_kafka_resp_err_t e = kw_kafka_produce_wait(
		cl->producer, cl->topic, p, key, klen, value, vlen, 0, h);

	if (e) {
		cl->st.errors++;
		kw_log_error("kafka", "changelog %s/%" PRId32 ": %s", cl->topic,
			     p, rd_kafka_err2str(e));
		return false;
	}
	cl->st.records++;
	cl->st.bytes += klen + vlen;
	return true;
}

/* Wait for every record produced to be acknowledged; whether all were. */
static bool acked(struct kw_changelog *cl, int32_t p, const char *what)
{
	rd_kafka_resp_err_t e = rd_kafka_flush(cl->producer, TIMEOUT_MS);

	if (!e && !cl->failed)
		return true;
	/* The records refused, or (timed out) still waiting. */
	cl->st.errors += cl->failed ? cl->failed
				    : (uint64_t)rd_kafka_outq_len(cl->producer);
	kw_log_error("kafka",
		     "changelog %s/%" PRId32 ": %s not acknowledged: %s",
		     cl->topic, p, what,
		     rd_kafka_err2str(cl->failed ? cl->first_err : e));
	cl->failed = 0;
	return false;
}

struct export_ctx {
	struct kw_changelog *cl;
	int32_t p;
	struct kw_kafka_header layout;
	bool ok;
};

static bool produce_key(void *ctx, const char *fp, const unsigned char *rec,
			size_t len)
{
	struct export_ctx *x = ctx;

	x->ok = produce(x->cl, x->p, fp, strlen(fp), rec, len, &x->layout);
	if (x->ok)
		x->cl->st.keys++;
	return x->ok;
}

bool kw_changelog_save(struct kw_changelog *cl, int32_t p, int64_t next)
{
	struct cl_part *cp;
	struct export_ctx x = {cl, p, {LAYOUT_HEADER, NULL, 0}, true};
	unsigned char meta[META_SIZE];
	enum kw_status st;

	if (p < 0 || p >= cl->nparts) {
		kw_log_error("kafka",
			     "changelog %s has %d partitions, not partition "
			     "%" PRId32 " of %s: its state is not kept",
			     cl->topic, cl->nparts, p, cl->input);
		return false;
	}
	cp = &cl->parts[p];
	cl->failed = 0;
	x.layout.value = kw_engine_layout(cl->d->engine, &x.layout.len);
	st = x.layout.value
		     ? kw_engine_export_stream(cl->d->engine, stream_of(cl, p),
					       !cp->full, produce_key, &x)
		     : KW_ENOMEM;
	if (st != KW_OK) {
		cp->full = true;
		if (st == KW_ENOMEM)
			kw_log_error("kafka",
				     "changelog %s/%" PRId32 ": out of memory",
				     cl->topic, p);
		return false;
	}
	memcpy(meta, META_MAGIC, 4);
	kw_le_put32(meta + 4, META_VERSION);
	kw_le_put64(meta + 8, (uint64_t)next);
	kw_le_put64(meta + 16, (uint64_t)kw_changelog_done(cl, p));
	if (!produce(cl, p, META_KEY, strlen(META_KEY), meta, sizeof(meta),
		     NULL) ||
	    !acked(cl, p, "a checkpoint")) {
		/* Some records may be lost: all of them next time. */
		cp->full = true;
		return false;
	}
	cp->full = false;
	cl->st.checkpoints++;
	return true;
}

void kw_changelog_alert(struct kw_changelog *cl, int32_t p,
			enum kw_changelog_ring ring, const char *id,
			int64_t time)
{
	char key[32], value[128];
	uint64_t *seq;
	int n;

	if (p < 0 || p >= cl->nparts) {
		kw_log_error("kafka",
			     "changelog %s has %d partitions, not partition "
			     "%" PRId32 ": alert %s is journalled on this "
			     "instance only",
			     cl->topic, cl->nparts, p, id);
		return;
	}
	seq = &cl->parts[p].next_seq[ring];
	snprintf(key, sizeof(key), "%s%u",
		 ring == KW_CHANGELOG_RING_BYIP ? BYIP_ALERT_PREFIX
						: ALERT_PREFIX,
		 (unsigned)(*seq % KW_CHANGELOG_ALERTS));
	n = snprintf(value, sizeof(value), "%" PRIu64 " %" PRId64 " %s", *seq,
		     time, id);
	(*seq)++;
	cl->failed = 0;
	if (produce(cl, p, key, strlen(key), value, (size_t)n, NULL) &&
	    acked(cl, p, "an alert"))
		cl->st.alerts++;
}

/* ------------------------------------------------------------ restoring */

/* A key record waiting for the meta record after it. */
struct held {
	rd_kafka_message_t *m;
};

struct restore {
	struct kw_changelog *cl;
	int32_t p;
	struct held *held;
	size_t nheld, capheld, max;
	size_t rec_max;	   /* a key record's bound */
	bool journal_only; /* the byip ring's alerts, nothing else */
	int64_t offset;	   /* the last meta record's; -1: none yet */
	int64_t done;	   /* its time complete (INT64_MIN: not known) */
	uint64_t keys, bad, alerts;
};

static void hold_free(struct restore *r)
{
	for (size_t i = 0; i < r->nheld; i++)
		rd_kafka_message_destroy(r->held[i].m);
	r->nheld = 0;
}

/* The key records held are covered by the meta record that came after
 * them: into the engine's pending table. */
static void take_held(struct restore *r)
{
	struct kw_error err;
	char where[256];

	snprintf(where, sizeof(where), "changelog %s/%" PRId32, r->cl->topic,
		 r->p);
	for (size_t i = 0; i < r->nheld; i++) {
		const rd_kafka_message_t *m = r->held[i].m;
		rd_kafka_headers_t *h = NULL;
		const void *layout = NULL;
		size_t nlayout = 0;

		/* Without the header: a keywatch before layouts went with
		 * the records wrote it, in this one's layout. */
		if (!rd_kafka_message_headers(m, &h) &&
		    !rd_kafka_header_get_last(h, LAYOUT_HEADER, &layout,
					      &nlayout) &&
		    !layout)
			layout = ""; /* a header without a value */
		kw_error_clear(&err);
		if (kw_engine_import_key(r->cl->d->engine,
					 stream_of(r->cl, r->p), layout,
					 nlayout, where, m->payload, m->len,
					 &err) == KW_OK) {
			r->keys++;
			continue;
		}
		r->bad++;
		kw_log_error("kafka",
			     "changelog %s/%" PRId32 "@%" PRId64
			     ": %s; the key learns again",
			     r->cl->topic, r->p, m->offset, err.msg);
	}
	hold_free(r);
}

static bool is_fp(const void *key, size_t n)
{
	const char *k = key;

	if (n != KW_SNAPSHOT_FP)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!((k[i] >= '0' && k[i] <= '9') ||
		      (k[i] >= 'a' && k[i] <= 'f')))
			return false;
	}
	return true;
}

static void bad_record(struct restore *r, const rd_kafka_message_t *m,
		       const char *why)
{
	r->bad++;
	kw_log_error("kafka", "changelog %s/%" PRId32 "@%" PRId64 ": %s",
		     r->cl->topic, r->p, m->offset, why);
}

/* "SEQ TIME ID": two decimal numbers (the time within event time's range)
 * and an id of KW_ALERT_ID_LEN characters, one space between each, nothing
 * else. */
static bool parse_alert(const char *text, unsigned long long *seq,
			long long *time, char id[KW_ALERT_ID_LEN + 1])
{
	const char *p = text;
	char *end;

	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	*seq = strtoull(p, &end, 10);
	if (errno || *end != ' ')
		return false;
	p = end + 1;
	if ((*p < '0' || *p > '9') && *p != '-')
		return false;
	*time = strtoll(p, &end, 10);
	if (errno || *end != ' ' || *time < KW_TIME_MIN || *time > KW_TIME_MAX)
		return false;
	p = end + 1;
	if (strlen(p) != KW_ALERT_ID_LEN ||
	    strcspn(p, " \t\r\n") != KW_ALERT_ID_LEN)
		return false;
	memcpy(id, p, KW_ALERT_ID_LEN + 1);
	return true;
}

/* One alert record of ring: "SEQ TIME ID". */
static void take_alert(struct restore *r, const rd_kafka_message_t *m,
		       enum kw_changelog_ring ring)
{
	char text[128], id[KW_ALERT_ID_LEN + 1];
	unsigned long long seq;
	long long time;
	uint64_t *next = &r->cl->parts[r->p].next_seq[ring];

	if (!m->payload || m->len >= sizeof(text)) {
		bad_record(r, m, "an alert record that is not one");
		return;
	}
	memcpy(text, m->payload, m->len);
	text[m->len] = '\0';
	if (!parse_alert(text, &seq, &time, id)) {
		bad_record(r, m, "an alert record that is not one");
		return;
	}
	kw_checkpoint_add_alert(&r->cl->d->ckpt, id, time);
	kw_router_memory_note(r->cl->d->conf.router, id, time);
	if (seq + 1 > *next)
		*next = seq + 1;
	r->alerts++;
}

static bool has_prefix(const rd_kafka_message_t *m, const char *prefix)
{
	size_t n = strlen(prefix);

	return m->key && m->key_len > n && !memcmp(m->key, prefix, n);
}

static void take_message(struct restore *r, rd_kafka_message_t *m)
{
	if (has_prefix(m, BYIP_ALERT_PREFIX)) {
		take_alert(r, m, KW_CHANGELOG_RING_BYIP);
		rd_kafka_message_destroy(m);
		return;
	}
	if (r->journal_only) {
		rd_kafka_message_destroy(m);
		return;
	}
	if (m->key_len == strlen(META_KEY) &&
	    !memcmp(m->key, META_KEY, m->key_len)) {
		const unsigned char *v = m->payload;
		uint32_t version = m->len >= 8 ? kw_le_get32(v + 4) : 0;

		if (!((version == 1 && m->len == META_V1_SIZE) ||
		      (version == META_VERSION && m->len == META_SIZE)) ||
		    memcmp(v, META_MAGIC, 4) ||
		    (int64_t)kw_le_get64(v + 8) < 0) {
			bad_record(r, m, "a checkpoint mark that is not one");
		} else {
			r->offset = (int64_t)kw_le_get64(v + 8);
			r->done = version == 1 ? INT64_MIN
					       : (int64_t)kw_le_get64(v + 16);
			take_held(r);
		}
		rd_kafka_message_destroy(m);
		return;
	}
	if (has_prefix(m, ALERT_PREFIX)) {
		take_alert(r, m, KW_CHANGELOG_RING_INPUT);
		rd_kafka_message_destroy(m);
		return;
	}
	if (!m->key || !is_fp(m->key, m->key_len)) {
		bad_record(r, m,
			   "a record keyed neither by a fingerprint nor "
			   "as keywatch keys them");
		rd_kafka_message_destroy(m);
		return;
	}
	if (!m->payload) { /* a tombstone: nothing to restore */
		rd_kafka_message_destroy(m);
		return;
	}
	if (m->len > r->rec_max) {
		char why[128];

		snprintf(why, sizeof(why),
			 "a key record of %zu bytes, more than a record's %zu",
			 m->len, r->rec_max);
		bad_record(r, m, why);
		rd_kafka_message_destroy(m);
		return;
	}
	if (r->nheld == r->max) {
		/* More changed keys in one checkpoint than the table
		 * holds: cannot be; the oldest are taken as they are. */
		bad_record(r, m,
			   "more key records in one checkpoint than "
			   "max_keys");
		rd_kafka_message_destroy(m);
		return;
	}
	if (r->nheld == r->capheld) {
		size_t cap = r->capheld ? r->capheld * 2 : 256;
		struct held *h = realloc(r->held, cap * sizeof(*h));

		if (!h) {
			bad_record(r, m, "out of memory");
			rd_kafka_message_destroy(m);
			return;
		}
		r->held = h;
		r->capheld = cap;
	}
	r->held[r->nheld++].m = m;
}

/* Read changelog partition r->p from its start to its end into r: 1; 0
 * when it is empty (never written); -1 when it could not be read at all
 * (logged, naming what goes without). */
static int read_part(struct restore *r, const char *without)
{
	struct kw_changelog *cl = r->cl;
	int32_t p = r->p;
	rd_kafka_topic_partition_list_t *l = NULL;
	int64_t lo = 0, hi = 0, last = -1;
	rd_kafka_resp_err_t e;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = rd_kafka_query_watermark_offsets(cl->reader, cl->topic, p, &lo, &hi,
					     TIMEOUT_MS);
	if (e) {
		kw_log_error("kafka",
			     "changelog %s/%" PRId32 ": cannot be read (%s): "
			     "%s",
			     cl->topic, p, rd_kafka_err2str(e), without);
		return -1;
	}
	if (hi <= lo)
		return 0; /* never written */
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, cl->topic, p)->offset = lo;
	e = rd_kafka_assign(cl->reader, l);
	while (!e && last < hi - 1) {
		rd_kafka_message_t *m =
			rd_kafka_consumer_poll(cl->reader, RESTORE_POLL_MS);

		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (!m) {
			if (t1.tv_sec - t0.tv_sec > TIMEOUT_MS / 1000)
				e = RD_KAFKA_RESP_ERR__TIMED_OUT;
			continue;
		}
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				kw_log_warn("kafka",
					    "changelog %s/%" PRId32 ": %s",
					    cl->topic, p,
					    rd_kafka_message_errstr(m));
			else
				last = hi - 1;
			rd_kafka_message_destroy(m);
			continue;
		}
		last = m->offset;
		cl->st.restored_records++;
		take_message(r, m);
	}
	rd_kafka_assign(cl->reader, NULL);
	rd_kafka_topic_partition_list_destroy(l);
	if (e)
		kw_log_error("kafka",
			     "changelog %s/%" PRId32 ": read up to offset "
			     "%" PRId64 " of %" PRId64 ": %s",
			     cl->topic, p, last, hi, rd_kafka_err2str(e));
	return 1;
}

int64_t kw_changelog_restore(struct kw_changelog *cl, int32_t p)
{
	struct restore r = {.cl = cl, .p = p, .offset = -1, .done = INT64_MIN};
	struct timespec t0, t1;
	char without[160];
	double secs;

	if (p < 0 || p >= cl->nparts) {
		kw_log_error("kafka",
			     "changelog %s has %d partitions, not partition "
			     "%" PRId32 " of %s: read without its state",
			     cl->topic, cl->nparts, p, cl->input);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cl->parts[p].full = true;
	r.max = kw_engine_config(cl->d->engine)->max_keys;
	/* Twice this keywatch's bound: room for a record of a larger
	 * layout (another keywatch's, kw_engine_import_key). */
	r.rec_max = 2 * kw_engine_record_max(cl->d->engine);
	snprintf(without, sizeof(without),
		 "partition %" PRId32 " of %s is read without its state", p,
		 cl->input);
	if (read_part(&r, without) <= 0)
		return -1; /* unreadable (logged), or never checkpointed */
	if (r.nheld)
		kw_log_info("kafka",
			    "changelog %s/%" PRId32 ": %zu key records after "
			    "the last checkpoint mark (a checkpoint cut short) "
			    "left out",
			    cl->topic, p, r.nheld);
	hold_free(&r);
	free(r.held);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cl->parts[p].restored_done = r.offset >= 0 ? r.done : INT64_MIN;
	cl->st.restored_keys += r.keys;
	cl->st.restores++;
	cl->st.restore_seconds += secs;
	kw_log_info("kafka",
		    "%s: partition %" PRId32 " restored from %s: %" PRIu64
		    " keys, %" PRIu64 " recent alerts%s, in %.3f s; reading on "
		    "from offset %" PRId64,
		    cl->input, p, cl->topic, r.keys, r.alerts,
		    r.bad ? " (some records refused: see above)" : "", secs,
		    r.offset);
	return r.offset;
}

void kw_changelog_restore_journal(struct kw_changelog *cl, int32_t q)
{
	struct restore r = {.cl = cl,
			    .p = q,
			    .offset = -1,
			    .done = INT64_MIN,
			    .journal_only = true};

	if (q < 0 || q >= cl->nparts) {
		kw_log_error("kafka",
			     "changelog %s has %d partitions, not partition "
			     "%" PRId32 ": the stage keyed by IP reads it "
			     "without its recent alerts",
			     cl->topic, cl->nparts, q);
		return;
	}
	if (read_part(&r, "the stage keyed by IP reads its partition "
			  "without its recent alerts") <= 0)
		return;
	kw_log_info("kafka",
		    "%s: stage keyed by IP, partition %" PRId32 ": %" PRIu64
		    " recent alerts read back from %s",
		    cl->input, q, r.alerts, cl->topic);
}

int64_t kw_changelog_done(struct kw_changelog *cl, int32_t p)
{
	int64_t done = kw_engine_stream_done(cl->d->engine, stream_of(cl, p));
	int64_t restored = p >= 0 && p < cl->nparts ? cl->parts[p].restored_done
						    : INT64_MIN;

	return restored > done ? restored : done;
}

void kw_changelog_drop(struct kw_changelog *cl, int32_t p)
{
	if (p >= 0 && p < cl->nparts)
		cl->parts[p].restored_done = INT64_MIN;
	if (cl->d->engine)
		kw_engine_drop_stream(cl->d->engine, stream_of(cl, p));
}

/* ------------------------------------------------------------ life */

static const char *const producer_defaults[] = {
	"linger.ms", "5", "compression.type", "zstd", NULL,
};

static const char *const reader_defaults[] = {
	"enable.partition.eof",
	"true",
	NULL,
};

enum kw_status kw_kafka_ensure_topic(rd_kafka_t *rk, const char *input,
				     const char *topic, const char *setting,
				     const char *file, const char *where,
				     int *ninput, int *nparts,
				     struct kw_error *err)
{
	bool changelog = !strcmp(setting, "changelog");
	int nin = 0, ncl = 0, brokers = 0;
	enum kw_status st;
	rd_kafka_NewTopic_t *nt = NULL;
	rd_kafka_queue_t *q = NULL;
	rd_kafka_event_t *ev = NULL;
	rd_kafka_AdminOptions_t *opts = NULL;
	char why[256];

	st = kw_kafka_topic_info(rk, input, TIMEOUT_MS, &nin, &brokers, err);
	if (st != KW_OK)
		return kw_error_prefix(err, "%s: %s", file, where);
	*ninput = nin;
	st = kw_kafka_topic_info(rk, topic, TIMEOUT_MS, &ncl, &brokers, err);
	if (st == KW_OK && changelog && ncl < nin)
		return kw_error_set(err, KW_ECONFIG,
				    "%s: %s.changelog: topic %s has %d "
				    "partitions, fewer than %s's %d: give it "
				    "%d (input partition p's state goes to "
				    "its partition p)",
				    file, where, topic, ncl, input, nin, nin);
	if (st == KW_OK && ncl > 0) {
		*nparts = ncl;
		return KW_OK;
	}
	if (st != KW_OK && st != KW_ENOTFOUND)
		return kw_error_prefix(err, "%s: %s", file, where);
	/* Missing: create it. */
	nt = rd_kafka_NewTopic_new(topic, nin, -1, why, sizeof(why));
	if (nt && changelog &&
	    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact") !=
		    0) {
		rd_kafka_NewTopic_destroy(nt);
		nt = NULL;
	}
	q = rd_kafka_queue_new(rk);
	opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	if (opts)
		rd_kafka_AdminOptions_set_request_timeout(opts, CREATE_MS, why,
							  sizeof(why));
	st = KW_EIO;
	snprintf(why, sizeof(why), "out of memory");
	if (nt && q && opts) {
		const rd_kafka_CreateTopics_result_t *res;
		const rd_kafka_topic_result_t **tr;
		size_t n = 0;

		rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
		ev = rd_kafka_queue_poll(q, CREATE_MS + 1000);
		res = ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
		if (!ev)
			snprintf(why, sizeof(why), "no answer");
		else if (rd_kafka_event_error(ev))
			snprintf(why, sizeof(why), "%s",
				 rd_kafka_event_error_string(ev));
		else if (res &&
			 (tr = rd_kafka_CreateTopics_result_topics(res, &n)) &&
			 n == 1 && rd_kafka_topic_result_error(tr[0]))
			snprintf(why, sizeof(why), "%s",
				 rd_kafka_topic_result_error_string(tr[0]));
		else
			st = KW_OK;
	}
	if (ev)
		rd_kafka_event_destroy(ev);
	if (opts)
		rd_kafka_AdminOptions_destroy(opts);
	if (q)
		rd_kafka_queue_destroy(q);
	if (nt)
		rd_kafka_NewTopic_destroy(nt);
	if (st != KW_OK && changelog)
		return kw_error_set(err, KW_EIO,
				    "%s: %s.changelog: topic %s does not exist "
				    "and cannot be created (%s): create it "
				    "with %d partitions and "
				    "cleanup.policy=compact, or set "
				    "\"changelog\": \"\" to keep each "
				    "partition's state on its instance",
				    file, where, topic, why, nin);
	if (st != KW_OK)
		return kw_error_set(err, KW_EIO,
				    "%s: %s.%s: topic %s does not exist and "
				    "cannot be created (%s): create it with %d "
				    "partitions, or set \"%s\": \"\" to count "
				    "auth.failures on each instance alone",
				    file, where, setting, topic, why, nin,
				    setting);
	kw_log_info("kafka", "created the %s %s: %d partitions%s", setting,
		    topic, nin, changelog ? ", compacted" : "");
	*nparts = nin;
	return KW_OK;
}

int kw_kafka_produce_wait(rd_kafka_t *rk, const char *topic, int32_t p,
			  const void *key, size_t klen, const void *value,
			  size_t vlen, int64_t ts_ms,
			  const struct kw_kafka_header *h)
{
	rd_kafka_vu_t vu[7];
	size_t n = 0;
	rd_kafka_resp_err_t e;

	vu[n++] =
		(rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_TOPIC, .u.cstr = topic};
	vu[n++] =
		(rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_PARTITION, .u.i32 = p};
	vu[n++] = (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_KEY,
				  .u.mem = {(void *)key, klen}};
	vu[n++] = (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_VALUE,
				  .u.mem = {(void *)value, vlen}};
	vu[n++] = (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_TIMESTAMP,
				  .u.i64 = ts_ms};
	vu[n++] = (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_MSGFLAGS,
				  .u.i = RD_KAFKA_MSG_F_COPY};
	if (h)
		vu[n++] = (rd_kafka_vu_t){
			.vtype = RD_KAFKA_VTYPE_HEADER,
			.u.header = {h->name, h->value, (ssize_t)h->len}};
	for (int tries = 0;; tries++) {
		rd_kafka_error_t *err = rd_kafka_produceva(rk, vu, n);

		e = err ? rd_kafka_error_code(err) : RD_KAFKA_RESP_ERR_NO_ERROR;
		if (err)
			rd_kafka_error_destroy(err);
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
		    tries == QUEUE_RETRIES)
			return e;
		rd_kafka_poll(rk, 100);
	}
}

enum kw_status kw_kafka_client_new(const struct kw_kafka_client *c,
				   const char *group, void *opaque,
				   kw_kafka_report_fn *report,
				   kw_kafka_rebalance_fn *rebalance,
				   struct rd_kafka_s **out,
				   struct kw_error *err)
{
	struct kw_kafka_client kind = *c;
	rd_kafka_conf_t *conf = NULL;
	char why[512];
	enum kw_status st;

	/* Only the properties of its kind: no CONFWARN for the others. */
	kind.role = group ? KW_KAFKA_CONSUMER : KW_KAFKA_PRODUCER;
	st = kw_kafka_conf(&kind, &conf, err);

	*out = NULL;
	if (st == KW_OK && !group)
		st = kw_kafka_set(conf, "enable.idempotence", "true", err);
	if (st == KW_OK && !group)
		st = kw_kafka_set(conf, "acks", "all", err);
	if (st == KW_OK && group)
		st = kw_kafka_set(conf, "group.id", group, err);
	if (st == KW_OK && group)
		st = kw_kafka_set(conf, "enable.auto.commit", "false", err);
	if (st != KW_OK)
		goto cleanup;
	rd_kafka_conf_set_opaque(conf, opaque);
	if (report)
		rd_kafka_conf_set_dr_msg_cb(conf, report);
	if (rebalance)
		rd_kafka_conf_set_rebalance_cb(conf, rebalance);
	*out = rd_kafka_new(group ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf,
			    why, sizeof(why));
	if (!*out) {
		st = kw_error_set(err, KW_ECONFIG, "%s: %s: %s", c->file,
				  c->where, why);
		goto cleanup;
	}
	conf = NULL;
	if (group)
		rd_kafka_poll_set_consumer(*out);
cleanup:
	if (conf)
		rd_kafka_conf_destroy(conf);
	return st;
}

enum kw_status kw_changelog_create(struct kw_daemon *d,
				   const struct kw_config *cfg, size_t entry,
				   struct kw_changelog **out,
				   struct kw_error *err)
{
	const struct kw_input *ci = &cfg->inputs[entry];
	char where[32];
	struct kw_kafka_client pc = {
		.brokers = ci->brokers,
		.top = cfg->kafka,
		.own = ci->kafka,
		.file = cfg->file,
		.where = where,
		.defaults = producer_defaults,
		.role = KW_KAFKA_PRODUCER,
	};
	struct kw_kafka_client rc = pc;
	struct kw_changelog *cl = calloc(1, sizeof(*cl));
	char why[512];
	int nin = 0;
	enum kw_status st = KW_ENOMEM;

	*out = NULL;
	snprintf(where, sizeof(where), "inputs[%zu]", entry);
	rc.defaults = reader_defaults;
	rc.role = KW_KAFKA_CONSUMER;
	if (!cl || !(cl->topic = strdup(ci->changelog))) {
		st = kw_error_set(err, st, "out of memory");
		goto cleanup;
	}
	cl->d = d;
	cl->input = ci->topic;
	cl->stream_base = (uint64_t)(entry + 1) << 32;
	st = kw_kafka_client_new(&pc, NULL, cl, on_report, NULL, &cl->producer,
				 err);
	if (st != KW_OK)
		goto cleanup;
	/* A group id only for assign(): the reader never joins it. */
	snprintf(why, sizeof(why), "%s.keywatch-restore", ci->group);
	st = kw_kafka_client_new(&rc, why, cl, NULL, NULL, &cl->reader, err);
	if (st != KW_OK)
		goto cleanup;
	st = kw_kafka_ensure_topic(cl->producer, ci->topic, cl->topic,
				   "changelog", cfg->file, where, &nin,
				   &cl->nparts, err);
	if (st != KW_OK)
		goto cleanup;
	cl->parts = calloc((size_t)cl->nparts, sizeof(*cl->parts));
	if (!cl->parts) {
		st = kw_error_set(err, KW_ENOMEM, "out of memory");
		goto cleanup;
	}
	for (int i = 0; i < cl->nparts; i++) {
		cl->parts[i].full = true;
		cl->parts[i].restored_done = INT64_MIN;
	}
	*out = cl;
	cl = NULL;
cleanup:
	kw_changelog_destroy(cl);
	return st;
}

const char *kw_changelog_topic(const struct kw_changelog *cl)
{
	return cl->topic;
}

const struct kw_changelog_stats *
kw_changelog_stats(const struct kw_changelog *cl)
{
	return &cl->st;
}

void kw_changelog_log(const char *topic, const struct kw_changelog_stats *st)
{
	kw_log_info("kafka",
		    "changelog %s: %" PRIu64 " partition checkpoints, %" PRIu64
		    " records written (%" PRIu64 " bytes; %" PRIu64
		    " key states, %" PRIu64 " alert ids), %" PRIu64
		    " not acknowledged; %" PRIu64
		    " partitions restored (%" PRIu64 " records read, %" PRIu64
		    " key states, in %.3f s)",
		    topic, st->checkpoints, st->records, st->bytes, st->keys,
		    st->alerts, st->errors, st->restores, st->restored_records,
		    st->restored_keys, st->restore_seconds);
}

void kw_changelog_destroy(struct kw_changelog *cl)
{
	if (!cl)
		return;
	if (cl->parts)
		kw_changelog_log(cl->topic, &cl->st);
	if (cl->producer) {
		rd_kafka_flush(cl->producer, TIMEOUT_MS);
		rd_kafka_destroy(cl->producer);
	}
	if (cl->reader) {
		rd_kafka_consumer_close(cl->reader);
		rd_kafka_destroy(cl->reader);
	}
	free(cl->parts);
	free(cl->topic);
	free(cl);
}
