/*
 * gust bootstrap for the Node.js managed runtime.
 *
 * Started by the gust worker as `node <runtime dir>/node/bootstrap.js` with the
 * task root as working directory. It loads the handler named by `_HANDLER`
 * from `LAMBDA_TASK_ROOT` (CommonJS or ES module) and then serves invocations
 * from the Lambda Runtime API at `http://$AWS_LAMBDA_RUNTIME_API` until the
 * platform stops it.
 *
 * What user code sees follows AWS's Node.js runtime: handler styles (async,
 * promise, callback, legacy context.succeed/fail/done), the context object,
 * `callbackWaitsForEmptyEventLoop`, error documents
 * ({errorType, errorMessage, trace}) and their `Runtime.*` types, the patched
 * console (`<ISO time>\t<request id>\t<LEVEL>\t<message>`), and the exit codes
 * on uncaught exceptions (129) and unhandled rejections (128).
 */

'use strict';

const net = require('net');
const fs = require('fs');
const path = require('path');
const util = require('util');

const env = process.env;

// ---------------------------------------------------------------------------
// Prewarmed start: gust may start this runtime before it knows the function
// (Node's own start-up is then done ahead of demand) and name, in
// _GUST_PREWARM_FD, a pipe on which the function's environment and working
// directory arrive as JSON once it has one. End of file without data means the
// sandbox was discarded.

(function awaitFunction() {
  const fd = env._GUST_PREWARM_FD;
  if (fd === undefined) return;
  delete env._GUST_PREWARM_FD;
  const data = fs.readFileSync(Number(fd));
  try {
    fs.closeSync(Number(fd));
  } catch (_) {
    // already closed by the read
  }
  if (data.length === 0) process.exit(0);
  const config = JSON.parse(data.toString('utf8'));
  for (const key of Object.keys(env)) delete env[key];
  Object.assign(env, config.env);
  process.chdir(config.cwd);
})();

// ---------------------------------------------------------------------------
// Errors raised by the runtime itself.

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {
  constructor(original) {
    super(original);
    // The original stack names the file and line of the syntax error.
    if (original && typeof original.stack === 'string') this.stack = original.stack;
  }
}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most ' +
        'commonly caused by a Promise that was never settled. For more information, see ' +
        'https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
for (const cls of [
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  UnhandledPromiseRejection,
  NodeJsExit,
]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}

function isError(obj) {
  return (
    obj &&
    obj.name &&
    obj.message &&
    obj.stack &&
    typeof obj.name === 'string' &&
    typeof obj.message === 'string' &&
    typeof obj.stack === 'string'
  );
}

/** The error document posted to the Runtime API. */
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isError(error)) {
      return {
        errorType: error.name,
        errorMessage: error.message,
        trace: error.stack.split('\n'),
      };
    }
    return {
      errorType: typeof error,
      errorMessage: error.toString(),
      trace: [],
    };
  } catch (_err) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(error) {
  if (error instanceof Error) {
    const ret = Object.assign(
      { errorType: error.name, errorMessage: error.message, code: error.code },
      error,
    );
    if (typeof error.stack === 'string') {
      ret.stack = error.stack.split('\n');
    }
    return ret;
  }
  return error;
}

/** The error as it appears in the log (always starts with a tab). */
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch (_err) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

// ---------------------------------------------------------------------------
// Console: every level prints "<ISO time>\t<request id>\t<LEVEL>\t<message>" to
// stdout in one write and one line, filtered by AWS_LAMBDA_LOG_LEVEL.

const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const stdout = process.stdout;
const stderr = process.stderr;

