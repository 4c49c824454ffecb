/*
 * watch.c - `keywatch watch -c CONFIG`: the daemon. It follows the
 * config's inputs[] through the tailer (ingest/tail.h), feeds whole lines
 * to the engine, lets the wall clock advance the watermark while input is
 * idle, and checkpoints (state/checkpoint.h) every checkpoint_interval and
 * at exit: file offsets, learned state and the ids of recent alerts.
 * It stays in the foreground; systemd (Type=notify) or a container
 * supervises it.
 *
 * The one idea: an alert is journalled the moment the router passed it
 * (after the delivery spool has it), and the checkpoint's offsets are
 * never ahead of what the engine analysed, so a restart after kill -9
 * re-reads at most what came after the last checkpoint and drops every
 * alert that re-reading raises again (same id, same event time).
 *
 * Signal handlers only set flags; the loop acts on them: SIGTERM/SIGINT
 * stop reading, drain the sinks for drain_timeout and checkpoint; SIGHUP
 * reloads config and models (a bad new config keeps the old one running);
 * SIGUSR1 logs counters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "engine/engine.h"
#include "ingest/tail.h"
#include "state/checkpoint.h"

#define POLL_MS 200
#define IDLE_AFTER_US (INT64_C(1000000))

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

static void usage(FILE *f)
{
	fputs("usage: keywatch watch [OPTIONS] -c CONFIG\n"
	      "Follow the config's inputs as they grow and rotate; alert in "
	      "real time.\n"
	      "\n"
	      "  -c, --config FILE       JSON config (inputs, state_dir, "
	      "sinks, ...)\n"
	      "  -n, --check             check the config and exit\n"
	      "  -f, --format NAME       auto (default), keywatch, cloudtrail\n"
	      "      --map FIELD=PATH    map a log field onto an event field "
	      "(repeatable)\n"
	      "  -m, --models DIR        where the API models are\n"
	      "      --geoip FILE        a MaxMind DB file (repeatable)\n"
	      "      --state FILE        learned state (default: "
	      "<state_dir>/learned.state)\n"
	      "      --learn DURATION    learning period per key (default "
	      "72h)\n"
	      "      --min-severity LVL  drop alerts below LVL\n"
	      "  -q, --quiet             only errors\n"
	      "  -v, --verbose           debug logging\n"
	      "\n"
	      "Signals: HUP reloads the config, TERM/INT stop (drain and "
	      "checkpoint),\nUSR1 logs counters.\n",
	      f);
}

/* ------------------------------------------------------------ context */

struct metrics {
	int fd; /* listening socket, or -1 */
	uint64_t alerts[KW_ROUTER_MAX_DETECTORS][KW_SEV_MAX];
	const char *detectors[KW_ROUTER_MAX_DETECTORS];
	size_t ndetectors;
};

#define WATCH_MAX_INPUTS 64

/* Per inputs[] entry: its format and its field map (the top-level map and
 * --map, then the input's own "map" over them). Made with an engine, freed
 * after it: the engine's decoders borrow the maps. */
struct watch_inputs {
	struct kw_engine_input in[WATCH_MAX_INPUTS];
	struct kw_decoder_conf dconf[WATCH_MAX_INPUTS];
	struct kw_field_map maps[WATCH_MAX_INPUTS][KW_FIELD_MAX];
};

struct watch {
	struct kw_cli_common common;
	bool check_only;
	struct kw_cli_setup s;
	struct kw_router *router;
	struct kw_engine *engine;
	struct kw_tail *tail;
	struct kw_checkpoint ckpt; /* files (at save) and recent alerts */
	int journal;		   /* -1 without a state_dir */
	char ckpt_path[4096];
	char journal_path[4096];
	char state_path[4096];
	uint64_t dropped_repeats; /* alerts raised again after a restart */
	uint64_t checkpoints;
	struct metrics m;
	int64_t started;
	struct watch_inputs *inputs; /* of w->s.cfg, for w->engine */
};

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* systemd's readiness protocol without libsystemd: one datagram to
 * $NOTIFY_SOCKET (a leading '@' is the abstract namespace). */
