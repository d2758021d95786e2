/* A C peer of the Python tests, on the installed libImageStreamIO, written the way legacy
 * clients are (the IMAGE struct and its pointers, no helper of shmim's own).
 *
 *   peer write NAME N USLEEP   publish N checksum frames, legacy idiom: write = 1, fill, UpdateIm
 *   peer read NAME N           register, then N times: semwait, check the frame, say "got K";
 *                              the driver publishes the next frame only after "got K"
 *   peer hold NAME             set write = 1 (as a legacy writer does) and keep it until stdin
 *                              closes: a stuck writer
 *   peer keywords NAME         print every used keyword: "name|type|value|comment"
 *   peer setkw NAME            write one keyword of each type through im.kw[]
 *
 * Checksum frames are those of crates/shmim-cli/src/checksum.rs. Exits non-zero on any
 * mismatch, with the reason on stderr; SIGALRM ends a hung run. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ImageStreamIO.h"

#define HEADER 32
static const uint64_t MAGIC = 0x314b436d696d6873ULL; /* "shmimCK1" little-endian */
static const uint64_t K1 = 0x9E3779B97F4A7C15ULL;
static const uint64_t K2 = 0xC2B2AE3D27D4EB4FULL;

static void fail(const char *what)
{
    fprintf(stderr, "peer: %s\n", what);
    exit(1);
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint64_t payload_sum(uint64_t frame, const uint8_t *buf, size_t len, int fill)
{
    uint64_t base = frame * K1, sum = base;
    size_t n = (len - HEADER) / 8, j;
    for (j = 0; j < n; j++) {
        uint64_t v = base ^ ((uint64_t)j * K2);
        if (fill)
            put64((uint8_t *)buf + HEADER + 8 * j, v);
        else
            v = get64(buf + HEADER + 8 * j);
        sum += v * (2 * (uint64_t)j + 1);
    }
    for (size_t k = 0; HEADER + 8 * n + k < len; k++) {
        uint8_t *b = (uint8_t *)buf + HEADER + 8 * n + k;
        if (fill)
            *b = (uint8_t)(base >> (8 * k));
        sum += (uint64_t)*b << (8 * k);
    }
    return sum;
}

static void fill_frame(uint8_t *buf, size_t len, uint64_t frame)
{
    uint64_t sum = payload_sum(frame, buf, len, 1);
    put64(buf, MAGIC);
    put64(buf + 8, frame);
    put64(buf + 16, 0);
    put64(buf + 24, sum);
}

/* 1 if `buf` is whole checksum frame `frame`. */
static int frame_is(const uint8_t *buf, size_t len, uint64_t frame)
{
    return get64(buf) == MAGIC && get64(buf + 8) == frame &&
           get64(buf + 24) == payload_sum(frame, buf, len, 0);
}

static size_t frame_bytes(const IMAGE *im)
{
    return (size_t)im->md->nelement * (size_t)ImageStreamIO_typesize(im->md->datatype);
}

static void open_any(IMAGE *im, const char *name)
{
    if (ImageStreamIO_openIm(im, name) != IMAGESTREAMIO_SUCCESS)
        fail("openIm failed");
}

/* Opens a stream whose frames can hold checksum frames. */
static void open_stream(IMAGE *im, const char *name)
{
    open_any(im, name);
    if (frame_bytes(im) < HEADER)
        fail("frames too small for checksum frames");
}

static int do_write(const char *name, long n, long pause_us)
{
    IMAGE im;
    open_stream(&im, name);
    size_t len = frame_bytes(&im);
    uint8_t *frame = malloc(len);
    if (!frame)
        fail("malloc");
    for (long k = 0; k < n; k++) {
        uint64_t number = im.md->cnt0 + 1;
        fill_frame(frame, len, number);
        im.md->write = 1;
        memcpy(im.array.raw, frame, len);
        if (ImageStreamIO_UpdateIm(&im) != IMAGESTREAMIO_SUCCESS)
            fail("UpdateIm failed");
        if (im.md->cnt0 != number)
            fail("cnt0 is not the frame just published");
        if (pause_us > 0)
            usleep((useconds_t)pause_us);
    }
    printf("done %ld\n", n);
    fflush(stdout);
    free(frame);
    ImageStreamIO_closeIm(&im);
    return 0;
}

static int do_read(const char *name, long n)
{
    IMAGE im;
    open_stream(&im, name);
    size_t len = frame_bytes(&im);
    uint8_t *copy = malloc(len);
    if (!copy)
        fail("malloc");
    int slot = ImageStreamIO_getsemwaitindex(&im, 0);
    if (slot < 0)
        fail("no free semaphore");
    ImageStreamIO_semflush(&im, slot);
    printf("ready %d\n", slot);
    fflush(stdout);
    for (long k = 0; k < n; k++) {
        int rc;
        while ((rc = ImageStreamIO_semwait(&im, slot)) == -1 && errno == EINTR)
            ;
        if (rc != 0)
            fail("semwait failed");
        uint64_t number = im.md->cnt0;
        if (im.md->write != 0)
            fail("woken with the write flag set");
        memcpy(copy, im.array.raw, len);
        if (!frame_is(copy, len, number))
            fail("the frame is not whole checksum frame cnt0");
        printf("got %" PRIu64 "\n", number);
        fflush(stdout);
    }
    printf("verified %ld\n", n);
    fflush(stdout);
    free(copy);
    ImageStreamIO_closeIm(&im);
    return 0;
}

static int do_hold(const char *name)
{
    IMAGE im;
    open_stream(&im, name);
    im.md->write = 1;
    printf("holding\n");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin) != NULL)
        ;
    im.md->write = 0;
    ImageStreamIO_closeIm(&im);
    return 0;
}