function patchConsole() {
  const levels = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
  const minimum = levels[(env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] || levels.TRACE;
  const nop = () => {};
  const logger = (name) =>
    levels[name] >= minimum
      ? (message, ...params) => {
          // One console call is one log record: its newlines (an error's stack)
          // become carriage returns, as AWS's runtime writes them.
          const line = `${new Date().toISOString()}\t${global[REQUEST_ID]}\t${name}\t${util.format(message, ...params)}`;
          stdout.write(line.replace(/\n/g, '\r') + '\n');
        }
      : nop;
  console.trace = logger('TRACE');
  console.debug = logger('DEBUG');
  console.info = logger('INFO');
  console.log = console.info;
  console.warn = logger('WARN');
  console.error = logger('ERROR');
  console.fatal = logger('FATAL');
}

function logError(what, err) {
  console.error(what, toFormatted(intoError(err)));
}

// ---------------------------------------------------------------------------
// Runtime API client: one kept-alive socket.

const apiAddress = env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001';

/**
 * A minimal HTTP/1.1 client on one kept-alive socket, for the Runtime API
 * only: bodies delimited by Content-Length or chunked encoding (or the
 * connection's end). It does what `http.Agent({keepAlive: true, maxSockets:
 * 1})` does for this protocol at a fraction of the cost per request, which is
 * most of the runtime's per-invocation overhead. Like the agent's free
 * sockets, the socket is unref'd while no request is in flight so that an
 * empty event loop is still detected ('beforeExit') while a handler runs.
 *
 * Requests may be pipelined: a request is written at once, behind those still
 * waiting for their responses, which arrive in order. The runtime sends its
 * next `invocation/next` right behind an invocation's response, so that the
 * Runtime API has it before the caller even has the result, and the runtime
 * handles the acknowledgement and the next event in one wake-up.
 */
class RuntimeApiConnection {
  constructor(address) {
    const colon = address.lastIndexOf(':');
    let host = address.slice(0, colon);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    this.host = host;
    this.port = parseInt(address.slice(colon + 1), 10);
    this.hostHeader = address;
    this.socket = null;
    /** Whether the socket has completed a response and was kept alive. */
    this.reused = false;
    /** Received bytes not yet consumed by a response. */
    this.buf = null;
    /** Requests written and not yet answered, oldest first. */
    this.inFlight = [];
    /** Requests held back by `hold()`, to go out in one write. */
    this.held = null;
    this.nextHead = `GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: ${address}\r\n\r\n`;
  }

  request(method, urlPath, body, headers) {
    let head = `${method} ${urlPath} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n`;
    if (headers) {
      for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
    }
    const data =
      body === undefined
        ? head + '\r\n'
        : head + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` + body;
    return this.requestRaw(data);
  }

  /** `GET /2018-06-01/runtime/invocation/next`. */
  next() {
    return this.requestRaw(this.nextHead);
  }

  requestRaw(data) {
    return new Promise((resolve, reject) =>
      this.send({ data, resolve, reject, mayRetry: true, retry: false, got: false }),
    );
  }

  /** Holds the requests sent from now on until `flush()`, which writes them at
   * once (one system call, one segment). */
  hold() {
    this.held = '';
  }

  flush() {
    const data = this.held;
    this.held = null;
    if (data) this.socket.write(data);
  }

  send(req) {
    if (this.socket === null) this.connect();
    // Sent again on a new connection if this one closes before any of its
    // response arrived, when that can be the server closing a kept-alive
    // connection: it was reused, or the request was pipelined behind another.
    req.retry = req.mayRetry && (this.reused || this.inFlight.length > 0);
    req.got = false;
    if (this.inFlight.length === 0) this.socket.ref();
    this.inFlight.push(req);
    if (this.held !== null) this.held += req.data;
    else this.socket.write(req.data);
  }

  connect() {
    // Reads land in one reused buffer (no allocation, no readable-stream
    // machinery per read); `onData` copies what it keeps.
    const socket = net.connect({
      port: this.port,
      host: this.host,
      onread: { buffer: READ_BUFFER, callback: (n, buf) => this.onData(buf.subarray(0, n)) },
    });
    socket.setNoDelay(true);
    socket.on('error', (err) => this.onClose(socket, err));
    socket.on('end', () => this.onClose(socket, null));
    socket.on('close', () => this.onClose(socket, null));
    this.socket = socket;
    this.reused = false;
    this.buf = null;
  }

  onClose(socket, err) {
    if (socket !== this.socket) return;
    this.socket = null;
    socket.destroy();
    if (this.inFlight.length > 0 && this.inFlight[0].got && this.parse(true)) return;
    this.retryOrFail(err);
  }

  /** The requests a closed connection left unanswered: sent again on a new
   * connection, once, if the server may just have closed a kept-alive
   * connection under them; otherwise failed. */
  retryOrFail(err) {
    const pending = this.inFlight;
    this.inFlight = [];
    this.buf = null;
    if (pending.length === 0) return;
    if (pending[0].got || !pending[0].retry) {
      for (const req of pending) req.reject(err || new Error('Runtime API connection closed'));
      return;
    }
    for (const req of pending) {
      req.mayRetry = false;
      this.send(req);
    }
  }

  onData(chunk) {
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.inFlight.length > 0) {
      this.inFlight[0].got = true;
      if (!this.parse(false) || this.buf === null) break;
    }
    // The next read reuses READ_BUFFER.
    if (this.buf !== null && this.buf.buffer === READ_BUFFER.buffer) this.buf = Buffer.from(this.buf);
  }

  /** Completes the oldest request in flight if its whole response is buffered. */
  parse(atEof) {
    const buf = this.buf;
    if (buf === null) return false;
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return false;
    const head = buf.toString('latin1', 0, end);
    let lineEnd = head.indexOf('\r\n');
    if (lineEnd < 0) lineEnd = head.length;
    const status = parseInt(head.slice(head.indexOf(' ') + 1, lineEnd), 10);
    const headers = {};
    for (let pos = lineEnd + 2; pos < head.length; ) {
      let eol = head.indexOf('\r\n', pos);
      if (eol < 0) eol = head.length;
      const colon = head.indexOf(':', pos);
      if (colon > pos && colon < eol) {
        headers[head.slice(pos, colon).trim().toLowerCase()] = head.slice(colon + 1, eol).trim();
      }
      pos = eol + 2;
    }
    let start = end + 4;
    if (status >= 100 && status < 200) {
      this.buf = buf.length > start ? buf.subarray(start) : null;
      return this.parse(atEof);
    }
    let body;
    let rest = null;
    const length = headers['content-length'];
    if (length !== undefined) {
      const stop = start + parseInt(length, 10);
      if (buf.length < stop) return false;
      body = buf.toString('utf8', start, stop);
      if (buf.length > stop) rest = buf.subarray(stop);
    } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
      const parts = [];
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', start);
        if (lineEnd < 0) return false;
        const size = parseInt(buf.toString('latin1', start, lineEnd).split(';')[0], 16);
        if (size === 0) {
          // The last chunk, then optional trailers, then an empty line.
          const trailersEnd = buf.indexOf('\r\n\r\n', lineEnd);
          if (trailersEnd < 0) return false;
          if (buf.length > trailersEnd + 4) rest = buf.subarray(trailersEnd + 4);
          break;
        }
        if (buf.length < lineEnd + 2 + size + 2) return false;
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        start = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(parts).toString('utf8');
    } else if (status === 204 || status === 304) {
      body = '';
      if (buf.length > start) rest = buf.subarray(start);
    } else {
      if (!atEof) return false;
      body = buf.toString('utf8', start);
      headers.connection = 'close';
    }
    this.buf = rest;
    const current = this.inFlight.shift();
    if (this.socket === null || (headers.connection !== undefined && headers.connection.toLowerCase() === 'close')) {
      // The server reads nothing more on this connection: what was pipelined
      // behind this request goes on a new one.
      const socket = this.socket;
      this.socket = null;
      if (socket !== null) socket.destroy();
      this.retryOrFail(null);
    } else {
      this.reused = true;
      if (this.inFlight.length === 0) this.socket.unref();
    }
    current.resolve({ status, headers, body });
    return true;
  }
}

const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);
const runtimeApi = new RuntimeApiConnection(apiAddress);

function headerValue(value) {
  return String(value).replace(/[^\t\x20-\x7e]/g, '?');
}

/** Calls `done` once everything written to stdout and stderr so far has
 * reached the pipe, so that it is attributed to the current invocation. */
function afterOutputFlushed(done) {
  let pending = 1;
  const settle = () => {
    if (--pending === 0) done();
  };
  for (const stream of [stdout, stderr]) {
    if (stream.writableLength > 0 && !stream.destroyed) {
      pending++;
      stream.write('', settle);
    }
  }
  settle();
}

/** Posts to the Runtime API once everything printed so far is flushed. With
 * `thenNext`, asks for the next invocation right behind the post (pipelined):
 * the acknowledgement and the next event then come back on the same socket. */
function post(urlPath, body, headers, thenNext) {
  return new Promise((resolve) => {
    afterOutputFlushed(() => {
      if (thenNext) runtimeApi.hold();
      runtimeApi.request('POST', urlPath, body, headers).then(
        (res) => {
          if (res.status >= 300) {
            stderr.write(`gust runtime: POST ${urlPath} answered ${res.status}: ${res.body}\n`);
          }
          resolve();
        },
        (err) => fatalRuntimeApiError(err),
      );
      if (thenNext) {
        handleOnce();
        runtimeApi.flush();
      }
    });
  });
}

function postInvocationResponse(id, body) {
  return post(
    `/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/response`,
    body,
    { 'Content-Type': 'application/json' },
    true,
  );
}

function postErrorTo(urlPath, error, thenNext) {
  const response = toRapidResponse(error);
  let body;
  try {
    body = JSON.stringify(response);
  } catch (_err) {
    body = JSON.stringify({ errorType: 'handled', errorMessage: 'Unable to stringify error' });
  }
  return post(
    urlPath,
    body,
    {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Function-Error-Type': headerValue(response.errorType),
    },
    thenNext,
  );
}

/** Reports an invocation's error; with `thenNext`, goes on to the next one. */
function postInvocationError(id, error, thenNext) {
  return postErrorTo(
    `/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/error`,
    error,
    thenNext,
  );
}

function postInitError(error) {
  return postErrorTo('/2018-06-01/runtime/init/error', error, false);
}

function fatalRuntimeApiError(err) {
  stderr.write(`gust runtime: Runtime API request failed: ${err && err.stack}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------
// Handler loading, as AWS's runtime resolves `_HANDLER`.

const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;

async function importFile(file) {
  const { pathToFileURL } = require('url');
  return await import(pathToFileURL(file).href);
}

async function requireFile(file) {
  try {
    return require(file);
  } catch (e) {
    if (e && e.code === 'ERR_REQUIRE_ESM') {
      return await importFile(file);
    }
    throw e;
  }
}

function isFile(file) {
  try {
    return fs.statSync(file).isFile();
  } catch (_e) {
    return false;
  }
}

function hasPackageJsonTypeModule(folder) {
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, 'package.json');
  if (fs.existsSync(pj)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(pj));
      if (pkg) return pkg.type === 'module';
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  const parent = path.resolve(folder, '..');
  return parent === folder ? false : hasPackageJsonTypeModule(parent);
}

async function tryLoad(appRoot, moduleRoot, module) {
  const base = path.resolve(appRoot, moduleRoot, module);

  // Extensionless files and directories (package.json "main", index.js).
  if (fs.existsSync(base)) {
    if (!fs.statSync(base).isDirectory()) return await requireFile(base);
    try {
      return await requireFile(base);
    } catch (e) {
      if (!e || e.code !== 'MODULE_NOT_FOUND') throw e;
      if (isFile(path.join(base, 'index.mjs'))) return await importFile(path.join(base, 'index.mjs'));
      if (isFile(path.join(base, 'index.cjs'))) return require(path.join(base, 'index.cjs'));
      throw e;
    }
  }

  const typeModule = hasPackageJsonTypeModule(path.dirname(base));
  if (isFile(base + '.js')) {
    return typeModule ? await importFile(base + '.js') : await requireFile(base + '.js');
  }
  if (isFile(base + '.mjs')) return await importFile(base + '.mjs');
  if (isFile(base + '.cjs')) return require(base + '.cjs');

  // Fall back to Node's own resolution from the task root (node_modules).
  return require(require.resolve(module, { paths: [appRoot, moduleRoot] }));
}

// Entries of the task root looked at, at most, to explain a permission error, and
// unreadable ones named, at most.
const UNREADABLE_SCAN_LIMIT = 10000;
const UNREADABLE_NAMED = 10;

/** [relative path, mode] of the entries under `root` this process cannot read. */
function unreadableFiles(root) {
  const found = [];
  let seen = 0;
  const readable = (p, isDir) => {
    try {
      fs.accessSync(p, isDir ? fs.constants.R_OK | fs.constants.X_OK : fs.constants.R_OK);
      return true;
    } catch (_e) {
      return false;
    }
  };
  const mode = (p) => (fs.lstatSync(p).mode & 0o7777).toString(8).padStart(4, '0');
  if (!readable(root, true)) return [['.', mode(root)]];
  const walk = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (_e) {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (++seen > UNREADABLE_SCAN_LIMIT) return;
      if (entry.isSymbolicLink()) continue;
      const p = path.join(dir, entry.name);
      const isDir = entry.isDirectory();
      if (!readable(p, isDir)) {
        found.push([path.relative(root, p) + (isDir ? '/' : ''), mode(p)]);
      } else if (isDir) {
        walk(p);
      }
    }
  };
  walk(root);
  return found;
}

/**
 * Adds to an error from loading the handler what a permission error means: the
 * files of the deployment package the function's user cannot read, and the fix.
 */
function explainUnreadable(error, root) {
  if (!error || !(error.code === 'EACCES' || error instanceof ImportModuleError)) return error;
  let found;
  try {
    found = unreadableFiles(root);
  } catch (_e) {
    return error;
  }
  if (found.length === 0) return error;
  let named = found
    .slice(0, UNREADABLE_NAMED)
    .map(([rel, m]) => `${rel} (mode ${m})`)
    .join(', ');
  if (found.length > UNREADABLE_NAMED) named += ` and ${found.length - UNREADABLE_NAMED} more`;
  const uid = typeof process.getuid === 'function' ? process.getuid() : '?';
  // V8 builds the stack text on first read, from the message of that moment.
  const stack = error.stack;
  const old = error.message;
  error.message +=
    `. Files in the deployment package are not readable by the function's user (uid ${uid}): ` +
    `${named}; make them world-readable (chmod 644, and 755 for directories) before zipping`;
  if (typeof stack === 'string') error.stack = stack.replace(old, error.message);
  return error;
}

async function loadHandler(appRoot, fullHandlerString) {
  if (fullHandlerString.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const handlerString = path.basename(fullHandlerString);
  const moduleRoot = fullHandlerString.substring(0, fullHandlerString.indexOf(handlerString));
  const match = handlerString.match(FUNCTION_EXPR);
  if (!match || match.length !== 3) {
    throw new MalformedHandlerName('Bad handler');
  }
  const [, module, handlerPath] = match;

  let app;
  try {
    app = await tryLoad(appRoot, moduleRoot, module);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e && e.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }

  const handler = handlerPath.split('.').reduce((nested, key) => nested && nested[key], app);
  if (!handler) {
    throw new HandlerNotFound(`${fullHandlerString} is undefined or not exported`);
  }
  if (typeof handler !== 'function') {
    throw new HandlerNotFound(`${fullHandlerString} is not a function`);
  }
  return handler;
}

// ---------------------------------------------------------------------------
// Invocations.

let handler;
let handlerIsAsync = false;
let initialised = false;
/** Request id of the invocation not yet reported, if any. */
let pendingId = null;

// The one 'beforeExit' action: runs when the event loop has nothing left to do
// while an invocation waits on it (callbackWaitsForEmptyEventLoop, or a handler
// that never reports).
const NO_OP = () => {};
let beforeExit = NO_OP;

// Lambda's trace id changes with every invocation. Setting it in the real
// environment would leak: the C library keeps every value ever set (about 150
// bytes per invocation, for the life of the instance). It lives here instead,
// shown through a proxy of process.env, so user code (the X-Ray SDK) and child
// processes, which copy process.env, still see `_X_AMZN_TRACE_ID`.
const TRACE_VAR = '_X_AMZN_TRACE_ID';
let currentTraceId;
process.env = new Proxy(env, {
  get: (target, key) => (key === TRACE_VAR ? currentTraceId : Reflect.get(target, key)),
  set(target, key, value) {
    if (key !== TRACE_VAR) return Reflect.set(target, key, value);
    currentTraceId = String(value);
    return true;
  },
  has: (target, key) => (key === TRACE_VAR ? currentTraceId !== undefined : key in target),
  deleteProperty(target, key) {
    if (key !== TRACE_VAR) return Reflect.deleteProperty(target, key);
    currentTraceId = undefined;
    return true;
  },
  ownKeys(target) {
    const keys = Reflect.ownKeys(target);
    if (currentTraceId !== undefined && !keys.includes(TRACE_VAR)) keys.push(TRACE_VAR);
    return keys;
  },
  getOwnPropertyDescriptor(target, key) {
    if (key !== TRACE_VAR) return Reflect.getOwnPropertyDescriptor(target, key);
    if (currentTraceId === undefined) return undefined;
    return { value: currentTraceId, writable: true, enumerable: true, configurable: true };
  },
});

const functionData = {
  functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
  functionName: env.AWS_LAMBDA_FUNCTION_NAME,
  memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
  logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
  logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
};

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

/** The callback, the context's succeed/fail/done, and the invocation's
 * completion, of which only the first call counts. */
function buildCallbackContext(id) {
  let completed = false;
  let waitForEmptyEventLoop = true;

  const alreadyDone = () => {
    console.error(
      'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
    );
  };

  const postError = (err) => {
    logError('Invoke Error', err);
    completed = true;
    pendingId = null;
    postInvocationError(id, err, true);
  };

  const complete = (result) => {
    if (completed) return alreadyDone();
    let body;
    try {
      body = JSON.stringify(result === undefined ? null : result);
    } catch (_err) {
      postError(new Error('Unable to stringify response body'));
      return;
    }
    completed = true;
    pendingId = null;
    postInvocationResponse(id, body === undefined ? 'null' : body);
  };

  const callback = (err, result) => {
    if (completed) return alreadyDone();
    beforeExit = NO_OP;
    if (err !== undefined && err !== null) {
      postError(err);
    } else if (!waitForEmptyEventLoop) {
      complete(result);
    } else {
      beforeExit = () => {
        beforeExit = NO_OP;
        setImmediate(() => complete(result));
      };
    }
  };
  const done = (err, result) => {
    if (completed) return alreadyDone();
    beforeExit = NO_OP;
    if (err !== undefined && err !== null) {
      postError(err);
    } else {
      complete(result);
    }
  };

  let finished = false;
  const once =
    (fn) =>
    (...args) => {
      if (!finished) {
        fn(...args);
        finished = true;
      }
    };

  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed: once((result) => done(null, result)),
    fail: once((err) => (err === undefined || err === null ? done('handled') : done(err, null))),
    done: once(done),
  };

  // What happens if the event loop empties before the handler reported: an
  // async handler's promise can no longer settle, a callback-style handler
  // that never called back succeeds with null.
  const onEmptyLoop = () => {
    beforeExit = NO_OP;
    if (completed) return;
    if (handlerIsAsync) {
      postError(new NodeJsExit());
    } else {
      completed = true;
      pendingId = null;
      postInvocationResponse(id, 'null');
    }
  };

  return [once(callback), context, onEmptyLoop];
}

// ---------------------------------------------------------------------------
// Response streaming, as AWS's Node.js runtime offers it: a handler wrapped in
// `awslambda.streamifyResponse` gets a writable `responseStream` as its second
// argument, and what it writes is posted to the Runtime API as it is written
// (`Lambda-Runtime-Function-Response-Mode: streaming`, chunked), with an error
// that happens midway reported in the trailers.

const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HIGH_WATER_MARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const HTTP_INTEGRATION = 'application/vnd.awslambda.http-integration-response';

class HttpResponseStream {
  /** Makes `stream` start with an HTTP prelude (status, headers, cookies) for a
   * function URL: the prelude's JSON and eight zero bytes go before the body. */
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(HTTP_INTEGRATION);
    const metadata = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadata);
      write(new Uint8Array(8));
    };
    return underlyingStream;
  }
}