static void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n;
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	n = strlen(path);
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		kw_log_debug("watch", "sd_notify: %s", strerror(errno));
	close(fd);
}

/* ------------------------------------------------- engine and alerts */

static bool admit(void *ctx, const char *id, int64_t time)
{
	struct watch *w = ctx;

	if (!kw_checkpoint_has_alert(&w->ckpt, id, time))
		return true;
	w->dropped_repeats++;
	kw_log_debug("watch", "%s: raised before the restart; not again", id);
	return false;
}

static void passed(void *ctx, const char *id, int64_t time,
		   const char *detector, enum kw_severity sev)
{
	struct watch *w = ctx;
	size_t i;

	kw_checkpoint_add_alert(&w->ckpt, id, time);
	kw_checkpoint_journal_append(w->journal, id, time);
	for (i = 0; i < w->m.ndetectors; i++) {
		if (!strcmp(w->m.detectors[i], detector))
			break;
	}
	if (i == w->m.ndetectors && i < KW_ROUTER_MAX_DETECTORS)
		w->m.detectors[w->m.ndetectors++] = detector;
	if (i < KW_ROUTER_MAX_DETECTORS && sev < KW_SEV_MAX)
		w->m.alerts[i][sev]++;
}

/* The inputs[] entry of the file name: the first whose glob matches it.
 * The tailer names a file by the path it was taken up at, which one of
 * the globs matched, so a rotated api.log.1.gz is still api.log here.
 * NULL: none (the engine's format and map). */
static const struct kw_engine_input *input_of(struct watch *w, const char *name)
{
	const struct kw_config *cfg = w->s.cfg;

	for (size_t i = 0; i < cfg->ninputs && w->inputs; i++) {
		if (fnmatch(cfg->inputs[i].path, name, FNM_PATHNAME) == 0)
			return &w->inputs->in[i];
	}
	return NULL;
}

static void feed(void *ctx, const char *buf, size_t len, const char *name)
{
	struct watch *w = ctx;

	kw_engine_feed(w->engine, buf, len, name, input_of(w, name));
}

static void read_whole(void *ctx, struct kw_reader *r, const char *name)
{
	struct watch *w = ctx;

	kw_engine_read(w->engine, r, name, input_of(w, name));
}

/* -------------------------------------------------------- checkpoints */

static void checkpoint(struct watch *w)
{
	struct kw_tail_pos *pos = NULL;
	struct kw_error err;
	size_t n = 0;

	kw_error_clear(&err);
	if (w->state_path[0] &&
	    kw_engine_save_state(w->engine, w->state_path, &err) != KW_OK) {
		kw_log_error("watch", "checkpoint: %s", err.msg);
		return;
	}
	if (!w->ckpt_path[0])
		return; /* --state without a state_dir: learned state only */
	if (kw_tail_positions(w->tail, &pos, &n) != KW_OK) {
		kw_log_error("watch", "checkpoint: out of memory");
		return;
	}
	kw_checkpoint_clear_files(&w->ckpt);
	for (size_t i = 0; i < n; i++) {
		struct kw_checkpoint_file f = {
			.dev = pos[i].dev,
			.ino = pos[i].ino,
			.offset = pos[i].offset,
			.fplen = pos[i].fplen,
			.fphash = pos[i].fphash,
		};

		snprintf(f.path, sizeof(f.path), "%s", pos[i].path);
		if (kw_checkpoint_add_file(&w->ckpt, &f) != KW_OK)
			break;
	}
	free(pos);
	if (kw_checkpoint_save(w->ckpt_path, &w->ckpt, &err) != KW_OK) {
		kw_log_error("watch", "checkpoint: %s", err.msg);
		return;
	}
	kw_checkpoint_journal_reset(w->journal);
	w->checkpoints++;
}

/* Where the last run stopped: offsets into the tailer, recent alerts
 * (the checkpoint's and the journal's) into the ring. */