static int do_keywords(const char *name)
{
    IMAGE im;
    open_any(&im, name);
    for (int i = 0; i < im.md->NBkw; i++) {
        IMAGE_KEYWORD *kw = &im.kw[i];
        switch (kw->type) {
        case 'L':
            printf("%s|L|%" PRId64 "|%s\n", kw->name, kw->value.numl, kw->comment);
            break;
        case 'D':
            printf("%s|D|%.17g|%s\n", kw->name, kw->value.numf, kw->comment);
            break;
        case 'S':
            printf("%s|S|%s|%s\n", kw->name, kw->value.valstr, kw->comment);
            break;
        default:
            break;
        }
    }
    fflush(stdout);
    ImageStreamIO_closeIm(&im);
    return 0;
}

static int do_setkw(const char *name)
{
    IMAGE im;
    open_any(&im, name);
    if (im.md->NBkw < 3)
        fail("the stream needs 3 keyword entries");
    memset(im.kw, 0, 3 * sizeof(IMAGE_KEYWORD));
    strcpy(im.kw[0].name, "GAIN");
    im.kw[0].type = 'L';
    im.kw[0].value.numl = -1234567890123LL;
    strcpy(im.kw[0].comment, "from C");
    strcpy(im.kw[1].name, "EXPTIME");
    im.kw[1].type = 'D';
    im.kw[1].value.numf = 0.00125;
    strcpy(im.kw[2].name, "CAMERA");
    im.kw[2].type = 'S';
    strcpy(im.kw[2].value.valstr, "ocam2k");
    strcpy(im.kw[2].comment, "detector");
    ImageStreamIO_closeIm(&im);
    return 0;
}

int main(int argc, char **argv)
{
    alarm(120);
    if (argc >= 5 && strcmp(argv[1], "write") == 0)
        return do_write(argv[2], atol(argv[3]), atol(argv[4]));
    if (argc >= 4 && strcmp(argv[1], "read") == 0)
        return do_read(argv[2], atol(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "hold") == 0)
        return do_hold(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "keywords") == 0)
        return do_keywords(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "setkw") == 0)
        return do_setkw(argv[2]);
    fail("usage: peer write NAME N USLEEP | read NAME N | hold NAME | keywords NAME | setkw NAME");
    return 2;
}
