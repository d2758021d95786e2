/* Hostile stream files through the C API (built with ASan and UBSan by the driver).
 *
 *   hostile_open open           every `*.im.shm` entry of $MILK_SHM_DIR (files, directories,
 *                               FIFOs, sockets, symlinks) goes through ImageStreamIO_openIm; one
 *                               line "<name> <code>" each on stdout, then "done <count>"
 *   hostile_open destroy NAME   opens NAME (and marks the handle used, as its owner), then prints
 *                               "inode <code>" for check_image_inode and "destroy <code>" for
 *                               destroyIm
 *
 * A refusal must be one IMAGESTREAMIO_* code, reported once through the printError hook by
 * openIm with a message naming the stream, leaving the handle unused. A file that opens is
 * exercised: every pointer of the IMAGE must lie in the mapping, regions in file order without
 * overlap; every byte of the mapping is read; keywords, semaphores, reader registration,
 * buffers, UpdateIm, inode checks and a second handle are used; then the header is scribbled on
 * (as a hostile process sharing the file could) and the same calls must answer, with SUCCESS or
 * a code, never crash or touch memory outside the mapping (ASan). closeIm must then succeed. Any
 * CHECK failure, crash or sanitizer report fails the run. */
#include <dirent.h>
#include <stddef.h>
#include <time.h>

#include "ImageStreamIO.h"
#include "check.h"

static int reports;
static char last_func[64];
static char last_msg[1024];

static errno_t record(const char *file, const char *func, int line, errno_t code, char *msg)
{
    (void)file;
    (void)line;
    (void)code;
    reports++;
    snprintf(last_func, sizeof last_func, "%s", func);
    snprintf(last_msg, sizeof last_msg, "%s", msg);
    return IMAGESTREAMIO_SUCCESS;
}