static int resume(struct watch *w)
{
	struct kw_tail_pos *pos = NULL;
	struct kw_error err;
	bool found = false;
	int rc = KW_EXIT_USAGE;

	kw_error_clear(&err);
	if (kw_checkpoint_load(w->ckpt_path, &w->ckpt, &found, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		goto cleanup;
	}
	if (kw_checkpoint_journal_load(w->journal_path, &w->ckpt, &err) !=
	    KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		goto cleanup;
	}
	pos = calloc(w->ckpt.nfiles + 1, sizeof(*pos));
	if (!pos)
		goto cleanup;
	for (size_t i = 0; i < w->ckpt.nfiles; i++) {
		const struct kw_checkpoint_file *f = &w->ckpt.files[i];

		pos[i].dev = f->dev;
		pos[i].ino = f->ino;
		pos[i].offset = f->offset;
		pos[i].fplen = f->fplen;
		pos[i].fphash = f->fphash;
		snprintf(pos[i].path, sizeof(pos[i].path), "%s", f->path);
	}
	if (kw_tail_restore(w->tail, pos, w->ckpt.nfiles) != KW_OK)
		goto cleanup;
	if (found)
		kw_log_info("watch",
			    "resuming: %zu files, %zu recent alerts from %s",
			    w->ckpt.nfiles, w->ckpt.nalerts, w->ckpt_path);
	rc = KW_EXIT_OK;
cleanup:
	free(pos);
	return rc;
}

/* ------------------------------------------------------------ set-up */

static int parse(int argc, char **argv, struct watch *w)
{
	static const struct option longopts[] = {
		KW_CLI_COMMON_LONG,
		{"check", no_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	int c, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, KW_CLI_COMMON_SHORT "hn", longopts,
				NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(KW_EXIT_OK);
		}
		if (c == 'n') {
			w->check_only = true;
			continue;
		}
		r = kw_cli_common_opt(&w->common, c, optarg);
		if (r < 0)
			return KW_EXIT_USAGE;
		if (r == 0) {
			kw_log_error(NULL,
				     "watch: unknown option or missing value "
				     "'%s' (see keywatch watch --help)",
				     argv[optind - 1]);
			return KW_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		kw_log_error(NULL,
			     "watch: unexpected argument '%s': the files to "
			     "follow are the config's inputs",
			     argv[optind]);
		return KW_EXIT_USAGE;
	}
	if (!w->common.config) {
		kw_log_error(NULL, "watch: -c CONFIG is required (the config "
				   "names the inputs to follow)");
		return KW_EXIT_USAGE;
	}
	return KW_EXIT_OK;
}

/* The format and field map of each input of s (see struct watch_inputs).
 * NULL after an error, which is printed. */
static struct watch_inputs *make_inputs(const struct kw_cli_setup *s)
{
	struct watch_inputs *wi = calloc(1, sizeof(*wi));
	struct kw_error err;

	if (!wi) {
		kw_log_error(NULL, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < s->cfg->ninputs && i < WATCH_MAX_INPUTS; i++) {
		const struct kw_input *in = &s->cfg->inputs[i];
		struct kw_field_map *m = wi->maps[i];
		size_t n = 0;
		const char *field;
		json_t *path;

		wi->in[i].format = in->format;
		if (!in->map)
			continue;
		for (; n < s->nmap && n < KW_FIELD_MAX; n++)
			m[n] = s->map[n];
		json_object_foreach(in->map, field, path)
		{
			struct kw_field_map one;
			char spec[512];
			size_t j;

			snprintf(spec, sizeof(spec), "%s=%s", field,
				 json_is_string(path) ? json_string_value(path)
						      : "");
			kw_error_clear(&err);
			if (kw_field_map_parse(spec, &one, &err) != KW_OK) {
				kw_log_error(NULL, "%s: inputs[%zu].map: %s",
					     s->cfg->file, i, err.msg);
				free(wi);
				return NULL;
			}
			for (j = 0; j < n && m[j].field != one.field; j++)
				;
			m[j].field = one.field;
			m[j].path = json_string_value(path);
			if (j == n)
				n++;
		}
		wi->dconf[i].map = m;
		wi->dconf[i].nmap = n;
		wi->in[i].dconf = &wi->dconf[i];
	}
	return wi;
}

/* Engine and tailer for setup s and router r, and the inputs table the
 * engine borrows. */
static int build(struct watch *w, struct kw_cli_setup *s, struct kw_router *r,
		 struct kw_engine **engine, struct kw_tail **tail,
		 struct watch_inputs **inputs)
{
	const char *globs[64];
	struct kw_engine_opts eo = {
		.cfg = s->cfg,
		.models = s->models,
		.format = w->common.format,
		.map = s->map,
		.nmap = s->nmap,
		.router = r,
		.geoip = s->geoip,
		.admit = admit,
		.passed = passed,
		.hook_ctx = w,
	};
	struct kw_tail_opts to = {
		.globs = globs,
		.max_line = s->cfg->max_line,
		.whole = read_whole,
	};
	struct kw_error err;

	*engine = NULL;
	*tail = NULL;
	*inputs = NULL;
	if (s->cfg->ninputs > sizeof(globs) / sizeof(globs[0])) {
		kw_log_error(NULL, "%s: more than %zu inputs", s->cfg->file,
			     sizeof(globs) / sizeof(globs[0]));
		return KW_EXIT_USAGE;
	}
	for (size_t i = 0; i < s->cfg->ninputs; i++)
		globs[to.nglobs++] = s->cfg->inputs[i].path;
	*inputs = make_inputs(s);
	if (!*inputs)
		return KW_EXIT_USAGE;
	kw_error_clear(&err);
	if (kw_engine_create(&eo, engine, &err) != KW_OK ||
	    kw_tail_create(&to, tail, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		kw_engine_destroy(*engine);
		*engine = NULL;
		free(*inputs);
		*inputs = NULL;
		return KW_EXIT_USAGE;
	}
	if (w->state_path[0] &&
	    kw_engine_load_state(*engine, w->state_path, &err) != KW_OK) {
		kw_log_error(NULL, "%s", err.msg);
		kw_engine_destroy(*engine);
		kw_tail_destroy(*tail);
		free(*inputs);
		*engine = NULL;
		*tail = NULL;
		*inputs = NULL;
		return KW_EXIT_USAGE;
	}
	return KW_EXIT_OK;
}

/* A config watch can run with. Without inputs it is only valid (-n says
 * so with a warning); running needs some. */
static int check_config(const struct kw_cli_setup *s, bool check_only)
{
	for (size_t i = 0; i < s->cfg->ninputs; i++) {
		const char *f = s->cfg->inputs[i].format;

		if (f && strcmp(f, "auto") && !kw_decoder_find(f)) {
			kw_log_error(NULL,
				     "%s: inputs[%zu].format: unknown format "
				     "'%s' (formats: auto, keywatch, "
				     "cloudtrail)",
				     s->cfg->file, i, f);
			return KW_EXIT_USAGE;
		}
	}
	if (!s->cfg->ninputs && check_only) {
		kw_log_warn(NULL, "%s: no inputs[]: watch would follow nothing",
			    s->cfg->file);
	} else if (!s->cfg->ninputs) {
		kw_log_error(NULL, "%s: no inputs[] to follow", s->cfg->file);
		return KW_EXIT_USAGE;
	}
	if (!s->cfg->state_dir)
		kw_log_warn(NULL,
			    "%s: no state_dir: offsets, learned state and "
			    "undelivered alerts are lost at exit",
			    s->cfg->file);
	return KW_EXIT_OK;
}

static int make_state_dir(const char *dir)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		kw_log_error(NULL, "state_dir %s: cannot create: %s", dir,
			     strerror(errno));
		return KW_EXIT_USAGE;
	}
	return KW_EXIT_OK;
}

/* ------------------------------------------------------------ metrics */

static int metrics_listen(struct watch *w, const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[256];
	const char *colon = strrchr(spec, ':');
	long port;
	int one = 1, fd = -1;

	memset(&ss, 0, sizeof(ss));
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host))
		goto bad;
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535)
		goto bad;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		host[strlen(host) - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			goto bad;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		len = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 16)) {
		kw_log_error(NULL, "metrics.listen %s: %s", spec,
			     strerror(errno));
		if (fd >= 0)
			close(fd);
		return KW_EXIT_USAGE;
	}
	w->m.fd = fd;
	kw_log_info("watch", "metrics on http://%s/metrics", spec);
	return KW_EXIT_OK;
