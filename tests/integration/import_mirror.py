#!/usr/bin/env python3
# A definitions mirror for defs_import.sh on 127.0.0.1, a free port: serves
# the files of ROOT; a Range request (freshclam asks for a .cvd's 512-byte
# header to learn the remote version) of NAME is answered from
# NAME.advertised when it exists.  Writes its port to PORTFILE.
#   import_mirror.py ROOT PORTFILE
import http.server
import os
import re
import sys

ROOT, PORTFILE = sys.argv[1], sys.argv[2]


class Mirror(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = os.path.basename(self.path.split('?')[0])
        path = os.path.join(ROOT, name)
        rng = self.headers.get('Range') or ''
        if rng and os.path.isfile(path + '.advertised'):
            path += '.advertised'
        if not name or name.startswith('.') or not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, 'rb') as f:
            data = f.read()
        m = re.fullmatch(r'bytes=(\d+)-(\d*)', rng)
        if m:
            first = int(m.group(1))
            last = int(m.group(2)) if m.group(2) else len(data) - 1
            part = data[first:last + 1]
            self.send_response(206)
            self.send_header('Content-Range', 'bytes %d-%d/%d' %
                             (first, first + len(part) - 1, len(data)))
            data = part
        else:
            self.send_response(200)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Last-Modified',
                         self.date_time_string(os.path.getmtime(path)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write((fmt % args) + '\n')


server = http.server.HTTPServer(('127.0.0.1', 0), Mirror)
with open(PORTFILE + '.tmp', 'w') as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + '.tmp', PORTFILE)
server.serve_forever()