global.awslambda = {
  streamifyResponse(handler, options) {
    handler[STREAMING] = 'response';
    if (options && Number.isInteger(options.highWaterMark)) {
      handler[HIGH_WATER_MARK] = options.highWaterMark;
    }
    return handler;
  },
  HttpResponseStream,
};

/** The writable a streaming handler writes its response to. The post to the
 * Runtime API starts with the first write (or the end), so that
 * `setContentType` can come first. */
function createResponseStream(id, highWaterMark) {
  const http = require('http');
  const { Writable } = require('stream');
  let contentType = 'application/octet-stream';
  let request = null;
  let acknowledged = null;
  const open = () => {
    if (request !== null) return request;
    const colon = apiAddress.lastIndexOf(':');
    let host = apiAddress.slice(0, colon);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    request = http.request({
      host,
      port: Number(apiAddress.slice(colon + 1)),
      method: 'POST',
      path: `/2018-06-01/runtime/invocation/${encodeURIComponent(id)}/response`,
      agent: false,
      headers: {
        'Content-Type': contentType,
        'Lambda-Runtime-Function-Response-Mode': 'streaming',
        'Transfer-Encoding': 'chunked',
        Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
      },
    });
    request.setNoDelay(true);
    acknowledged = new Promise((resolve) => {
      request.on('response', (res) => {
        if (res.statusCode >= 300) {
          stderr.write(`gust runtime: streamed response answered ${res.statusCode}\n`);
        }
        res.resume();
        res.on('end', resolve);
        res.on('error', resolve);
      });
      request.on('error', (err) => fatalRuntimeApiError(err));
    });
    return request;
  };
  const beforeFirstWrite = (req) => {
    const hook = stream._onBeforeFirstWrite;
    if (typeof hook === 'function') {
      stream._onBeforeFirstWrite = null;
      hook((bytes) => req.write(bytes));
    }
  };
  const stream = new Writable({
    highWaterMark,
    write(chunk, _encoding, done) {
      const req = open();
      beforeFirstWrite(req);
      req.write(chunk, done);
    },
    final(done) {
      const req = open();
      beforeFirstWrite(req);
      afterOutputFlushed(() => req.end(done));
    },
  });
  stream.setContentType = (type) => {
    if (request !== null) throw new Error('The content type must be set before the first write');
    contentType = String(type);
  };
  /** Whether any of the response has gone out. */
  stream.started = () => request !== null;
  /** Ends the response with `error` in its trailers. */
  stream.failWith = (error, done) => {
    const req = open();
    const doc = toRapidResponse(error);
    req.addTrailers({
      'Lambda-Runtime-Function-Error-Type': headerValue(doc.errorType),
      'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify(doc)).toString('base64'),
    });
    afterOutputFlushed(() => req.end(done));
  };
  /** Resolves once the Runtime API has acknowledged the whole response. */
  stream.acknowledged = () => acknowledged || Promise.resolve();
  return stream;
}