bad:
	kw_log_error(NULL,
		     "metrics.listen %s: expected ADDRESS:PORT such as "
		     "127.0.0.1:9187 or [::1]:9187",
		     spec);
	return KW_EXIT_USAGE;
}

/* A label value: backslash, quote and newline escaped. */
static void label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

struct lag_ctx {
	FILE *f;
	bool seconds;
};

static void lag_line(void *ctx, const struct kw_tail_file_info *fi)
{
	struct lag_ctx *lc = ctx;

	fprintf(lc->f, "keywatch_input_lag_%s{path=\"",
		lc->seconds ? "seconds" : "bytes");
	label(lc->f, fi->path);
	if (lc->seconds)
		fprintf(lc->f, "\"} %.3f\n", (double)fi->lag_us / 1e6);
	else
		fprintf(lc->f, "\"} %" PRIu64 "\n", fi->lag);
}

static void metrics_text(struct watch *w, FILE *f)
{
	const struct kw_engine_stats *es = kw_engine_stats(w->engine);
	const struct kw_tail_stats *ts = kw_tail_stats(w->tail);
	struct lag_ctx lc = {f, false};
	struct kw_delivery_stats ds;

	fprintf(f,
		"# TYPE keywatch_events_read_total counter\n"
		"keywatch_events_read_total %" PRIu64 "\n",
		es->events);
	fprintf(f,
		"# TYPE keywatch_records_read_total counter\n"
		"keywatch_records_read_total %" PRIu64 "\n",
		es->records);
	fprintf(f,
		"# TYPE keywatch_bytes_read_total counter\n"
		"keywatch_bytes_read_total %" PRIu64 "\n",
		ts->bytes);
	fprintf(f, "# TYPE keywatch_events_skipped_total counter\n");
	for (int r = 0; r < KW_SKIP_REASON_MAX; r++)
		fprintf(f,
			"keywatch_events_skipped_total{reason=\"%s\"} %" PRIu64
			"\n",
			kw_skip_reason_name((enum kw_skip_reason)r),
			es->skips.count[r]);
	fprintf(f, "# TYPE keywatch_input_lag_bytes gauge\n");
	kw_tail_foreach(w->tail, mono_us(), lag_line, &lc);
	lc.seconds = true;
	fprintf(f, "# TYPE keywatch_input_lag_seconds gauge\n");
	kw_tail_foreach(w->tail, mono_us(), lag_line, &lc);
	fprintf(f,
		"# TYPE keywatch_files_followed gauge\n"
		"keywatch_files_followed %" PRIu64 "\n",
		ts->files);
	fprintf(f,
		"# TYPE keywatch_keys_tracked gauge\n"
		"keywatch_keys_tracked %zu\n",
		es->keys);
	fprintf(f, "# TYPE keywatch_alerts_total counter\n");
	for (size_t i = 0; i < w->m.ndetectors; i++)
		for (int s = 0; s < KW_SEV_MAX; s++)
			if (w->m.alerts[i][s])
				fprintf(f,
					"keywatch_alerts_total{detector=\"%s\","
					"severity=\"%s\"} %" PRIu64 "\n",
					w->m.detectors[i],
					kw_severity_name((enum kw_severity)s),
					w->m.alerts[i][s]);
	fprintf(f, "# TYPE keywatch_sink_queue_depth gauge\n"
		   "# TYPE keywatch_deliveries_total counter\n"
		   "# TYPE keywatch_spool_bytes gauge\n");
	for (size_t i = 0; i < kw_router_nsinks(w->router); i++) {
		struct kw_delivery *d = kw_router_delivery(w->router, i);
		const char *name = kw_router_sink(w->router, i)->name;
		struct stat sb;

		if (!d)
			continue;
		kw_delivery_stats(d, &ds);
		fprintf(f, "keywatch_sink_queue_depth{sink=\"");
		label(f, name);
		fprintf(f, "\"} %zu\n", ds.pending);
		fprintf(f, "keywatch_deliveries_total{sink=\"");
		label(f, name);
		fprintf(f, "\",result=\"ok\"} %" PRIu64 "\n", ds.delivered);
		fprintf(f, "keywatch_deliveries_total{sink=\"");
		label(f, name);
		fprintf(f, "\",result=\"retried\"} %" PRIu64 "\n", ds.retries);
		fprintf(f, "keywatch_deliveries_total{sink=\"");
		label(f, name);
		fprintf(f, "\",result=\"failed\"} %" PRIu64 "\n", ds.dead);
		fprintf(f, "keywatch_spool_bytes{sink=\"");
		label(f, name);
		fprintf(f, "\"} %lld\n",
			ds.spool[0] && stat(ds.spool, &sb) == 0
				? (long long)sb.st_size
				: 0LL);
	}
	fprintf(f,
		"# TYPE keywatch_checkpoints_total counter\n"
		"keywatch_checkpoints_total %" PRIu64 "\n",
		w->checkpoints);
}

