/*
 * daemon.c - the daemon's life (daemon.h): load the config, start the
 * sinks, build the engine and the tailer, resume from the checkpoint, then
 * loop: read what the inputs added, let the wall clock close windows while
 * they are idle, checkpoint every checkpoint_interval, act on signals, and
 * publish the metrics a few times a second (a thread of their own serves
 * them: daemon/httpd.h). At the end: read what left its path, drain the
 * sinks, checkpoint.
 *
 * Signal handlers only set flags (in static storage: a handler reaches
 * nothing else); the loop acts on them: SIGTERM/SIGINT stop reading,
 * drain the sinks for drain_timeout and checkpoint; SIGHUP reloads config
 * and models (a bad new config keeps the old one running); SIGUSR1 logs
 * counters.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/kafka.h"
#include "core/log.h"
#include "daemon/daemon_impl.h"

#define POLL_MS 200
#define IDLE_AFTER_US (INT64_C(1000000))
/* With Kafka inputs: files that fed nothing for this long are a quiet
 * stream of event time (engine.h, kw_engine_stream_quiet). */
#define FILES_QUIET_AFTER_US (INT64_C(500) * 1000)
#define GLOBS_MAX 64
#define KAFKA_POLL_MS 50

static volatile sig_atomic_t sig_stop, sig_hup, sig_usr1;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		sig_hup = 1;
	else if (sig == SIGUSR1)
		sig_usr1 = 1;
	else
		sig_stop = 1;
}

static void signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

enum kw_status kw_daemon_check_config(const struct kw_config *cfg,
				      bool check_only)
{
	for (size_t i = 0; i < cfg->ninputs; i++) {
		const char *f = cfg->inputs[i].format;

		if (cfg->inputs[i].type == KW_INPUT_KAFKA &&
		    !kw_kafka_available()) {
			kw_log_error(NULL,
				     "%s: inputs[%zu]: a kafka input, but this "
				     "keywatch was built without Kafka "
				     "(librdkafka)",
				     cfg->file, i);
			return KW_ECONFIG;
		}

#if KW_HAVE_KAFKA
		if (cfg->inputs[i].type == KW_INPUT_KAFKA) {
			char where[32];
			struct kw_kafka_client c = {
				.brokers = cfg->inputs[i].brokers,
				.top = cfg->kafka,
				.own = cfg->inputs[i].kafka,
				.file = cfg->file,
				.where = where,
			};
			struct kw_error err;

			snprintf(where, sizeof(where), "inputs[%zu]", i);
			kw_error_clear(&err);
			if (kw_kafka_check_client(&c, &err) != KW_OK) {
				kw_log_error(NULL, "%s", err.msg);
				return KW_ECONFIG;
			}
		}
#endif
		if (f && strcmp(f, "auto") && !kw_decoder_find(f)) {
			char names[128];

			kw_log_error(NULL,
				     "%s: inputs[%zu].format: unknown format "
				     "'%s' (formats: auto, %s)",
				     cfg->file, i, f,
				     kw_decoder_names(names, sizeof(names)));
			return KW_ECONFIG;
		}
	}
	if (!cfg->ninputs && check_only) {
		kw_log_warn(NULL, "%s: no inputs[]: watch would follow nothing",
			    cfg->file);
	} else if (!cfg->ninputs) {
		kw_log_error(NULL, "%s: no inputs[] to follow", cfg->file);
		return KW_ECONFIG;
	}
	if (!cfg->state_dir)
		kw_log_warn(NULL,
			    "%s: no state_dir: offsets, learned state and "
			    "undelivered alerts are lost at exit",
			    cfg->file);
	return KW_OK;
}

/* ------------------------------------------------- engine and tailer */

static void feed(void *ctx, const char *buf, size_t len, const char *name)
{
	struct kw_daemon *d = ctx;

	kw_engine_feed(d->engine, buf, len, name,
		       kw_daemon_inputs_of(d->inputs, d->conf.cfg, name));
}

static void read_whole(void *ctx, struct kw_reader *r, const char *name)
{
	struct kw_daemon *d = ctx;

	kw_engine_read(d->engine, r, name,
		       kw_daemon_inputs_of(d->inputs, d->conf.cfg, name));
}

