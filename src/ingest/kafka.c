/*
 * kafka.c - the Kafka input (kafka.h): a consumer-group member whose owned
 * partitions are read through their own queues, in runs of one
 * partition's messages (the oldest first), into whole lines for the
 * engine.
 *
 * The consumer queue only carries the group's events (rebalances, errors,
 * commit results); each owned partition's messages wait in its partition
 * queue, which librdkafka fills ahead (its prefetch bounds the memory).
 * Every queue wakes one pipe, so waiting for input is one poll(2).
 */
#include "ingest/kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/kafka.h"
#include "core/key.h"
#include "core/log.h"
#include "ingest/reader.h"

#define SPLIT_LOGGED_MAX 10 /* keys on two partitions named in the log */
#define PENDING_MAX 64	    /* messages taken off a partition queue at once */
#define COMMIT_TIMEOUT_MS 10000

struct part {
	rd_kafka_queue_t *q; /* NULL: not owned */
	rd_kafka_message_t *head;
	/* Taken off the queue after head, in order: pending[at..n) (one
	 * lock of the queue for up to PENDING_MAX messages). */
	rd_kafka_message_t **pending;
	size_t at, n;
	bool eof;	     /* at the partition's end last time we looked */
	bool quiet;	     /* told quiet since its last message */
	int64_t empty_since; /* no head and not at its end since (0: not) */
	int64_t next;	     /* the next offset to hand out; -1: none yet */
	int64_t committed;   /* the last offset committed; -1: none */
};

struct key_slot {
	uint64_t hash;
	int32_t partition; /* +1; 0: empty */
	bool split;
};

struct kw_kafka_input {
	struct kw_kafka_input_opts o;
	rd_kafka_t *rk;
	struct part *parts; /* KW_KAFKA_PARTITIONS_MAX */
	int32_t *owned;	    /* the owned partitions' numbers */
	size_t nowned;
	struct key_slot *keys;	       /* KW_KAFKA_KEYS_MAX */
	int wake[2];		       /* the queues' pipe */
	struct kw_kafka_member member; /* for leaving the group */
	/* The run being taken: messages of partition run_part, handed out
	 * in place by one feed (run_feed), freed after it. */
	rd_kafka_message_t **run; /* KW_KAFKA_RUN_MAX */
	size_t nrun;
	int32_t run_part;
	size_t max_line;
	bool warned_unkeyed;
	struct kw_kafka_input_stats st;
};

/* keywatch reads for throughput: fetches of up to 4 MiB a partition,
 * answered once 1 MiB is there or after 100 ms (librdkafka's defaults, 1
 * MiB, 1 byte and 500 ms, answer each message as it comes: half the
 * records per CPU second on bench/kafka). */
static const char *const consumer_defaults[] = {
	"partition.assignment.strategy",
	"cooperative-sticky",
	"auto.offset.reset",
	"earliest",
	"max.partition.fetch.bytes",
	"4194304",
	"fetch.min.bytes",
	"1048576",
	"fetch.wait.max.ms",
	"100",
	NULL,
};

/* ------------------------------------------------------------ the run */

static const unsigned char gz_magic[] = {0x1f, 0x8b};
static const unsigned char zst_magic[] = {0x28, 0xb5, 0x2f, 0xfd};

static bool compressed(const rd_kafka_message_t *m)
{
	const unsigned char *v = m->payload;

	return m->len >= 4 &&
	       (!memcmp(v, gz_magic, 2) || !memcmp(v, zst_magic, 4));
}

/* Done with message i: its newline is due when the last byte was not. */
static void lines_next(struct kw_kafka_lines *l)
{
	kw_reader_close(l->sub);
	l->sub = NULL;
	l->started = false;
	l->pos = 0;
	l->i++;
}

