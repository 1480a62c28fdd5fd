"""A stand-in for the Zenlayer API that answers as Python's http.server does: the status line and headers in one
write, the body in a second, with Nagle's algorithm left on (no TCP_NODELAY). It checks no signature and serves
`--instances` RUNNING instances to DescribeInstancesStatus, paged as asked, after `--latency-ms`. Used by
`cargo bench --bench fleet -- defaults` to measure what each API call costs beyond the server's latency.

    python3 two_writes.py --port 0 --instances 1000 --latency-ms 50    # prints "listening on PORT"
"""

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            request = json.loads(self.rfile.read(length) or b"{}")
            time.sleep(args.latency_ms / 1000.0)
            size = int(request.get("pageSize") or 100)
            page = int(request.get("pageNum") or 1)
            first = (page - 1) * size
            rows = [
                {"instanceId": f"bench-{i:012d}", "instanceStatus": "RUNNING"}
                for i in range(first, min(args.instances, first + size))
            ]
            body = json.dumps(
                {"requestId": f"r-{page}", "response": {"totalCount": args.instances, "dataSet": rows}}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()  # the first write: status line and headers
            self.wfile.write(body)  # the second: the body

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