/* What one config runs with: an engine over its router, a tailer over
 * its file inputs, consumers of its Kafka inputs (not in their groups
 * yet), and the inputs table the engine borrows. */
struct build {
	struct kw_engine *engine;
	struct kw_tail *tail;
	struct kw_daemon_kafka *kafka;
	struct kw_daemon_inputs *inputs;
};

static void build_free(struct build *b)
{
	kw_daemon_kafka_free(b->kafka); /* before the engine it syncs */
	kw_engine_destroy(b->engine);
	kw_tail_destroy(b->tail);
	free(b->inputs);
	memset(b, 0, sizeof(*b));
}

/* The engine loads the learned state at d->state_path. Errors are logged;
 * on failure *b is empty. */
static enum kw_status build(struct kw_daemon *d, const struct kw_daemon_conf *c,
			    struct build *b)
{
	const char *globs[GLOBS_MAX];
	struct kw_engine_opts eo = {
		.cfg = c->cfg,
		.models = c->models,
		.format = d->opts.format,
		.map = c->map,
		.nmap = c->nmap,
		.router = c->router,
		.geoip = c->geoip,
		.threads = kw_config_threads(c->cfg),
		.admit = kw_daemon_admit,
		.passed = kw_daemon_passed,
		.cross = kw_daemon_cross,
		.hook_ctx = d,
		/* Each poll's feeds overlap in the pipeline; the loop syncs
		 * after each input's poll (kw_daemon_sync). */
		.caller_syncs = true,
	};
	struct kw_tail_opts to = {
		.globs = globs,
		.max_line = c->cfg->max_line,
		.whole = read_whole,
	};
	struct kw_error err;
	enum kw_status st;

	memset(b, 0, sizeof(*b));
	if (c->cfg->ninputs > GLOBS_MAX) {
		kw_log_error(NULL, "%s: more than %d inputs", c->cfg->file,
			     GLOBS_MAX);
		return KW_ECONFIG;
	}
	for (size_t i = 0; i < c->cfg->ninputs; i++) {
		if (c->cfg->inputs[i].type == KW_INPUT_FILE)
			globs[to.nglobs++] = c->cfg->inputs[i].path;
	}
	b->inputs = kw_daemon_inputs_make(c->cfg, c->map, c->nmap);
	if (!b->inputs)
		return KW_ECONFIG;
	kw_error_clear(&err);
	st = kw_engine_create(&eo, &b->engine, &err);
	if (st == KW_OK)
		st = kw_tail_create(&to, &b->tail, &err);
	if (st == KW_OK && d->state_path[0])
		st = kw_engine_load_state(b->engine, d->state_path, &err);
	if (st != KW_OK)
		kw_log_error(NULL, "%s", err.msg);
	if (st == KW_OK)
		st = kw_daemon_kafka_make(d, c->cfg, &b->kafka);
	if (st != KW_OK)
		build_free(b);
	return st;
}

static struct kw_metrics_view view(struct kw_daemon *d)
{
	struct kw_metrics_view v = {
		.engine = d->engine,
		.tail = d->tail,
		.router = d->conf.router,
		.kafka = d->kafka,
	};

	return v;
}

/* ------------------------------------------------------------ reload */

/* SIGHUP: a new config, router, engine and tailer; swapped in only when
 * all of them could be made. Learned state goes through the state file,
 * offsets through the tailer's positions, the router's memory from the
 * old router to the new one. */
