// SPDX-License-Identifier: GPL-2.0-only
/* One JSON object per line; stdout is line-buffered so a killed agent loses nothing printed. */
#include "agent.h"

static void put(struct agent_json *j, const char *s)
{
	size_t n = strlen(s);

	if (j->len + n + 1 >= sizeof(j->buf))
		n = sizeof(j->buf) - j->len - 1;
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

static void put_escaped(struct agent_json *j, const char *s)
{
	char tmp[8];

	put(j, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			tmp[0] = '\\'; tmp[1] = (char)c; tmp[2] = '\0';
			put(j, tmp);
		} else if (c < 0x20) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			put(j, tmp);
		} else {
			tmp[0] = (char)c; tmp[1] = '\0';
			put(j, tmp);
		}
	}
	put(j, "\"");
}

static void key(struct agent_json *j, const char *k)
{
	if (!j->first)
		put(j, ",");
	j->first = false;
	put_escaped(j, k);
	put(j, ":");
}

void agent_json_begin(struct agent_json *j, const char *event)
{
	j->len = 0;
	j->buf[0] = '\0';
	j->first = true;
	put(j, "{");
	agent_json_str(j, "event", event);
}

void agent_json_str(struct agent_json *j, const char *k, const char *val)
{
	key(j, k);
	put_escaped(j, val ? val : "");
}

void agent_json_int(struct agent_json *j, const char *k, long long val)
{
	char tmp[32];

	key(j, k);
	snprintf(tmp, sizeof(tmp), "%lld", val);
	put(j, tmp);
}

void agent_json_hex(struct agent_json *j, const char *k, unsigned long long val)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "0x%llx", val);
	agent_json_str(j, k, tmp);
}

void agent_json_bool(struct agent_json *j, const char *k, bool val)
{
	key(j, k);
	put(j, val ? "true" : "false");
}

void agent_json_end(struct agent_json *j)
{
	put(j, "}");
	puts(j->buf);
	fflush(stdout);
}

void agent_check_failed(const char *file, int line, const char *expr,
			unsigned long long lhs, unsigned long long rhs, int err)
{
	struct agent_json j;

	agent_json_begin(&j, "check_failed");
	agent_json_str(&j, "file", file);
	agent_json_int(&j, "line", line);
	agent_json_str(&j, "expr", expr);
	agent_json_hex(&j, "lhs", lhs);
	agent_json_hex(&j, "rhs", rhs);
	agent_json_int(&j, "errno", err);
	agent_json_str(&j, "strerror", strerror(err));
	agent_json_end(&j);
}

/* An operation failed with errno `err`: one JSON "error" line naming the op and its object. */
void agent_json_errno(const char *op, const char *what, int err)
{
	struct agent_json j;

	agent_json_begin(&j, "error");
	agent_json_str(&j, "op", op);
	agent_json_str(&j, "what", what);
	agent_json_int(&j, "errno", err);
	agent_json_str(&j, "strerror", strerror(err));
	agent_json_end(&j);
}
