/*
 * errors.h - auth.failures' alert, for a stage that counts one source IP's
 * denied requests across keys somewhere else than the errors family's own
 * table (daemon/byip.c: a stage keyed by IP behind a Kafka repartition
 * topic). One piece of code makes the alert wherever it is counted, so
 * that the same (IP, window) gives the same alert.
 *
 * An auth.failures alert is about one (IP, window) pair: its id is made
 * of the detector, the IP and the window's index (not of the key that
 * crossed the line), so that two stages counting the same pair, or one
 * counting it again after a restart, raise it under one id.
 */
#ifndef KW_DETECT_ERRORS_H
#define KW_DETECT_ERRORS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/event.h"
#include "detect/detector.h"
#include "state/keytab.h"

/* What auth.failures is configured to do. */
struct kw_auth_conf {
	bool on;	/* detectors.auth.failures.enabled */
	unsigned keys;	/* keys denied to one IP in a window that fire */
	int64_t window; /* the window (rate.errors' window), us */
};

void kw_auth_conf(const struct kw_config *cfg, struct kw_auth_conf *out);

/* Raise auth.failures about ev's IP and ev's window: key is the key of
 * ev, the one that made nkeys keys tried (the crossing one); denied, the
 * IP's denied requests in the window so far. */
void kw_auth_alert(const struct kw_auth_conf *c, const struct kw_event *ev,
		   const struct kw_keyent *key, unsigned nkeys, unsigned denied,
		   const struct kw_emit *emit);

#endif
