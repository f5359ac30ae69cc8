"""Returns the code version baked into the archive and one environment variable.

The tests replace __CODE_VERSION__ before zipping, to tell old code from new code.
"""

import os
import time

CODE_VERSION = "__CODE_VERSION__"


def handler(event, context):
    if isinstance(event, dict) and event.get("sleep"):
        time.sleep(float(event["sleep"]))
    return {"version": CODE_VERSION, "setting": os.environ.get("SETTING")}
