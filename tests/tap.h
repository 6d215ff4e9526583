/* tap.h - minimal test reporting shared by every C test binary: one "ok"/"not ok" line per
 * check (TAP style), a summary, exit status 1 on any failure, 77 when skipped.
 * scripts/test counts the ok/not ok/# SKIP lines of every test program. */
#ifndef AMCB_TAP_H
#define AMCB_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TAP_SHARED_COUNTERS /* a program of several files (tests/lua): one defines them */
extern int tap_passed, tap_failed;
#else
static int tap_passed, tap_failed;
#endif

#define assertf(cond, ...) \
	do { \
		if (cond) { \
			tap_passed++; \
		} else { \
			tap_failed++; \
			printf("# FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__); \
			printf("\n"); \
		} \
	} while (0)

/* Run one named test function; a test is ok if it added no failure. scripts/test counts
 * only these "ok - " / "not ok - " lines (assertf failures print "# FAIL" details).
 *
 * Each case runs in a process of its own (fork), as beanstalkd's ct runs them: a crash, an
 * abort or a corrupted heap in one case is reported as that case's failure and the next case
 * starts from the state main() left, not from what the failed one did. The child sends its
 * counts back through a pipe and leaves with _exit (the parent's atexit work is the
 * parent's); under LeakSanitizer it first checks for leaks, which fail the case.
 * A program whose cases share something fork cannot copy defines TAP_IN_PROCESS before
 * including this file: an event loop or a server started in main() (the child's epoll
 * changes would reach the parent's through the shared epoll instance), or threads. */
#ifndef TAP_IN_PROCESS
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TAP_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TAP_LSAN 1
#endif
#ifdef TAP_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static inline void tap_run(const char *name, void (*fn)(void))
{
	int fds[2], counts[2] = { 0, 0 }, status = 0, before = tap_failed;
	ssize_t n = -1;
	pid_t pid;

	fflush(stdout);
	if (pipe(fds) != 0 || (pid = fork()) < 0) {
		fn(); /* cannot isolate it: run it here rather than not at all */
	} else if (pid == 0) {
		close(fds[0]);
		tap_passed = tap_failed = 0;
		fn();
#ifdef TAP_LSAN
		if (__lsan_do_recoverable_leak_check() != 0) {
			printf("# FAIL %s: LeakSanitizer found leaks (above)\n", name);
			tap_failed++;
		}
#endif
		fflush(stdout);
		counts[0] = tap_passed;
		counts[1] = tap_failed;
		_exit(write(fds[1], counts, sizeof(counts)) == (ssize_t)sizeof(counts) ? 0 : 3);
	} else {
		close(fds[1]);
		n = read(fds[0], counts, sizeof(counts));
		close(fds[0]);
		while (waitpid(pid, &status, 0) < 0)
			;
		if (n == (ssize_t)sizeof(counts) && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			tap_passed += counts[0];
			tap_failed += counts[1];
		} else {
			tap_failed++;
			if (WIFSIGNALED(status))
				printf("# FAIL %s: died of signal %d (%s)\n", name,
				       WTERMSIG(status), strsignal(WTERMSIG(status)));
			else
				printf("# FAIL %s: exited %d before reporting\n", name,
				       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		}
	}
	printf("%s - %s\n", tap_failed == before ? "ok" : "not ok", name);
	fflush(stdout);
}
#define RUN_TEST(fn) tap_run(#fn, fn)
#else
#define RUN_TEST(fn) \
	do { \
		int before_ = tap_failed; \
		fn(); \
		printf("%s - %s\n", tap_failed == before_ ? "ok" : "not ok", #fn); \
		fflush(stdout); \
	} while (0)
#endif

#define TAP_SKIP_ALL(reason) \
	do { \
		printf("ok - # SKIP %s\n", reason); \
		exit(77); \
	} while (0)

static inline int tap_done(void)
{
	printf("# %d checks passed, %d failed\n", tap_passed, tap_failed);
	return tap_failed ? 1 : 0;
}

#endif
