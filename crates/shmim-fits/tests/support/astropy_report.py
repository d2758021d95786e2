"""Reads FITS files with astropy (a reader independent of cfitsio) and prints what it sees as
JSON, for the shmim-fits tests to compare with what they wrote.

usage: python3 astropy_report.py FILE...

For each file: every HDU's kind, name, header cards (value and comment, in order), image dtype,
shape (numpy order: NAXISn first) and data as little-endian hex, and table columns as lists.
"""

import json
import sys

import numpy as np
from astropy.io import fits


def card_value(v):
    if isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def hdu_report(hdu):
    out = {
        "kind": type(hdu).__name__,
        "name": hdu.name,
        "cards": [[c.keyword, card_value(c.value), c.comment] for c in hdu.header.cards],
    }
    if isinstance(hdu, fits.BinTableHDU):
        out["columns"] = {
            col.name: [int(x) for x in hdu.data[col.name]] for col in hdu.columns
        }
        out["column_dtypes"] = {col.name: hdu.data[col.name].dtype.name for col in hdu.columns}
        out["units"] = {col.name: col.unit for col in hdu.columns}
    elif hdu.data is not None:
        data = np.asarray(hdu.data)
        out["dtype"] = data.dtype.name
        out["shape"] = list(data.shape)
        out["hex"] = data.astype(data.dtype.newbyteorder("<")).tobytes().hex()
    return out


def main():
    reports = {}
    for path in sys.argv[1:]:
        with fits.open(path, uint=True) as hdul:
            reports[path] = [hdu_report(h) for h in hdul]
    json.dump(reports, sys.stdout)


if __name__ == "__main__":
    main()
