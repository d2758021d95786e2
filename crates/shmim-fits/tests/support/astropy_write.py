"""Writes FITS files with astropy (a writer independent of cfitsio) for the shmim-fits load tests.

usage: python3 astropy_write.py KIND PATH

KIND is one of:
  scaled16   BITPIX 16, BSCALE 2.5, BZERO 10: pixels 10 + 2.5 * stored, shape (3, 4)
  uint16     unsigned 16-bit through BZERO 32768, values 0 and 65535 included, shape (2, 3)
  axes4      a 4-axis float image
  extension  an empty primary HDU and the image in the first extension, with cards
  cards      a 5x1 int32 image with every kind of card
"""

import sys

import numpy as np
from astropy.io import fits


def main():
    kind, path = sys.argv[1], sys.argv[2]
    if kind == "scaled16":
        physical = 10 + 2.5 * np.arange(12, dtype=np.float64).reshape(3, 4)
        hdu = fits.PrimaryHDU(physical)
        hdu.scale("int16", bscale=2.5, bzero=10)
        hdu.writeto(path, overwrite=True)
        return
    if kind == "uint16":
        data = np.array([[0, 1, 65535], [32767, 32768, 40000]], dtype=np.uint16)
        fits.PrimaryHDU(data).writeto(path, overwrite=True)
        return
    if kind == "axes4":
        fits.PrimaryHDU(np.zeros((2, 2, 2, 2), dtype=np.float32)).writeto(path, overwrite=True)
        return
    if kind == "extension":
        image = fits.ImageHDU(np.arange(6, dtype=np.float64).reshape(2, 3), name="SCI")
        image.header["EXPTIME"] = (0.25, "exposure [s]")
        fits.HDUList([fits.PrimaryHDU(), image]).writeto(path, overwrite=True)
        return
    if kind == "cards":
        hdu = fits.PrimaryHDU(np.arange(5, dtype=np.int32).reshape(1, 5))
        h = hdu.header
        h["EXPTIME"] = (0.001, "exposure [s]")
        h["GAIN"] = (-3, "e-/ADU")
        h["FILTER"] = ("H-band", "filter wheel")
        h["LOOP"] = (True, "loop closed")
        h["HIERARCH wfs.mode"] = ("fast", "hierarch card")
        h["OBJECT"] = ("a string much longer than fifteen bytes", "too long for a keyword")
        h["HIERARCH A.VERY.LONG.NAME"] = (1, "name too long for a keyword")
        h["COMMENT"] = "commentary cards are not keywords"
        hdu.writeto(path, overwrite=True)
        return
    raise SystemExit(f"unknown kind {kind}")


if __name__ == "__main__":
    main()