/* One request per connection, answered at once (scrapes are rare). */
static void metrics_serve(struct watch *w)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	char req[1024], *body = NULL, head[256];
	size_t blen = 0;
	ssize_t n;
	const char *status = "200 OK", *ctype = "text/plain; version=0.0.4";
	FILE *f;
	int c = accept4(w->m.fd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		return;
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = recv(c, req, sizeof(req) - 1, 0);
	if (n <= 0)
		goto cleanup;
	req[n] = '\0';
	f = open_memstream(&body, &blen);
	if (!f)
		goto cleanup;
	if (!strncmp(req, "GET /metrics ", 13) ||
	    !strncmp(req, "GET /metrics?", 13)) {
		metrics_text(w, f);
	} else if (!strncmp(req, "GET /healthz ", 13)) {
		ctype = "text/plain";
		fputs("ok\n", f);
	} else {
		status = "404 Not Found";
		ctype = "text/plain";
		fputs("not found: try /metrics or /healthz\n", f);
	}
	fclose(f);
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: "
		     "%zu\r\nConnection: close\r\n\r\n",
		     status, ctype, blen);
	if (send(c, head, (size_t)n, MSG_NOSIGNAL) == n)
		(void)!send(c, body, blen, MSG_NOSIGNAL);
cleanup:
	free(body);
	close(c);
}

