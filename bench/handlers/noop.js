// The reference `noop` handler (BENCHMARKS.md): answers at once, does no work.
exports.handler = async () => ({ statusCode: 200, body: "ok" });
