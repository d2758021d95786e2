/* Both include styles of installed headers (pkg-config --cflags puts both directories on the
 * path): `#include <ImageStreamIO/ImageStreamIO.h>` as milk and MagAOX write it, and
 * `#include "ImageStreamIO.h"` as the legacy tests do. Uses no test helper on purpose. */
#if defined(ANGLE_INCLUDE)
#include <ImageStreamIO/ImageStreamIO.h>
#include <ImageStreamIO/ImageStreamIO_atomic.h>
#elif defined(QUOTE_INCLUDE)
#include "ImageStreamIO.h"
#include "ImageStreamIO_atomic.h"
#else
#error "build with -DANGLE_INCLUDE or -DQUOTE_INCLUDE"
#endif

int main(void)
{
    return ImageStreamIO_typesize(_DATATYPE_FLOAT) == 4 && sizeof(IMAGE) >= 248 ? 0 : 1;
}
