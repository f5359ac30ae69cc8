// An ordinary Express application. Only the last line is Lambda-specific:
// serverless-http adapts it to function URL events (payload format 2.0).
// tests/test_urls.py installs its dependencies next to this file and adds logo.png.
"use strict";

const path = require("path");
const express = require("express");
const serverless = require("serverless-http");

const PAGE = `<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>gust demo: Express</title>
<style>
  body { font-family: sans-serif; background: #f4f1ea; margin: 40px; }
  h1 { color: #2b5797; }
</style>
</head>
<body>
<h1>Hello from Express on gust</h1>
<p id="js">waiting for the script</p>
<img src="/logo.png" width="288" height="192" alt="logo">
<form method="post" action="/form">
  <input name="name" value="Ada"> <input name="lang" value="rust"> <button>Send</button>
</form>
<script>
  document.getElementById("js").textContent = "rendered by script: " + (6 * 7);
</script>
</body>
</html>
`;

function parseCookies(header) {
  const cookies = {};
  for (const part of (header || "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) cookies[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
  }
  return cookies;
}

const app = express();
app.use(express.urlencoded({ extended: false }));

app.get("/", (req, res) => res.type("html").send(PAGE));

app.get("/api/items", (req, res) => {
  res.json({
    framework: "express",
    limit: Number(req.query.limit || 10),
    tags: [].concat(req.query.tag || []),
    q: req.query.q === undefined ? null : req.query.q,
  });
});

app.get("/redirect", (req, res) => res.redirect(302, "/target"));

app.get("/cookie/set", (req, res) => {
  res.cookie("session", req.query.value, { path: "/", httpOnly: true });
  res.cookie("theme", "dark", { path: "/" });
  res.type("text").send("cookies set");
});

app.get("/cookie/get", (req, res) => res.json(parseCookies(req.headers.cookie)));

app.post("/form", (req, res) => {
  res.json({ framework: "express", name: req.body.name, lang: req.body.lang });
});

app.get("/logo.png", (req, res) => res.sendFile(path.join(__dirname, "logo.png")));

if (require.main === module) {
  app.listen(process.env.PORT || 3000);
}

module.exports.handler = serverless(app, { binary: ["image/*"] });
