/* Helpers of the C test programs of libImageStreamIO: a CHECK macro that names the failing
 * expression and exits, a watchdog, and line-based hand-shakes with the Rust test driver. */
#ifndef SHMIM_CAPI_TEST_CHECK_H
#define SHMIM_CAPI_TEST_CHECK_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The private build configuration: available to the library's own tests only. */
#include "ImageStreamIO_config.h"

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s (errno %d: %s)\n", __FILE__,      \
                    __LINE__, #cond, errno, strerror(errno));                          \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define CHECK_EQ(a, b)                                                                 \
    do {                                                                               \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                \
        if (check_a_ != check_b_) {                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, \
                    __LINE__, #a, #b, check_a_, check_b_);                             \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* The errors the library reports through the printError hook, counted (install with
 * ImageStreamIO_set_printError(count_report)); each is also printed on stderr. */
struct reported {
    int count;
    int last_code;
};

static inline struct reported *reported(void)
{
    static struct reported r;
    return &r;
}

static inline int count_report(const char *file, const char *func, int line, int code, char *msg)
{
    fprintf(stderr, "reported by %s (%s:%d): code %d: %s\n", func, file, line, code, msg);
    reported()->count++;
    reported()->last_code = code;
    return 0;
}

/* Entries of `dir` (without . and ..), -1 if it cannot be read. */
static inline int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* A test program that hangs is killed by SIGALRM; the driver then sees it fail. */
static inline void test_start(const char *what)
{
    alarm(120);
    fprintf(stderr, "[%s %s (%s), %s] %s\n", SHMIM_CAPI_PROJECT_NAME, SHMIM_CAPI_VERSION,
            SHMIM_CAPI_PROFILE, SHMIM_CAPI_SONAME, what);
}

/* Tells the driver something (one line on stdout). */
static inline void say(const char *line)
{
    printf("%s\n", line);
    fflush(stdout);
}

/* Waits for a line from the driver on stdin and checks it. */
static inline void expect(const char *line)
{
    char buf[128];
    CHECK(fgets(buf, sizeof buf, stdin) != NULL);
    buf[strcspn(buf, "\n")] = '\0';
    if (strcmp(buf, line) != 0) {
        fprintf(stderr, "expected \"%s\" from the driver, got \"%s\"\n", line, buf);
        exit(1);
    }
}

/* The state letter of /proc/PID/stat (after the last ')'), or 0. */
static inline char proc_state(pid_t pid)
{
    char path[32], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

#endif
