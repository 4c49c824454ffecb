/*
 * config_fixture.h - a config from JSON text for a unit test: the test
 * fails with the loader's message when the text is not a valid config.
 * Include after <cmocka.h>.
 */
#ifndef KW_TEST_CONFIG_FIXTURE_H
#define KW_TEST_CONFIG_FIXTURE_H

#include "core/config.h"
#include "core/status.h"

static inline struct kw_config *cfg_load(const char *text)
{
	struct kw_config *c = NULL;
	struct kw_error err;

	if (kw_config_load_string(text, "t.json", &c, &err) != KW_OK)
		fail_msg("%s", err.msg);
	return c;
}

#endif