static void reload(struct kw_daemon *d)
{
	const struct kw_daemon_loader *l = &d->opts.loader;
	struct kw_daemon_conf nc;
	struct build nb = {0};
	struct kw_tail_pos *pos = NULL;
	struct kw_metrics_view old;
	size_t npos = 0;
	enum kw_status st;

	kw_daemon_notify("RELOADING=1");
	kw_log_info("watch", "reloading %s", d->opts.config);
	memset(&nc, 0, sizeof(nc));
	st = l->load(l->ctx, &nc);
	if (st != KW_OK)
		goto failed;
	kw_router_on_pass(nc.router, kw_daemon_journal, d);
	kw_daemon_checkpoint(d); /* the learned state the new engine loads */
	st = build(d, &nc, &nb);
	if (st == KW_OK)
		st = kw_tail_positions(d->tail, &pos, &npos);
	if (st == KW_OK)
		st = kw_tail_restore(nb.tail, pos, npos);
	if (st != KW_OK)
		goto failed;
	/* The old tailer's files that left their path are read to their
	 * end now: the new one cannot open them again. */
	kw_tail_finish(d->tail, feed, d);
	kw_engine_sync(d->engine);
	/* The new router remembers what the old one delivered and where
	 * each sink's rate-limit window is (by the sink's identity), so a
	 * reload in the middle of a burst delivers nothing twice. */
	kw_router_memory_adopt(nc.router, d->conf.router);
	/* The old sinks finish (what they cannot deliver stays in the
	 * spools, which the new ones replay). */
	kw_router_drain(d->conf.router, d->conf.cfg->drain_timeout / 1000);
	d->oom += kw_router_stats(d->conf.router)->oom;
	old = view(d);
	kw_metrics_carry(d->metrics, &old);
	/* The old consumers leave their groups now, while the old engine
	 * they sync is there: what they fed is committed, and the new ones
	 * read on after it. */
	kw_daemon_kafka_free(d->kafka);
	d->kafka = NULL;
	kw_engine_destroy(d->engine);
	kw_tail_destroy(d->tail);
	free(d->inputs);
	l->unload(l->ctx, &d->conf);
	d->conf = nc;
	d->engine = nb.engine;
	d->tail = nb.tail;
	d->inputs = nb.inputs;
	d->kafka = nb.kafka;
	memset(&nc, 0, sizeof(nc));
	memset(&nb, 0, sizeof(nb));
	if (l->deliver(l->ctx, &d->conf) != KW_OK)
		kw_log_error("watch", "reload: sinks deliver synchronously");
	if (kw_daemon_kafka_start(d->kafka) != KW_OK)
		kw_log_error("watch", "reload: a Kafka input is not read");
	kw_log_info("watch", "reloaded %s", d->opts.config);
	kw_metrics_reload(d->metrics, true);
	goto cleanup;
failed:
	kw_log_error("watch", "reload failed; the old config goes on");
	kw_metrics_reload(d->metrics, false);
cleanup:
	free(pos);
	build_free(&nb);
	l->unload(l->ctx, &nc);
	kw_daemon_notify("READY=1");
}

/* --------------------------------------------------------------- loop */

static size_t nfiles(const struct kw_config *cfg)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->ninputs; i++)
		n += cfg->inputs[i].type == KW_INPUT_FILE;
	return n;
}

static void loop(struct kw_daemon *d)
{
	int64_t now = mono_us();
	int64_t last_input = now, last_file = now;
	int64_t next_ckpt = now + d->conf.cfg->checkpoint_interval;
	int64_t next_publish = now;
	uint64_t fed = 0;

	while (!sig_stop) {
		struct kw_metrics_view v;

		if (now >= next_publish) {
			v = view(d);
			kw_metrics_publish(d->metrics, &v);
			next_publish = now + KW_METRICS_PUBLISH_US;
		}
		if (fed) /* more may be waiting: read on at once */
			;
		else if (!kw_daemon_kafka_count(d->kafka))
			kw_tail_wait(d->tail, POLL_MS);
		else /* files, if any, are looked at every KAFKA_POLL_MS */
			kw_daemon_kafka_wait(d->kafka, nfiles(d->conf.cfg)
							       ? KAFKA_POLL_MS
							       : POLL_MS);
		if (sig_stop)
			break;
		now = mono_us();
		fed = kw_tail_poll(d->tail, now, feed, d);
		if (fed) {
			/* The hooks are done before the loop's own work. */
			kw_engine_sync(d->engine);
			last_file = now;
		} else if (kw_daemon_kafka_count(d->kafka) &&
			   now - last_file >= FILES_QUIET_AFTER_US)
			/* The files' time holds the partitions' windows back
			 * no longer, as an idle partition's does not. */
			kw_engine_stream_quiet(d->engine, 0);
		fed += kw_daemon_kafka_poll(d->kafka, now);
		if (fed)
			last_input = now;
		else if (now - last_input >= IDLE_AFTER_US)
			kw_engine_idle(d->engine, now - last_input);
		if (now >= next_ckpt) {
			kw_daemon_checkpoint(d);
			next_ckpt = now + d->conf.cfg->checkpoint_interval;
		}
		if (sig_usr1) {
			sig_usr1 = 0;
			v = view(d);
			kw_metrics_log(d->metrics, &v);
		}
		if (sig_hup) {
			sig_hup = 0;
			reload(d);
			now = mono_us();
			next_ckpt = now + d->conf.cfg->checkpoint_interval;
			next_publish = now;
		}
	}
}

