"""An ordinary Starlette application. Only the last line is Lambda-specific: Mangum
adapts it to function URL events (payload format 2.0). tests/test_urls.py vendors
Starlette, Mangum and python-multipart next to this file and adds logo.png."""

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
)
from starlette.routing import Route

from mangum import Mangum

HERE = Path(__file__).resolve().parent

PAGE = """<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>gust demo: Starlette</title>
<style>
  body { font-family: sans-serif; background: #f4f1ea; margin: 40px; }
  h1 { color: #2b5797; }
</style>
</head>
<body>
<h1>Hello from Starlette on gust</h1>
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
"""


async def home(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


async def items(request: Request) -> JSONResponse:
    q = request.query_params
    return JSONResponse({
        "framework": "starlette",
        "limit": int(q.get("limit", "10")),
        "tags": q.getlist("tag"),
        "q": q.get("q"),
    })


async def redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("/target", status_code=302)


async def set_cookies(request: Request) -> PlainTextResponse:
    response = PlainTextResponse("cookies set")
    response.set_cookie("session", request.query_params["value"], path="/", httponly=True)
    response.set_cookie("theme", "dark", path="/")
    return response


async def get_cookies(request: Request) -> JSONResponse:
    return JSONResponse(dict(request.cookies))


async def form(request: Request) -> JSONResponse:
    data = await request.form()
    return JSONResponse({"framework": "starlette", "name": data["name"], "lang": data["lang"]})


async def logo(request: Request) -> FileResponse:
    return FileResponse(HERE / "logo.png", media_type="image/png")


app = Starlette(routes=[
    Route("/", home),
    Route("/api/items", items),
    Route("/redirect", redirect),
    Route("/cookie/set", set_cookies),
    Route("/cookie/get", get_cookies),
    Route("/form", form, methods=["POST"]),
    Route("/logo.png", logo),
])

handler = Mangum(app, lifespan="off")