/** Runs a streaming handler: the invocation ends when its response stream has
 * ended (a handler that resolves without ending it has it ended for it). */
function runStreaming(id, event, context) {
  const stream = createResponseStream(id, handler[HIGH_WATER_MARK]);
  let finished = false;
  const next = () => {
    pendingId = null;
    handleOnce();
  };
  const succeed = () => {
    if (finished) return;
    finished = true;
    beforeExit = NO_OP;
    const ended = () => stream.acknowledged().then(next);
    if (stream.writableFinished) ended();
    else {
      stream.once('finish', ended);
      if (!stream.writableEnded) stream.end();
    }
  };
  const fail = (err) => {
    if (finished) return;
    finished = true;
    beforeExit = NO_OP;
    logError('Invoke Error', err);
    if (!stream.started() && !stream.writableEnded) {
      pendingId = null;
      postInvocationError(id, err, true);
      return;
    }
    stream.failWith(err, () => stream.acknowledged().then(next));
  };
  stream.on('error', (err) => fail(err));
  beforeExit = () => fail(new NodeJsExit());
  let result;
  try {
    result = handler(event, stream, context);
  } catch (err) {
    fail(err);
    return;
  }
  Promise.resolve(result).then(succeed, fail);
}

async function handleOnce() {
  let res;
  try {
    res = await runtimeApi.next();
  } catch (err) {
    fatalRuntimeApiError(err);
    return;
  }
  if (res.status !== 200) {
    fatalRuntimeApiError(new Error(`invocation/next answered ${res.status}: ${res.body}`));
    return;
  }
  const headers = res.headers;
  const id = headers['lambda-runtime-aws-request-id'];
  pendingId = id;
  global[REQUEST_ID] = id;
  currentTraceId = headers['lambda-runtime-trace-id'] || undefined;

  const [callback, context, onEmptyLoop] = buildCallbackContext(id);
  try {
    beforeExit = onEmptyLoop;
    const deadline = Number(headers['lambda-runtime-deadline-ms']);
    Object.assign(context, functionData, {
      clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
      identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: id,
      tenantId: headers['lambda-runtime-aws-tenant-id'],
      getRemainingTimeInMillis: () => deadline - Date.now(),
    });
    if (handler[STREAMING] === 'response') {
      runStreaming(id, JSON.parse(res.body), context);
      return;
    }
    const result = handler(JSON.parse(res.body), context, callback);
    if (result && typeof result.then === 'function') {
      result.then(context.succeed, context.fail).catch(context.fail);
    }
  } catch (err) {
    callback(err);
  }
}

