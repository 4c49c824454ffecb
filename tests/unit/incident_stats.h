/*
 * incident_stats.h - for tests: two incident tables counted alike (one
 * whose messages are only counted, or whose entries are bare, against
 * one that builds everything). Include after cmocka.h.
 */
#ifndef KW_TEST_INCIDENT_STATS_H
#define KW_TEST_INCIDENT_STATS_H

#include "alert/incident.h"

/* Every count of b is a's. */
static inline void assert_same_incident_stats(const struct kw_incident_stats *a,
					      const struct kw_incident_stats *b)
{
	assert_int_equal(b->opened, a->opened);
	assert_int_equal(b->closed, a->closed);
	assert_int_equal(b->evicted, a->evicted);
	assert_int_equal(b->messages, a->messages);
	assert_int_equal(b->joined, a->joined);
	assert_int_equal(b->oom, a->oom);
	assert_int_equal(b->most_alerts, a->most_alerts);
	assert_int_equal(b->most_messages, a->most_messages);
}

#endif