static int known_code(long c)
{
    static const long codes[] = {
        IMAGESTREAMIO_FAILURE,  IMAGESTREAMIO_INVALIDARG, IMAGESTREAMIO_NOTIMPL,
        IMAGESTREAMIO_BADALLOC, IMAGESTREAMIO_FILEOPEN,   IMAGESTREAMIO_FILESEEK,
        IMAGESTREAMIO_FILEWRITE, IMAGESTREAMIO_FILEEXISTS, IMAGESTREAMIO_INODE,
        IMAGESTREAMIO_MMAP,     IMAGESTREAMIO_SEMINIT,    IMAGESTREAMIO_VERSION,
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (c == codes[i])
            return 1;
    return 0;
}

/* A call answered SUCCESS, or a known code it reported once (`before`: reports before it). */
static void answered(long rc, int before, const char *call)
{
    if (rc == IMAGESTREAMIO_SUCCESS)
        return;
    if (!known_code(rc) || reports != before + 1) {
        fprintf(stderr, "%s: code %ld, %d reports\n", call, rc, reports - before);
        exit(1);
    }
}

#define ANSWERS(call)                                                                  \
    do {                                                                               \
        int before_ = reports;                                                         \
        answered((long)(call), before_, #call);                                        \
    } while (0)

/* SplitMix64: scribbles reproduce from the stream name. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Walks the regions of a mapping in file order: each one must start at or after the end of the
 * previous one and end inside the mapping. */
struct walk {
    const char *base;
    uint64_t size;
    uint64_t cursor;
    const char *stream;
};

static uint64_t times(uint64_t a, uint64_t b)
{
    uint64_t r;
    CHECK(!__builtin_mul_overflow(a, b, &r));
    return r;
}

static void region(struct walk *w, const void *p, uint64_t bytes, const char *what)
{
    if (p == NULL)
        return;
    const char *c = p;
    int inside = c >= w->base && (uint64_t)(c - w->base) >= w->cursor &&
                 (uint64_t)(c - w->base) <= w->size && bytes <= w->size - (uint64_t)(c - w->base);
    if (!inside) {
        fprintf(stderr, "%s: %s at %td (+%llu bytes) outside [%llu, %llu)\n", w->stream, what,
                c - w->base, (unsigned long long)bytes, (unsigned long long)w->cursor,
                (unsigned long long)w->size);
        exit(1);
    }
    w->cursor = (uint64_t)(c - w->base) + bytes;
}

/* Every call that takes a handle, on a handle whose header may have been scribbled on; `nsem` is
 * the semaphore count seen at open. Only the answers are checked. */
static void calls(IMAGE *im, uint16_t nsem)
{
    for (long i = -1; i <= (long)nsem; i++) {
        ANSWERS(ImageStreamIO_sempost(im, i));
        long v = ImageStreamIO_semvalue(im, i);
        CHECK(v >= -1);
        int t = ImageStreamIO_semtrywait(im, (int)i);
        CHECK(t == 0 || t == -1);
    }
    ANSWERS(ImageStreamIO_sempost_excl(im, 0));
    long flushed = ImageStreamIO_semflush(im, -1);
    CHECK(flushed >= -1);
    struct timespec deadline;
    CHECK(clock_gettime(CLOCK_REALTIME, &deadline) == 0);
    deadline.tv_nsec += 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    int w = ImageStreamIO_semtimedwait(im, 0, &deadline);
    CHECK(w == 0 || w == -1);
    CHECK(ImageStreamIO_getsemwaitindex(im, 0) >= -1);

    /* The slice helpers are arithmetic on the header (a header that lies gives a pointer that
     * lies, as in legacy: they dereference nothing but the header). */
    void *buf = NULL;
    const unsigned slices[] = {0, 1, 2, 3, 0xFFFFFFFFu};
    for (size_t k = 0; k < sizeof slices / sizeof slices[0]; k++) {
        errno_t rc = ImageStreamIO_readBufferAt(im, slices[k], &buf);
        CHECK(rc == IMAGESTREAMIO_SUCCESS || (known_code(rc) && buf == NULL));
    }
    /* INODE is an answer of the inode checks (md->inode is the creator's, which a copied or
     * rewritten file does not have), not a failure. */
    int before = reports;
    errno_t ino = ImageStreamIO_check_image_inode(im);
    if (ino != IMAGESTREAMIO_INODE)
        answered(ino, before, "check_image_inode");
    before = reports;
    ino = ImageStreamIO_check_image_endpoint_inode(im);
    if (ino != IMAGESTREAMIO_INODE)
        answered(ino, before, "check_image_endpoint_inode");
    ANSWERS(ImageStreamIO_autorelink_if_need_if_can(im));
    __atomic_store_n(&im->md->write, 1, __ATOMIC_RELAXED);
    ANSWERS(ImageStreamIO_UpdateIm(im));
    struct timespec atime = {1, 2};
    ANSWERS(ImageStreamIO_UpdateIm_atime(im, &atime));
}

static void exercise(IMAGE *im, const char *stream)
{
    CHECK_EQ(im->used, 0xA5); /* as legacy, openIm leaves `used` as it was */
    CHECK(strcmp(im->name, stream) == 0);
    CHECK(im->md != NULL && im->memsize >= sizeof(IMAGE_METADATA));
    IMAGE_METADATA md = *im->md; /* the header as opened */

    int ts = ImageStreamIO_typesize(md.datatype);
    CHECK(ts > 0);
    CHECK(md.naxis >= 1 && md.naxis <= 3);
    uint64_t n = 1;
    for (int a = 0; a < md.naxis; a++) {
        CHECK(md.size[a] > 0);
        n = times(n, md.size[a]);
    }
    CHECK_EQ(n, md.nelement);
    uint64_t frame = times(n, (uint64_t)ts);
    CHECK(memchr(md.name, '\0', sizeof md.name) != NULL);

    struct walk w = {(const char *)im->md, im->memsize, sizeof(IMAGE_METADATA), stream};
    CHECK((im->array.raw != NULL) == (md.location == -1));
    region(&w, im->array.raw, frame, "pixels");
    CHECK(im->kw != NULL && im->semfile != NULL && im->semlog != NULL);
    region(&w, im->kw, times(md.NBkw, sizeof(IMAGE_KEYWORD)), "keywords");
    region(&w, im->semfile, times(md.sem, sizeof(SEMFILEDATA)), "semaphores");
    region(&w, im->semlog, sizeof(sem_t), "semlog");
    region(&w, im->semReadPID, times(md.sem, sizeof(pid_t)), "semReadPID");
    region(&w, im->semWritePID, times(md.sem, sizeof(pid_t)), "semWritePID");
    region(&w, im->semctrl, times(md.sem, sizeof(uint32_t)), "semctrl");
    region(&w, im->semstatus, times(md.sem, sizeof(uint32_t)), "semstatus");
    region(&w, im->streamproctrace, times(md.NBproctrace, sizeof(STREAM_PROC_TRACE)),
           "proc trace");
    CHECK((im->atimearray == NULL) == (im->cntarray == NULL));
    CHECK((im->atimearray == NULL) == (im->writetimearray == NULL));
    region(&w, im->atimearray, times(md.size[2], sizeof(struct timespec)), "atime array");
    region(&w, im->writetimearray, times(md.size[2], sizeof(struct timespec)),
           "writetime array");
    region(&w, im->cntarray, times(md.size[2], sizeof(uint64_t)), "cnt array");
    region(&w, im->CircBuff_md, times(md.CBsize, sizeof(CBFRAMEMD)), "CB metadata");
    CHECK((im->CBimdata == NULL) == (md.CBsize == 0));
    region(&w, im->CBimdata, times(md.CBsize, frame), "CB frames");
    CHECK(w.cursor <= im->memsize);
    for (uint16_t i = 0; i < md.sem; i++)
        CHECK(im->semptr[i] == &im->semfile[i].semdata);

    /* Every byte of the mapping is there to read. */
    const volatile unsigned char *bytes = (const volatile unsigned char *)im->md;
    unsigned char acc = 0;
    for (uint64_t i = 0; i < im->memsize; i++)
        acc ^= bytes[i];
    (void)acc;
    for (uint16_t k = 0; k < md.NBkw; k++) {
        CHECK(strnlen(im->kw[k].name, sizeof im->kw[k].name) <= sizeof im->kw[k].name);
        (void)im->kw[k].type;
    }

    /* A second handle on the same file is compatible with the first. */
    IMAGE again;
    CHECK_EQ(ImageStreamIO_openIm(&again, stream), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_new_image_compatible(im, &again), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_closeIm(&again), IMAGESTREAMIO_SUCCESS);

    calls(im, md.sem);

    /* A hostile process scribbles on the shared header: calls answer, never trust it. */
    uint64_t state = 0;
    for (const char *c = stream; *c; c++)
        state = state * 131 + (unsigned char)*c;
    for (int round = 0; round < 4; round++) {
        /* Re-read each round: autorelink may have moved the handle to a new mapping. */
        unsigned char *header = (unsigned char *)im->md;
        int flips = 1 + (int)(next_random(&state) % 4);
        for (int f = 0; f < flips; f++) {
            uint64_t r = next_random(&state);
            header[r % sizeof(IMAGE_METADATA)] ^= (unsigned char)(1u << ((r >> 32) % 8));
        }
        calls(im, md.sem);
    }
    /* Put the header back: other entries (symlinks) may lead to the same file. */
    memcpy(im->md, &md, sizeof md);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

static int open_all(void)
{
    const char *dir = getenv("MILK_SHM_DIR");
    CHECK(dir != NULL);
    struct dirent **entries;
    int n = scandir(dir, &entries, NULL, alphasort);
    CHECK(n >= 0);
    int count = 0;
    for (int e = 0; e < n; e++) {
        const char *file = entries[e]->d_name;
        if (ends_with(file, ".im.shm")) {
            char stream[256];
            snprintf(stream, sizeof stream, "%.*s", (int)(strlen(file) - strlen(".im.shm")),
                     file);
            IMAGE im;
            memset(&im, 0xA5, sizeof im); /* legacy programs pass uninitialised handles */
            int before = reports;
            errno_t rc = ImageStreamIO_openIm(&im, stream);
            if (rc == IMAGESTREAMIO_SUCCESS) {
                exercise(&im, stream);
                CHECK_EQ(ImageStreamIO_closeIm(&im), IMAGESTREAMIO_SUCCESS);
                CHECK_EQ(im.used, 0);
            } else {
                CHECK(known_code(rc));
                CHECK_EQ(reports, before + 1);
                CHECK(strcmp(last_func, "ImageStreamIO_openIm") == 0);
                if (strstr(last_msg, stream) == NULL) {
                    fprintf(stderr, "%s: the message does not name the stream: %s\n", stream,
                            last_msg);
                    exit(1);
                }
                CHECK_EQ(im.used, 0);
            }
            printf("%s %d\n", stream, rc);
            count++;
        }
        free(entries[e]);
    }
    free(entries);
    printf("done %d\n", count);
    return 0;
}

int main(int argc, char **argv)
{
    test_start("hostile_open");
    CHECK_EQ(ImageStreamIO_set_printError(record), IMAGESTREAMIO_SUCCESS);
    if (argc == 2 && strcmp(argv[1], "open") == 0)
        return open_all();
    CHECK(argc == 3 && strcmp(argv[1], "destroy") == 0);
    IMAGE im;
    memset(&im, 0, sizeof im);
    CHECK_EQ(ImageStreamIO_openIm(&im, argv[2]), IMAGESTREAMIO_SUCCESS);
    im.used = 1;
    printf("inode %d\n", ImageStreamIO_check_image_inode(&im));
    errno_t rc = ImageStreamIO_destroyIm(&im);
    printf("destroy %d\n", rc);
    CHECK_EQ(im.used, 0);
    return 0;
}
