#!/usr/bin/env python3
"""Write hostile archives for the worker's archive walk into OUTDIR.

Each file is small on disk (at most a few MB) but is built to hit one
limit or failure mode:
  nested-zip-24.zip     24 levels of zip inside zip, EICAR at the bottom
  bomb-zeros.zip        one member inflating to 600 MB of zeros
  bomb-42.zip           16 members x 16 members, each 64 MB of zeros
  many-members.zip      20000 tiny members, the last one EICAR
  liar-size.zip         a member whose headers claim 4 GB
  corrupt.zip           a zip cut in the middle of its only member
  encrypted.zip         a member with the encryption flag set (ZipCrypto)
  eicar-deep-tgz.tgz    tar.gz in tar.gz in tar.gz, EICAR inside
  eicar.gz, eicar.bz2, eicar.xz, eicar.uu   lone compressed streams
  elf-sfx.elf           ELF magic, then a zip holding EICAR (deflated): an
                        ELF is never unpacked, so it is OK
  notelf-sfx.bin        the same bytes with the magic's first byte changed:
                        libarchive finds the zip, FOUND (the control)
The EICAR string is the standard anti-virus test file.
"""
import binascii
import bz2
import gzip
import io
import lzma
import os
import struct
import sys
import tarfile
import zipfile
import zlib

EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!"
         b"$H+H*")


def zip_bytes(members, method=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def zip_of_zeros(name, size):
    """A zip with one member of `size` zeros, written by streaming deflate."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                f.write(chunk)
    return buf.getvalue()


def tgz(name, data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def liar(data):
    """Patch the sizes in a stored zip to claim 4 GB - 1."""
    z = bytearray(zip_bytes([("big.bin", data)], zipfile.ZIP_STORED))
    for sig, off in ((b"PK\x03\x04", 18), (b"PK\x01\x02", 20)):
        i = z.find(sig)
        struct.pack_into("<II", z, i + off, 0xFFFFFFFE, 0xFFFFFFFE)
    return bytes(z)


def encrypted():
    z = bytearray(zip_bytes([("secret.txt", EICAR)], zipfile.ZIP_STORED))
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = z.find(sig)
        flags = struct.unpack_from("<H", z, i + off)[0] | 1
        struct.pack_into("<H", z, i + off, flags)
    return bytes(z)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    def put(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    data = EICAR
    for level in range(24):
        data = zip_bytes([("level%d.zip" % level if level else "eicar.com", data)])
    put("nested-zip-24.zip", data)
    put("bomb-zeros.zip", zip_of_zeros("zeros.bin", 600 << 20))
    inner = zip_of_zeros("zeros.bin", 64 << 20)
    mid = zip_bytes([("inner%d.zip" % i, inner) for i in range(16)])
    put("bomb-42.zip", zip_bytes([("mid%d.zip" % i, mid) for i in range(16)]))
    members = [("f%05d.txt" % i, b"x") for i in range(19999)]
    members.append(("last.com", EICAR))
    put("many-members.zip", zip_bytes(members, zipfile.ZIP_STORED))
    put("liar-size.zip", liar(EICAR))
    whole = zip_bytes([("eicar.com", EICAR * 100)])
    put("corrupt.zip", whole[: len(whole) // 2])
    put("encrypted.zip", encrypted())
    put("eicar-deep-tgz.tgz", tgz("b.tgz", tgz("c.tgz", tgz("eicar.com", EICAR))))
    put("eicar.gz", gzip.compress(EICAR))
    put("eicar.bz2", bz2.compress(EICAR))
    put("eicar.xz", lzma.compress(EICAR))
    uu = b"begin 644 eicar.com\n"
    for i in range(0, len(EICAR), 45):
        uu += binascii.b2a_uu(EICAR[i:i + 45])
    uu += b"`\nend\n"
    put("eicar.uu", uu)
    sfx = zip_bytes([("eicar.com", EICAR)])
    head = b"\x7fELF\x02\x01\x01" + b"\0" * 57
    put("elf-sfx.elf", head + sfx)
    put("notelf-sfx.bin", b"\x7e" + head[1:] + sfx)


if __name__ == "__main__":
    main()