/* ------------------------------------------------------- start, stop */

static enum kw_status start(struct kw_daemon *d)
{
	const struct kw_daemon_loader *l = &d->opts.loader;
	struct build b;
	enum kw_status st;

	st = kw_daemon_paths(d);
	if (st == KW_OK && d->conf.cfg->metrics_listen)
		st = kw_metrics_listen(d->metrics, d->conf.cfg->metrics_listen);
	if (st == KW_OK)
		st = build(d, &d->conf, &b);
	if (st != KW_OK)
		return st;
	d->engine = b.engine;
	d->tail = b.tail;
	d->inputs = b.inputs;
	d->kafka = b.kafka;
	/* Resumed (the journal open) before the spools are: what they replay
	 * is journalled as it is. */
	st = kw_daemon_resume(d);
	if (st == KW_OK) {
		kw_router_on_pass(d->conf.router, kw_daemon_journal, d);
		st = l->deliver(l->ctx, &d->conf);
	}
	if (st == KW_OK)
		st = kw_daemon_kafka_start(d->kafka);
	return st;
}

/* false when the last checkpoint could not be written or memory ran out
 * on the way and alerts were lost or went out incomplete (each was
 * logged). */
static bool stop(struct kw_daemon *d)
{
	struct kw_metrics_view v;
	bool saved;

	kw_daemon_notify("STOPPING=1");
	kw_tail_finish(d->tail, feed, d);
	kw_engine_sync(d->engine);
	kw_log_info("watch", "stopping: draining the sinks");
	/* The open incidents' news waits for its digest in the checkpoint;
	 * without one it would be lost, so it is told now. */
	if (!d->state_path[0])
		kw_router_tell_incidents(d->conf.router);
	kw_router_drain(d->conf.router, d->conf.cfg->drain_timeout / 1000);
	kw_router_flush(d->conf.router);
	saved = kw_daemon_checkpoint(d);
	if (saved)
		kw_daemon_kafka_commit(d->kafka, true);
	v = view(d);
	if (kw_log_get_level() <= KW_LOG_INFO)
		kw_metrics_log(d->metrics, &v);
	return saved && !d->oom && !kw_router_stats(d->conf.router)->oom &&
	       !kw_engine_stats(d->engine)->lost;
}

enum kw_status kw_daemon_run(const struct kw_daemon_opts *o, bool *lost)
{
	struct kw_daemon *d = calloc(1, sizeof(*d));
	const struct kw_daemon_loader *l = &o->loader;
	enum kw_status st = KW_ENOMEM;

	if (!d || kw_metrics_create(&d->metrics) != KW_OK) {
		kw_log_error(NULL, "out of memory");
		goto cleanup;
	}
	d->opts = *o;
	d->journal = -1;
	st = l->load(l->ctx, &d->conf);
	if (st == KW_OK)
		st = start(d);
	if (st != KW_OK)
		goto cleanup;
	signals();
	kw_log_info("watch", "following %zu input%s", d->conf.cfg->ninputs,
		    d->conf.cfg->ninputs == 1 ? "" : "s");
	kw_daemon_notify("READY=1");
	loop(d);
	*lost = !stop(d);
cleanup:
	if (d) {
		/* Leaving the groups syncs the engine: before it goes. */
		kw_daemon_kafka_free(d->kafka);
		kw_engine_destroy(d->engine);
		kw_tail_destroy(d->tail);
		free(d->inputs);
		l->unload(l->ctx, &d->conf);
		kw_checkpoint_free(&d->ckpt);
		if (d->journal >= 0)
			close(d->journal);
		kw_metrics_destroy(d->metrics);
		free(d);
	}
	return st;
}
