// What ordinary Node.js functions do, for the seccomp allow list: worker threads,
// child processes, a TCP server and client on loopback, files, timers, crypto, zlib
// and DNS. Each step answers {ok: true, ...} or {ok: false, error}.
const childProcess = require("child_process");
const crypto = require("crypto");
const dns = require("dns").promises;
const fs = require("fs");
const net = require("net");
const os = require("os");
const path = require("path");
const { Worker } = require("worker_threads");
const zlib = require("zlib");

function worker() {
  return new Promise((resolve, reject) => {
    const w = new Worker(
      "const { parentPort } = require('worker_threads');" +
        "let s = 0; for (let i = 0; i < 1e6; i++) s += i; parentPort.postMessage(s);",
      { eval: true },
    );
    w.once("message", resolve);
    w.once("error", reject);
  });
}

function tcpEcho() {
  return new Promise((resolve, reject) => {
    const server = net.createServer((sock) => sock.pipe(sock));
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      const client = net.connect(port, "127.0.0.1", () => client.end("ping"));
      let got = "";
      client.on("data", (d) => (got += d));
      client.on("end", () => server.close(() => resolve(got)));
      client.on("error", reject);
    });
    server.on("error", reject);
  });
}

function spawnAsync() {
  return new Promise((resolve, reject) => {
    const child = childProcess.spawn("/bin/sh", ["-c", "echo spawned; exit 4"]);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out }));
  });
}

const STEPS = {
  async workers() {
    const sums = await Promise.all([worker(), worker()]);
    return { sums };
  },
  async childProcesses() {
    const sync = childProcess.execFileSync("/bin/echo", ["sync-child"]).toString();
    const node = childProcess.execFileSync(process.execPath, ["-e", "console.log(1+1)"]).toString();
    const spawned = await spawnAsync();
    if (sync !== "sync-child\n" || node !== "2\n" || spawned.code !== 4) {
      throw new Error(JSON.stringify({ sync, node, spawned }));
    }
    return { spawned };
  },
  async sockets() {
    const echoed = await tcpEcho();
    if (echoed !== "ping") throw new Error(echoed);
    const looked = await dns.lookup("localhost");
    return { echoed, localhost: looked.address, interfaces: Object.keys(os.networkInterfaces()) };
  },
  async files() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wl-"));
    const file = path.join(dir, "f.txt");
    await fs.promises.writeFile(file, "x".repeat(100000));
    const st = await fs.promises.stat(file);
    const copy = file + ".copy";
    await fs.promises.copyFile(file, copy);
    const listed = await fs.promises.readdir(dir);
    const watcher = fs.watch(dir);
    watcher.close();
    await fs.promises.rm(dir, { recursive: true });
    return { size: st.size, listed: listed.length };
  },
  async timersAndCrypto() {
    await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setImmediate(r));
    const key = crypto.scryptSync("pw", "salt", 32);
    const digest = crypto.createHash("sha256").update(key).digest("hex");
    const random = await new Promise((res, rej) =>
      crypto.randomBytes(16, (e, b) => (e ? rej(e) : res(b.length))),
    );
    const zipped = await new Promise((res, rej) =>
      zlib.gzip("y".repeat(10000), (e, b) => (e ? rej(e) : res(b.length))),
    );
    return { digest: digest.length, random, zipped };
  },
  async signals() {
    // Signal handlers do not keep the loop alive; the timer does, until delivery.
    let keepAlive;
    const got = await new Promise((resolve) => {
      keepAlive = setTimeout(() => resolve("not delivered"), 10000);
      process.once("SIGUSR2", () => resolve("usr2"));
      process.kill(process.pid, "SIGUSR2");
    });
    clearTimeout(keepAlive);
    return { got };
  },
};

exports.handler = async (event) => {
  const names = (event && event.steps) || Object.keys(STEPS);
  const answer = {};
  for (const name of names) {
    try {
      answer[name] = { ok: true, ...(await STEPS[name]()) };
    } catch (e) {
      answer[name] = { ok: false, error: String((e && e.stack) || e) };
    }
  }
  return answer;
};