// ---------------------------------------------------------------------------
// Process-level failures: report them for the pending invocation (or as the
// init error) and exit so that the platform replaces the instance.

function fatal(error, code) {
  const exit = () => process.exit(code);
  if (!initialised) {
    postInitError(error).then(exit, exit);
  } else if (pendingId !== null) {
    const id = pendingId;
    pendingId = null;
    postInvocationError(id, error).then(exit, exit);
  } else {
    afterOutputFlushed(exit);
  }
}

/**
 * NODE_PATH as Lambda's Node.js runtimes set it: the layers' node_modules
 * (`/opt/nodejs/node20/node_modules`, then `/opt/nodejs/node_modules`; the layers
 * are where _GUST_OPT says, empty for none, for a sandbox that cannot mount them
 * at /opt), then the AWS SDK for JavaScript v3 that gust provides (`gust sdk
 * install`). `require` looks there after the function's own node_modules, so the
 * function's copy of a package wins.
 */
function setNodePath() {
  const opt = env._GUST_OPT === undefined ? '/opt' : env._GUST_OPT;
  const major = process.versions.node.split('.')[0];
  const extra = opt
    ? [path.join(opt, 'nodejs', `node${major}`, 'node_modules'), path.join(opt, 'nodejs', 'node_modules')]
    : [];
  const sdk = path.join(__dirname, '..', 'sdk', 'node', 'node_modules');
  if (fs.existsSync(sdk)) extra.push(sdk);
  const paths = (env.NODE_PATH || '').split(path.delimiter).filter(Boolean);
  const added = extra.filter((p) => !paths.includes(p));
  if (added.length === 0) return;
  env.NODE_PATH = paths.concat(added).join(path.delimiter);
  require('module')._initPaths();
}

async function main() {
  patchConsole();
  setNodePath();
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    fatal(error, 129);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    fatal(error, 128);
  });
  process.on('beforeExit', () => beforeExit());

  const taskRoot = path.resolve(env.LAMBDA_TASK_ROOT || process.cwd());
  try {
    handler = await loadHandler(taskRoot, env._HANDLER || '');
  } catch (thrown) {
    const error = explainUnreadable(thrown, taskRoot);
    logError('Uncaught Exception', error);
    fatal(error, 129);
    return;
  }
  handlerIsAsync = handler.constructor && handler.constructor.name === 'AsyncFunction';
  initialised = true;
  handleOnce();
}

main();
