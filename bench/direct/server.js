// The direct baseline: the reference handler in a plain persistent HTTP server.
//
// One process, no platform: Node's `http` with keep-alive, requiring the same handler
// file gust runs. Every POST (any path) parses the body as the event, awaits
// handler(event, context) and answers its JSON result.
//
// usage: node server.js HANDLER_FILE [PORT]   (prints "listening on PORT")
"use strict";
const http = require("http");
const path = require("path");

const handler = require(path.resolve(process.argv[2])).handler;
const context = {
  functionName: "noop",
  functionVersion: "$LATEST",
  memoryLimitInMB: "128",
  awsRequestId: "direct",
  getRemainingTimeInMillis: () => 10000,
};

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    const body = Buffer.concat(chunks);
    const event = body.length ? JSON.parse(body) : {};
    const out = JSON.stringify(await handler(event, context));
    res.writeHead(200, {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(out),
    });
    res.end(out);
  });
});
server.keepAliveTimeout = 0;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.listen(Number(process.argv[3] || 0), "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`);
});