static bool lines_open(struct kw_kafka_lines *l, const rd_kafka_message_t *m)
{
	struct kw_error err;
	char name[320];

	l->started = true;
	if (!compressed(m))
		return true;
	l->compressed++;
	snprintf(name, sizeof(name), "%s/%" PRId32 "@%" PRId64, l->name,
		 m->partition, m->offset);
	kw_error_clear(&err);
	if (kw_reader_open_mem(m->payload, m->len, name, &l->sub, &err) ==
	    KW_OK)
		return true;
	l->damaged++;
	kw_log_warn("kafka", "%s", err.msg);
	return false;
}

static enum kw_status lines_read(void *self, void *buf, size_t cap, size_t *got,
				 struct kw_error *err)
{
	struct kw_kafka_lines *l = self;
	char *out = buf;
	size_t n = 0;

	(void)err;
	while (n < cap && l->i < l->n) {
		const rd_kafka_message_t *m = l->m[l->i];
		size_t g;

		if (!l->started && !lines_open(l, m)) {
			lines_next(l);
			continue;
		}
		if (l->sub) {
			struct kw_error e;

			kw_error_clear(&e);
			if (kw_reader_read(l->sub, out + n, cap - n, &g, &e) !=
			    KW_OK) {
				l->damaged++;
				kw_log_warn("kafka", "%s", e.msg);
				g = 0;
			} else if (g) {
				n += g;
				l->last = out[n - 1];
				continue;
			}
		} else {
			g = m->len - l->pos < cap - n ? m->len - l->pos
						      : cap - n;
			memcpy(out + n, (const char *)m->payload + l->pos, g);
			l->pos += g;
			n += g;
			if (g)
				l->last = out[n - 1];
			if (l->pos < m->len)
				continue;
		}
		/* At the message's end (or its damage). */
		if (l->last != '\n') {
			if (n == cap)
				break; /* the newline on the next call */
			out[n++] = '\n';
			l->last = '\n';
		}
		lines_next(l);
	}
	l->bytes += n;
	*got = n;
	return KW_OK;
}

static uint64_t lines_offset(void *self)
{
	return ((struct kw_kafka_lines *)self)->bytes;
}

static void lines_destroy(void *self)
{
	struct kw_kafka_lines *l = self;

	kw_reader_close(l->sub);
	l->sub = NULL;
}

static const struct kw_reader_ops lines_ops = {
	.name = "kafka",
	.read = lines_read,
	.offset = lines_offset,
	.destroy = lines_destroy,
};

void kw_kafka_lines_reader(struct kw_kafka_lines *l, struct kw_reader *r)
{
	l->i = l->pos = 0;
	l->sub = NULL;
	l->started = false;
	l->last = '\n';
	*r = (struct kw_reader){&lines_ops, l, (char *)l->name, NULL};
}

void kw_kafka_lines_end(struct kw_kafka_lines *l)
{
	lines_destroy(l);
}

/* Hand the run out in one feed, then free its messages. */
static void run_feed(struct kw_kafka_input *in)
{
	struct kw_kafka_lines l = {
		.m = in->run,
		.n = in->nrun,
		.name = in->o.name,
	};
	struct kw_reader r;

	if (!in->nrun)
		return;
	kw_kafka_lines_reader(&l, &r);
	in->o.feed(in->o.ctx, &r, in->o.name, in->run_part);
	kw_kafka_lines_end(&l);
	in->st.bytes += l.bytes;
	in->st.compressed += l.compressed;
	in->st.damaged += l.damaged;
	for (size_t i = 0; i < in->nrun; i++)
		rd_kafka_message_destroy(in->run[i]);
	in->nrun = 0;
}

/* ---------------------------------------------------- keys and partitions */

/* A message key's hash for the check (not a defence against chosen
 * collisions: two keys with one hash at worst hide or invent a split
 * warning, one in 2^64 for keys that are not chosen). Eight bytes a step,
 * each folded in by a 64x64->128-bit multiply: FNV's byte a step was
 * about 10% of the reading thread on bench/kafka. */
__extension__ typedef unsigned __int128 u128;

static uint64_t mix(uint64_t a, uint64_t b)
{
	u128 m = (u128)a * b;

	return (uint64_t)m ^ (uint64_t)(m >> 64);
}

