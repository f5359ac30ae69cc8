// An ES module handler (.mjs), as the nodejs20.x runtime supports.
import { createHash } from "node:crypto";

export const handler = async (event, context) => {
  const text = JSON.stringify(event);
  return {
    style: "esm",
    event,
    sha256: createHash("sha256").update(text).digest("hex"),
    functionName: context.functionName,
  };
};