/* --------------------------------------------------------------- loop */

static void counters(struct watch *w)
{
	const struct kw_engine_stats *es = kw_engine_stats(w->engine);
	const struct kw_tail_stats *ts = kw_tail_stats(w->tail);
	const struct kw_router_stats *rs = kw_router_stats(w->router);

	kw_log_info(
		"watch",
		"counters: files %" PRIu64 " (opened %" PRIu64
		", rotations %" PRIu64 ", truncations %" PRIu64
		", copies skipped %" PRIu64 "), bytes %" PRIu64
		", events %" PRIu64 ", skipped %" PRIu64 ", keys %zu"
		", alerts %" PRIu64 " (repeats after restart dropped %" PRIu64
		"), checkpoints %" PRIu64,
		ts->files, ts->opened, ts->rotations, ts->truncations,
		ts->copies, ts->bytes, es->events, es->skips.total, es->keys,
		rs->delivered, w->dropped_repeats, w->checkpoints);
}

/* SIGHUP: a new setup, router, engine and tailer; swapped in only when
 * all of them could be made. Learned state goes through the state file,
 * offsets through the tailer's positions. */
static void reload(struct watch *w)
{
	struct kw_cli_setup ns;
	struct kw_router *nr = NULL;
	struct kw_engine *ne = NULL;
	struct kw_tail *nt = NULL;
	struct watch_inputs *ni = NULL;
	struct kw_tail_pos *pos = NULL;
	size_t npos = 0;
	int rc;

	sd_notify_msg("RELOADING=1");
	kw_log_info("watch", "reloading %s", w->common.config);
	memset(&ns, 0, sizeof(ns));
	rc = kw_cli_setup(&w->common, &ns);
	if (rc == KW_EXIT_OK)
		rc = check_config(&ns, false);
	if (rc == KW_EXIT_OK)
		rc = kw_cli_router(&ns, false, &nr);
	if (rc != KW_EXIT_OK) {
		kw_log_error("watch", "reload failed; the old config goes on");
		goto cleanup;
	}
	checkpoint(w); /* the learned state the new engine loads */
	rc = build(w, &ns, nr, &ne, &nt, &ni);
	if (rc == KW_EXIT_OK &&
	    kw_tail_positions(w->tail, &pos, &npos) != KW_OK)
		rc = KW_EXIT_USAGE;
	if (rc == KW_EXIT_OK && kw_tail_restore(nt, pos, npos) != KW_OK)
		rc = KW_EXIT_USAGE;
	if (rc != KW_EXIT_OK) {
		kw_log_error("watch", "reload failed; the old config goes on");
		goto cleanup;
	}
	/* The old tailer's files that left their path are read to their
	 * end now: the new one cannot open them again. */
	kw_tail_finish(w->tail, feed, w);
	/* The old sinks finish (what they cannot deliver stays in the
	 * spools, which the new ones replay). */
	kw_router_drain(w->router, w->s.cfg->drain_timeout / 1000);
	kw_engine_destroy(w->engine);
	kw_tail_destroy(w->tail);
	kw_router_destroy(w->router);
	free(w->inputs);
	kw_cli_teardown(&w->s);
	w->s = ns;
	w->router = nr;
	w->engine = ne;
	w->tail = nt;
	w->inputs = ni;
	memset(&ns, 0, sizeof(ns));
	nr = NULL;
	ne = NULL;
	nt = NULL;
	ni = NULL;
	if (kw_cli_start_delivery(&w->s, w->router) != KW_EXIT_OK)
		kw_log_error("watch", "reload: sinks deliver synchronously");
	kw_log_info("watch", "reloaded %s", w->common.config);
cleanup:
	free(pos);
	kw_engine_destroy(ne);
	kw_tail_destroy(nt);
	kw_router_destroy(nr);
	free(ni);
	kw_cli_teardown(&ns);
	sd_notify_msg("READY=1");
}