static uint64_t key_hash(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = UINT64_C(0x243f6a8885a308d3) ^ n, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		h = mix(h ^ w, UINT64_C(0x9e3779b97f4a7c15));
	}
	if (i < n) {
		w = 0;
		memcpy(&w, s + i, n - i);
		h = mix(h ^ w, UINT64_C(0xc2b2ae3d27d4eb4f));
	}
	return mix(h, UINT64_C(0x165667b19e3779f9));
}

static void check_key(struct kw_kafka_input *in, const rd_kafka_message_t *m)
{
	struct key_slot *s;
	uint64_t h;

	if (!m->key || !m->key_len) {
		in->st.unkeyed++;
		if (!in->warned_unkeyed)
			kw_log_warn("kafka",
				    "%s/%" PRId32 "@%" PRId64
				    ": a message without a key: messages "
				    "should be keyed by the API key, or one "
				    "key's requests are split between "
				    "partitions and instances (counted from "
				    "now on, not logged again)",
				    in->o.name, m->partition, m->offset);
		in->warned_unkeyed = true;
		return;
	}
	h = key_hash(m->key, m->key_len);
	s = &in->keys[h & (KW_KAFKA_KEYS_MAX - 1)];
	if (s->partition == 0 || s->hash != h) {
		s->hash = h;
		s->partition = m->partition + 1;
		s->split = false;
		return;
	}
	if (s->partition == m->partition + 1 || s->split)
		return;
	s->split = true;
	if (in->st.split_keys++ < SPLIT_LOGGED_MAX) {
		char id[KW_KEY_ID_MAX];

		kw_key_redact(m->key, m->key_len, id, sizeof(id));
		kw_log_warn("kafka",
			    "%s: key %s on partitions %" PRId32 " and %" PRId32
			    ": its requests are split between instances "
			    "(producers with different partitioners, or "
			    "partitions added to the topic)%s",
			    in->o.name, id, s->partition - 1, m->partition,
			    in->st.split_keys == SPLIT_LOGGED_MAX
				    ? "; more are only counted"
				    : "");
	}
}

/* One message into the run (handed out before it when the run is of
 * another partition or full). Its bytes are about what it hands out. */
static size_t take(struct kw_kafka_input *in, struct part *p,
		   rd_kafka_message_t *m)
{
	size_t len = m->len;

	if (in->nrun &&
	    (in->run_part != m->partition || in->nrun == KW_KAFKA_RUN_MAX))
		run_feed(in);
	in->run_part = m->partition;
	in->st.messages++;
	if (p) {
		p->next = m->offset + 1;
		p->quiet = false;
	}
	check_key(in, m);
	if (m->len > in->max_line && !compressed(m)) {
		/* The splitter would count it as too long: said here with
		 * where it is. */
		kw_log_warn("kafka",
			    "%s/%" PRId32 "@%" PRId64
			    ": a message of %zu bytes, more than max_line "
			    "(%zu): skipped",
			    in->o.name, m->partition, m->offset, m->len,
			    in->max_line);
		rd_kafka_message_destroy(m);
		return len;
	}
	in->run[in->nrun++] = m;
	return len;
}

/* ------------------------------------------------------------ the group */

static void release(struct kw_kafka_input *in, int32_t id)
{
	struct part *p;

	if (!in->parts) /* destroyed before the partitions were allocated */
		return;
	p = &in->parts[id];
	if (!p->q)
		return;
	if (in->o.quiet)
		in->o.quiet(in->o.ctx, id);
	if (p->head)
		rd_kafka_message_destroy(p->head);
	while (p->at < p->n)
		rd_kafka_message_destroy(p->pending[p->at++]);
	free(p->pending);
	rd_kafka_queue_destroy(p->q);
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < in->nowned; i++) {
		if (in->owned[i] == id) {
			in->owned[i] = in->owned[--in->nowned];
			break;
		}
	}
}

