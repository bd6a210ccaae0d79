// A Node application that gives flagwarden canary evidence through OpenTelemetry alone.
//
// It is what a team already running OpenTelemetry would have, plus OpenFeature's OTel hook:
// `@opentelemetry/sdk-node` with the OTLP/HTTP exporters (JSON from `@opentelemetry/exporter-*-otlp-http`,
// or protobuf from `@opentelemetry/exporter-*-otlp-proto`) pointed at flagwarden's `/v1/traces` and
// `/v1/logs`, and `@openfeature/server-sdk` over `@openfeature/ofrep-provider` pointed at flagwarden's
// OFREP endpoint, with one hook from `@openfeature/open-telemetry-hooks`: `SpanEventHook` (a
// `feature_flag.evaluation` event on the active span, sent with the span to /v1/traces) or `EventHook`
// (a `feature_flag.evaluation` log record carrying the active span's ids, sent to /v1/logs, which
// flagwarden joins to the span). Nothing in it reports an arm or a count to flagwarden.
//
// It serves --requests-per-user requests for each of --users users (targeting keys user-0 ...). Each
// request is a SERVER span; the flag is evaluated inside it; the request then fails (HTTP 500, span status
// ERROR) for --canary-error-rate of the requests served the candidate variant and --control-error-rate of
// the others, spread evenly from a phase seeded by --seed, so a run is reproducible. It writes its own
// ground truth to --truth as JSON: per arm (the arm the OFREP answer's metadata named: canary, control or
// excluded) the requests and errors it served, and what its exporters reported.
//
//   node tests/telemetry/node_app.mjs --flagwarden http://127.0.0.1:7070 --flag checkout \
//     --environment production --encoding json --hook span --truth truth.json
//
// Run it with the pinned Node and packages of scripts/node-tools.sh (NODE_PATH does not apply to ESM
// imports: the test links .node-tools/node_modules beside a copy of this file).

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { EventHook, SpanEventHook } from '@openfeature/open-telemetry-hooks';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature } from '@openfeature/server-sdk';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { logs as hookLogs } from '@opentelemetry/api-logs';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace';

const { values: args } = parseArgs({
  options: {
    flagwarden: { type: 'string' },
    otlp: { type: 'string' },
    flag: { type: 'string' },
    environment: { type: 'string' },
    encoding: { type: 'string', default: 'json' },
    hook: { type: 'string', default: 'span' },
    users: { type: 'string', default: '1000' },
    'requests-per-user': { type: 'string', default: '2' },
    'control-error-rate': { type: 'string', default: '0.01' },
    'canary-error-rate': { type: 'string', default: '0.06' },
    candidate: { type: 'string', default: 'on' },
    seed: { type: 'string', default: 'flagwarden-otel' },
    truth: { type: 'string' },
  },
});
for (const required of ['flagwarden', 'flag', 'environment', 'truth']) {
  if (!args[required]) throw new Error(`--${required} is required`);
}
if (!['json', 'proto'].includes(args.encoding)) throw new Error(`--encoding must be json or proto, got ${args.encoding}`);
if (!['span', 'log'].includes(args.hook)) throw new Error(`--hook must be span or log, got ${args.hook}`);
const base = args.flagwarden.replace(/\/$/, '');
const otlp = (args.otlp ?? base).replace(/\/$/, '');

/** Passes every batch to the real exporter and counts what it reports, so the ground truth knows whether
 * everything reached flagwarden (an export that failed is the app's problem, not the gate's). */
