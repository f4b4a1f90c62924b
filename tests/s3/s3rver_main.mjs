// Runs s3rver (npm) as a child process for the s3 tests and the benchmark:
//   node --openssl-legacy-provider s3rver_main.mjs DIR BUCKETS_CSV ACCESS_KEY_IDS_CSV
// prints {"port":N} on stdout once listening and stops on SIGTERM or when stdin closes.
// Own process because s3rver 3.7.1 makes ListObjectsV2 continuation tokens with DES,
// which Node 22's OpenSSL 3 offers only with the legacy provider.
import { createRequire } from 'node:module';
import path from 'node:path';

const requireE2E = createRequire(path.join(import.meta.dirname, '..', 'e2e', 'package.json'));
const S3rver = requireE2E('s3rver');
const { DUMMY_ACCOUNT } = requireE2E('s3rver/lib/models/account.js');

const [dir, bucketsCsv = '', keyIdsCsv = ''] = process.argv.slice(2);
// s3rver refuses unknown access key ids (it checks no V4 signature: the proxy does).
for (const id of keyIdsCsv.split(',').filter(Boolean)) DUMMY_ACCOUNT.createKeyPair(id, 'not-checked-by-s3rver');
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: dir,
  configureBuckets: bucketsCsv.split(',').filter(Boolean).map((name) => ({ name, configs: [] })),
});
const { port } = await server.run();
process.stdout.write(JSON.stringify({ port }) + '\n');
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