static void own(struct kw_kafka_input *in, int32_t id)
{
	struct part *p = &in->parts[id];

	if (p->q)
		return;
	p->pending = malloc(PENDING_MAX * sizeof(*p->pending));
	if (!p->pending) {
		kw_log_error("kafka", "%s: out of memory", in->o.name);
		return;
	}
	p->q = rd_kafka_queue_get_partition(in->rk, in->o.topic, id);
	if (!p->q) {
		free(p->pending);
		p->pending = NULL;
		return;
	}
	/* Kept out of the consumer queue: read in time order here. */
	rd_kafka_queue_forward(p->q, NULL);
	rd_kafka_queue_io_event_enable(p->q, in->wake[1], "p", 1);
	p->next = -1;
	p->committed = -1;
	in->owned[in->nowned++] = id;
}

/* Commit the next offsets of the owned partitions in list (all owned
 * ones when NULL). */
static void commit(struct kw_kafka_input *in,
		   const rd_kafka_topic_partition_list_t *list, bool sync)
{
	rd_kafka_topic_partition_list_t *c = NULL;
	rd_kafka_resp_err_t e;
	size_t n = list ? (size_t)list->cnt : in->nowned;

	c = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
	for (size_t i = 0; i < n; i++) {
		int32_t id = list ? list->elems[i].partition : in->owned[i];
		struct part *p;

		if (id < 0 || id >= KW_KAFKA_PARTITIONS_MAX)
			continue;
		p = &in->parts[id];
		if (!p->q || p->next < 0 || p->next == p->committed)
			continue;
		/* Its state first, up to the offset: else it stays. */
		if (in->o.save && !in->o.save(in->o.ctx, id, p->next))
			continue;
		rd_kafka_topic_partition_list_add(c, in->o.topic, id)->offset =
			p->next;
	}
	if (c->cnt == 0)
		goto cleanup;
	e = rd_kafka_commit(in->rk, c, sync ? 0 : 1);
	if (!sync && !e)
		goto cleanup; /* the answer comes to on_commit */
	if (e) {
		in->st.commit_errors++;
		kw_log_warn("kafka",
			    "%s: cannot commit the offsets of %d partition%s: "
			    "%s (they are committed with the next checkpoint; "
			    "after a crash they are read again)",
			    in->o.name, c->cnt, c->cnt == 1 ? "" : "s",
			    rd_kafka_err2str(e));
		goto cleanup;
	}
	in->st.commits++;
	for (int i = 0; i < c->cnt; i++) {
		struct part *p = &in->parts[c->elems[i].partition];

		if (!c->elems[i].err)
			p->committed = c->elems[i].offset;
	}
cleanup:
	rd_kafka_topic_partition_list_destroy(c);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t e,
		      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	struct kw_kafka_input *in = opaque;

	(void)rk;
	if (e == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return;
	if (e) {
		in->st.commit_errors++;
		kw_log_warn("kafka", "%s: offset commit failed: %s", in->o.name,
			    rd_kafka_err2str(e));
		return;
	}
	in->st.commits++;
	for (int i = 0; offsets && i < offsets->cnt; i++) {
		int32_t id = offsets->elems[i].partition;

		if (!offsets->elems[i].err && id >= 0 &&
		    id < KW_KAFKA_PARTITIONS_MAX && in->parts[id].q)
			in->parts[id].committed = offsets->elems[i].offset;
	}
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
			 rd_kafka_topic_partition_list_t *l, void *opaque)
{
	struct kw_kafka_input *in = opaque;
	char parts[256];

	in->st.rebalances++;
	kw_kafka_partitions_text(l, parts, sizeof(parts));
	if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
		in->member.assigned = true;
	/* Leaving (closing): what is assigned is taken by no one here, and
	 * read by the next owner. */
	if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && !in->member.closing) {
		for (int i = 0; i < l->cnt; i++) {
			int32_t id = l->elems[i].partition;

			if (id >= 0 && id < KW_KAFKA_PARTITIONS_MAX) {
				own(in, id);
				/* Its state before its messages: read on
				 * from where the state stops. */
				if (in->o.restore) {
					int64_t at =
						in->o.restore(in->o.ctx, id);

					/* Covered by the state: committed
					 * with the next checkpoint. */
					if (at >= 0) {
						l->elems[i].offset = at;
						in->parts[id].next = at;
					}
				}
			} else
				kw_log_error("kafka",
					     "%s: partition %" PRId32
					     " is past the %d partitions "
					     "keywatch reads; not read",
					     in->o.name, id,
					     KW_KAFKA_PARTITIONS_MAX);
		}
		if (l->cnt)
			kw_log_info("kafka", "%s: assigned partitions %s",
				    in->o.name, parts);
	} else if (e != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		bool lost = rd_kafka_assignment_lost(rk);

		/* What was taken before is handed out first: it is the
		 * partitions' until they go. */
		run_feed(in);
		if (!lost) {
			in->o.sync(in->o.ctx);
			commit(in, l, true);
		}
		for (int i = 0; i < l->cnt; i++) {
			int32_t id = l->elems[i].partition;

			if (id < 0 || id >= KW_KAFKA_PARTITIONS_MAX)
				continue;
			release(in, id);
			if (in->o.dropped)
				in->o.dropped(in->o.ctx, id);
		}
		kw_log_info("kafka", "%s: partitions %s %s", in->o.name, parts,
			    lost ? "lost (not committed: their next owner "
				   "reads on from the last commit)"
				 : "revoked (committed)");
	}
	kw_kafka_rebalance_apply(rk, e, l, in->o.name);
	in->st.assigned = (uint32_t)in->nowned;
}

