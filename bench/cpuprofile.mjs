// Summarises a V8 CPU profile (the .cpuprofile JSON that `node --cpu-prof` writes): where the
// sampled thread's time went, per function, per package (node_modules package, our src folder, Node
// internals, V8 pseudo-frames) and per area (packages grouped by what they do for a request), as
// self time, time attributed to the code that asked for it, and inclusive time; per request when
// the number of requests served in the window is given.
//
// A profile is `{ nodes: [{ id, callFrame: { functionName, url, lineNumber, columnNumber }, children }],
// startTime, endTime, samples: [nodeId], timeDeltas: [µs] }`: sample i was taken at startTime plus
// the sum of timeDeltas[0..i], in the node it names (the top of the stack). A sample stands for the
// time until the next one (the last: until endTime).
//
// CLI: node bench/cpuprofile.mjs <file.cpuprofile> [--requests N] [--from µs --to µs] [--top N] [--json]
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** V8's pseudo-frames: the thread waiting in the event loop, in GC, or in native code with no JS frame. */
export const IDLE = '(idle)';
export const GC = '(garbage collector)';
export const PROGRAM = '(program)';
const ROOT_FRAME = '(root)';
const PSEUDO = new Set([IDLE, GC, PROGRAM, ROOT_FRAME]);

/**
 * The package a frame's script belongs to: the innermost node_modules package, `src/<folder>` for
 * the service's own code (dist/src/…; `src/platform/<x>` and `src/shared/<x>` one level deeper),
 * `node:<module>` for Node's own JavaScript (internal/ dropped), `native` for V8 builtins and
 * native functions (no script), or the pseudo-frame's own name.
 */
export function packageOf(callFrame) {
  const { functionName, url } = callFrame;
  if (!url) return PSEUDO.has(functionName) ? functionName : 'native';
  if (url.startsWith('node:')) {
    const parts = url.slice('node:'.length).split('/');
    if (parts[0] === 'internal' && parts.length > 1) parts.shift();
    return `node:${parts[0].replace(/\.js$/, '')}`;
  }
  let path = url;
  try {
    if (url.startsWith('file:')) path = decodeURIComponent(new URL(url).pathname);
  } catch {
    // Not a URL after all: use it as it is.
  }
  const nm = path.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const [scope, name] = path.slice(nm + '/node_modules/'.length).split('/');
    return scope.startsWith('@') && name ? `${scope}/${name}` : scope;
  }
  const src = path.lastIndexOf('/src/');
  if (src !== -1) {
    const parts = path.slice(src + 1).split('/');
    if (parts.length <= 2) return 'src';
    if ((parts[1] === 'platform' || parts[1] === 'shared') && parts.length > 3) return `src/${parts[1]}/${parts[2]}`;
    return `src/${parts[1]}`;
  }
  return `other:${path.slice(path.lastIndexOf('/') + 1)}`;
}

/** Node's HTTP, socket and stream code: the I/O every server pays, kept apart from the code that called it. */
const NODE_IO =
  /^node:(_http_\w+|http|net|stream|streams|stream_base_commons|js_stream_socket|tls|string_decoder|buffer|dns|url|querystring)$/;

/**
 * Areas: packages grouped by the part they play in a request. The first rule whose pattern matches
 * the package wins; a package no rule matches is its own area. Node internals and native code are
 * areas of their own in self time; `attributed` time gives them to the nearest caller outside them.
 */
