// bench_jose.mjs - the peer for `bench sign` (tests/bench.sh, BENCH_ONLY=sign): node
// jose signs the same JWT that tsl signed, with the same key, header and claims, and
// prints the median ms of a round over >= 1 s, as JSON on one line:
//   jose_jwt_ms: new SignJWT(claims) (JSON.stringify of the claims object + base64url
//                + sign: what an issuer using jose does);
//   jose_compact_ms: new CompactSign(bytes) over the payload bytes already serialised
//                (jose's cheapest path: base64url + sign only).
// Run as: node tests/bench_jose.mjs NODE_MODULES_DIR DIR ALG
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const [modules, dir, alg] = process.argv.slice(2);
const req = createRequire(pathToFileURL(modules + '/'));
const jose = await import(pathToFileURL(req.resolve('jose')).href);
const claimsBytes = readFileSync(dir + '/claims.json');
const claims = JSON.parse(claimsBytes.toString('utf8'));
const header = JSON.parse(readFileSync(dir + '/header.json', 'utf8'));
const key = await jose.importPKCS8(readFileSync(dir + '/key.pem', 'utf8'), alg);

async function median(fn) {
  for (let k = 0; k < 3; k++) await fn();
  const t = [];
  const start = performance.now();
  while (t.length < 20 || performance.now() - start < 1000) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return [t[t.length >> 1], t[0], t.length];
}

const [jwt, jwtBest, jwtRounds] = await median(() =>
  new jose.SignJWT(claims).setProtectedHeader(header).sign(key));
const [cs, csBest, csRounds] = await median(() =>
  new jose.CompactSign(claimsBytes).setProtectedHeader(header).sign(key));
// The same bytes as tsl's payload? (jose's JWT payload is JSON.stringify of the claims.)
const tok = await new jose.SignJWT(claims).setProtectedHeader(header).sign(key);
const same = Buffer.from(tok.split('.')[1], 'base64url').equals(claimsBytes);
console.log(JSON.stringify({
  jose_version: req('jose/package.json').version,
  jose_jwt_ms: +jwt.toFixed(4), jose_jwt_best_ms: +jwtBest.toFixed(4), jose_jwt_rounds: jwtRounds,
  jose_compact_ms: +cs.toFixed(4), jose_compact_best_ms: +csBest.toFixed(4),
  jose_compact_rounds: csRounds, same_payload: same,
}));
