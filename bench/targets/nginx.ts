// Debian's nginx as the C reference: one worker, keep-alive upstream, unbuffered, config in a temp dir.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TargetContext } from "./context.ts";

export function nginxConfig(dir: string, port: number, mockPort: number): string {
  const temp = (name: string): string => `${name}_temp_path ${join(dir, name)};`;
  return `worker_processes 1;
daemon off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
  access_log off;
  ${temp("client_body")} ${temp("proxy")} ${temp("fastcgi")} ${temp("uwsgi")} ${temp("scgi")}
  # Bun closes no keep-alive connection after N requests, so neither should nginx on either side.
  keepalive_requests 1000000;
  upstream mock {
    server 127.0.0.1:${mockPort};
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 600s;
    }
  }
}
`;
}

export function nginxCommand(ctx: TargetContext, port: number): string[] {
  const dir = join(ctx.tmpDir, "nginx");
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, "nginx.conf");
  writeFileSync(conf, nginxConfig(dir, port, ctx.mockPort));
  return ["nginx", "-p", dir, "-e", join(dir, "error.log"), "-c", conf];
}
