/*
 * detect_fixture.h - the rig the learned-detector tests share: one family
 * driven through its ops struct as the engine drives it, a seeded key
 * table, the alerts it raises kept as JSON, and helpers to look into them.
 * Header-only (static functions) for the test programs that include it.
 *
 * A test sets FIXTURE_MAX_ALERTS before including it to bound the alerts
 * it expects; more is a test failure.
 */
#ifndef KW_TESTS_DETECT_FIXTURE_H
#define KW_TESTS_DETECT_FIXTURE_H

#include "core/time.h"
#include "detect/detector.h"
#include "detect/learned.h"
#include "enrich/model.h"
#include "state/keytab.h"

#ifndef FIXTURE_MAX_ALERTS
#define FIXTURE_MAX_ALERTS 64
#endif

struct fixture {
	const struct kw_detector_ops *ops;
	struct kw_config *cfg;
	struct kw_models *models; /* NULL unless asked for */
	struct kw_keytab *tab;
	struct kw_keyent *ent; /* the key of the last request */
	struct kw_arena arena;
	void *self;
	json_t *alerts[FIXTURE_MAX_ALERTS];
	size_t n;
	int64_t t0; /* 2026-11-16T00:00:00Z, a Monday */
};

static void on_alert(void *ctx, struct kw_alert *a)
{
	struct fixture *f = ctx;
	char *json = kw_alert_to_json(a);

	assert_non_null(json);
	assert_true(f->n < FIXTURE_MAX_ALERTS);
	f->alerts[f->n++] = json_loads(json, 0, NULL);
	free(json);
	kw_alert_clear(a);
}

static inline int64_t ts(const char *s)
{
	int64_t us = 0;

	assert_true(kw_time_parse(s, strlen(s), &us));
	return us;
}

/* Config text, the family, and (with_models) the shipped models. */
static void fixture_setup(struct fixture *f, const struct kw_detector_ops *ops,
			  const char *config, bool with_models)
{
	static const uint8_t seed[16] = {1, 2,	3,  4,	5,  6,	7,  8,
					 9, 10, 11, 12, 13, 14, 15, 16};
	static const char *const names[] = {"aws", "stripe"};
	struct kw_detector_env env = {0};
	struct kw_error err;

	memset(f, 0, sizeof(*f));
	f->ops = ops;
	if (kw_config_load_string(config, "t.json", &f->cfg, &err) != KW_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(kw_detect_check_config(f->cfg, &err), KW_OK);
	if (with_models && kw_models_load(KW_SOURCE_ROOT "/models", names, 2,
					  &f->models, &err) != KW_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(
		kw_keytab_create_seeded(10, ops->state_size, seed, &f->tab),
		KW_OK);
	kw_arena_init(&f->arena, 0);
	env.cfg = f->cfg;
	env.models = f->models;
	assert_int_equal(ops->create(&env, &f->self, &err), KW_OK);
	f->t0 = ts("2026-11-16T00:00:00Z");
}

static void teardown_f(struct fixture *f)
{
	for (size_t i = 0; i < f->n; i++)
		json_decref(f->alerts[i]);
	f->ops->destroy(f->self);
	kw_keytab_destroy(f->tab);
	kw_arena_destroy(&f->arena);
	kw_models_destroy(f->models);
	kw_config_free(f->cfg);
}

/* The end of input: every window closes, the last key flushes. */
static inline void finish(struct fixture *f)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};

	/* tick and flush are optional slots (the engine supplies the
	 * default, doing nothing). */
	if (f->ops->tick)
		f->ops->tick(f->self, INT64_MAX, &emit);
	if (f->ent && f->ops->flush)
		f->ops->flush(f->self, INT64_MAX, f->ent,
			      kw_keytab_state(f->ent), &emit);
}

/* The engine reads the due time of a family with a window slot in the
 * key's state instead of asking flush after each event: the two must
 * agree, for the last key, whenever a test calls this (after each
 * event). And it closes a ring not marked urgent (detect/learned.h) only
 * when it next needs the key: closing every window of such a ring now (in
 * a copy of the state) must raise nothing. */
static inline void fixture_check_due(struct fixture *f)
{
	struct kw_emit emit = {.fn = on_alert, .ctx = f};
	const struct kw_win *win;
	unsigned char *st, *copy;
	size_t off = 0, before = f->n;
	int64_t len = 0;

	if (!f->ent || !f->ops->window || !f->ops->window(f->self, &off, &len))
		return;
	st = kw_keytab_state(f->ent);
	assert_true(off + sizeof(struct kw_win) <= f->ops->state_size);
	win = (const struct kw_win *)(const void *)(st + off);
	assert_int_equal(kw_win_due(win, len),
			 f->ops->flush(f->self, INT64_MIN, f->ent, st, &emit));
	if (win->urgent || !win->first)
		return;
	copy = malloc(f->ops->state_size);
	assert_non_null(copy);
	memcpy(copy, st, f->ops->state_size);
	f->ops->flush(f->self, INT64_MAX, f->ent, copy, &emit);
	free(copy);
	assert_int_equal(f->n, before);
}

static inline void fixture_clear_alerts(struct fixture *f)
{
	for (size_t i = 0; i < f->n; i++)
		json_decref(f->alerts[i]);
	f->n = 0;
}

/*
 * The validate() promise for the state of the last key (f->ent): what
 * observe() left is taken; and every state with one byte set to 0, 0x80
 * or 0xff that validate() takes survives more traffic (drive) and the end
 * of input (the ASan build watches for any access out of bounds). Returns
 * how many such states were refused; the key's state is put back.
 */
static inline size_t fixture_mutate(struct fixture *f,
				    void (*drive)(struct fixture *f))
{
	static const unsigned char values[] = {0x00, 0x80, 0xff};
	size_t n = f->ops->state_size, refused = 0;
	struct kw_keyent *ent = f->ent;
	unsigned char *st = kw_keytab_state(ent), *saved = malloc(n);
	char why[160];

	assert_non_null(saved);
	assert_true(f->ops->validate(st, why, sizeof(why)));
	memcpy(saved, st, n);
	for (size_t i = 0; i < n; i++) {
		for (size_t v = 0; v < sizeof(values); v++) {
			memcpy(st, saved, n);
			st[i] = values[v];
			if (!f->ops->validate(st, why, sizeof(why))) {
				refused++;
				continue;
			}
			drive(f);
			finish(f);
			fixture_clear_alerts(f);
			f->ent = ent;
		}
	}
	memcpy(st, saved, n);
	free(saved);
	return refused;
}

static inline const char *field(const json_t *a, const char *name)
{
	return json_string_value(json_object_get(a, name));
}

static inline void assert_member(const json_t *a, const char *name,
				 const char *want)
{
	char *s = json_dumps(json_object_get(a, name),
			     JSON_COMPACT | JSON_PRESERVE_ORDER);

	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

#endif
