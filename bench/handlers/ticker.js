// The `ticker` handler (BENCHMARKS.md, protocol 6): a 10 ms timer that keeps firing
// between invocations, as a function's timers and pollers do. It answers with how
// many ticks it has counted.
let ticks = 0;
setInterval(() => {
  ticks += 1;
}, 10);

exports.handler = async () => ({ ticks });
