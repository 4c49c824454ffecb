/*
 * daemon.h - the daemon behind `keywatch watch`: it follows the config's
 * inputs[] through the tailer (ingest/tail.h), feeds whole lines to the
 * engine, lets the wall clock advance the watermark while input is idle,
 * checkpoints (state/checkpoint.h) every checkpoint_interval and at exit,
 * reloads on SIGHUP, serves metrics and speaks systemd's sd_notify. It
 * stays in the foreground; systemd (Type=notify) or a container supervises
 * it.
 *
 * The one idea: the daemon does not know the command line. What a config
 * leads to (the loaded config, models, GeoIP databases, field map, router
 * with its sinks) comes from a loader that the caller (cli/watch.c)
 * supplies, called once at the start and again on every SIGHUP, so that
 * the arrows of DESIGN.md's module map keep pointing down.
 */
#ifndef KW_DAEMON_DAEMON_H
#define KW_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "alert/router.h"
#include "core/config.h"
#include "core/status.h"
#include "enrich/geoip.h"
#include "enrich/model.h"
#include "ingest/decoder.h"

/* What one load of the config gives the daemon. Filled by the loader's
 * load(); everything in it stays valid until the loader's unload() of the
 * same struct. */
struct kw_daemon_conf {
	const struct kw_config *cfg;
	const struct kw_models *models;
	struct kw_geoip *geoip;
	const struct kw_field_map *map; /* the config's map, then --map */
	size_t nmap;
	struct kw_router *router; /* the config's sinks, not delivering yet */
	void *handle;		  /* the loader's own */
};

/* How to load the config. Every slot is required. */
struct kw_daemon_loader {
	/* Load the config and what it names, checked with
	 * kw_daemon_check_config; errors are logged. On failure *out is
	 * left so that unload() may be called on it. */
	enum kw_status (*load)(void *ctx, struct kw_daemon_conf *out);
	/* Start the delivery layer (queues, threads, spools) of
	 * c->router; errors are logged. */
	enum kw_status (*deliver)(void *ctx, struct kw_daemon_conf *c);
	/* Free what load() made, the router included, and zero *c. Safe
	 * on a zeroed struct. */
	void (*unload)(void *ctx, struct kw_daemon_conf *c);
	void *ctx;
};

struct kw_daemon_opts {
	const char *config; /* the config file's path, for messages */
	const char *format; /* -f: NULL or "auto" sniffs */
	const char *state;  /* --state, or NULL: <state_dir>/learned.state */
	struct kw_daemon_loader loader;
};

/* Load the config through o->loader and run until SIGTERM or SIGINT, then
 * drain the sinks and checkpoint. KW_OK after a stop; anything else means
 * the daemon could not start (the cause is logged). *lost turns true when
 * it stopped but its last checkpoint could not be written, or memory ran
 * out on the way and alerts were lost or went out incomplete (each logged):
 * the stop was not a clean one. */
enum kw_status kw_daemon_run(const struct kw_daemon_opts *o, bool *lost);

/* A config watch can run with: known input formats and some inputs (with
 * check_only, no inputs is only a warning). Errors and warnings are
 * logged; KW_OK or KW_ECONFIG. */
enum kw_status kw_daemon_check_config(const struct kw_config *cfg,
				      bool check_only);

#endif
