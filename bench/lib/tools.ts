// The bench's system tools (wrk, nginx): installed from Debian's packages when missing, as the test command installs
// Redis and ClickHouse, so one command runs the suite on a fresh machine.

/** Tool → the Debian package that provides it. nginx-light is the smallest build with the proxy module. */
const TOOLS: ReadonlyArray<{ bin: string; also?: string; pkg: string }> = [
  { bin: "wrk", pkg: "wrk" },
  { bin: "nginx", also: "/usr/sbin/nginx", pkg: "nginx-light" },
];

function present(t: { bin: string; also?: string }): boolean {
  return Bun.which(t.bin) !== null || (t.also !== undefined && Bun.file(t.also).size > 0);
}

function run(cmd: string[]): void {
  const r = Bun.spawnSync(cmd, { stdout: "inherit", stderr: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${r.exitCode}`);
}

/** Installs what is missing (as root, or through sudo); throws naming the packages when it cannot. */
export function ensureBenchTools(log: (msg: string) => void): void {
  const missing = TOOLS.filter((t) => !present(t)).map((t) => t.pkg);
  if (missing.length === 0) return;
  const manual = `install them with: apt-get install -y ${missing.join(" ")}`;
  if (Bun.which("apt-get") === null) throw new Error(`the bench needs ${missing.join(" and ")}: ${manual}`);
  const root = process.getuid?.() === 0;
  if (!root && Bun.which("sudo") === null) throw new Error(`installing ${missing.join(" and ")} needs root or sudo: ${manual}`);
  const sudo = root ? [] : ["sudo", "--preserve-env=DEBIAN_FRONTEND"];
  log(`installing ${missing.join(", ")} from Debian's packages`);
  run([...sudo, "apt-get", "update", "-qq"]);
  run([...sudo, "apt-get", "install", "-y", "-qq", ...missing]);
  // Where an init system runs, Debian also starts nginx's own service (port 80): the bench runs its own nginx on a
  // loopback port of its own and leaves that service as the package set it up.
}