export const AREAS = [
  ['GC', /^\(garbage collector\)$/],
  ['idle (event loop waiting)', /^\(idle\)$/],
  ['V8/native, no JS frame', /^\(program\)$/],
  [
    'Fastify (routing, hooks, reply)',
    /^(fastify|@fastify\/.+|find-my-way|avvio|light-my-request|fast-json-stringify|fast-querystring|fast-uri|secure-json-parse|safe-regex2|toad-cache|fastq|content-type|process-warning|abstract-logging|@nestjs\/platform-fastify)$/,
  ],
  [
    'Nest pipeline (router, guards, pipes, interceptors)',
    /^(@nestjs\/core|@nestjs\/common|rxjs|reflect-metadata|tslib|iterare|uid|load-esm)$/,
  ],
  ['Nest microservices (TCP transport)', /^@nestjs\/microservices$/],
  ['Passport, passport-jwt', /^(passport|passport-jwt|passport-strategy|passport-local|@nestjs\/passport)$/],
  [
    'JWT sign/verify (jsonwebtoken, jws, jwa)',
    /^(jsonwebtoken|jws|jwa|ecdsa-sig-formatter|@nestjs\/jwt|safe-buffer|ms|semver|buffer-equal-constant-time|lodash\..+)$/,
  ],
  ['PostgreSQL driver (pg)', /^(pg|pg-.+|postgres-.+|pgpass|split2)$/],
  ['TypeORM', /^typeorm$/],
  ['validation (class-validator, class-transformer)', /^(class-validator|class-transformer|validator|libphonenumber-js)$/],
  [
    'logging and metrics (pino, prom-client, our hooks)',
    /^(pino(-.+)?|prom-client|tdigest|bintrees|nestjs-pino|sonic-boom|thread-stream|quick-format-unescaped|atomic-sleep|on-exit-leak-free|safe-stable-stringify|fast-redact|@pinojs\/.+|src\/platform\/observability)$/,
  ],
  ['argon2 (@node-rs/argon2, the main-thread part)', /^@node-rs\/.+$/],
  ['events (@nestjs/event-emitter)', /^(@nestjs\/event-emitter|eventemitter2)$/],
  ['Node: HTTP, net, streams (socket I/O)', NODE_IO],
  ['Node: crypto', /^node:crypto$/],
  ['Node: other (timers, promises, events, …)', /^node:/],
  ['V8 builtins, native functions (promise jobs, …)', /^native$/],
];

export function areaOf(pkg) {
  for (const [area, pattern] of AREAS) if (pattern.test(pkg)) return area;
  return pkg;
}

/**
 * Time in these packages is attributed to the nearest caller outside them: crypto.verify to the JWT
 * library, a promise job to whoever awaited. Not Node's HTTP, socket and stream code (nor the native
 * functions it calls, such as the writev syscall): that is the I/O, whoever started it.
 */
const isPlumbing = (pkg) => (pkg.startsWith('node:') && !NODE_IO.test(pkg)) || pkg === 'native';

/**
 * The native functions that write to a socket. Their sampled time is the send syscall (on loopback,
 * delivery to the peer included) plus, on a busy machine, the time the thread waited for a core
 * after waking the peer: wall-clock sampling cannot tell the two apart.
 */
const SOCKET_WRITES = new Set(['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String', 'writeAsciiString', 'writeUcs2String']);

const functionKey = (cf) => `${cf.functionName}\u0000${cf.url}\u0000${cf.lineNumber}\u0000${cf.columnNumber}`;

function shortLocation(cf) {
  if (!cf.url) return '';
  let path = cf.url;
  if (path.startsWith('file:')) {
    try {
      path = decodeURIComponent(new URL(path).pathname);
    } catch {
      // keep the raw URL
    }
  }
  const nm = path.lastIndexOf('/node_modules/');
  if (nm !== -1) path = path.slice(nm + '/node_modules/'.length);
  else if (path.lastIndexOf('/src/') !== -1) path = path.slice(path.lastIndexOf('/src/') + 1);
  return `${path}:${cf.lineNumber + 1}`;
}

/**
 * Summarises `profile` over the samples taken in [from, to) (µs, the profile's own clock, which on
 * Linux is CLOCK_MONOTONIC like process.hrtime; default: the whole profile). `requests` served in
 * that window gives the per-request figures. Times are in milliseconds, per-request ones in µs;
 * shares are of the thread's busy (non-idle) time.
 */