class Counting {
  constructor(inner) {
    this.inner = inner;
    this.exported = 0;
    this.failedExports = 0;
    this.failedItems = 0;
    this.errors = [];
  }
  export(items, done) {
    this.inner.export(items, (result) => {
      if (result.code === 0) {
        this.exported += items.length;
      } else {
        this.failedExports += 1;
        this.failedItems += items.length;
        if (this.errors.length < 5) this.errors.push(String(result.error?.message ?? result.error));
      }
      done(result);
    });
  }
  shutdown() {
    return this.inner.shutdown();
  }
  forceFlush() {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

// What the application adds for OpenTelemetry: the SDK, its exporters pointed at flagwarden, and the
// resource naming the environment the evidence is for.
const Trace = args.encoding === 'json' ? JsonTraceExporter : ProtoTraceExporter;
const Log = args.encoding === 'json' ? JsonLogExporter : ProtoLogExporter;
const spans = new Counting(new Trace({ url: `${otlp}/v1/traces` }));
const records = new Counting(new Log({ url: `${otlp}/v1/logs` }));
const resource = resourceFromAttributes({
  'service.name': `checkout-node-${args.encoding}-${args.hook}`,
  'deployment.environment.name': args.environment,
});
const sdk = new NodeSDK({
  resource,
  // Batches as every SDK default does, with a queue that holds a whole run (the default 2048 would drop
  // spans silently under this load, and the ground truth would no longer be what flagwarden received).
  spanProcessors: [new BatchSpanProcessor({ exporter: spans, maxQueueSize: 100_000, scheduledDelayMillis: 200 })],
  logRecordProcessors: [new BatchLogRecordProcessor({ exporter: records, maxQueueSize: 100_000, scheduledDelayMillis: 200 })],
  instrumentations: [],
  resourceDetectors: [],
});
sdk.start();

// The hooks package reads the global logger provider of `@opentelemetry/api-logs` (its peer, ^0.205),
// but sdk-node 0.301 registers its provider with `@opentelemetry/api`'s own `logs` global: without
// this bridge EventHook's records go to a no-op logger. It hands the hook the same provider.
let bridged = false;
if (args.hook === 'log') {
  const { logs } = await import('@opentelemetry/api');
  const provider = logs.getLoggerProvider();
  bridged = process.env.NODE_APP_NO_LOG_BRIDGE !== '1' && hookLogs.setGlobalLoggerProvider(provider) === provider;
}

// What it adds for OpenFeature: the OFREP provider and one OTel hook.
await OpenFeature.setProviderAndWait(new OFREPProvider({
  baseUrl: base,
  headers: { 'X-Flagwarden-Environment': args.environment },
}));
OpenFeature.addHooks(args.hook === 'log' ? new EventHook() : new SpanEventHook());
const client = OpenFeature.getClient('checkout');

/** Which requests fail: exactly `rate` of those served a variant, spread evenly (the n-th fails when
 * floor(n * rate + phase) steps up), with a phase per variant drawn from the seed. */
function failures(seed, candidateRate, otherRate) {
  let h = 2166136261;
  for (const c of seed) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  const phase = { true: (h % 1000) / 1000, false: ((h >>> 10) % 1000) / 1000 };
  const rate = { true: candidateRate, false: otherRate };
  const served = { true: 0, false: 0 };
  return (candidate) => {
    const n = served[candidate]++;
    const r = rate[candidate];
    return Math.floor((n + 1) * r + phase[candidate]) > Math.floor(n * r + phase[candidate]);
  };
}

const fails = failures(args.seed, Number(args['canary-error-rate']), Number(args['control-error-rate']));
const tracer = trace.getTracer('checkout');
const truth = {};
const problems = [];
const started = performance.now();
for (let u = 0; u < Number(args.users); u++) {
  const user = `user-${u}`;
  for (let i = 0; i < Number(args['requests-per-user']); i++) {
    await tracer.startActiveSpan('GET /checkout', {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': 'GET', 'http.route': '/checkout', 'url.path': '/checkout' },
    }, async (span) => {
      const details = await client.getBooleanDetails(args.flag, false, { targetingKey: user });
      if (details.errorCode) problems.push(`${user}: evaluation failed: ${details.errorCode} ${details.errorMessage}`);
      // The arm is only for the ground truth; the request's behaviour depends on the variant.
      const arm = String(details.flagMetadata?.arm ?? 'excluded');
      const failed = fails(details.variant === args.candidate);
      span.setAttribute('http.response.status_code', failed ? 500 : 200);
      if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: 'checkout failed' });
      truth[arm] ??= { requests: 0, errors: 0 };
      truth[arm].requests += 1;
      truth[arm].errors += failed ? 1 : 0;
      span.end();
    });
  }
}
const servedSeconds = (performance.now() - started) / 1000;
await sdk.shutdown(); // flushes every span and record still queued
await OpenFeature.close();

for (const arm of ['canary', 'control', 'excluded']) truth[arm] ??= { requests: 0, errors: 0 };
writeFileSync(args.truth, JSON.stringify({
  app: `node-${args.encoding}-${args.hook}`,
  flag: args.flag,
  environment: args.environment,
  arms: truth,
  spans_exported: spans.exported,
  log_records_exported: records.exported,
  failed_exports: spans.failedExports + records.failedExports,
  failed_spans: spans.failedItems,
  failed_log_records: records.failedItems,
  export_errors: [...spans.errors, ...records.errors],
  logs_bridged: bridged,
  served_seconds: Math.round(servedSeconds * 1000) / 1000,
  problems: problems.slice(0, 20),
}, null, 2));
process.exit(problems.length ? 1 : 0);
