/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "macro.h"

#define HTTP_MAX_HEAD (64u * 1024)

double http_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_unix(const char *path, double deadline, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	double left = deadline - http_now();
	_cleanup_close_ int fd = -1;
	struct timeval tv;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	if (left <= 0)
		return -EAGAIN;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	tv.tv_sec = (time_t)left;
	tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
	if (tv.tv_sec == 0 && tv.tv_usec == 0)
		tv.tv_usec = 1;
	/* A blocking connect() waits for room in a full listen queue, up to SO_SNDTIMEO; then
	 * EAGAIN. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errno == EINPROGRESS ? -EAGAIN : -errno;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Waits for `events` until the deadline: 1 ready, 0 timed out, -errno. */
static int wait_for(int fd, short events, double deadline)
{
	for (;;) {
		double left = deadline - http_now();
		struct pollfd p = { .fd = fd, .events = events };
		int n;

		if (left <= 0)
			return 0;
		n = poll(&p, 1, (int)(left * 1000) + 1);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Sends all of buf; -EPIPE/-ECONNRESET when segd closed its end (it may have answered). */
static int send_all(int fd, const char *buf, size_t len, double deadline, bool *timed_out)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		int r;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		r = wait_for(fd, POLLOUT, deadline);
		if (r == 0) {
			*timed_out = true;
			return -ETIMEDOUT;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

struct answer {
	char *data;
	size_t len, cap;
	size_t head_len; /* past the empty line, 0 until then */
	long status;
	long long content_length; /* -1 unknown */
	bool chunked;
};

static bool header_is(const char *line, size_t n, const char *name, const char **ret_value)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return false;
	line += k + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	*ret_value = line;
	return true;
}

/* Parses the head once it is all in: 1 done, 0 more needed, -EBADMSG. Skips 1xx heads. */
static int parse_head(struct answer *a)
{
	char *end, *p, *eol;
	int minor;

	for (;;) {
		end = memmem(a->data, a->len, "\r\n\r\n", 4);
		if (!end)
			return a->len > HTTP_MAX_HEAD ? -EBADMSG : 0;
		*end = 0; /* the head is a string now; the body starts at end + 4 */
		if (sscanf(a->data, "HTTP/1.%d %3ld", &minor, &a->status) != 2 || a->status < 100 ||
		    a->status > 999)
			return -EBADMSG;
		if (a->status >= 200)
			break;
		/* 1xx: another head follows */
		a->len -= (size_t)(end + 4 - a->data);
		memmove(a->data, end + 4, a->len);
		a->data[a->len] = 0;
	}
	a->head_len = (size_t)(end + 4 - a->data);
	a->content_length = -1;
	for (p = strstr(a->data, "\r\n"); p && p < end; p = eol) {
		const char *v;
		char *stop;

		p += 2;
		eol = strstr(p, "\r\n");
		if (!eol)
			eol = end;
		if (header_is(p, (size_t)(eol - p), "Content-Length", &v)) {
			errno = 0;
			a->content_length = strtoll(v, &stop, 10);
			if (errno || stop == v || a->content_length < 0 ||
			    (*stop && *stop != '\r' && *stop != ' '))
				return -EBADMSG;
		} else if (header_is(p, (size_t)(eol - p), "Transfer-Encoding", &v))
			a->chunked = strncasecmp(v, "chunked", 7) == 0;
	}
	return 1;
}

/* Decodes a chunked body in place: 1 complete, 0 more needed, -EBADMSG. */
static int dechunk(const char *in, size_t n, char *out, size_t *ret_len)
{
	size_t i = 0, o = 0;

	for (;;) {
		const char *eol = memmem(in + i, n - i, "\r\n", 2);
		unsigned long long size;
		char *stop;

		if (!eol)
			return 0;
		errno = 0;
		size = strtoull(in + i, &stop, 16);
		if (errno || stop == in + i || (stop != eol && *stop != ';'))
			return -EBADMSG;
		i = (size_t)(eol - in) + 2;
		if (size == 0) {
			*ret_len = o;
			return 1; /* trailers, if any, are not needed */
		}
		if (size > n - i || n - i - size < 2)
			return 0;
		memmove(out + o, in + i, size);
		o += size;
		i += size + 2;
	}
}

static int answer_complete(struct answer *a, size_t max_body, bool eof)
{
	size_t body = a->len - a->head_len;

	if (a->chunked) {
		_cleanup_free_ char *copy = malloc(body + 1);
		size_t n = 0;
		int r;

		if (!copy)
			return -ENOMEM;
		r = dechunk(a->data + a->head_len, body, copy, &n);
		if (r <= 0)
			return r < 0 ? r : eof ? -EBADMSG : 0;
		memcpy(a->data + a->head_len, copy, n);
		a->len = a->head_len + n;
		a->data[a->len] = 0;
		return 1;
	}
	if (a->content_length >= 0) {
		if ((unsigned long long)a->content_length > max_body)
			return -EFBIG;
		if (body >= (size_t)a->content_length) {
			a->len = a->head_len + (size_t)a->content_length;
			a->data[a->len] = 0;
			return 1;
		}
		return eof ? -EBADMSG : 0;
	}
	return eof ? 1 : 0;
}

/* Reads the answer until it is complete (by its length, its last chunk, or the end of the
 * stream). */
static int read_answer(int fd, const struct http_call *call, struct http_result *res)
{
	struct answer a = { 0 };
	int r;

	for (;;) {
		ssize_t n;

		if (a.cap - a.len < 65536 + 1) {
			size_t cap = a.cap ? a.cap * 2 : 65536 * 2;
			char *p;

			if (cap > HTTP_MAX_HEAD + call->max_body + 65536 * 2)
				cap = HTTP_MAX_HEAD + call->max_body + 65536 * 2;
			if (cap <= a.len + 1) {
				res->too_big = true;
				r = -EFBIG;
				break;
			}
			p = realloc(a.data, cap);
			if (!p) {
				r = -ENOMEM;
				break;
			}
			a.data = p;
			a.cap = cap;
		}
		n = recv(fd, a.data + a.len, a.cap - a.len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			r = wait_for(fd, POLLIN, call->deadline);
			if (r == 0) {
				res->timed_out = true;
				r = -ETIMEDOUT;
				break;
			}
			if (r < 0)
				break;
			continue;
		}
		if (n < 0) {
			r = -errno;
			if (a.len == 0 || r != -ECONNRESET)
				break;
			n = 0; /* a reset after an answer: take what came */
		}
		a.len += (size_t)n;
		a.data[a.len] = 0;
		if (!a.head_len) {
			r = parse_head(&a);
			res->status = a.status;
			if (r < 0) {
				res->malformed = true;
				break;
			}
			if (r == 0 && n == 0) {
				r = a.len == 0 ? -ECONNRESET : -EBADMSG;
				res->malformed = a.len > 0;
				break;
			}
			if (r == 0)
				continue;
		}
		if (a.len - a.head_len > call->max_body) {
			res->too_big = true;
			r = -EFBIG;
			break;
		}
		r = answer_complete(&a, call->max_body, n == 0);
		if (r == -EFBIG)
			res->too_big = true;
		else if (r == -EBADMSG)
			res->malformed = true;
		if (r != 0)
			break;
	}
	if (r > 0) {
		res->len = a.len - a.head_len;
		res->body = malloc(res->len + 1);
		if (!res->body)
			r = -ENOMEM;
		else {
			memcpy(res->body, a.data + a.head_len, res->len);
			res->body[res->len] = 0;
		}
	}
	free(a.data);
	if (r < 0) {
		res->error = -r;
		return -1;
	}
	return 0;
}

int http_call(const struct http_call *call, struct http_result *res)
{
	_cleanup_close_ int fd = -1;
	int r;

	*res = (struct http_result){ .socket = call->socket, .phase = HTTP_CONNECT };
	r = connect_unix(call->socket, call->deadline, &fd);
	if (r == -EACCES && call->fallback) {
		int r2 = connect_unix(call->fallback, call->deadline, &fd);

		/* no read-only socket there: the main one's answer stands */
		if (r2 != -ENOENT) {
			res->socket = call->fallback;
			r = r2;
		}
	}
	if (r < 0) {
		res->timed_out = r == -EAGAIN;
		res->error = -r;
		return -1;
	}
	res->phase = HTTP_SEND;
	r = send_all(fd, call->head, strlen(call->head), call->deadline, &res->timed_out);
	if (r >= 0 && call->body)
		r = send_all(fd, call->body, call->len, call->deadline, &res->timed_out);
	if (res->timed_out) {
		res->error = ETIMEDOUT;
		return -1;
	}
	/* segd may close early (413, 403) and still have answered: read on */
	if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
		res->error = -r;
		return -1;
	}
	res->phase = HTTP_ANSWER;
	return read_answer(fd, call, res);
}
