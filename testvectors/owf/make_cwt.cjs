// make_cwt.cjs - makes testvectors/owf/owf_0.3.0_es256.cwt with the npm package
// @owf/token-status-list 0.3.0-alpha-20260508181749, the way a user of that library
// would: StatusListCwt with no aggregation URI, no exp and no ttl, signed ES256 by the
// spec's kid-12 key. The library writes those absent members as CBOR undefined (0xf7).
// Run once, in a scratch directory (the test suite does not need npm):
//   mkdir /tmp/owf && cd /tmp/owf && npm init -y >/dev/null &&
//   npm install @owf/token-status-list@0.3.0-alpha-20260508181749 &&
//   node REPO/testvectors/owf/make_cwt.cjs REPO/testvectors/keys/example_es256_kid12.private.pem \
//       > REPO/testvectors/owf/owf_0.3.0_es256.cwt
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const { createRequire } = require('node:module');
// Resolve the packages from the directory npm installed them in (the current one).
const req = createRequire(process.cwd() + '/');
const { StatusList, StatusListCwt } = req('@owf/token-status-list');

const key = crypto.createPrivateKey(fs.readFileSync(process.argv[2]));
// The statuses of the spec's section 4.1 example (bits 1, 16 entries).
const statuses = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1];
const list = new StatusList(statuses, 1);
const cwt = new StatusListCwt({
  payload: {
    subject: 'https://example.com/statuslists/owf',
    statusList: list,
    issuedAt: new Date(1750000000 * 1000),
  },
  protectedHeaders: new Map([[1, -7]]), // alg ES256
  unprotectedHeaders: new Map([[4, new TextEncoder().encode('12')]]), // kid "12"
});
const signer = {
  sign: async ({ toBeSigned }) =>
    new Uint8Array(crypto.sign('sha256', toBeSigned, { key, dsaEncoding: 'ieee-p1363' })),
};
cwt.signAndEncode({ signingKey: undefined, algorithm: -7 }, signer).then((bytes) => {
  process.stdout.write(Buffer.from(bytes));
});