/* ---------------------------------------------------------- life cycle */

enum kw_status kw_kafka_input_create(const struct kw_kafka_input_opts *o,
				     struct kw_kafka_input **out,
				     struct kw_error *err)
{
	struct kw_kafka_client c = {
		.brokers = o->brokers,
		.top = o->top,
		.own = o->own,
		.file = o->file,
		.where = o->where,
		.defaults = consumer_defaults,
		.role = KW_KAFKA_CONSUMER,
	};
	struct kw_kafka_input *in = calloc(1, sizeof(*in));
	rd_kafka_conf_t *conf = NULL;
	char why[512];
	enum kw_status st = KW_ENOMEM;

	*out = NULL;
	if (!in)
		return kw_error_set(err, st, "out of memory");
	in->o = *o;
	in->wake[0] = in->wake[1] = -1;
	in->max_line = o->max_line ? o->max_line : (size_t)1 << 20;
	in->parts = calloc(KW_KAFKA_PARTITIONS_MAX, sizeof(*in->parts));
	in->run = calloc(KW_KAFKA_RUN_MAX, sizeof(*in->run));
	in->owned = calloc(KW_KAFKA_PARTITIONS_MAX, sizeof(*in->owned));
	in->keys = calloc(KW_KAFKA_KEYS_MAX, sizeof(*in->keys));
	if (!in->parts || !in->owned || !in->keys || !in->run) {
		kw_error_set(err, st, "out of memory");
		goto cleanup;
	}
	if (pipe2(in->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		st = kw_error_set(err, KW_EIO, "pipe: %s", strerror(errno));
		goto cleanup;
	}
	st = kw_kafka_conf(&c, &conf, err);
	if (st == KW_OK)
		st = kw_kafka_set(conf, "group.id", o->group, err);
	if (st == KW_OK)
		st = kw_kafka_set(conf, "enable.auto.commit", "false", err);
	if (st == KW_OK)
		st = kw_kafka_set(conf, "enable.auto.offset.store", "false",
				  err);
	if (st == KW_OK)
		st = kw_kafka_set(conf, "enable.partition.eof", "true", err);
	if (st != KW_OK)
		goto cleanup;
	rd_kafka_conf_set_opaque(conf, in);
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
	in->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
	if (!in->rk) {
		st = kw_error_set(err, KW_ECONFIG, "%s: %s: %s", o->file,
				  o->where, why);
		goto cleanup;
	}
	conf = NULL; /* the handle's now */
	rd_kafka_poll_set_consumer(in->rk);
	*out = in;
	in = NULL;
cleanup:
	if (conf)
		rd_kafka_conf_destroy(conf);
	kw_kafka_input_destroy(in);
	return st;
}

enum kw_status kw_kafka_input_start(struct kw_kafka_input *in,
				    struct kw_error *err)
{
	rd_kafka_topic_partition_list_t *l =
		rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t e;
	rd_kafka_queue_t *q;

