// flagd's JavaScript engine against flagwarden: `@openfeature/flagd-provider` 0.16.1 in in-process mode
// (its evaluation core `@openfeature/flagd-core` 4.0.1) syncing over gRPC from `flagwarden serve`, driven
// by tests/python/test_flagd_sync.py.
//
//   node node_provider.mjs --port PORT --selector development --flag FLAG --keys user-0,user-1,...
//
// Prints one JSON line when the provider is ready and one on every PROVIDER_CONFIGURATION_CHANGED event
// (a new definition in its store): {"event": "ready" | "changed", "answers": [[value, variant], ...]}, the
// boolean FLAG for each targeting key. Exits when stdin closes.
//
// The provider has no option for call metadata (no token), so the test serves it from a loopback
// `flagwarden serve` without tokens. Run it with the pinned Node and packages of scripts/node-tools.sh
// (ESM resolves packages from the file's directory upwards: the test links node_modules beside a copy).

import { parseArgs } from 'node:util';

import { FlagdProvider } from '@openfeature/flagd-provider';
import { OpenFeature, ProviderEvents } from '@openfeature/server-sdk';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    selector: { type: 'string', default: 'development' },
    flag: { type: 'string' },
    keys: { type: 'string' },
  },
});
const keys = values.keys.split(',');

const provider = new FlagdProvider({
  resolverType: 'in-process',
  host: '127.0.0.1',
  port: Number(values.port),
  selector: values.selector,
  deadlineMs: 5000,
});
await OpenFeature.setProviderAndWait(provider);
const client = OpenFeature.getClient();

async function answers() {
  return Promise.all(
    keys.map(async (k) => {
      const d = await client.getBooleanDetails(values.flag, true, { targetingKey: k });
      return [d.value, d.variant ?? null];
    }),
  );
}

function print(event, list) {
  process.stdout.write(JSON.stringify({ event, answers: list }) + '\n');
}

client.addHandler(ProviderEvents.ConfigurationChanged, async () => print('changed', await answers()));
print('ready', await answers());

process.stdin.on('end', async () => {
  await OpenFeature.close();
  process.exit(0);
});
process.stdin.resume();
