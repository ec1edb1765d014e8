/*
 * libFuzzer harness for the PROXY protocol parser: arbitrary bytes, fed
 * whole and in every split the input suggests.  Oracle: a verdict never
 * changes as more bytes arrive once it is OK or BAD; an OK header has a
 * length within the bytes given and within PROXY_HEADER_MAX, a version of
 * 1 or 2, and a source of a real family unless it is local; a BAD one
 * says why; INCOMPLETE never holds past PROXY_HEADER_MAX bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy.h"

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "oracle: %s\n", #cond);         \
			abort();                                        \
		}                                                       \
	} while (0)

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct proxy_header whole, part;
	enum proxy_status st, sp;
	const char *why;

	st = proxy_parse(data, size, &whole, &why);
	if (st == PROXY_OK) {
		CHECK(whole.length > 0 && whole.length <= size);
		CHECK(whole.length <= PROXY_HEADER_MAX);
		CHECK(whole.version == 1 || whole.version == 2);
		CHECK(whole.local || whole.source.ss_family == AF_INET ||
		    whole.source.ss_family == AF_INET6);
		/* The header alone parses to the same header. */
		sp = proxy_parse(data, whole.length, &part, &why);
		CHECK(sp == PROXY_OK && part.length == whole.length);
		CHECK(memcmp(&part.source, &whole.source,
		    sizeof(part.source)) == 0);
	} else if (st == PROXY_BAD) {
		CHECK(why != NULL && why[0] != '\0');
	} else {
		CHECK(size < PROXY_HEADER_MAX);
	}
	/* Every prefix is INCOMPLETE or reaches the same verdict early. */
	for (size_t n = 0; n < size && n <= PROXY_HEADER_MAX; n += 1 + n / 8) {
		sp = proxy_parse(data, n, &part, &why);
		if (sp == PROXY_OK) {
			CHECK(st == PROXY_OK && part.length == whole.length);
		} else if (sp == PROXY_BAD) {
			CHECK(st == PROXY_BAD);
		}
	}
	return 0;
}
