// flagd's JavaScript engine evaluating a flagwarden definition file, for tests/python/test_flagd_engines.py.
//
// `@openfeature/flagd-provider` in in-process mode on an offline file (its FileFetch, the same
// in-process resolver and `@openfeature/flagd-core` a gRPC sync feeds), under
// `@openfeature/server-sdk`. It reads a JSON job: {"definition": path, "flags": {key: type},
// "contexts": [{targetingKey, ...attributes}]}, evaluates every flag for every context with the typed
// getter of its type, and writes [[variant, value, reason, errorCode], ...] per context, flags in the
// job's order, to the output path.
//
//   node tests/flagd/js_engine.mjs job.json answers.json
//
// Run it with the pinned Node and packages of scripts/node-tools.sh, from a directory whose
// node_modules is the pinned one (NODE_PATH does not apply to ESM imports).

import { readFileSync, writeFileSync } from 'node:fs';

import { FlagdProvider } from '@openfeature/flagd-provider';
import { OpenFeature } from '@openfeature/server-sdk';

const [jobPath, outPath] = process.argv.slice(2);
const job = JSON.parse(readFileSync(jobPath, 'utf8'));

const provider = new FlagdProvider({ resolverType: 'in-process', offlineFlagSourcePath: job.definition });
await OpenFeature.setProviderAndWait(provider);
const client = OpenFeature.getClient();

const getters = {
  boolean: (k, c) => client.getBooleanDetails(k, false, c),
  string: (k, c) => client.getStringDetails(k, '', c),
  number: (k, c) => client.getNumberDetails(k, 0, c),
  object: (k, c) => client.getObjectDetails(k, {}, c),
};
const keys = Object.keys(job.flags);
const answers = [];
for (const context of job.contexts) {
  const row = [];
  for (const key of keys) {
    const d = await getters[job.flags[key]](key, context);
    row.push([d.variant ?? null, d.errorCode ? null : d.value, d.reason ?? null, d.errorCode ?? null]);
  }
  answers.push(row);
}
writeFileSync(outPath, JSON.stringify(answers));
await OpenFeature.close();
process.exit(0);
