// The public headers compile as C++ (extern "C" linkage, no C-only constructs), and the
// structs have the same layout there.
#include "ImageStreamIO.h"
#include "ImageStreamIO_atomic.h"

#include <cstddef>

static_assert(sizeof(IMAGE) == 248, "IMAGE is 248 bytes");
static_assert(sizeof(IMAGE_METADATA) == 384, "IMAGE_METADATA is 384 bytes");
static_assert(offsetof(IMAGE_METADATA, cnt0) == 264, "cnt0 at 264");
static_assert(offsetof(IMAGE, CBimdata) == 240, "CBimdata at 240");

int main()
{
    IMAGE im;
    uint32_t size[2] = {4, 4};
    if (ImageStreamIO_createIm(&im, "cxx", 2, size, _DATATYPE_DOUBLE, 1, 0, 0) != IMAGESTREAMIO_SUCCESS)
        return 1;
    if (ImageStreamIO_atomic_begin_write(im.md, 0) != 0)
        return 1;
    im.array.D[3] = 1.5;
    ImageStreamIO_UpdateIm(&im);
    uint64_t seq = 0;
    int ok = ImageStreamIO_atomic_read_begin(im.md, &seq) && im.array.D[3] == 1.5 &&
             ImageStreamIO_atomic_read_validate(im.md, seq) && seq == 1;
    ImageStreamIO_destroyIm(&im);
    return ok ? 0 : 1;
}
