#!/usr/bin/env bash
# Regenerate the seed corpora of the container fuzz targets from containers
# we build ourselves (no third-party data in the repository).
#   tests/fuzz/make-seeds.sh path/to/cvdtool
set -euo pipefail
CVDTOOL=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
mkdir db
printf '44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n' >db/seed.hdb
printf '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:68:Eicar-Test-Signature\n' >db/seed.hsb
printf 'Seed.Body-1:0:*:41424344??45{2-4}46(47|48)\n' >db/seed.ndb
printf 'Seed.Body-1\n' >db/seed.ign2
"$CVDTOOL" keygen k.key k.pub >/dev/null
"$CVDTOOL" build seed.cvd --from db --key k.key --version 3 --builder seeder >/dev/null
"$CVDTOOL" build seed.cud --from db --unsigned --version 3 --builder seeder >/dev/null
for d in header info tar container signfile; do mkdir -p "$here/corpus/fuzz_$d"; done
head -c 512 seed.cvd >"$here/corpus/fuzz_header/signed"
head -c 512 seed.cud >"$here/corpus/fuzz_header/unsigned"
mkdir u && "$CVDTOOL" unpack --trusted-key k.pub seed.cvd -C u >/dev/null
cp u/seed.info "$here/corpus/fuzz_info/signed.info"
tail -c +513 seed.cud | gzip -dc >plain.tar
{ printf '\x00'; cat plain.tar; } >"$here/corpus/fuzz_tar/whole"
{ printf '\x49'; cat plain.tar; } >"$here/corpus/fuzz_tar/pieces"
cp seed.cud "$here/corpus/fuzz_container/seed.cud"
{ head -c 512 seed.cud; cat plain.tar; } >"$here/corpus/fuzz_container/plain-tar.cud"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=seed >/dev/null 2>&1
"$CVDTOOL" sign seed.cvd --key ca.key --cert ca.crt >/dev/null
cp seed.cvd.sign "$here/corpus/fuzz_signfile/seed.sign"
printf '#clamsign-1.0\n999::pkcs7-pem:AAAA\n' >"$here/corpus/fuzz_signfile/high-flevel.sign"
