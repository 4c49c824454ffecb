/*
 * instance.c - key.instance_outside: the credentials an EC2 instance gets
 * for its role, used from somewhere the instance is not.
 *
 * CloudTrail marks a call made with an instance's role credentials
 * (userIdentity.sessionContext.ec2RoleDelivery). Those credentials live on
 * the instance, which calls from one place: its own public address, its
 * NAT gateway's, or a private address through a VPC endpoint. Stolen from
 * the metadata service (SSRF, a shell), they are used from the thief's
 * machine. Two signs, both high:
 *
 *   - one session's credentials (one temporary key) used from two public
 *     networks (/24 or /48): they left the instance. Private addresses
 *     (VPC endpoints) and AWS services calling on the instance's behalf
 *     are not places;
 *   - with an ASN database, a session of the role used from an
 *     autonomous system its instances never used, once the role has
 *     learnt: instances run in the cloud provider's networks, a laptop
 *     does not.
 *
 * The one idea: the role is the key here (temporary keys are learnt on
 * their principal), so its state sees every session: three sessions,
 * placed by their key's hash, each with the network it was first used
 * from, and the first two ASNs its instances used. Only 32-bit hashes of
 * the sessions' keys are kept, never a key. 32 bytes per key, made only
 * for a key that an instance's session used (the family's overflow part);
 * any bytes are a state observe() can go on from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/key.h"
#include "detect/detector.h"
#include "enrich/geoip.h"

#define SESSIONS 3
#define ASNS 2

static const char *const names[] = {"key.instance_outside", NULL};

struct instance_key {
	uint32_t key[SESSIONS]; /* hash of a session's key; 0: free */
	uint32_t net[SESSIONS]; /* hash of the network it was first used
				   from; its low bit is the address family
				   (1: IPv6) */
	uint32_t asn[ASNS];	/* 0: free */
};

struct instance {
	const struct kw_config *cfg;
	bool on;
};

static enum kw_status in_create(const struct kw_detector_env *env, void **self,
				struct kw_error *err)
{
	struct instance *in = calloc(1, sizeof(*in));

	if (!in)
		return kw_error_set(err, KW_ENOMEM, "out of memory");
	in->cfg = env->cfg;
	in->on = kw_detect_enabled(env->cfg, "key.instance_outside");
	*self = in;
	return KW_OK;
}

static uint32_t fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h ? h : 1;
}

/* Not a place of its own: private, shared, loopback, link-local. */
static bool private_address(const struct kw_ip *ip)
{
	const uint8_t *a = ip->addr;

	if (ip->family == 4)
		return a[0] == 10 || a[0] == 127 ||
		       (a[0] == 172 && (a[1] & 0xF0) == 16) ||
		       (a[0] == 192 && a[1] == 168) ||
		       (a[0] == 169 && a[1] == 254) ||
		       (a[0] == 100 && (a[1] & 0xC0) == 64);
	return (a[0] & 0xFE) == 0xFC || (a[0] == 0xFE && (a[1] & 0xC0) == 0x80);
}

/* The network of an address: /24 for IPv4, /48 for IPv6. */
static uint32_t network_of(const struct kw_ip *ip)
{
	uint8_t b[7] = {ip->family};

	memcpy(b + 1, ip->addr, ip->family == 4 ? 3 : 6);
	return (fnv(b, ip->family == 4 ? 4 : 7) & ~UINT32_C(1)) |
	       (ip->family == 6);
}

static void raise_alert(const struct kw_event *ev, struct kw_keyent *key,
			const char *why, const char *detail,
			const struct kw_emit *emit)
{
	struct kw_alert a;
	char label[256], ip[64], subject[128];

	if (kw_detect_alert(&a, emit, "key.instance_outside", KW_SEV_HIGH, ev,
			    key) != KW_OK)
		return;
	kw_ip_format(&ev->ip, ip, sizeof(ip));
	kw_alert_summary(&a,
			 "the credentials of an EC2 instance of %s were used "
			 "from %s, %s: they have left the instance",
			 kw_detect_key_label(key, label, sizeof(label)), ip,
			 why);
	kw_alert_evidence_str(&a, "ip", kw_str_c(ip));
	kw_alert_evidence_str(&a, "op", ev->op);
	kw_alert_evidence_str(&a, "reason", kw_str_c(detail));
	kw_alert_evidence_str(&a, "user_agent", ev->user_agent);
	kw_alert_suppress_str(&a, "ip", kw_str_c(ip));
	snprintf(subject, sizeof(subject), "ip=%s", ip);
	kw_alert_set_id(&a, subject);
	kw_emit(emit, &a);
}

/* One session seen from two public networks of the same address family
 * (an instance with both an IPv4 and an IPv6 address may use either). */
static bool two_places(struct instance_key *st, const struct kw_event *ev)
{
	uint32_t k = fnv(ev->key.p, ev->key.n), net = network_of(&ev->ip);
	size_t i = k % SESSIONS;

	if (st->key[i] != k) {
		st->key[i] = k;
		st->net[i] = net;
		return false;
	}
	return st->net[i] != net && (st->net[i] & 1) == (net & 1);
}

/* A network (ASN) the role's instances never used, once it has learnt. */
static bool new_asn(const struct instance *in, struct instance_key *st,
		    const struct kw_event *ev, const struct kw_keyent *key)
{
	uint32_t asn = ev->geo ? ev->geo->asn : 0;
	size_t i;

	if (!asn)
		return false;
	for (i = 0; i < ASNS && st->asn[i]; i++) {
		if (st->asn[i] == asn)
			return false;
	}
	if (kw_detect_learning(in->cfg, key, ev->ts)) {
		if (i < ASNS)
			st->asn[i] = asn;
		return false;
	}
	return true;
}

static void in_observe(void *self, const struct kw_event *ev,
		       struct kw_keyent *key, void *state,
		       const struct kw_emit *emit)
{
	const struct instance *in = self;
	struct instance_key *st;
	char detail[96];

	if (!in->on || !ev->cloud || !ev->cloud->instance || !ev->key.n ||
	    !ev->ip.family || private_address(&ev->ip))
		return;
	/* the state is the overflow part: only an instance's role has it */
	st = kw_detect_overflow(emit, &kw_detect_instance, 0, key, state, true);
	if (!st)
		return;
	if (two_places(st, ev)) {
		raise_alert(ev, key, "another network than the session's first",
			    "one session, two networks", emit);
		return;
	}
	if (new_asn(in, st, ev, key)) {
		snprintf(detail, sizeof(detail), "AS%u %s is new to the role",
			 (unsigned)ev->geo->asn, ev->geo->org);
		raise_alert(ev, key, "a network its instances never used",
			    detail, emit);
	}
}

static void in_destroy(void *self)
{
	free(self);
}

/* Hashes only: any bytes are a state observe() can go on from. */
static bool in_validate(const void *state, char *why, size_t cap)
{
	(void)state;
	if (cap)
		why[0] = '\0'; /* nothing to say: every state is valid */
	return true;
}

const struct kw_detector_ops kw_detect_instance = {
	.name = "key.instance",
	.kind = KW_DETECTOR_POLICY,
	.detectors = names,
	.options = NULL,
	.state_size = sizeof(struct instance_key),
	.state_version = 1,
	/* all of it, made at the first request of an instance's session */
	.parts = {{0, sizeof(struct instance_key)}},
	.validate = in_validate,
	.create = in_create,
	.observe = in_observe,
	.cloud_only = true,
	.destroy = in_destroy,
};