	rd_kafka_topic_partition_list_add(l, in->o.topic,
					  RD_KAFKA_PARTITION_UA);
	e = rd_kafka_subscribe(in->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	in->member.subscribed = !e;
	in->member.rebalance = on_rebalance;
	if (e)
		return kw_error_set(err, KW_EIO, "%s: %s: cannot subscribe: %s",
				    in->o.file, in->o.where,
				    rd_kafka_err2str(e));
	q = rd_kafka_queue_get_consumer(in->rk);
	if (q) {
		rd_kafka_queue_io_event_enable(q, in->wake[1], "c", 1);
		rd_kafka_queue_destroy(q);
	}
	kw_log_info("kafka", "%s: joining group %s at %s", in->o.name,
		    in->o.group, in->o.brokers);
	return KW_OK;
}

void kw_kafka_input_destroy(struct kw_kafka_input *in)
{
	if (!in)
		return;
	/* Every poll hands its run out, so none should be left; any is
	 * freed before the handle, as librdkafka wants. */
	for (size_t i = 0; in->run && i < in->nrun; i++)
		rd_kafka_message_destroy(in->run[i]);
	if (in->rk) {
		/* Leaving the group revokes what is owned: committed after
		 * the caller's sync (on_rebalance). */
		bool done = kw_kafka_consumer_leave(in->rk, &in->member,
						    in->o.name);

		while (in->owned && in->nowned) {
			int32_t id = in->owned[0];

			release(in, id);
			if (in->o.dropped)
				in->o.dropped(in->o.ctx, id);
		}
		if (done)
			rd_kafka_destroy(in->rk);
	}
	if (in->wake[0] >= 0)
		close(in->wake[0]);
	if (in->wake[1] >= 0)
		close(in->wake[1]);
	free(in->parts);
	free(in->owned);
	free(in->keys);
	free(in->run);
	free(in);
}

/* ------------------------------------------------------------- reading */

/* The consumer queue: group events are served by the callbacks; an error
 * is logged; a message is one taken before its partition's queue was
 * split off (handed out at once). */
static void serve(struct kw_kafka_input *in)
{
	rd_kafka_message_t *m;

	while ((m = rd_kafka_consumer_poll(in->rk, 0))) {
		if (!m->err) {
			int32_t id = m->partition;

			take(in,
			     id >= 0 && id < KW_KAFKA_PARTITIONS_MAX &&
					     in->parts[id].q
				     ? &in->parts[id]
				     : NULL,
			     m);
			continue;
		}
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			in->st.errors++;
			kw_log_warn("kafka", "%s: %s", in->o.name,
				    rd_kafka_message_errstr(m));
		}
		rd_kafka_message_destroy(m);
	}
	run_feed(in);
}

/* The partition's next message, taken off its queue PENDING_MAX at a
 * time; NULL when none is there. */
static rd_kafka_message_t *next_message(struct part *p)
{
	ssize_t n;

	if (p->at == p->n) {
		n = rd_kafka_consume_batch_queue(p->q, 0, p->pending,
						 PENDING_MAX);
		p->at = 0;
		p->n = n > 0 ? (size_t)n : 0;
	}
	return p->at < p->n ? p->pending[p->at++] : NULL;
}

/* The partition's next message into p->head, when one is there. */
static void refill(struct kw_kafka_input *in, struct part *p)
{
	rd_kafka_message_t *m;

	while (!p->head && (m = next_message(p))) {
		if (!m->err) {
			p->head = m;
			p->eof = false;
			p->empty_since = 0;
			return;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			p->eof = true;
		} else {
			in->st.errors++;
			kw_log_warn("kafka", "%s: %s", in->o.name,
				    rd_kafka_message_errstr(m));
		}
		rd_kafka_message_destroy(m);
	}
}

static int64_t stamp(const rd_kafka_message_t *m)
{
	rd_kafka_timestamp_type_t t;

	return rd_kafka_message_timestamp(m, &t);
}

/* Whether p, which has no message waiting, is to be told quiet: at its
 * end, or empty for KW_KAFKA_WAIT_US. */
static bool going_quiet(struct part *p, int64_t now_us)
{
	if (p->quiet)
		return false;
	if (!p->eof) {
		if (!p->empty_since)
			p->empty_since = now_us;
		if (now_us - p->empty_since < KW_KAFKA_WAIT_US)
			return false;
	}
	p->quiet = true;
	return true;
}

uint64_t kw_kafka_input_poll(struct kw_kafka_input *in, int64_t now_us)
{
	uint64_t before = in->st.bytes;
	size_t taken = 0; /* bytes of the messages taken, about */
	char drain[64];

	while (read(in->wake[0], drain, sizeof(drain)) > 0)
		;
	serve(in);
	while (taken < KW_KAFKA_POLL_MAX) {
		struct part *best = NULL;

		for (size_t i = 0; i < in->nowned; i++) {
			struct part *p = &in->parts[in->owned[i]];

			refill(in, p);
			if (p->head &&
			    (!best || stamp(p->head) < stamp(best->head)))
				best = p;
		}
		if (!best)
			break;
		/* A run of the oldest partition's messages. */
		for (size_t n = 0; best->head && n < KW_KAFKA_RUN_MAX &&
				   taken < KW_KAFKA_POLL_MAX;
		     n++) {
			rd_kafka_message_t *m = best->head;

			best->head = NULL;
			taken += take(in, best, m);
			refill(in, best);
		}
		run_feed(in);
	}
	for (size_t i = 0; in->o.quiet && i < in->nowned; i++) {
		struct part *p = &in->parts[in->owned[i]];

		if (!p->head && going_quiet(p, now_us))
			in->o.quiet(in->o.ctx, in->owned[i]);
	}
	return in->st.bytes - before;
}

void kw_kafka_input_wait(struct kw_kafka_input *in, int timeout_ms)
{
	struct pollfd pfd = {.fd = in->wake[0], .events = POLLIN};

	for (size_t i = 0; i < in->nowned; i++) {
		/* A partition with a message waiting wakes nothing. */
		if (in->parts[in->owned[i]].head)
			timeout_ms = timeout_ms < 50 ? timeout_ms : 50;
	}
	poll(&pfd, 1, timeout_ms);
}

void kw_kafka_input_commit(struct kw_kafka_input *in, bool sync)
{
	commit(in, NULL, sync);
}

const struct kw_kafka_input_stats *
kw_kafka_input_stats(const struct kw_kafka_input *in)
{
	return &in->st;
}

const char *kw_kafka_input_name(const struct kw_kafka_input *in)
{
	return in->o.name;
}

void kw_kafka_input_foreach(struct kw_kafka_input *in,
			    kw_kafka_partition_cb *cb, void *ctx)
{
	for (size_t i = 0; i < in->nowned; i++) {
		int32_t id = in->owned[i];
		struct kw_kafka_partition_info pi = {
			.partition = id,
			.offset = in->parts[id].next,
			.lag = -1,
		};
		int64_t lo, hi;

		if (rd_kafka_get_watermark_offsets(in->rk, in->o.topic, id, &lo,
						   &hi) == 0 &&
		    hi >= 0) {
			int64_t at = pi.offset >= 0 ? pi.offset : lo;

			pi.lag = hi > at ? hi - at : 0;
		}
		cb(ctx, &pi);
	}
}
