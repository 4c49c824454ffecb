/*
 * scrub.c - what redacting an alert's texts costs (kw_key_scrub): the four
 * texts of a first_seen alert (its summary, operation, path and request
 * id, 226 bytes with runs of key bytes in the path and the id) scrubbed
 * with a 107-byte secret key, as keywatch does for every alert.
 *
 * usage: kw-scrub [ROUNDS]
 *
 * Two rows: every round with the other of two keys (each alert about a
 * new key, as at millions of keys: the key's table of pieces is built
 * every time), and every round with one key (the table is kept). ROUNDS
 * (default 2,000,000) alerts each; prints the CPU time per alert. Run it
 * a few times and take the median: the machine is shared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/key.h"

static double cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const char *const keys[2] = {
	"sk_live_51jwLogVI2CBhYetaRE98Ut08h4zcKnuiryfbT3DHyHOrl8r2j4G5j6JbBGUD"
	"67ibu250Nt9t1FPWo0XfOfJ49nkXYlXFUia3mg",
	"sk_test_514KKQL0u6ssTTMUJ6GV1wTOsAqlBCQBm8OS3jMG83rtqRoERgdLqEbku1ae8"
	"TMk1Fycr89T1n6fyWciAjKZiG7tGMRoKAxNShD",
};

static const char *const texts[4] = {
	"sk_live_\xe2\x80\xa6"
	"3mg performed payment_intents.confirm for the "
	"first time (POST /v1/payment_intents/pi_3pkP7zhyG9oZofuMgAMRHB86/"
	"confirm)",
	"payment_intents.confirm",
	"/v1/payment_intents/pi_3pkP7zhyG9oZofuMgAMRHB86/confirm",
	"req_cKbuRYn0YzLWxB",
};

/* CPU seconds an alert: rounds alerts, the key of round r keys[r & mask]. */
static double run(long rounds, unsigned mask, size_t *sum)
{
	char out[1024];
	double t0 = cpu_now();

	for (long r = 0; r < rounds; r++) {
		struct kw_str key = kw_str_c(keys[r & mask]);

		for (size_t i = 0; i < 4; i++)
			*sum += kw_key_scrub(out, sizeof(out),
					     kw_str_c(texts[i]), key,
					     "sk_live_...3mg");
	}
	return (cpu_now() - t0) / (double)rounds;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 2000000;
	size_t sum = 0;

	if (rounds <= 0) {
		fprintf(stderr, "usage: kw-scrub [ROUNDS]\n");
		return 2;
	}
	printf("a new key each alert: %6.1f ns an alert\n",
	       run(rounds, 1, &sum) * 1e9);
	printf("one key:              %6.1f ns an alert\n",
	       run(rounds, 0, &sum) * 1e9);
	return sum ? 0 : 1; /* the scrubs' output is used */
}