export function summarizeProfile(profile, { from = -Infinity, to = Infinity, requests, top = 25 } = {}) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Time per node over the window.
  const nodeTime = new Map();
  let t = profile.startTime;
  const times = profile.samples.map((_, i) => (t += profile.timeDeltas[i] ?? 0));
  let windowStart = Infinity;
  let windowEnd = -Infinity;
  let samples = 0;
  for (let i = 0; i < times.length; i++) {
    const at = times[i];
    if (at < from || at >= to) continue;
    const next = i + 1 < times.length ? times[i + 1] : profile.endTime;
    const dt = Math.max(0, Math.min(next, to) - at);
    const id = profile.samples[i];
    nodeTime.set(id, (nodeTime.get(id) ?? 0) + dt);
    windowStart = Math.min(windowStart, at);
    windowEnd = Math.max(windowEnd, at + dt);
    samples++;
  }

  const info = new Map(); // id → { pkg, area, fkey }
  const infoOf = (id) => {
    let i = info.get(id);
    if (!i) {
      const cf = nodes.get(id).callFrame;
      const pkg = packageOf(cf);
      i = { cf, pkg, area: areaOf(pkg), fkey: functionKey(cf) };
      info.set(id, i);
    }
    return i;
  };
  const stackOf = (id) => {
    const stack = [];
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) stack.push(cur);
    return stack; // leaf first
  };

  const bucket = () => ({ self: 0, attributed: 0, inclusive: 0 });
  const areas = new Map();
  const packages = new Map();
  const functions = new Map();
  const get = (map, key, init) => {
    let v = map.get(key);
    if (!v) map.set(key, (v = init()));
    return v;
  };
  let busy = 0;
  let idle = 0;
  let socketWrites = 0;

  for (const [id, dt] of nodeTime) {
    const leaf = infoOf(id);
    if (leaf.pkg === IDLE) {
      idle += dt;
      continue;
    }
    busy += dt;
    if (leaf.pkg === 'native' && SOCKET_WRITES.has(leaf.cf.functionName)) socketWrites += dt;
    const stack = stackOf(id).map(infoOf);
    get(areas, leaf.area, bucket).self += dt;
    get(packages, leaf.pkg, bucket).self += dt;
    const fn = get(functions, leaf.fkey, () => ({ cf: leaf.cf, pkg: leaf.pkg, self: 0, inclusive: 0 }));
    fn.self += dt;
    // Attributed: Node internals and native code count for the nearest caller outside them.
    const owner = isPlumbing(leaf.pkg) ? (stack.find((s) => !isPlumbing(s.pkg) && s.pkg !== ROOT_FRAME) ?? leaf) : leaf;
    get(areas, owner.area, bucket).attributed += dt;
    get(packages, owner.pkg, bucket).attributed += dt;
    // Inclusive: once per area, package and function on the stack.
    const seenAreas = new Set();
    const seenPackages = new Set();
    const seenFunctions = new Set();
    for (const s of stack) {
      if (s.pkg === ROOT_FRAME) continue;
      if (!seenAreas.has(s.area)) {
        seenAreas.add(s.area);
        get(areas, s.area, bucket).inclusive += dt;
      }
      if (!seenPackages.has(s.pkg)) {
        seenPackages.add(s.pkg);
        get(packages, s.pkg, bucket).inclusive += dt;
      }
      if (!seenFunctions.has(s.fkey)) {
        seenFunctions.add(s.fkey);
        get(functions, s.fkey, () => ({ cf: s.cf, pkg: s.pkg, self: 0, inclusive: 0 })).inclusive += dt;
      }
    }
  }

  const perReq = (us) => (requests ? us / requests : undefined);
  const ms = (us) => us / 1000;
  const row = (name, b) => ({
    name,
    selfMs: ms(b.self),
    attributedMs: ms(b.attributed ?? b.self),
    inclusiveMs: ms(b.inclusive),
    selfShare: busy > 0 ? b.self / busy : 0,
    attributedShare: busy > 0 ? (b.attributed ?? b.self) / busy : 0,
    selfUsPerRequest: perReq(b.self),
    attributedUsPerRequest: perReq(b.attributed ?? b.self),
    inclusiveUsPerRequest: perReq(b.inclusive),
  });
  const byAttributed = (a, b) => b.attributedMs - a.attributedMs || b.selfMs - a.selfMs;
  const fnRow = (f) => ({
    ...row(f.cf.functionName || '(anonymous)', f),
    package: f.pkg,
    location: shortLocation(f.cf),
  });
  const fns = [...functions.values()].map(fnRow);
  const wallUs = Number.isFinite(windowStart) ? windowEnd - windowStart : 0;

  return {
    window: { fromUs: Number.isFinite(windowStart) ? windowStart : undefined, wallMs: ms(wallUs) },
    samples,
    meanIntervalUs: samples > 0 ? wallUs / samples : undefined,
    requests,
    busyMs: ms(busy),
    idleMs: ms(idle),
    busyShareOfWall: wallUs > 0 ? busy / wallUs : undefined,
    busyUsPerRequest: perReq(busy),
    socketWritesMs: ms(socketWrites),
    socketWritesUsPerRequest: perReq(socketWrites),
    areas: [...areas].map(([name, b]) => row(name, b)).sort(byAttributed),
    packages: [...packages]
      .map(([name, b]) => row(name, b))
      .sort(byAttributed)
      .slice(0, top),
    functionsBySelf: [...fns].sort((a, b) => b.selfMs - a.selfMs).slice(0, top),
    functionsByInclusive: fns
      .filter((f) => f.package !== ROOT_FRAME)
      .sort((a, b) => b.inclusiveMs - a.inclusiveMs)
      .slice(0, top),
  };
}