static void loop(struct watch *w)
{
	int64_t now = mono_us();
	int64_t last_input = now;
	int64_t next_ckpt = now + w->s.cfg->checkpoint_interval;
	uint64_t fed = 0;

	while (!sig_stop) {
		struct pollfd p = {.fd = w->m.fd, .events = POLLIN};

		if (w->m.fd >= 0 && poll(&p, 1, 0) > 0)
			metrics_serve(w);
		if (!fed) /* else more may be waiting: read on at once */
			kw_tail_wait(w->tail, POLL_MS);
		if (sig_stop)
			break;
		now = mono_us();
		fed = kw_tail_poll(w->tail, now, feed, w);
		if (fed)
			last_input = now;
		else if (now - last_input >= IDLE_AFTER_US)
			kw_engine_idle(w->engine, now - last_input);
		if (now >= next_ckpt) {
			checkpoint(w);
			next_ckpt = now + w->s.cfg->checkpoint_interval;
		}
		if (sig_usr1) {
			sig_usr1 = 0;
			counters(w);
		}
		if (sig_hup) {
			sig_hup = 0;
			reload(w);
			next_ckpt = mono_us() + w->s.cfg->checkpoint_interval;
		}
	}
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

static int paths(struct watch *w)
{
	const char *dir = w->s.cfg->state_dir;

	if (w->common.state)
		snprintf(w->state_path, sizeof(w->state_path), "%s",
			 w->common.state);
	if (!dir)
		return KW_EXIT_OK;
	if (make_state_dir(dir) != KW_EXIT_OK)
		return KW_EXIT_USAGE;
	if (!w->state_path[0])
		snprintf(w->state_path, sizeof(w->state_path),
			 "%s/learned.state", dir);
	snprintf(w->ckpt_path, sizeof(w->ckpt_path), "%s/checkpoint", dir);
	snprintf(w->journal_path, sizeof(w->journal_path), "%s/alerts.journal",
		 dir);
	return KW_EXIT_OK;
}

int kw_cli_watch(int argc, char **argv)
{
	struct watch *w = calloc(1, sizeof(*w));
	struct kw_error err;
	int rc;

	if (!w) {
		kw_log_error(NULL, "out of memory");
		return KW_EXIT_USAGE;
	}
	w->journal = -1;
	w->m.fd = -1;
	w->started = mono_us();
	rc = parse(argc, argv, w);
	if (rc != KW_EXIT_OK)
		goto cleanup;
	if (!w->common.output)
		w->common.output = "json";
	rc = kw_cli_setup(&w->common, &w->s);
	if (rc == KW_EXIT_OK)
		rc = check_config(&w->s, w->check_only);
	if (rc == KW_EXIT_OK)
		rc = kw_cli_router(&w->s, false, &w->router);
	if (rc != KW_EXIT_OK || w->check_only) {
		if (rc == KW_EXIT_OK)
			printf("%s: config OK (%zu input%s, %zu sink%s)\n",
			       w->s.cfg->file, w->s.cfg->ninputs,
			       w->s.cfg->ninputs == 1 ? "" : "s",
			       kw_router_nsinks(w->router),
			       kw_router_nsinks(w->router) == 1 ? "" : "s");
		goto cleanup;
	}
	rc = paths(w);
	if (rc == KW_EXIT_OK && w->s.cfg->metrics_listen)
		rc = metrics_listen(w, w->s.cfg->metrics_listen);
	if (rc == KW_EXIT_OK)
		rc = kw_cli_start_delivery(&w->s, w->router);
	if (rc == KW_EXIT_OK)
		rc = build(w, &w->s, w->router, &w->engine, &w->tail,
			   &w->inputs);
	if (rc == KW_EXIT_OK && w->ckpt_path[0])
		rc = resume(w);
	if (rc != KW_EXIT_OK)
		goto cleanup;
	if (w->journal_path[0]) {
		kw_error_clear(&err);
		w->journal = kw_checkpoint_journal_open(w->journal_path, &err);
		if (w->journal < 0) {
			kw_log_error(NULL, "%s", err.msg);
			rc = KW_EXIT_USAGE;
			goto cleanup;
		}
	}
	signals();
	kw_log_info("watch", "following %zu input%s", w->s.cfg->ninputs,
		    w->s.cfg->ninputs == 1 ? "" : "s");
	sd_notify_msg("READY=1");
	loop(w);
	sd_notify_msg("STOPPING=1");
	kw_tail_finish(w->tail, feed, w);
	kw_log_info("watch", "stopping: draining the sinks");
	kw_router_drain(w->router, w->s.cfg->drain_timeout / 1000);
	kw_router_flush(w->router);
	checkpoint(w);
	if (kw_log_get_level() <= KW_LOG_INFO)
		counters(w);
cleanup:
	kw_engine_destroy(w->engine);
	kw_tail_destroy(w->tail);
	kw_router_destroy(w->router);
	free(w->inputs);
	kw_cli_teardown(&w->s);
	kw_checkpoint_free(&w->ckpt);
	if (w->journal >= 0)
		close(w->journal);
	if (w->m.fd >= 0)
		close(w->m.fd);
	free(w);
	return rc;
}
