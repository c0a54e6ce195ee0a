/* SPDX-License-Identifier: MIT */
#include "backoff.h"

uint64_t backoff_delay_ms(unsigned failures)
{
	uint64_t d = BACKOFF_START_MS;

	if (failures == 0)
		return 0;
	/* doubling from the first delay; the cap is reached long before a shift overflows */
	for (unsigned i = 1; i < failures && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	return d < BACKOFF_CAP_MS ? d : BACKOFF_CAP_MS;
}

uint64_t backoff_fail(struct backoff *b, uint64_t now_usec)
{
	uint64_t d;

	if (b->failures < UINT32_MAX)
		b->failures++;
	d = backoff_delay_ms(b->failures);
	b->due_usec = now_usec + d * 1000;
	return d;
}

void backoff_reset(struct backoff *b)
{
	*b = (struct backoff){ 0 };
}

bool backoff_waiting(const struct backoff *b, uint64_t now_usec)
{
	return b->failures > 0 && now_usec < b->due_usec;
}