const fmt = (n, digits = 1) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(digits));
const pct = (n) => `${(n * 100).toFixed(1)}%`;

function table(headers, rows) {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  const line = (r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => line(r.map(String)))].join('\n');
}

/** The summary as readable text tables; `top` rows per table. */
export function formatSummary(summary, { title = 'CPU profile', top = 15 } = {}) {
  const perReq = summary.requests !== undefined;
  const head = [
    `${title}`,
    `window ${fmt(summary.window.wallMs / 1000, 2)} s, ${summary.samples} samples (every ${fmt(summary.meanIntervalUs, 0)} µs)` +
      (perReq ? `, ${summary.requests} requests` : '') +
      `; thread busy ${fmt(summary.busyMs, 0)} ms (${pct(summary.busyShareOfWall ?? 0)} of the window)` +
      (perReq ? `, ${fmt(summary.busyUsPerRequest)} µs per request` : '') +
      `, of which socket-write syscalls ${perReq ? `${fmt(summary.socketWritesUsPerRequest)} µs` : `${fmt(summary.socketWritesMs, 0)} ms`}`,
  ].join('\n');
  const areaRows = summary.areas
    .filter((a) => a.name !== 'idle (event loop waiting)')
    .map((a) => [
      a.name,
      ...(perReq ? [fmt(a.attributedUsPerRequest), fmt(a.selfUsPerRequest), fmt(a.inclusiveUsPerRequest)] : []),
      fmt(a.attributedMs, 0),
      pct(a.attributedShare),
      pct(a.selfShare),
    ]);
  const areaHeaders = [
    'area',
    ...(perReq ? ['attrib µs/req', 'self µs/req', 'incl µs/req'] : []),
    'attrib ms',
    'attrib share',
    'self share',
  ];
  const pkgRows = summary.packages
    .slice(0, top)
    .map((p) => [
      p.name,
      ...(perReq ? [fmt(p.attributedUsPerRequest), fmt(p.selfUsPerRequest), fmt(p.inclusiveUsPerRequest)] : []),
      pct(p.attributedShare),
      pct(p.selfShare),
    ]);
  const pkgHeaders = ['package', ...(perReq ? ['attrib µs/req', 'self µs/req', 'incl µs/req'] : []), 'attrib share', 'self share'];
  const fnRows = (list, key) =>
    list
      .slice(0, top)
      .map((f) => [
        f.location ? `${f.name} (${f.location})` : f.name === f.package ? f.name : `${f.name} (${f.package})`,
        ...(perReq ? [fmt(f.selfUsPerRequest), fmt(f.inclusiveUsPerRequest)] : [fmt(f.selfMs), fmt(f.inclusiveMs)]),
        pct(key === 'self' ? f.selfShare : f.inclusiveMs / (summary.busyMs || 1)),
      ]);
  const fnHeaders = (key) => ['function', ...(perReq ? ['self µs/req', 'incl µs/req'] : ['self ms', 'incl ms']), `${key} share`];
  return [
    head,
    '',
    'By area (attributed: Node internals but socket I/O, and native code, counted for their nearest caller outside them)',
    table(areaHeaders, areaRows),
    '',
    'By package',
    table(pkgHeaders, pkgRows),
    '',
    'Functions by self time',
    table(fnHeaders('self'), fnRows(summary.functionsBySelf, 'self')),
    '',
    'Functions by inclusive time',
    table(fnHeaders('incl'), fnRows(summary.functionsByInclusive, 'incl')),
  ].join('\n');
}

// CLI
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const option = (name) => {
    const i = args.indexOf(name);
    if (i === -1) return undefined;
    const [value] = args.splice(i, 2).slice(1);
    return value;
  };
  const requests = option('--requests');
  const from = option('--from');
  const to = option('--to');
  const top = option('--top');
  const asJson = args.includes('--json');
  const file = args.find((a) => !a.startsWith('--'));
  if (!file) {
    process.stderr.write('usage: node bench/cpuprofile.mjs <file.cpuprofile> [--requests N] [--from µs --to µs] [--top N] [--json]\n');
    process.exit(2);
  }
  const profile = JSON.parse(await readFile(file, 'utf8'));
  const summary = summarizeProfile(profile, {
    requests: requests === undefined ? undefined : Number(requests),
    from: from === undefined ? undefined : Number(from),
    to: to === undefined ? undefined : Number(to),
    top: top === undefined ? 25 : Number(top),
  });
  process.stdout.write(asJson ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary, { title: file })}\n`);
}
