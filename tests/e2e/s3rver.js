// Runs s3rver's command line (scripts/s3-server.sh): the published
// @20minutes/s3rver package names a bin script it does not ship.
//
// s3rver serves a request that carries no signature at all as anonymous
// (its buckets are public): any local user could then read or overwrite
// the blobs of `make run-cluster` on 127.0.0.1. A real bucket is private,
// so this server is made private too: a request without SigV4 (an
// Authorization header or a presigned X-Amz-Signature) is refused with
// S3's own AccessDenied before s3rver sees it. Signed requests are
// checked by s3rver as before.
'use strict';
const http = require('http');

function signed(req) {
  const query = (req.url || '').split('?')[1] || '';
  return (
    /^AWS4-HMAC-SHA256 /.test(req.headers.authorization || '') ||
    /(^|&)X-Amz-Signature=/.test(query)
  );
}

function privateOnly(handler) {
  return (req, res) => {
    if (signed(req)) return handler(req, res);
    res.writeHead(403, { 'Content-Type': 'application/xml' });
    res.end(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>' +
        '<Message>Access Denied: the request is not signed</Message></Error>',
    );
  };
}

const createServer = http.createServer;
http.createServer = (...args) => {
  const server = createServer(...args);
  const on = server.on.bind(server);
  server.on = (event, fn) => on(event, event === 'request' ? privateOnly(fn) : fn);
  return server;
};

require('@20minutes/s3rver/lib/cli').parseAsync(process.argv);
