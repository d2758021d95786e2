/* The legacy include style, in the same program. */
#include "ImageStreamIO.h"

int quote_include_typesize(void)
{
    return ImageStreamIO_typesize(_DATATYPE_FLOAT);
}
