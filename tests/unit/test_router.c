/*
 * test_router.c - the router's dedup table at its bound (alert/router.h):
 * more distinct alerts within the dedup window than the table holds
 * (32,768: half its slots) start it afresh; that is warned of once, the
 * first time, however often it happens, and each restart is counted in
 * the router's stats; a reload's router (kw_router_memory_adopt) does not
 * warn again. The rest of the router (dedup, suppression, routing) is
 * tested with the sinks, in test_sink.c.
 *
 * The one idea: stderr is caught while the table overflows twice, so the
 * warning is counted where the operator would read it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alert/router.h"
#include "core/config.h"
#include "core/log.h"
#include "stderr_capture.h"
#include "str_count.h"
#include "config_fixture.h"

#define T0 (INT64_C(1795770843) * 1000000) /* 2026-11-27T09:14:03Z */
#define HALF 32768 /* distinct alerts the dedup table holds in a window */

static const char warning[] =
	"keywatch: warning: router: more than 32768 distinct alerts within "
	"the dedup window; starting the dedup table afresh, so repeats may "
	"be delivered again (said once; the restarts are counted)\n";

/* n distinct alerts on one key, ids from subject "n=<first + i>", a
 * microsecond apart from t: all within the window. */
static void flood(struct kw_router *r, int first, int n, int64_t t)
{
	struct kw_alert_key k = {.kind = KW_KIND_SECRET, .mode = KW_MODE_LIVE};

	snprintf(k.id, sizeof(k.id), "sk_live_\xe2\x80\xa6%s", "4242");
	snprintf(k.fp, sizeof(k.fp), "%016x", 0x4242);
	for (int i = first; i < first + n; i++) {
		struct kw_alert a;
		char subject[32];

		assert_int_equal(
			kw_alert_init(&a, "geo.new_ip", KW_SEV_HIGH, t + i, &k),
			KW_OK);
		snprintf(subject, sizeof(subject), "n=%d", i);
		kw_alert_set_id(&a, subject);
		assert_true(kw_router_submit(r, &a));
	}
}

static void test_dedup_restart_said_once(void **state)
{
	struct kw_config *cfg = cfg_load("{\"dedup_window\": \"1h\"}");
	struct kw_router *r = NULL, *r2 = NULL;
	struct kw_error err;
	struct capture cap;
	static char out[8192];
	enum kw_log_level lvl = kw_log_get_level();

	(void)state;
	kw_log_set_level(KW_LOG_INFO);
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r, &err), KW_OK);
	capture_begin(&cap);
	/* One past half full: the table holds nothing older than the window
	 * to drop, and starts afresh. */
	flood(r, 0, HALF + 1, T0);
	assert_int_equal(kw_router_stats(r)->dedup_restarts, 1);
	/* As many again (other ids): a second restart, not said again. */
	flood(r, HALF + 1, HALF + 1, T0);
	capture_end(&cap, out, sizeof(out));
	assert_string_equal(out, warning);
	assert_int_equal(str_count(out, "afresh"), 1);
	assert_int_equal(kw_router_stats(r)->dedup_restarts, 2);
	assert_int_equal(kw_router_stats(r)->delivered, 2 * (HALF + 1));
	assert_int_equal(kw_router_stats(r)->deduped, 0);

	/* A reload's router counts its own restarts, and does not say it
	 * again: the run was told. */
	assert_int_equal(kw_router_create(cfg, KW_SEV_INFO, &r2, &err), KW_OK);
	kw_router_memory_adopt(r2, r);
	capture_begin(&cap);
	flood(r2, 2 * (HALF + 1), HALF + 1, T0);
	capture_end(&cap, out, sizeof(out));
	assert_string_equal(out, "");
	assert_int_equal(kw_router_stats(r2)->dedup_restarts, 1);

	kw_log_set_level(lvl);
	kw_router_destroy(r2);
	kw_router_destroy(r);
	kw_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dedup_restart_said_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
