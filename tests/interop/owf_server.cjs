// owf_server.cjs KEY.pem PORT: a Status List endpoint built the way a user of
// @owf/token-status-list would build one: the JWT from createHeaderAndPayload(),
// signed ES256 with node:crypto, the CWT from StatusListCwt; served by node:http.
// The worked example of README "Testing other implementations" (tsl probe against
// it); the test suite does not run it (it needs npm):
//   mkdir /tmp/owf && cd /tmp/owf && npm init -y >/dev/null &&
//   npm install @owf/token-status-list@0.3.0-alpha-20260508181749 &&
//   node REPO/tests/interop/owf_server.cjs issuer.pem 8088
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const { createRequire } = require('node:module');
const req = createRequire(process.cwd() + '/');
const { StatusList, StatusListCwt, createHeaderAndPayload } = req('@owf/token-status-list');

const key = crypto.createPrivateKey(fs.readFileSync(process.argv[2]));
const port = Number(process.argv[3]);
const uri = `http://127.0.0.1:${port}/statuslists/1`;
const statuses = new Array(131072).fill(0);
statuses[42] = 1;
const list = new StatusList(statuses, 1);
const now = Math.floor(Date.now() / 1000);
const b64u = (b) => Buffer.from(b).toString('base64url');

const { header, payload } = createHeaderAndPayload(list,
  { sub: uri, iat: now, exp: now + 86400, ttl: 3600 }, { alg: 'ES256', typ: 'statuslist+jwt' });
const input = b64u(JSON.stringify(header)) + '.' + b64u(JSON.stringify(payload));
const jwt = input + '.' + b64u(crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }));

const cwt = new StatusListCwt({
  payload: { subject: uri, statusList: list, issuedAt: new Date(now * 1000),
             expirationTime: new Date((now + 86400) * 1000), timeToLive: 3600 },
  protectedHeaders: new Map([[1, -7]]),
});
const signer = { sign: async ({ toBeSigned }) =>
  new Uint8Array(crypto.sign('sha256', toBeSigned, { key, dsaEncoding: 'ieee-p1363' })) };
cwt.signAndEncode({ signingKey: undefined, algorithm: -7 }, signer).then((cwtBytes) => {
  http.createServer((rq, rs) => {
    const accept = rq.headers.accept || '';
    if (rq.url.split('?')[0] !== '/statuslists/1') { rs.writeHead(404); return rs.end(); }
    if (accept.includes('statuslist+cwt') && !accept.includes('statuslist+jwt')) {
      rs.writeHead(200, { 'Content-Type': 'application/statuslist+cwt' });
      return rs.end(Buffer.from(cwtBytes));
    }
    rs.writeHead(200, { 'Content-Type': 'application/statuslist+jwt' });
    rs.end(jwt);
  }).listen(port, '127.0.0.1', () => console.error(`listening on ${uri}`));
});
